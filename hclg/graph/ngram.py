"""The grammar G as arrays the search steps through (on-the-fly composition).

A backoff n-gram G, as Kaldi's ``arpa2fst`` makes it (one state per history, a ``#0``/
epsilon backoff arc from each history to its tail), kept as flat arrays instead of being
composed into the decoding graph. The search holds a G state beside each token and
steps it whenever a path outputs a word (:func:`ngram_step`).

Semantics: the n-gram model's own (backoff as a failure transition, as OpenFst's phi
matcher): a word read in state g takes g's arc for it if g has one, and only if not backs
off (adding the backoff cost) and tries again; the end of a sentence likewise. A
sentence's cost is then exactly -ln P(sentence) of the ARPA model. Kaldi's G.fst reads its
backoff arcs as epsilons, which lets a path back off even where the n-gram exists; a
static graph, determinized in the log semiring as ``mkgraph.sh`` does, sums those extra
paths in, so its costs are slightly lower than the model's (by -ln(1 + the extra paths'
share); hundredths per word where a backoff path comes close to the direct one).

Any grammar FST of that shape is taken: at most one epsilon (or ``#0``) arc per state,
epsilon arcs without cycles, and no two arcs of a state reading the same word.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pywrapfst as fst
from numba import njit

from hclg.errors import GraphBuildError, GraphFormatError
from hclg.fst.convert import arrays_to_fst, fst_to_arrays

INF = np.inf

#: slots of a search's cache of G's steps (ngram_step_memo): 16k pairs, 320 KB
MEMO_SLOTS = 1 << 14

#: the arrays of an n-gram, as files ``lm/NAME.npy`` of a graph directory
NGRAM_ARRAYS = ("offsets", "word", "next", "cost", "backoff", "backoff_cost", "final")


class NgramArrays(NamedTuple):
    """G as arrays (states as in the G FST).

    Attributes:
        start: the start state (the ``<s>`` history).
        offsets: int64 [S+1]: the word arcs of state g are offsets[g]:offsets[g+1].
        word: int32 [A]: their words (ascending within a state; the graph's word ids).
        next: int32 [A]: the states they lead to.
        cost: float32 [A]: their costs.
        backoff: int32 [S]: the state g backs off to, -1 for none.
        backoff_cost: float32 [S]: the cost of backing off.
        final: float32 [S]: the cost of ending the sentence in g (its final cost, or
            backing off to the first state that has one; +inf: it cannot end there).
        empty: the empty-history state (:func:`empty_history_state`), where every
            backoff chain ends; -1 before :func:`indexed`.
        empty_arc: int32 [max word + 1]: by word, its arc in the empty-history state
            (-1: none): a read there without a binary search among the whole
            vocabulary (made by :func:`indexed`, not stored).
        least: float32 [max word + 1]: by word, a cost no read of it costs less than,
            from any state (its cheapest arc, plus the cheapest run of backoffs when
            some backoff costs are negative; +inf: none reads it): the search drops a
            word arc that this already prunes without stepping G (made by
            :func:`indexed`, not stored).
    """

    start: int
    offsets: np.ndarray
    word: np.ndarray
    next: np.ndarray
    cost: np.ndarray
    backoff: np.ndarray
    backoff_cost: np.ndarray
    final: np.ndarray
    empty: int = -1
    empty_arc: np.ndarray = np.zeros(0, np.int32)
    least: np.ndarray = np.zeros(0, np.float32)
    memo_key: np.ndarray = np.zeros(0, np.int64)
    memo_next: np.ndarray = np.zeros(0, np.int32)
    memo_cost: np.ndarray = np.zeros(0, np.float64)

    @property
    def num_states(self) -> int:
        return int(self.backoff.shape[0])

    @property
    def num_arcs(self) -> int:
        return int(self.word.shape[0])


@njit(cache=True, inline="always")
def ngram_step(lm, g, w):
    """(next state, cost) of reading word ``w`` in state ``g``: its arc in the first state
    of the backoff chain that has one (the backoffs' costs added); (-1, inf) when none
    has."""
    acc = 0.0
    t = g
    while t >= 0:
        if t == lm.empty:  # the unigrams: one read
            k = lm.empty_arc[w] if w < lm.empty_arc.shape[0] else -1
            if k >= 0:
                return lm.next[k], acc + lm.cost[k]
            return -1, INF
        lo, hi = lm.offsets[t], lm.offsets[t + 1]
        end = hi
        while lo < hi:  # binary search among t's words
            mid = (lo + hi) >> 1
            if lm.word[mid] < w:
                lo = mid + 1
            else:
                hi = mid
        if lo < end and lm.word[lo] == w:
            return lm.next[lo], acc + lm.cost[lo]
        acc += lm.backoff_cost[t]
        t = lm.backoff[t]
    return -1, INF


@njit(cache=True, inline="always")
def ngram_step_memo(lm, g, w):
    """:func:`ngram_step` through the search's cache (``lm`` from :func:`with_memo`): a
    search steps the same (G state, word) pairs again and again (each token of a history
    on each arc of a word), and a step that backs off reads two or three states' arcs
    far apart in memory. Direct-mapped: a new pair takes its slot's place."""
    key = (np.int64(g) << 32) | np.int64(w)
    h = ((np.int64(g) * np.int64(40503)) ^ (np.int64(w) * np.int64(2654435761))) & (lm.memo_key.shape[0] - 1)
    if lm.memo_key[h] == key:
        return lm.memo_next[h], lm.memo_cost[h]
    d, c = ngram_step(lm, g, w)
    lm.memo_key[h] = key
    lm.memo_next[h] = d
    lm.memo_cost[h] = c
    return lm.memo_next[h], lm.memo_cost[h]


def with_memo(lm: NgramArrays, size: int = MEMO_SLOTS) -> NgramArrays:
    """``lm`` with an empty cache of ``size`` slots (a power of two) for one search
    (:func:`ngram_step_memo`): the arrays are shared, the cache is its own."""
    return lm._replace(memo_key=np.full(size, -1, np.int64), memo_next=np.zeros(size, np.int32),
                       memo_cost=np.zeros(size, np.float64))


@njit(cache=True)
def _chain_finals(final, backoff, backoff_cost):
    """Each state's cost of ending the sentence: its own final cost, or if it has none
    the backoff chain's first one (the backoffs' costs added)."""
    out = np.full(final.shape[0], INF, np.float32)
    for g in range(final.shape[0]):
        acc, t = 0.0, g
        while t >= 0:
            if final[t] < INF:
                out[g] = acc + final[t]
                break
            acc += backoff_cost[t]
            t = backoff[t]
    return out


@njit(cache=True)
def _backoff_cycle(backoff):
    """A state on a cycle of backoff arcs, or -1."""
    n = backoff.shape[0]
    for g in range(n):
        t, steps = g, 0
        while t >= 0 and steps <= n:
            t = backoff[t]
            steps += 1
        if t >= 0:
            return g
    return -1


def ngram_arrays(G: fst.Fst, backoff_label: int, where: str = "G") -> NgramArrays:
    """G's arrays from the grammar FST (its output labels are the words; arcs reading
    ``backoff_label`` or writing epsilon are backoff arcs).

    Raises:
        GraphBuildError: a state with two backoff arcs, two arcs of one word, or a
            backoff cycle: a grammar the search cannot step through deterministically.
    """
    a = fst_to_arrays(G)
    ns = a.num_states
    src = a.sources()
    is_bo = (a.olabel == 0) | (a.ilabel == backoff_label)
    bo_src = src[is_bo]
    if len(np.unique(bo_src)) != len(bo_src):
        s = int(bo_src[np.flatnonzero(np.diff(np.sort(bo_src)) == 0)[0]])
        raise GraphBuildError(f"{where}: state {s} has two epsilon (backoff) arcs; on-the-fly composition takes "
                              "a backoff n-gram (one backoff arc per state), as arpa2fst makes")
    backoff = np.full(ns, -1, np.int32)
    backoff_cost = np.zeros(ns, np.float32)
    backoff[bo_src] = a.nextstate[is_bo]
    backoff_cost[bo_src] = a.weight[is_bo]
    if (s := _backoff_cycle(backoff)) >= 0:
        raise GraphBuildError(f"{where}: the backoff arcs from state {s} form a cycle")
    keep = ~is_bo
    ws, ww = src[keep], a.olabel[keep]
    order = np.lexsort((ww, ws))
    ws, ww = ws[order], ww[order]
    dup = np.flatnonzero((np.diff(ws) == 0) & (np.diff(ww) == 0))
    if len(dup):
        raise GraphBuildError(f"{where}: state {int(ws[dup[0]])} has two arcs of word {int(ww[dup[0]])}; "
                              "on-the-fly composition needs a deterministic grammar (as arpa2fst makes)")
    offsets = np.zeros(ns + 1, np.int64)
    np.add.at(offsets, ws.astype(np.int64) + 1, 1)
    np.cumsum(offsets, out=offsets)
    return indexed(NgramArrays(int(a.start), offsets, ww.astype(np.int32), a.nextstate[keep][order].astype(np.int32),
                               a.weight[keep][order].astype(np.float32), backoff, backoff_cost,
                               _chain_finals(a.final.astype(np.float32), backoff, backoff_cost)))


def word_loop(words: np.ndarray, costs: np.ndarray) -> fst.VectorFst:
    """A one-state grammar reading each of ``words`` (ids) at its cost ``costs[word]``,
    any number of times: what the lexicon graph of an on-the-fly graph is composed with
    (with :func:`loop_costs`)."""
    ids = np.unique(np.asarray(words, np.int32))
    n = len(ids)
    w = np.asarray(costs, np.float32)[ids] if n else np.zeros(0, np.float32)
    g = arrays_to_fst(1, 0, np.zeros(n, np.int32), ids, ids, w, np.zeros(n, np.int32), np.zeros(1, np.float32))
    g.arcsort("ilabel")  # composition then matches on it (72k arcs in one state)
    return g


def loop_costs(lm: NgramArrays, num_words: int) -> np.ndarray:
    """float32 [num_words]: the cost an on-the-fly graph's word loop gives each word: its
    unigram cost (:func:`unigram_costs`), or for a word the empty-history state lacks (a
    grammar that is not an n-gram), :class:`NgramArrays`' ``least``; 0 for words G never
    reads.

    Why the loop has costs: the lexicon graph is determinized in the log semiring, as a
    static graph is. With a weightless loop that spreads -ln(number of words) over the
    branches of the pronunciation tree (arc costs down to -7.6 on a 20k lexicon), which
    the search prunes on as if it were a promise, and no lookahead potential undoes it:
    the narrow-beam search errors of format-5 graphs. With the unigrams in the loop, each
    branch carries -ln of its words' unigram mass, as a static graph of the unigram LM
    does, and G's step charges the rest (:func:`charged`): with a unigram LM the search
    is the static graph's, token for token (tests/search/test_onthefly.py)."""
    out = np.zeros(num_words, np.float32)
    if not lm.num_arcs:
        return out
    read = np.unique(np.asarray(lm.word))
    uni = unigram_costs(lm, num_words)[read]
    out[read] = np.where(np.isfinite(uni), uni, lm.least[read])
    return out


def charged(lm: NgramArrays, loop_cost: np.ndarray) -> NgramArrays:
    """G as the search charges it beside a lexicon graph whose word loop had
    ``loop_cost`` (:func:`loop_costs`): each arc's cost less its word's loop cost (words
    past ``loop_cost``, added for a request, pay in full). A path's total, lexicon graph
    plus G, is then G's cost (one arc of a word is read per word said), up to the
    lexicon graph's rounding of its weights by the recipe's minimization (1/1024 an arc)."""
    cost = (np.asarray(lm.cost, np.float64) - loop_cost_of(lm.word, loop_cost)).astype(np.float32)
    return indexed(lm._replace(cost=cost))


def loop_cost_of(word_ids: np.ndarray, loop_cost: np.ndarray) -> np.ndarray:
    """float64, one per word id: its cost in the word loop (:func:`loop_costs`), 0 for
    ids past it (words added for a request): what :func:`charged` takes off G's arcs."""
    w = np.asarray(word_ids)
    out = np.zeros(w.shape[0], np.float64)
    inside = w < loop_cost.shape[0]
    out[inside] = loop_cost[w[inside]]
    return out


def sentence_cost(lm: NgramArrays, word_ids) -> float:
    """The cost of a whole sentence (start, its words, end) under G's arrays."""
    g, total = lm.start, 0.0
    for w in word_ids:
        g, c = ngram_step(lm, g, int(w))
        if g < 0:
            return INF
        total += c
    return float(total + lm.final[g])


def save_ngram(lm: NgramArrays, folder) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in NGRAM_ARRAYS:
        np.save(folder / f"{name}.npy", getattr(lm, name))


def load_ngram(folder, start: int) -> NgramArrays:
    """G's arrays from a graph directory's ``lm/`` (memory-mapped), checked for shape.

    Raises:
        GraphFormatError: a missing or inconsistent file.
    """
    folder = Path(folder)
    arrs = {}
    for name in NGRAM_ARRAYS:
        p = folder / f"{name}.npy"
        try:
            arrs[name] = np.load(p, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise GraphFormatError(f"{p}: missing; the on-the-fly graph directory is incomplete") from None
        except (ValueError, OSError, EOFError) as e:
            raise GraphFormatError(f"{p}: not a whole .npy array ({e}); compile the graph again") from None
    ns, na = arrs["backoff"].shape[0], arrs["word"].shape[0]
    ok = (arrs["offsets"].shape == (ns + 1,) and int(arrs["offsets"][-1]) == na and 0 <= start < ns
          and all(arrs[k].shape == (na,) for k in ("next", "cost"))
          and all(arrs[k].shape == (ns,) for k in ("backoff_cost", "final")))
    if ok and na:  # the search follows these numbers: in range, or refused here
        ok = 0 <= int(arrs["next"].min()) and int(arrs["next"].max()) < ns
    if ok and ns:
        ok = -1 <= int(arrs["backoff"].min()) and int(arrs["backoff"].max()) < ns
    if not ok:
        raise GraphFormatError(f"{folder}: the n-gram arrays do not agree with each other (files of two graphs, "
                               "or cut short); compile the graph again")
    return indexed(NgramArrays(start, **arrs))


def indexed(lm: NgramArrays) -> NgramArrays:
    """``lm`` with its empty-history state and that state's arcs by word (the fields
    :func:`ngram_step` reads the unigrams with)."""
    if not lm.num_arcs:
        return lm._replace(empty=-1, empty_arc=np.zeros(0, np.int32), least=np.zeros(0, np.float32))
    z = empty_history_state(lm)
    lo, hi = int(lm.offsets[z]), int(lm.offsets[z + 1])
    arc = np.full(int(np.max(lm.word)) + 1, -1, np.int32)
    arc[np.asarray(lm.word[lo:hi])] = np.arange(lo, hi, dtype=np.int32)
    least = np.full(arc.shape[0], np.inf, np.float64)
    np.minimum.at(least, np.asarray(lm.word), np.asarray(lm.cost, np.float64))
    least += _cheapest_backoffs(np.asarray(lm.backoff), np.asarray(lm.backoff_cost, np.float64))
    return lm._replace(empty=z, empty_arc=arc, least=np.nextafter(least.astype(np.float32), -np.inf))


def _cheapest_backoffs(backoff: np.ndarray, backoff_cost: np.ndarray) -> float:
    """The least sum of costs of a run of backoffs (from any state, through any number of
    them, none included): 0 unless some backoff cost is negative."""
    t, acc, least = np.arange(backoff.shape[0]), np.zeros(backoff.shape[0]), 0.0
    for _ in range(backoff.shape[0]):  # chains are short (the n-gram order); no cycles (checked on reading)
        live = backoff[t] >= 0
        if not live.any():
            break
        t, acc = t[live], acc[live] + backoff_cost[t[live]]
        t = backoff[t]
        least = min(least, float(acc.min()))
    return least


def empty_history_state(lm: NgramArrays) -> int:
    """G's empty-history (unigram) state: the backoff chains' end with the most words."""
    roots = np.flatnonzero(np.asarray(lm.backoff) < 0)
    fan = lm.offsets[roots + 1] - lm.offsets[roots]
    return int(roots[np.argmax(fan)])


def unigram_costs(lm: NgramArrays, num_words: int) -> np.ndarray:
    """float32 [num_words]: each word's cost in the empty-history state (``lm.empty``,
    :func:`indexed`), +inf for words it lacks."""
    z = lm.empty
    out = np.full(num_words, np.inf, np.float32)
    lo, hi = lm.offsets[z], lm.offsets[z + 1]
    out[lm.word[lo:hi]] = lm.cost[lo:hi]
    return out
