"""Kaldi's language and graph directories read as hclg's tables: ``data/lang`` (the
lexicon FST ``L_disambig.fst`` with ``words.txt``, ``phones.txt`` and ``phones/*``), as
mkgraph.sh takes it, and the ``phones/`` files a graph directory carries (word positions,
the alignment lexicon, silence phones)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pywrapfst as fst

from hclg import constants
from hclg.errors import GraphFormatError, InputFormatError
from hclg.fst.convert import fst_to_arrays
from hclg.graph.lexicon import LexiconFst
from hclg.graph.symbols import SymbolTable
from hclg.text_input import text_lines

log = logging.getLogger("hclg")


def read_kaldi_lang(lang_dir) -> LexiconFst:
    """Kaldi's ``data/lang`` as the lexicon of a graph recipe (as mkgraph.sh takes it):
    ``L_disambig.fst`` over the ids of ``phones.txt`` and ``words.txt``, the
    disambiguation phones of ``phones/disambig.int``, word positions from
    ``phones/word_boundary.int`` and pronunciations from ``phones/align_lexicon.*``.

    Raises:
        GraphFormatError, InputFormatError: a missing file, or an L whose labels are not
            in the tables.
    """
    lang = Path(lang_dir)
    for name in ("L_disambig.fst", "words.txt", "phones.txt", "phones/disambig.int"):
        if not (lang / name).exists():
            raise GraphFormatError(f"{lang}: no {name}; expected Kaldi's data/lang directory")
    words = SymbolTable.read(lang / "words.txt")
    phones = SymbolTable.read(lang / "phones.txt")
    L = read_kaldi_fst(lang / "L_disambig.fst")
    a = fst_to_arrays(L)
    if a.num_arcs and int(a.ilabel.max()) >= len(phones):
        raise GraphFormatError(f"{lang / 'L_disambig.fst'}: input label {int(a.ilabel.max())} is not in phones.txt")
    if a.num_arcs and int(a.olabel.max()) >= len(words):
        raise GraphFormatError(f"{lang / 'L_disambig.fst'}: output label {int(a.olabel.max())} is not in words.txt")
    p = lang / "phones" / "disambig.int"
    try:
        disambig = tuple(int(x) for x in p.read_text(encoding="utf-8").split())
    except ValueError:
        raise InputFormatError(p, None, "expected phone ids") from None
    bad = [d for d in disambig if not 0 < d < len(phones) or not phones.symbols[d].startswith("#")]
    if bad:
        raise InputFormatError(p, None, f"phone id {bad[0]} is not a #n disambiguation symbol of phones.txt")
    if not np.isin(np.array(disambig), a.ilabel).any():
        log.warning("%s: L reads none of the disambiguation phones of phones/disambig.int", lang)
    L.arcsort("olabel")
    lexicon, _between = read_align_lexicon(lang, words, phones)
    return LexiconFst(L, phones, words, disambig, read_word_boundary(lang, phones), tuple(lexicon))


def read_kaldi_fst(path: Path):
    """An OpenFst binary FST with standard arcs (VectorFst or Kaldi's ConstFst, as a
    VectorFst); InputFormatError naming the file otherwise."""
    try:
        f = fst.Fst.read(str(path))
    except (fst.FstIOError, fst.FstOpError, RuntimeError) as e:
        raise InputFormatError(path, None, f"not an OpenFst binary FST ({e})") from None
    if f.arc_type() != "standard":
        raise InputFormatError(path, None, f"arc type {f.arc_type()!r}; a decoding graph has standard (tropical) arcs")
    if f.start() < 0:
        raise InputFormatError(path, None, "the FST is empty (no start state)")
    return f if f.fst_type() == "vector" else fst.convert(f, "vector")


def read_align_lexicon(graph: Path, words: SymbolTable, phones: SymbolTable):
    """(word, phones) pairs of Kaldi's ``phones/align_lexicon.txt`` (``word word phone ...``)
    or ``.int``; the pronunciations of ``<eps>`` (silence between words) apart."""
    txt, ints = graph / "phones" / "align_lexicon.txt", graph / "phones" / "align_lexicon.int"
    rows = []
    if txt.exists():
        for n, line in text_lines(txt):
            p = line.split()
            if p and (len(p) < 3 or p[0] != p[1]):
                raise InputFormatError(txt, n, f"expected 'word word phone ...', got {line.strip()!r}")
            if p:
                rows.append((p[0], tuple(p[2:])))
    elif ints.exists():
        for n, line in text_lines(ints):
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


def read_word_boundary(graph: Path, phones: SymbolTable) -> tuple[str, ...] | None:
    """Per phone id, its word position from Kaldi's ``phones/word_boundary.int`` (as
    ``lattice-align-words`` reads it), or None without one."""
    p = graph / "phones" / "word_boundary.int"
    if not p.exists():
        return None
    kinds = ["nonword"] * len(phones)
    for n, line in text_lines(p):
        parts = line.split()
        if not parts:
            continue
        kind = WORD_POSITIONS.get(parts[-1], parts[-1]) if len(parts) == 2 else None
        if kind not in WORD_POSITIONS.values() or not parts[0].isdigit() or not 0 < int(parts[0]) < len(phones):
            raise InputFormatError(p, n, f"expected 'phone-id nonword|begin|end|internal|singleton', got {line.strip()!r}")
        kinds[int(parts[0])] = kind
    return tuple(kinds)


def read_optional_silence(graph: Path) -> str | None:
    """The optional-silence phone of Kaldi's ``phones/optional_silence.txt``, if there."""
    p = graph / "phones" / "optional_silence.txt"
    return p.read_text(encoding="utf-8").split()[0] if p.exists() and p.read_text(encoding="utf-8").split() else None


def read_silence_phones(graph: Path, phones: SymbolTable) -> list[str]:
    csl = graph / "phones" / "silence.csl"
    if not csl.exists():
        return []
    try:
        return [phones.symbols[int(x)] for x in csl.read_text(encoding="utf-8").strip().split(":") if x]
    except (ValueError, IndexError):
        raise InputFormatError(csl, 1, "expected colon-separated phone ids of phones.txt") from None
