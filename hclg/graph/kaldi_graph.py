"""Opening a Kaldi system's graph as it is: ``exp/<model>/graph/`` (``HCLG.fst``, ConstFst
or VectorFst, ``words.txt``, ``phones.txt``, ``phones/align_lexicon.*``,
``phones/silence.csl``, ``phones/word_boundary.int``) with its ``final.mdl``, written once as an hclg graph directory
whose memory-mapped arrays the decoder reads (``hclg import-kaldi``).

The graph's input labels stay Kaldi's transition ids and each reads the column of its
pdf, as Kaldi's ``decode-faster-mapped`` / ``latgen-faster-mapped``. Kaldi's graphs have
their self-loops after the forward transition (``add-self-loops --reorder=true``); the
manifest says so (``"self_loops": "reorder"``) and the decoder's phone boundaries and word
times follow it.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from hclg.errors import GraphFormatError
from hclg.fst.convert import fst_to_arrays
from hclg.graph.graph_dir import write_graph_dir
from hclg.graph.kaldi_lang import (
    read_align_lexicon,
    read_kaldi_fst,
    read_optional_silence,
    read_silence_phones,
    read_word_boundary,
)
from hclg.graph.kaldi_model import read_transition_model
from hclg.graph.output_dir import check_output_dir, replace_dir, sha256
from hclg.graph.symbols import SymbolTable

log = logging.getLogger("hclg")


def import_kaldi_graph(graph_dir, model, out_dir) -> Path:
    """Writes an hclg graph directory from a Kaldi graph directory and its model.

    Args:
        graph_dir: Kaldi's ``exp/<model>/graph`` (``HCLG.fst``, ``words.txt``,
            ``phones.txt``; ``phones/align_lexicon.*`` and ``phones/silence.csl`` give
            word times).
        model: the ``final.mdl`` the graph was made with (its TransitionModel is read;
            GMM, nnet2 and nnet3 models alike).
        out_dir: the hclg graph directory to write (atomically: a temporary sibling, then
            renamed).

    Returns:
        ``out_dir``.

    Raises:
        GraphFormatError, InputFormatError: a missing or malformed file, or a graph whose
            input labels are not the model's transition ids.
    """
    graph, out = Path(graph_dir), Path(out_dir)
    t0 = time.perf_counter()
    for name in ("HCLG.fst", "words.txt", "phones.txt"):
        if not (graph / name).exists():
            raise GraphFormatError(f"{graph}: no {name}; expected a Kaldi graph directory (exp/<model>/graph)")
    check_output_dir(out, [graph / "HCLG.fst", model])
    tm = read_transition_model(model)
    table = tm.transition_table()
    words = SymbolTable.read(graph / "words.txt")
    phones = SymbolTable.read(graph / "phones.txt")
    missing = [p for p in tm.phones if not 0 < p < len(phones)]
    if missing:
        raise GraphFormatError(f"{model}: phone id {missing[0]} is not in {graph / 'phones.txt'}; is this the graph's model?")
    f = read_kaldi_fst(graph / "HCLG.fst")
    arcs = fst_to_arrays(f)
    if arcs.num_arcs and int(arcs.ilabel.max()) > table.num_transitions:
        raise GraphFormatError(f"{graph / 'HCLG.fst'}: input label {int(arcs.ilabel.max())} but {model} has "
                               f"{table.num_transitions} transition ids (disambiguation symbols left in, or another "
                               "model's graph)")
    if arcs.num_arcs and int(arcs.olabel.max()) >= len(words):
        raise GraphFormatError(f"{graph / 'HCLG.fst'}: output label {int(arcs.olabel.max())} is not in words.txt")
    del arcs
    lexicon, between = read_align_lexicon(graph, words, phones)
    i2c = table.pdf.copy()
    i2c[0] = -1
    manifest = {
        "topology": "hmm",
        "self_loops": "reorder",
        "source": "kaldi",
        "options": {"hmm_topology": "chain" if tm.is_chain else "kaldi", "sil_phone": read_optional_silence(graph),
                    "frame_subsampling_factor": 3 if tm.is_chain else 1,
                    "nonword_units": sorted(set(between) | set(read_silence_phones(graph, phones)))},
        "inputs": {"kaldi_graph": {"path": str((graph / "HCLG.fst").resolve()), "sha256": sha256(graph / "HCLG.fst")},
                   "model": {"path": str(Path(model).resolve()), "sha256": sha256(model)}},
        "kaldi": {"num_pdfs": tm.num_pdfs, "transition_ids": table.num_transitions},
    }
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        write_graph_dir(tmp, f, words, phones, i2c, manifest, (), table.as_arrays(), read_word_boundary(graph, phones),
                        lexicon, consume=True)
        replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("imported %s (%d transition ids, %d pdfs) into %s in %.1fs", graph, table.num_transitions, tm.num_pdfs,
             out, time.perf_counter() - t0)
    return out


def mkgraph(lang_dir, model_dir, out_dir, self_loop_scale: float | None = None, transition_scale: float = 1.0):
    """Kaldi's ``utils/mkgraph.sh LANG_DIR MODEL_DIR GRAPH_DIR``: the graph of
    ``data/lang`` (``L_disambig.fst``, ``G.fst``, ``words.txt``, ``phones.txt``) for the
    model of ``model_dir`` (``final.mdl``, and ``tree`` for a context-dependent one).

    Args:
        lang_dir: Kaldi's ``data/lang`` (or ``data/lang_test_*``), with ``G.fst``.
        model_dir: ``exp/<model>`` with ``final.mdl`` (and ``tree``).
        out_dir: the hclg graph directory to write.
        self_loop_scale: Kaldi's ``--self-loop-scale``; default 0.1, or 1.0 for a chain
            model (as its scripts pass it).
        transition_scale: Kaldi's ``--transition-scale``.

    Returns:
        The CompileResult.
    """
    from hclg.graph.compile import compile_graph
    from hclg.graph.compile_options import CompileOptions

    lang, model_dir = Path(lang_dir), Path(model_dir)
    model = model_dir / "final.mdl"
    if not model.exists():
        raise GraphFormatError(f"{model_dir}: no final.mdl; expected a Kaldi model directory (exp/<model>)")
    if not (lang / "G.fst").exists():
        raise GraphFormatError(f"{lang}: no G.fst; expected a Kaldi lang directory with its grammar (data/lang_test)")
    tree = model_dir / "tree"
    if self_loop_scale is None:
        self_loop_scale = 1.0 if read_transition_model(model).is_chain else 0.1
    o = CompileOptions(kaldi_model=str(model), kaldi_tree=str(tree) if tree.exists() else None,
                       sil_phone=read_optional_silence(lang) or "sil", self_loop_scale=self_loop_scale,
                       transition_scale=transition_scale, position_dependent_phones=False)
    return compile_graph(lang, lang / "G.fst", out_dir, o, phones=lang / "phones.txt")


__all__ = ["import_kaldi_graph", "mkgraph"]
