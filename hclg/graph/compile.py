"""The graph recipe: lexicon + grammar (+ topology) -> a decoding graph directory.

A straight line of steps, as Kaldi's ``mkgraph.sh`` and icefall's ``compile_hlg.py``;
each logs the size of its result and raises at once if it is empty.

HMM (H o C o L o G; C is the identity unless a context table is given)::

    L, G -> LG = L o G -> det (log) -> minimize (encoded)
         [-> C o LG, windows reduced to HMM instances]
         -> Ha o (C)LG -> det (log) -> disambiguation ids -> eps -> remove eps (local)
         -> minimize (encoded) -> add self-loops (reorder) = HCLG

CTC (T o L o G)::

    L, G -> LG = L o G -> det (log) -> minimize (encoded) -> disambiguation -> eps
         -> T o LG = TLG

On the fly (``on_the_fly``): G is kept as arrays (:mod:`hclg.graph.ngram`) and the same
steps run with a loop of G's words at their unigram costs in its place, giving the lexicon
graph H o C o L (or T o L) with the unigrams in its weights, as a static graph of the
unigram LM has them; the graph directory gets G less those costs (``lm/``), and the search
composes the two as it goes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pywrapfst as fst

from hclg import constants
from hclg import fst as hfst
from hclg.errors import GraphBuildError
from hclg.graph.compile_hmm import hmm_graph
from hclg.graph.compile_options import CompileOptions
from hclg.graph.ctc_topology import compose_ctc_topology, read_token_list
from hclg.graph.grammar import arpa_to_fst, phrases_to_fst, read_phrases
from hclg.graph.graph_dir import TABLE_FILE, write_graph_dir
from hclg.graph.hmm_topology import base_phone
from hclg.graph.kaldi_lang import read_kaldi_lang
from hclg.graph.lexicon import make_lexicon_fst, read_fillers, read_lexicon, read_phones
from hclg.graph.ngram import charged, loop_costs, ngram_arrays, word_loop
from hclg.graph.output_dir import check_output_dir, replace_dir, sha256
from hclg.graph.symbols import SymbolTable
from hclg.graph.word_start_marks import mark_hmm_lexicon, mark_lexicon

log = logging.getLogger("hclg")


@dataclass(frozen=True)
class CompileResult:
    """What :func:`compile_graph` made.

    Attributes:
        path: the graph directory.
        states, arcs: size of the final graph.
        seconds: wall time of the whole recipe.
        steps: (step, states, arcs, seconds) in order.
    """

    path: Path
    states: int
    arcs: int
    seconds: float
    steps: tuple


def _grammar(grammar, words: SymbolTable, unk: str | None, grammar_words=None):
    """G from an ARPA file, a phrase list (.txt) or an OpenFst file with word symbols (or
    without, with ``grammar_words``: Kaldi's data/lang/G.fst and words.txt)."""
    if isinstance(grammar, fst.Fst):
        return _map_fst_grammar(grammar, words, "<grammar>", grammar_words), None
    p = Path(grammar)
    with open(p, "rb") as fh:
        head = fh.read(4096)
    if head[:2] == b"\x1f\x8b" or b"\\data\\" in head:
        return arpa_to_fst(p, words, unk=unk if unk in words else None)
    if head[:4] == b"\xd6\xfd\xb2\x7e":
        return _map_fst_grammar(fst.Fst.read(str(p)), words, str(p), grammar_words), None
    return phrases_to_fst(read_phrases(p), words, str(p)), None


def _grammar_and_lm(grammar, words: SymbolTable, o: CompileOptions, inputs: dict):
    """(G to compose with L, its stats, None or for an on-the-fly graph (G's arrays as the
    search charges them, the word loop's costs)). On the fly, G is kept as arrays and L is
    composed with a loop of G's words at their unigram costs (:func:`hclg.graph.ngram.loop_costs`)."""
    G, gstats = _grammar(grammar, words, o.unk, o.grammar_words)
    if o.grammar_words:
        inputs["grammar_words"] = o.grammar_words
    if not o.on_the_fly:
        return G, gstats, None
    t0 = time.perf_counter()
    lm = ngram_arrays(G, words.get(constants.BACKOFF_DISAMBIG), str(inputs.get("grammar", "G")))
    loop = loop_costs(lm, len(words))
    G = word_loop(lm.word, loop)
    hfst.log_step("G: arrays for on-the-fly composition; a loop of its words at their unigram costs", G, t0)
    return G, gstats, (charged(lm, loop), loop)


def _map_fst_grammar(g, words: SymbolTable, where: str, grammar_words=None):
    """G's labels renumbered to the lexicon's word table. An acceptor with its symbols
    (pynini), or Kaldi's G.fst (``#0`` in on its backoff arcs, epsilon out) with the
    words.txt given as ``grammar_words``."""
    syms = g.output_symbols() or g.input_symbols()
    if syms is None and grammar_words is None:
        raise GraphBuildError(f"{where}: a grammar FST must carry its word symbol table, or be given one "
                              "(--grammar-words words.txt, as Kaldi's data/lang/G.fst)")
    table = SymbolTable.read(grammar_words) if grammar_words is not None else None
    items = enumerate(table.symbols) if table is not None else ((k, s) for k, s in syms)
    pairs, backoff = [], None
    for k, s in items:
        s = s.decode() if isinstance(s, bytes) else s
        if k == 0 or s in (constants.BOS, constants.EOS):
            continue
        if s == constants.BACKOFF_DISAMBIG:
            backoff = k
        elif s not in words:
            if table is not None:
                continue  # words.txt lists every word of the lang; G may use fewer: checked below
            raise GraphBuildError(f"{where}: grammar word {s!r} has no pronunciation")
        pairs.append((k, words.id(s)))
    known = {k for k, _ in pairs} | {0}
    for state in g.states():
        for a in g.arcs(state):
            if a.ilabel not in known or a.olabel not in known:
                lab = a.ilabel if a.ilabel not in known else a.olabel
                name = table.symbols[lab] if table is not None and 0 <= lab < len(table.symbols) else lab
                raise GraphBuildError(f"{where}: grammar label {name!r} has no pronunciation in the lexicon")
    g = fst.arcmap(g, map_type="identity")
    if backoff is None:  # an acceptor: its words on both sides
        g.project("output")
    g.relabel_pairs(ipairs=pairs, opairs=pairs)
    g.set_input_symbols(None)
    g.set_output_symbols(None)
    g.arcsort("ilabel")
    return g


def compile_graph(lexicon, grammar, out_dir, options: CompileOptions = CompileOptions(),
                  phones=None, tokens=None) -> CompileResult:
    """Compiles a decoding graph directory from a lexicon and a grammar.

    Args:
        lexicon: lexicon file (see :func:`hclg.graph.lexicon.read_lexicon`), or Kaldi's
            ``data/lang`` directory (its ``L_disambig.fst`` and tables; with
            ``kaldi_model``; a grammar FST without symbols then takes its ``words.txt``).
        grammar: ARPA LM (plain/gz), phrase list (one phrase per line), an OpenFst
            grammar file with word symbols, or a pywrapfst/pynini FST.
        out_dir: the graph directory to write.
        options: CompileOptions.
        phones: HMM only: a phone list file (default: the lexicon's phones + silence).
        tokens: CTC only: the token list in posterior-column order (``tok`` or ``tok id``
            lines, blank included); default: blank + the lexicon's tokens.

    Returns:
        CompileResult.
    """
    options.validate()
    o = options.resolved()
    out = Path(out_dir)
    check_output_dir(out, [lexicon, grammar, phones, tokens, o.pdf_map, o.context_table, o.hmm_topology, o.fillers,
                           o.bpe_model])
    t_start = time.perf_counter()
    log.debug("compile options: %s", dataclasses.asdict(o))
    log.debug("inputs: lexicon %s, grammar %s, phones %s, tokens %s", lexicon, grammar, phones, tokens)
    steps: list = []
    token = hfst.STEP_RECORD.set(steps)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        res = _compile(lexicon, grammar, tmp, o, phones, tokens, t_start, steps)
        replace_dir(tmp, out)
        log.info("wrote %s in %.1fs", out, res.seconds)
        return dataclasses.replace(res, path=out)
    finally:
        hfst.STEP_RECORD.reset(token)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


#: what CTC models call their blank, and their word delimiters (as pyctcdecode's alphabet.py)
BLANK_NAMES = ("<blk>", "<blank>", "<pad>", "<b>", "<eps>", "_")
WORD_DELIMITERS = ("|", "\u2581")


def _ctc_symbols(o: CompileOptions, token_list, tokens_path) -> CompileOptions:
    """The options with the model's blank: the one asked for, or when that is the default
    and the token list lacks it, the one usual blank name it has (said in the log). A
    word delimiter in the token list that the options do not name is pointed out."""
    if o.blank not in token_list:
        found = [t for t in BLANK_NAMES if t in token_list]
        if o.blank != constants.CTC_BLANK or len(found) != 1:
            raise GraphBuildError(
                f"{tokens_path or 'the token list'}: no blank {o.blank!r}"
                + (f"; tokens that look like a blank: {', '.join(found)}" if found else "")
                + "; give the model's blank with --blank")
        log.warning("%s: no %r in the token list; using %r as the blank", tokens_path, o.blank, found[0])
        o = dataclasses.replace(o, blank=found[0])
    for d in WORD_DELIMITERS:
        if d in token_list and o.word_delimiter is None:
            log.warning("%s: the token list has %r, a word delimiter in wav2vec2/BPE models; if the model puts it "
                        "between words, give --word-delimiter %r", tokens_path, d, d)
    return o


def _compile(lexicon, grammar, out, o: CompileOptions, phones, tokens, t_start, steps) -> CompileResult:
    inputs = {"lexicon": str(lexicon)}
    fillers: tuple = ()
    marks = None
    if o.topology == "ctc":
        if o.bpe_model:
            inputs["bpe_model"] = o.bpe_model
        token_list = _token_list(lexicon, tokens, o, inputs)
        o = _ctc_symbols(o, token_list, tokens)
        lex = read_lexicon(lexicon, o.lexicon_format, phones=token_list)
        t0 = time.perf_counter()
        L = make_lexicon_fst(lex, o.sil_prob, o.word_delimiter, False)
        if o.on_the_fly and o.sil_prob:  # words may be added at decode time
            marks = mark_lexicon(L, o.sil_prob, o.word_delimiter)
    elif Path(lexicon).is_dir():  # Kaldi's data/lang: its L_disambig.fst and tables, as mkgraph.sh takes them
        t0 = time.perf_counter()
        L, o, phones = _kaldi_lang(lexicon, grammar, o, phones, inputs)
        marks = mark_hmm_lexicon(L, o, phones)
    else:
        phone_list = read_phones(phones) if phones is not None else None
        if phones is not None:
            inputs["phones"] = str(phones)
        if o.kaldi_model:  # phones: the model's phones.txt; with word positions, its base phones check the lexicon
            if phones is None:
                raise GraphBuildError("--kaldi-model needs --phones: the model's phones.txt (Kaldi's phone ids)")
            inputs["kaldi_model"] = o.kaldi_model
            if o.kaldi_tree:
                inputs["kaldi_tree"] = o.kaldi_tree
            if o.position_dependent_phones:
                phone_list = tuple(dict.fromkeys(base_phone(p) for p in phone_list))
        lex = read_lexicon(lexicon, o.lexicon_format, phones=phone_list)
        fillers = read_fillers(o.fillers, phone_list) if o.fillers else ()
        if o.fillers:
            inputs["fillers"] = o.fillers
        t0 = time.perf_counter()
        L = make_lexicon_fst(lex, o.sil_prob, o.sil_phone, o.position_dependent_phones, fillers=fillers,
                             sil_loop_prob=o.sil_loop_prob)
        marks = mark_hmm_lexicon(L, o, phones)
    hfst.log_step("L (lexicon, disambig)", L.fst, t0)
    if not isinstance(grammar, fst.Fst):
        inputs["grammar"] = str(grammar)
    G, gstats, on_the_fly = _grammar_and_lm(grammar, L.words, o, inputs)
    lm, loop_cost = on_the_fly or (None, None)
    LG = hfst.compose(L.fst, G, "LG = L o G", "no word of the grammar has a pronunciation, or G accepts nothing")
    del G  # free memory before determinization
    LG = hfst.determinize_log(
        LG, "LG: determinize (log)",
        "L o G is not determinizable: homophones or words that are prefixes of others without "
        "disambiguation symbols, or a grammar with epsilon cycles", o.max_determinize_mem, consume=True)
    LG = hfst.minimize_encoded(LG, "LG: minimize (encoded)", consume=True)
    transitions = word_starts = repeat_base = None
    if o.topology == "ctc":
        LG = hfst.relabel_to_epsilon(LG, L.disambig_phones, "input", "LG: disambiguation -> eps")
        LG.arcsort("ilabel")
        HCLG, word_starts, repeat_base = compose_ctc_topology(LG, o, token_list, len(L.phones), lm is not None,
                                                              marks)
        del LG
        ncol = len(token_list)
        i2c = np.full(len(L.phones) if repeat_base is None else repeat_base + ncol, -1, dtype=np.int32)
        i2c[1 : ncol + 1] = np.arange(ncol, dtype=np.int32)
        if repeat_base is not None:  # the compact topology's repeats (its blank has none)
            i2c[repeat_base:] = np.arange(ncol, dtype=np.int32)
            i2c[repeat_base + token_list.index(o.blank)] = -1
    else:
        HCLG, i2c, transitions, word_starts = hmm_graph(L, LG, o, phones, inputs, marks)
        del LG
    if isinstance(HCLG, fst.Fst):
        t0 = time.perf_counter()
        HCLG.arcsort("ilabel")
        hfst.log_step("HCLG: arcsort", HCLG, t0)
    st, na = steps[-1][1], steps[-1][2]
    manifest = {
        "topology": o.topology,
        "self_loops": "reorder" if o.topology == "hmm" else None,
        # the compact CTC topology: a repeat of column k reads label ctc_repeat_labels + k
        "ctc_repeat_labels": repeat_base if o.topology == "ctc" else None,
        "options": dict(dataclasses.asdict(o), nonword_units=sorted({p for f in (fillers if o.topology == "hmm" else ())
                                                                     for p in f})),
        "inputs": {k: {"path": str(Path(v).resolve()), "sha256": sha256(v)} for k, v in inputs.items()},
        "grammar_stats": dataclasses.asdict(gstats) if gstats else None,
        "versions": _versions(),
        "steps": [list(s) for s in steps],
    }
    disambig = tuple(L.phones.symbols[i] for i in L.disambig_phones)
    write_graph_dir(out, HCLG, L.words, L.phones, i2c, manifest, disambig, transitions, L.word_boundary,
                    list(L.align_lexicon), consume=True, lm=lm, loop_cost=loop_cost,
                    word_starts=word_starts)
    if o.bpe_model:  # spells the words a request adds (hclg.graph.new_words.speller)
        shutil.copyfile(o.bpe_model, Path(out) / "bpe.model")
    if word_starts is not None and transitions is not None and "tree_phone" in transitions:
        # the windows of the words a request adds (new_words_hmm): the tree, or the table read as one
        shutil.copyfile(o.context_table or o.kaldi_tree, Path(out) / (TABLE_FILE if o.context_table else "tree"))
    secs = time.perf_counter() - t_start
    return CompileResult(out, st, na, secs, tuple(steps))


def _token_list(lexicon, tokens, o: CompileOptions, inputs: dict) -> tuple[str, ...]:
    """The CTC token list: the model's (``tokens``), or blank + the lexicon's tokens in
    order of first use (said in the log: a model's columns are in its own order)."""
    if tokens is not None:
        inputs["tokens"] = str(tokens)
        return read_token_list(tokens)
    lex0 = read_lexicon(lexicon, o.lexicon_format)
    token_list = (o.blank,) + tuple(p for p in lex0.phones if p != o.blank)
    log.warning("no token list (--tokens): the posterior columns are taken to be %s then the lexicon's "
                "tokens in order of first use (%s); a model's columns are in its own order, give its token "
                "list", o.blank, " ".join(token_list[1:8]) + (" ..." if len(token_list) > 8 else ""))
    return token_list


def _kaldi_lang(lang, grammar, o: CompileOptions, phones, inputs: dict):
    """L from Kaldi's data/lang (as mkgraph.sh takes it); its phones.txt unless ``phones``
    is given, and its words.txt for a grammar FST without symbols.

    Returns:
        (L, options, phones file).
    """
    if not o.kaldi_model:
        raise GraphBuildError(f"{lang}: a Kaldi data/lang directory needs --kaldi-model (its phone ids)")
    inputs.clear()
    inputs.update({"lexicon": str(Path(lang) / "L_disambig.fst"), "kaldi_model": o.kaldi_model})
    if o.kaldi_tree:
        inputs["kaldi_tree"] = o.kaldi_tree
    if o.grammar_words is None and not isinstance(grammar, fst.Fst):
        o = dataclasses.replace(o, grammar_words=str(Path(lang) / "words.txt"))
    return read_kaldi_lang(lang), o, Path(lang) / "phones.txt" if phones is None else phones


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("hclg", "pynini", "numpy", "numba"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out
