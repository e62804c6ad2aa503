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

import pywrapfst as fst

from hclg import constants
from hclg.errors import GraphFormatError, InputFormatError
from hclg.fst.convert import fst_to_arrays
from hclg.graph.compile import check_output_dir, replace_dir
from hclg.graph.graph_dir import sha256, write_graph_dir
from hclg.graph.kaldi_model import read_transition_model
from hclg.graph.symbols import SymbolTable

log = logging.getLogger("hclg")


def _read_fst(path: Path):
    try:
        f = fst.Fst.read(str(path))
    except (fst.FstIOError, fst.FstOpError, RuntimeError) as e:
        raise InputFormatError(path, None, f"not an OpenFst binary FST ({e})") from None
    if f.arc_type() != "standard":
        raise InputFormatError(path, None, f"arc type {f.arc_type()!r}; a decoding graph has standard (tropical) arcs")
    if f.start() < 0:
        raise InputFormatError(path, None, "the FST is empty (no start state)")
    return f if f.fst_type() == "vector" else fst.convert(f, "vector")


def _align_lexicon(graph: Path, words: SymbolTable, phones: SymbolTable):
    """(word, phones) pairs of Kaldi's ``phones/align_lexicon.txt`` (``word word phone ...``)
    or ``.int``; the pronunciations of ``<eps>`` (silence between words) apart."""
    txt, ints = graph / "phones" / "align_lexicon.txt", graph / "phones" / "align_lexicon.int"
    rows = []
    if txt.exists():
        for n, line in enumerate(txt.read_text(encoding="utf-8").splitlines(), 1):
            p = line.split()
            if p and (len(p) < 3 or p[0] != p[1]):
                raise InputFormatError(txt, n, f"expected 'word word phone ...', got {line.strip()!r}")
            if p:
                rows.append((p[0], tuple(p[2:])))
    elif ints.exists():
        for n, line in enumerate(ints.read_text(encoding="utf-8").splitlines(), 1):
            p = line.split()
            try:
                ids = [int(x) for x in p]
                if p:
                    rows.append((words.symbols[ids[0]], tuple(phones.symbols[i] for i in ids[2:])))
            except (ValueError, IndexError):
                raise InputFormatError(ints, n, f"expected 'word-id word-id phone-id ...' within words.txt and "
                                                f"phones.txt, got {line.strip()!r}") from None
    else:
        log.warning("%s has no phones/align_lexicon.txt or .int: word times will be the frames where the graph "
                    "outputs each word, not phone boundaries", graph)
    lexicon = [(w, p) for w, p in rows if w != constants.EPS]
    between = sorted({ph for w, p in rows if w == constants.EPS for ph in p})
    return lexicon, between


#: Kaldi's word_boundary.int kinds, by number (older files) or name
WORD_POSITIONS = {"1": "nonword", "2": "begin", "3": "end", "4": "internal", "5": "singleton"}


def _word_boundary(graph: Path, phones: SymbolTable) -> tuple[str, ...] | None:
    """Per phone id, its word position from Kaldi's ``phones/word_boundary.int`` (as
    ``lattice-align-words`` reads it), or None without one."""
    p = graph / "phones" / "word_boundary.int"
    if not p.exists():
        return None
    kinds = ["nonword"] * len(phones)
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        kind = WORD_POSITIONS.get(parts[-1], parts[-1]) if len(parts) == 2 else None
        if kind not in WORD_POSITIONS.values() or not parts[0].isdigit() or not 0 < int(parts[0]) < len(phones):
            raise InputFormatError(p, n, f"expected 'phone-id nonword|begin|end|internal|singleton', got {line.strip()!r}")
        kinds[int(parts[0])] = kind
    return tuple(kinds)


def _optional_silence(graph: Path) -> str | None:
    """The optional-silence phone of Kaldi's ``phones/optional_silence.txt``, if there."""
    p = graph / "phones" / "optional_silence.txt"
    return p.read_text(encoding="utf-8").split()[0] if p.exists() and p.read_text(encoding="utf-8").split() else None


def _silence_phones(graph: Path, phones: SymbolTable) -> list[str]:
    csl = graph / "phones" / "silence.csl"
    if not csl.exists():
        return []
    try:
        return [phones.symbols[int(x)] for x in csl.read_text(encoding="utf-8").strip().split(":") if x]
    except (ValueError, IndexError):
        raise InputFormatError(csl, 1, "expected colon-separated phone ids of phones.txt") from None


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
    f = _read_fst(graph / "HCLG.fst")
    arcs = fst_to_arrays(f)
    if arcs.num_arcs and int(arcs.ilabel.max()) > table.num_transitions:
        raise GraphFormatError(f"{graph / 'HCLG.fst'}: input label {int(arcs.ilabel.max())} but {model} has "
                               f"{table.num_transitions} transition ids (disambiguation symbols left in, or another "
                               "model's graph)")
    if arcs.num_arcs and int(arcs.olabel.max()) >= len(words):
        raise GraphFormatError(f"{graph / 'HCLG.fst'}: output label {int(arcs.olabel.max())} is not in words.txt")
    del arcs
    lexicon, between = _align_lexicon(graph, words, phones)
    i2c = table.pdf.copy()
    i2c[0] = -1
    manifest = {
        "topology": "hmm",
        "self_loops": "reorder",
        "source": "kaldi",
        "options": {"hmm_topology": "chain" if tm.is_chain else "kaldi", "sil_phone": _optional_silence(graph),
                    "frame_subsampling_factor": 3 if tm.is_chain else 1,
                    "nonword_units": sorted(set(between) | set(_silence_phones(graph, phones)))},
        "inputs": {"kaldi_graph": {"path": str((graph / "HCLG.fst").resolve()), "sha256": sha256(graph / "HCLG.fst")},
                   "model": {"path": str(Path(model).resolve()), "sha256": sha256(model)}},
        "kaldi": {"num_pdfs": tm.num_pdfs, "transition_ids": table.num_transitions},
    }
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        write_graph_dir(tmp, f, words, phones, i2c, manifest, (), table.as_arrays(), _word_boundary(graph, phones),
                        lexicon, consume=True)
        replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("imported %s (%d transition ids, %d pdfs) into %s in %.1fs", graph, table.num_transitions, tm.num_pdfs,
             out, time.perf_counter() - t0)
    return out


__all__ = ["import_kaldi_graph"]
