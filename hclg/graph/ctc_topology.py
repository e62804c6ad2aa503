"""T, the CTC topology: label ``k + 1`` reads posterior column ``k`` (label 0 is epsilon), so
the blank is label ``blank_id + 1``; a token is output on its first frame, its repeats and
blanks output nothing."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np

from hclg import constants
from hclg import fst as hfst
from hclg.errors import InputFormatError
from hclg.fst.convert import arrays_to_fst
from hclg.graph.new_words_ctc import (
    mark_word_starts,
    mark_word_starts_silence,
    take_word_starts,
    take_word_starts_silence,
)
from hclg.text_input import text_lines

log = logging.getLogger("hclg")


def make_ctc_topo(num_tokens: int, blank_id: int, compact: bool = False, repeat_base: int | None = None):
    """T: CTC frame labels to tokens (repeats collapse, blanks vanish), as k2's ctc_topo.

    Token ``k`` is label ``k + 1``. The standard topology has a state per token and an
    arc between every pair ((N)^2 arcs); the compact one (k2's ``modified=True``) has
    O(N) arcs via epsilons, at the price of also reading ``a a`` as two tokens.

    The standard topology tells a repeat from a new token by the label before it; the
    compact one cannot (both read ``k + 1`` twice), so for word and token times its
    repeats (the token states' self-loops) may read their own labels, ``repeat_base + k``
    for column k, as Kaldi's self-loops have transition ids of their own.

    Args:
        num_tokens: posterior columns, blank included.
        blank_id: column of the blank.
        compact: build the compact variant.
        repeat_base: with ``compact``, the repeat label of column 0 (above every other
            label of the graph); None: a repeat reads its token's label.

    Returns:
        T as a tropical VectorFst (standard: every state final; compact: state 0).
    """
    if not 0 <= blank_id < num_tokens:
        raise ValueError(f"blank_id {blank_id} outside 0..{num_tokens - 1}")
    b = blank_id + 1
    labels = np.arange(1, num_tokens + 1)
    if not compact:
        # state k-1 = "last frame was token k" (blank state = b - 1)
        i, j = np.meshgrid(labels, labels, indexing="ij")
        i, j = i.ravel(), j.ravel()
        olab = np.where((i == j) | (j == b), 0, j)
        src, dst, ilab = i - 1, j - 1, j
        ns = num_tokens
        start = b - 1
        final = np.zeros(ns, dtype=np.float32)
    else:
        toks = labels[labels != b]
        # state 0: after blank/start; state t: inside token t.
        ns = num_tokens
        st = np.arange(1, ns)
        src = np.concatenate([[0], np.zeros(len(toks), int), st, st])
        loops = toks if repeat_base is None else repeat_base + toks - 1
        ilab = np.concatenate([[b], toks, loops, np.zeros(len(toks), int)])
        olab = np.concatenate([[0], toks, np.zeros(len(toks), int), np.zeros(len(toks), int)])
        dst = np.concatenate([[0], st, st, np.zeros(len(toks), int)])
        start = 0
        # only state 0 is final: a path ending in a token reaches it by its epsilon, once (with
        # every state final, each such path would also end one state earlier: twice in a sum)
        final = np.full(ns, np.inf, dtype=np.float32)
        final[0] = 0.0
    return arrays_to_fst(ns, start, src, ilab, olab, np.zeros(len(src), np.float32), dst, final)


def compose_ctc_topology(LG, o, token_list, num_labels: int, on_the_fly: bool, marks=None):
    """(T o LG, T of the options' ``ctc_topo`` and ``blank``; on an on-the-fly graph, its
    word-start states, else None: :mod:`hclg.graph.new_words_ctc`; on the compact topology,
    the repeat label of column 0 (:func:`make_ctc_topo`), else None). ``marks``: with
    optional silence (a word delimiter) between words, L's markers, which LG has
    (:class:`hclg.graph.word_start_marks.Marks`; None: no word-start states)."""
    t0 = time.perf_counter()
    compact = o.ctc_topo == "compact"
    marked = on_the_fly and (marks if o.sil_prob else True)
    base = num_labels + 2  # markers above every label (LG's own markers: num_labels, num_labels + 1)
    n = len(token_list)
    # repeats above the markers T gets below (their input labels stay under base + (markers) n)
    repeat_base = base + (len(marks.labels) if marked and o.sil_prob else 1) * n if compact else None
    T = make_ctc_topo(n, token_list.index(o.blank), compact=compact, repeat_base=repeat_base)
    hfst.log_step(f"T (ctc {o.ctc_topo})", T, t0)
    if marked and o.sil_prob:
        mark_word_starts_silence(T, marks.labels, base, token_list.index(o.blank) if compact else None)
    elif marked:
        mark_word_starts(T, LG, num_labels, token_list.index(o.blank) if compact else None)
    TLG = hfst.compose(T, LG, "TLG = T o LG", "the lexicon's tokens are not the token list's")
    if not marked:
        return TLG, None, repeat_base
    t0 = time.perf_counter()
    if o.sil_prob:
        TL, word_starts = take_word_starts_silence(TLG, base, n, marks.costs, repeat_base)
    else:
        TL, word_starts = take_word_starts(TLG, num_labels, repeat_base)
    hfst.log_step("TL: word-start states (for words added at decode time)", TL, t0)
    return TL, word_starts, repeat_base


def read_token_list(path) -> tuple[str, ...]:
    """A CTC model's output tokens in column order, from ``tok`` or ``tok id`` lines
    (sherpa-onnx / icefall ``tokens.txt``, k2's, or one token per line).

    With ids, the columns are the ids, which must be 0..n-1 (in any line order); the
    disambiguation symbols ``#k`` of an icefall lang directory are not model outputs and
    are dropped (they must come after the columns). icefall's ``lang_phone`` calls its
    blank ``<eps>`` (id 0): it is read as the blank ``<blk>``, and said.

    Raises:
        InputFormatError: a malformed line, an id given twice, or ids with a gap.
    """
    path = Path(path)
    rows: dict[int, str] = {}
    plain: list[str] = []
    for n, line in text_lines(path):
        parts = line.split()
        if not parts:
            continue
        if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise InputFormatError(path, n, f"expected 'token' or 'token id', got {line.strip()!r}")
        if re.fullmatch(r"#\d+", parts[0]):
            continue
        if len(parts) == 1:
            plain.append(parts[0])
            continue
        k = int(parts[1])
        if k in rows:
            raise InputFormatError(path, n, f"id {k} is given twice ({rows[k]!r} and {parts[0]!r})")
        rows[k] = parts[0]
    if rows and plain:
        raise InputFormatError(path, None, "some lines have an id and some do not")
    if rows:
        missing = sorted(set(range(len(rows))) - set(rows))
        if missing:
            raise InputFormatError(path, None, f"the token ids are not 0..{len(rows) - 1}: no token has id {missing[0]}")
        plain = [rows[k] for k in range(len(rows))]
    if not plain:
        raise InputFormatError(path, None, "no tokens in file")
    if plain[0] == constants.EPS:
        log.warning("%s: token 0 is %r (icefall's lang_phone blank): read as the blank %r", path, constants.EPS,
                    constants.CTC_BLANK)
        plain[0] = constants.CTC_BLANK
    return tuple(plain)
