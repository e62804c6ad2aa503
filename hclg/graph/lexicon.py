"""Pronunciation lexicons and the lexicon transducer L.

Reads Kaldi ``lexicon.txt`` (``word p1 p2 ...``), ``lexiconp.txt`` (``word prob p1 ...``)
and CMUdict-style dictionaries (``WORD(2)  P1 P2``, ``;;;`` or ``#`` comments), adds
disambiguation symbols as Kaldi's ``add_lex_disambig.pl`` does, and builds L with
optional silence between words as Kaldi's ``make_lexicon_fst.py`` does.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hclg import constants
from hclg.errors import InputFormatError
from hclg.fst.convert import arrays_to_fst
from hclg.graph.symbols import SymbolTable
from hclg.text_input import text_lines

_ALT = re.compile(r"^(.+)\((\d+)\)$")
POSITIONS = ("_B", "_I", "_E", "_S")


@dataclass(frozen=True)
class Pronunciation:
    """One lexicon entry: a word, its phones (or tokens) and its pronunciation probability."""

    word: str
    phones: tuple[str, ...]
    prob: float = 1.0


@dataclass(frozen=True)
class Lexicon:
    """A pronunciation lexicon.

    Attributes:
        entries: pronunciations in file order (alternates keep their order).
        phones: the phone (token) set, in a fixed order.
    """

    entries: tuple[Pronunciation, ...]
    phones: tuple[str, ...]

    @property
    def words(self) -> tuple[str, ...]:
        """Distinct words, sorted (as Kaldi's words.txt)."""
        return tuple(sorted({e.word for e in self.entries}))


def _detect_format(path: Path, lines: list[tuple[int, list[str]]]) -> str:
    if any(_ALT.match(p[0]) for _, p in lines[:5000]):
        return "cmudict"
    if lines and all(len(p) >= 3 and _is_prob(p[1]) for _, p in lines[:5000]):
        return "lexiconp"
    return "kaldi"


def _is_prob(s: str) -> bool:
    try:
        v = float(s)
    except ValueError:
        return False
    return 0.0 < v <= 1.0 and not s.isalpha()


def read_fillers(path, phones=None) -> tuple[tuple[str, ...], ...]:
    """The distinct pronunciations, in order, of a pocketsphinx ``fillers.dic`` (``WORD
    PHONE ...``: ``<sil> SIL``, ``++NOISE++ +NSN+``); each phone must be in ``phones``."""
    path = Path(path)
    out: dict[tuple[str, ...], None] = {}
    for n, line in text_lines(path):
        parts = line.split()
        if not parts or parts[0].startswith(";;;"):
            continue
        if len(parts) < 2:
            raise InputFormatError(path, n, f"expected 'WORD PHONE ...', got {line.strip()!r}")
        for p in (p for p in parts[1:] if phones is not None and p not in phones):
            raise InputFormatError(path, n, f"filler {parts[0]!r}: phone {p!r} is not in the phone list")
        out.setdefault(tuple(parts[1:]), None)
    if not out:
        raise InputFormatError(path, None, "no fillers in file")
    return tuple(out)


def read_phones(path) -> tuple[str, ...]:
    """Reads a phone list: one phone per line, or Kaldi ``phones.txt`` (``phone id``).

    ``<eps>`` and disambiguation symbols (``#n``) are skipped.
    """
    path = Path(path)
    phones = []
    for n, line in text_lines(path):
        parts = line.split()
        if not parts or parts[0].startswith(";;;"):
            continue
        if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise InputFormatError(path, n, f"expected 'phone' or 'phone id', got {line.strip()!r}")
        p = parts[0]
        if p == constants.EPS or re.fullmatch(r"#\d+", p):
            continue
        phones.append(p)
    if not phones:
        raise InputFormatError(path, None, "no phones in file")
    if len(set(phones)) != len(phones):
        dup = next(p for p, c in Counter(phones).items() if c > 1)
        raise InputFormatError(path, None, f"phone {dup!r} listed twice")
    return tuple(phones)


def read_lexicon(path, fmt: str = "auto", phones=None) -> Lexicon:
    """Reads a pronunciation lexicon.

    Args:
        path: lexicon file (plain or .gz).
        fmt: ``auto``, ``kaldi`` (word p1 ...), ``lexiconp`` (word prob p1 ...) or
            ``cmudict`` (WORD(2) P1 ...; ``;;;``/``#`` comments).
        phones: the phone set (sequence of str); when given every phone must be in it,
            otherwise the set is the lexicon's phones in order of first use.

    Returns:
        The Lexicon.

    Raises:
        InputFormatError: a line without phones, a bad probability, a phone not in
            the phone set, or an empty file; names the file and line.
    """
    path = Path(path)
    lines = []
    for n, line in text_lines(path):
        s = line.strip()
        if not s:
            continue
        if fmt in ("auto", "cmudict") and (s.startswith(";;;") or s.startswith("#")):
            continue
        lines.append((n, s.split()))
    if fmt == "auto":
        fmt = _detect_format(path, lines)
    if fmt not in ("kaldi", "lexiconp", "cmudict"):
        raise ValueError(f"unknown lexicon format {fmt!r}")
    phone_set = set(phones) if phones is not None else None
    seen_phones: dict[str, None] = {}
    entries = []
    for n, parts in lines:
        word = parts[0]
        prob = 1.0
        rest = parts[1:]
        if fmt == "cmudict":
            m = _ALT.match(word)
            if m:
                word = m.group(1)
        elif fmt == "lexiconp":
            if not rest:
                raise InputFormatError(path, n, f"expected 'word prob phone ...', got {' '.join(parts)!r}")
            try:
                prob = float(rest[0])
            except ValueError:
                raise InputFormatError(path, n, f"expected a pronunciation probability, got {rest[0]!r}") from None
            if not 0.0 < prob <= 1.0:
                raise InputFormatError(path, n, f"pronunciation probability must be in (0, 1], got {prob}")
            rest = rest[1:]
        if not rest:
            raise InputFormatError(path, n, f"word {word!r} has no pronunciation (expected 'word phone ...')")
        if word in (constants.EPS, constants.BOS, constants.EOS) or word.startswith(constants.DISAMBIG_PREFIX):
            raise InputFormatError(path, n, f"the word {word!r} is reserved (epsilon, sentence boundaries and "
                                            "disambiguation symbols) and cannot be in the lexicon (pocketsphinx's "
                                            "fillers.dic goes to --fillers)")
        for p in rest:
            if p.startswith(constants.DISAMBIG_PREFIX) or p == constants.EPS:
                raise InputFormatError(path, n, f"phone {p!r} is reserved (epsilon and disambiguation symbols "
                                                "start with '#') and cannot be a phone")
            if phone_set is not None and p not in phone_set:
                raise InputFormatError(path, n, f"phone {p!r} of word {word!r} is not in the phone set")
            seen_phones.setdefault(p, None)
        entries.append(Pronunciation(word, tuple(rest), prob))
    if not entries:
        raise InputFormatError(path, None, "the lexicon has no entries")
    return Lexicon(tuple(entries), tuple(phones) if phones is not None else tuple(seen_phones))


def add_disambig(lexicon: Lexicon) -> tuple[list[tuple[str, ...]], int]:
    """Appends ``#1, #2, ...`` to pronunciations that are homophones or prefixes of
    others, as Kaldi's ``add_lex_disambig.pl``.

    Args:
        lexicon: the lexicon.

    Returns:
        (pronunciations with disambiguation symbols appended, one per entry, in order;
        the highest disambiguation index used, 0 if none).
    """
    count = Counter(e.phones for e in lexicon.entries)
    prefixes = set()
    for e in lexicon.entries:
        for i in range(1, len(e.phones)):
            prefixes.add(e.phones[:i])
    last: dict[tuple[str, ...], int] = {}
    max_disambig = 0
    out = []
    for e in lexicon.entries:
        p = e.phones
        if p in prefixes or count[p] > 1:
            cur = last.get(p, 0) + 1
            last[p] = cur
            max_disambig = max(max_disambig, cur)
            out.append(p + (f"#{cur}",))
        else:
            out.append(p)
    return out, max_disambig


def position_dependent(phones: tuple[str, ...], silence: set[str]) -> tuple[str, ...]:
    """Kaldi's position-dependent phone set: ``p_B p_I p_E p_S`` for each phone; silence
    phones keep their plain form too."""
    out = []
    for p in phones:
        if p in silence:
            out.append(p)
        out.extend(p + s for s in POSITIONS)
    return tuple(out)


def word_positions(pron: tuple[str, ...]) -> tuple[str, ...]:
    """Marks a pronunciation's phones with their word position (_B, _I, _E, or _S)."""
    if len(pron) == 1:
        return (pron[0] + "_S",)
    return (pron[0] + "_B",) + tuple(p + "_I" for p in pron[1:-1]) + (pron[-1] + "_E",)


@dataclass(frozen=True)
class LexiconFst:
    """L with disambiguation symbols, and the tables that give its labels meaning.

    Attributes:
        fst: L (input: phones and #n; output: words and #0), arc-sorted on output.
        phones: input table: ``<eps>``, phones, then ``#0 .. #ndisambig``.
        words: output table: ``<eps>``, words, ``#0``, ``<s>``, ``</s>``.
        disambig_phones: ids of ``#0..#n`` in ``phones``.
        word_boundary: per phone id, one of nonword/begin/end/internal/singleton
            (Kaldi's word_boundary.txt), or None without position-dependent phones.
        align_lexicon: (word, phones) per pronunciation, phones as L reads them.
    """

    fst: object
    phones: SymbolTable
    words: SymbolTable
    disambig_phones: tuple[int, ...]
    word_boundary: tuple[str, ...] | None
    align_lexicon: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _silence_arcs(arc, units, sil, loop, sil_loop_prob: float, nstates: int) -> int:
    """The optional silence's alternatives (the silence phone, fillers): each a chain of
    phone arcs from the silence state back to the loop state (or, with probability
    ``sil_loop_prob``, to the silence state for another one). Returns the state count."""
    pick = math.log(len(units))  # which alternative: all alike
    for unit in units:
        s = sil
        for k, pid in enumerate(unit):
            first = pick if k == 0 else 0.0
            if k + 1 < len(unit):
                arc(s, pid, 0, first, nstates)
                s, nstates = nstates, nstates + 1
            elif sil_loop_prob > 0:
                arc(s, pid, 0, first - math.log(1.0 - sil_loop_prob), loop)
                arc(s, pid, 0, first - math.log(sil_loop_prob), sil)
            else:
                arc(s, pid, 0, first, loop)
    return nstates


def make_lexicon_fst(
    lexicon: Lexicon,
    sil_prob: float = constants.SIL_PROB,
    sil_phone: str | None = constants.SIL_PHONE,
    position_dependent_phones: bool = constants.POSITION_DEPENDENT_PHONES,
    extra_words: tuple[str, ...] = (),
    fillers: tuple[tuple[str, ...], ...] = (),
    sil_loop_prob: float = 0.0,
) -> LexiconFst:
    """Builds L_disambig as Kaldi's ``prepare_lang.sh`` + ``make_lexicon_fst.py``.

    With ``sil_prob > 0`` L has a start state, a loop state and a silence state:
    optional silence (cost -log sil_prob) before the first word and after each word,
    -log(1 - sil_prob) otherwise. The word is output on a pronunciation's first arc
    (with its pronunciation cost); ``#0:#0`` loops on the loop state let G's backoff
    symbol through.

    Args:
        lexicon: the lexicon (without disambiguation symbols).
        sil_prob: probability of silence between words; 0 for none (e.g. CTC).
        sil_phone: the optional-silence phone; must be in the phone set if sil_prob > 0.
        position_dependent_phones: use Kaldi's word-position phone variants.
        extra_words: words to put in the word table without pronunciations.
        fillers: more pronunciations the optional silence may take (noises of a
            pocketsphinx fillers.dic), each as likely as the silence phone; not output.
        sil_loop_prob: probability that an optional silence is followed by another
            (0: one at most, as Kaldi).

    Returns:
        The LexiconFst.
    """
    if not 0.0 <= sil_prob < 1.0:
        raise ValueError(f"sil_prob must be in [0, 1), got {sil_prob}")
    base_phones = list(lexicon.phones)
    if sil_prob > 0:
        if not sil_phone:
            raise ValueError("sil_prob > 0 needs a silence phone")
        if sil_phone not in base_phones:
            base_phones.append(sil_phone)
    units = [(sil_phone,)] + [p for p in dict.fromkeys(fillers) if p != (sil_phone,)] if sil_prob > 0 else []
    base_phones += [p for u in units[1:] for p in u if p not in base_phones]
    silence = ({sil_phone} if sil_phone and sil_phone in base_phones else set()) | {p for u in units for p in u}
    prons, max_disambig = add_disambig(lexicon)
    ndisambig = max_disambig + 1  # as prepare_lang.sh: one more, reserved for silence
    if position_dependent_phones:
        phone_list = position_dependent(tuple(base_phones), silence)
        prons = [word_positions(tuple(x for x in p if not x.startswith("#"))) + tuple(x for x in p if x.startswith("#")) for p in prons]
    else:
        phone_list = tuple(base_phones)
    phones = SymbolTable((constants.EPS,) + tuple(phone_list) + tuple(f"#{i}" for i in range(ndisambig + 1)))
    disambig = tuple(phones.id(f"#{i}") for i in range(ndisambig + 1))
    word_list = sorted({e.word for e in lexicon.entries} | set(extra_words))
    for reserved in (constants.EPS, constants.BACKOFF_DISAMBIG, constants.BOS, constants.EOS):
        if reserved in word_list:
            word_list.remove(reserved)
    words = SymbolTable((constants.EPS,) + tuple(word_list) + (constants.BACKOFF_DISAMBIG, constants.BOS, constants.EOS))

    src, ilab, olab, wt, dst = [], [], [], [], []

    def arc(s, i, o, w, d):
        src.append(s)
        ilab.append(i)
        olab.append(o)
        wt.append(w)
        dst.append(d)

    if sil_prob > 0:
        start, loop, sil = 0, 1, 2
        sil_cost, nosil_cost = -math.log(sil_prob), -math.log(1.0 - sil_prob)
        arc(start, 0, 0, nosil_cost, loop)
        arc(start, 0, 0, sil_cost, sil)
        nstates = _silence_arcs(arc, [[phones.id(p) for p in u] for u in units], sil, loop, sil_loop_prob, 3)
    else:
        start = loop = 0
        sil = None
        nstates = 1
    for e, pron in zip(lexicon.entries, prons):
        s = loop
        out = words.id(e.word)
        cost = -math.log(e.prob)
        for k, p in enumerate(pron):
            pid = phones.id(p)
            if k + 1 < len(pron):
                arc(s, pid, out, cost, nstates)
                s = nstates
                nstates += 1
            elif sil is None:
                arc(s, pid, out, cost, loop)
            else:
                arc(s, pid, out, cost + nosil_cost, loop)
                arc(s, pid, out, cost + sil_cost, sil)
            out, cost = 0, 0.0
    w0 = words.id(constants.BACKOFF_DISAMBIG)
    arc(loop, phones.id("#0"), w0, 0.0, loop)
    final = np.full(nstates, np.inf, dtype=np.float32)
    final[loop] = 0.0
    f = arrays_to_fst(nstates, start, np.array(src), np.array(ilab), np.array(olab), np.array(wt, dtype=np.float32), np.array(dst), final)
    # The start state's two epsilon arcs (silence or not) are removed here, where it is
    # cheap, so that L o G has none and determinization needs no epsilon removal.
    f.rmepsilon()
    f.arcsort("olabel")
    boundary = None
    if position_dependent_phones:
        kinds = {"_B": "begin", "_I": "internal", "_E": "end", "_S": "singleton"}
        boundary = tuple(
            "nonword" if p in silence or i == 0 or p.startswith("#") else kinds.get(p[-2:], "nonword")
            for i, p in enumerate(phones.symbols)
        )
    align = tuple((e.word, tuple(x for x in p if not x.startswith("#"))) for e, p in zip(lexicon.entries, prons))
    return LexiconFst(f, phones, words, disambig, boundary, align)
