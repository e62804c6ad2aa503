"""The grammar G: from an ARPA n-gram LM (as Kaldi's ``arpa2fst``), a phrase list, or an FST.

ARPA stores log10 probabilities; they are turned into costs (-ln p) here, once.
"""

from __future__ import annotations

import array
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from hclg import constants
from hclg.fst.growable import grown
from hclg.fst.hash_table import mix64
from hclg.graph.arpa import iter_arpa
from hclg.errors import GraphBuildError, InputFormatError
from hclg.fst.convert import arrays_to_fst
from hclg.fst.steps import log_step
from hclg.graph.symbols import SymbolTable
from hclg.text_input import text_lines

log = logging.getLogger("hclg")
LN10 = math.log(10.0)


@dataclass(frozen=True)
class GrammarStats:
    """What G construction kept and dropped.

    Attributes:
        ngrams: n-grams read per order.
        dropped: n-grams dropped because a word has no pronunciation.
        oov_words: those words, sorted by first appearance.
        mapped_to_unk: OOV word occurrences (in the n-grams kept) read as ``<unk>``.
    """

    ngrams: tuple[int, ...]
    dropped: int
    oov_words: tuple[str, ...]
    mapped_to_unk: int


@njit(cache=True, inline="always")
def _seq_hash(words, lo, hi):
    h = np.int64(hi - lo)
    for i in range(lo, hi):
        h = h * np.int64(1000003) + np.int64(words[i]) + 1
    return mix64(h) >> 20


@njit(cache=True)
def _find_history(words, lo, hi, hist, hist_len, table):
    """(state of history words[lo:hi] or -1, the table slot it has or would take)."""
    mask = table.shape[0] - 1
    n = hi - lo
    slot = _seq_hash(words, lo, hi) & mask
    while table[slot] != -1:
        r = table[slot]
        if hist_len[r] == n:
            same = True
            for i in range(n):
                if hist[r, i] != words[lo + i]:
                    same = False
                    break
            if same:
                return r, slot
        slot = (slot + 1) & mask
    return -1, slot


@njit(cache=True)
def _arpa_states(order, off, ids, cost, backoff, bos, eos, highest):
    """G's states and arcs from the n-grams, in file order, as Kaldi's arpa2fst.

    One state per history (the empty history is state 0, the backoff state); a new
    state gets a backoff arc to its longest existing tail history; highest-order n-grams
    lead to the state of their tail; ``</s>`` gives a final cost, ``<s>`` the start.

    Args:
        order: int32 [N] n-gram orders; off: int64 [N+1] offsets into ids.
        ids: int32 word ids of all n-grams, flat. cost, backoff: float32 [N] (-ln units).
        bos, eos: the ids of <s> and </s>. highest: the LM's order.

    Returns:
        (num_states, start (-1: no <s>), arcs: src, lab, dst int32 [A], wt float32 [A];
        backoff arcs: bo_src, bo_dst int32 [B], bo_wt float32 [B]; finals: f_state
        int32 [F], f_w float32 [F]; kept int64 [highest]: n-grams used per order).
    """
    H = max(highest - 1, 1)
    cap = 1024
    hist = np.empty((cap, H), np.int32)
    hist_len = np.zeros(cap, np.int32)
    table = np.full(1 << 12, -1, np.int64)
    table[_seq_hash(ids, 0, 0) & (table.shape[0] - 1)] = 0  # the empty history
    ns = 1
    N = order.shape[0]
    src = np.empty(N, np.int32)
    lab = np.empty(N, np.int32)
    dst = np.empty(N, np.int32)
    wt = np.empty(N, np.float32)
    n_arcs = 0
    bo_src = np.empty(1024, np.int32)
    bo_dst = np.empty(1024, np.int32)
    bo_wt = np.empty(1024, np.float32)
    f_state = np.empty(1024, np.int32)
    f_w = np.empty(1024, np.float32)
    n_fin = 0
    kept = np.zeros(highest, np.int64)
    start = -1
    for g in range(N):
        k = order[g]
        lo = off[g]
        s, _ = _find_history(ids, lo, lo + k - 1, hist, hist_len, table)
        if s < 0:
            continue  # no parent (n-1)-gram: probability zero, as arpa2fst
        kept[k - 1] += 1
        sym = ids[lo + k - 1]
        if sym == eos:
            if n_fin == f_state.shape[0]:
                f_state = grown(f_state, 2 * n_fin)
                f_w = grown(f_w, 2 * n_fin)
            f_state[n_fin] = s
            f_w[n_fin] = cost[g]
            n_fin += 1
            continue
        a = lo + 1 if k == highest else lo  # the destination's history: words[a:lo + k]
        d, slot = _find_history(ids, a, lo + k, hist, hist_len, table)
        if d < 0:
            d = ns
            ns += 1
            if d == hist.shape[0]:
                nh = np.empty((2 * d, H), np.int32)
                nh[:d] = hist
                hist = nh
                hist_len = grown(hist_len, 2 * d)
            n = lo + k - a
            hist_len[d] = n
            for i in range(n):
                hist[d, i] = ids[a + i]
            table[slot] = d
            if 2 * ns > table.shape[0]:
                nt = np.full(2 * table.shape[0], -1, np.int64)
                mask = nt.shape[0] - 1
                for r in range(ns):
                    sl = _seq_hash(hist[r], 0, hist_len[r]) & mask
                    while nt[sl] != -1:
                        sl = (sl + 1) & mask
                    nt[sl] = r
                table = nt
            b = d - 1  # index of this backoff arc
            if b >= bo_src.shape[0]:
                bo_src = grown(bo_src, 2 * b + 2)
                bo_dst = grown(bo_dst, 2 * b + 2)
                bo_wt = grown(bo_wt, 2 * b + 2)
            t = a + 1
            tail, _ = _find_history(ids, t, lo + k, hist, hist_len, table)
            while tail < 0:
                t += 1
                tail, _ = _find_history(ids, t, lo + k, hist, hist_len, table)
            bo_src[b] = d
            bo_dst[b] = tail
            bo_wt[b] = backoff[g]
        if sym == bos:
            start = d
            continue
        src[n_arcs] = s
        lab[n_arcs] = sym
        dst[n_arcs] = d
        wt[n_arcs] = cost[g]
        n_arcs += 1
    return (ns, start, src[:n_arcs], lab[:n_arcs], dst[:n_arcs], wt[:n_arcs], bo_src[: ns - 1], bo_dst[: ns - 1],
            bo_wt[: ns - 1], f_state[:n_fin], f_w[:n_fin], kept)


def _refuse_duplicates(path, words: SymbolTable, src, lab, f_state) -> None:
    """An n-gram given twice makes two arcs with one word out of one history state (or two
    final costs): the second would silently compete with the first."""
    key = src.astype(np.int64) * np.int64(len(words) + 1) + lab
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    dup = np.nonzero(counts > 1)[0]
    if len(dup):
        k = first[dup[0]]
        raise InputFormatError(path, None, f"an n-gram ending in {words.symbols[lab[k]]!r} is given twice for the same "
                                           f"history (G state {int(src[k])}); each n-gram must appear once")
    fs, fc = np.unique(f_state, return_counts=True)
    if (fc > 1).any():
        raise InputFormatError(path, None, f"an n-gram ending in '</s>' is given twice for the same history (G state "
                                           f"{int(fs[fc > 1][0])}); each n-gram must appear once")


def _refuse_duplicate_ngrams(path, words: SymbolTable, oov_words: list[str], order_a, off, ids) -> None:
    """The n-grams of each order, as word ids (an OOV: ``len(words)`` + its index), must be
    distinct (the check when OOVs are read as ``<unk>``, which may make distinct n-grams
    equal)."""
    bits = max(1, int(len(words) + len(oov_words)).bit_length())
    for order in np.unique(order_a):
        rows = np.nonzero(order_a == order)[0]
        grams = ids[off[rows][:, None] + np.arange(order)].astype(np.int64)
        if order * bits <= 63:  # each n-gram packed into one int64: a plain sort
            packed = np.zeros(len(grams), np.int64)
            for k in range(order):
                packed = (packed << bits) | grams[:, k]
            _, first, counts = np.unique(packed, return_index=True, return_counts=True)
        else:
            _, first, counts = np.unique(grams, axis=0, return_index=True, return_counts=True)
        if (counts > 1).any():
            g = grams[first[np.nonzero(counts > 1)[0][0]]]
            name = [words.symbols[i] if i < len(words) else oov_words[i - len(words)] for i in g]
            raise InputFormatError(path, None, f"the {order}-gram {' '.join(name)!r} is given twice; each n-gram must "
                                               "appear once")


def arpa_to_fst(path, words: SymbolTable, unk: str | None = None) -> tuple[object, GrammarStats]:
    """Builds G from an ARPA LM with the semantics of Kaldi's ``arpa2fst --disambig-symbol=#0``.

    One state per history; the empty history is the backoff ("zerogram") state and the
    ``<s>`` history is the start state; backoff arcs read ``#0`` and write epsilon;
    ``</s>`` becomes a final cost; highest-order n-grams go straight to the state of
    their tail (Kaldi's chain-collapsing). n-grams with a word that has no
    pronunciation are dropped (one summary warning), or, if ``unk`` is in ``words``,
    the word is read as ``unk``.

    The file is read and checked in Python (:func:`iter_arpa`); the states are made by a
    numba kernel (:func:`_arpa_states`).

    Args:
        path: ARPA file, plain or gzipped.
        words: the word table (from the lexicon), with ``#0``, ``<s>`` and ``</s>``.
        unk: the unknown-word symbol to map OOVs to, if the lexicon has it.

    Returns:
        (G, GrammarStats).

    Raises:
        InputFormatError: malformed ARPA (file and line).
        GraphBuildError: no n-gram left after dropping OOVs.
    """
    t0 = time.perf_counter()
    path = Path(path)
    bos, eos = words.get(constants.BOS), words.get(constants.EOS)
    backoff_label = words.get(constants.BACKOFF_DISAMBIG)
    if min(bos, eos, backoff_label) < 0:
        raise GraphBuildError("the word table needs <s>, </s> and #0")
    unk_id = words.get(unk) if unk else -1
    index = words.as_dict()  # a plain dict for the hot loop
    del index[constants.BACKOFF_DISAMBIG]  # #0 in an LM is not a word
    # the n-grams in typed arrays (4 bytes an entry, not a Python object)
    ng_order, ng_ids = array.array("i"), array.array("i")
    ng_cost, ng_bo = array.array("f"), array.array("f")
    dropped = mapped = 0
    oov: dict[str, None] = {}
    it = iter_arpa(path)
    _, counts = next(it)
    highest = max(counts)
    get = index.get
    oov_ids: dict[str, int] = {}  # OOVs read as <unk>: a distinct id each until the duplicate check
    for order, n, toks, cost, bo in it:
        ids = [get(w, -1) for w in toks]
        if -1 in ids:
            if unk_id < 0:
                dropped += 1
                oov.setdefault(toks[ids.index(-1)], None)
                continue
            mapped += ids.count(-1)
            ids = [oov_ids.setdefault(w, len(words) + len(oov_ids)) if i < 0 else i for w, i in zip(toks, ids)]
        if bos in ids[1:] or eos in ids[:-1]:
            log.warning("%s:%d: n-gram skipped: <s> or </s> out of place", path, n)
            continue
        ng_order.append(order)
        ng_ids.extend(ids)
        ng_cost.append(cost)
        ng_bo.append(bo)
    if oov:
        first = ", ".join(list(oov)[:5])
        log.warning(
            "%s: dropped %d n-grams with %d words that have no pronunciation (first: %s)", path, dropped, len(oov), first
        )
    order_a = np.frombuffer(ng_order, dtype=np.int32)
    off = np.zeros(len(order_a) + 1, dtype=np.int64)
    np.cumsum(order_a, out=off[1:])
    if mapped:  # an n-gram given twice in the file, told apart from two that <unk> made equal
        ids_a = np.frombuffer(ng_ids, dtype=np.int32)
        _refuse_duplicate_ngrams(path, words, list(oov_ids), order_a, off, ids_a)
        ng_ids = np.where(ids_a >= len(words), np.int32(unk_id), ids_a).astype(np.int32)
    ns, start, src, lab, dst, wt, bo_src, bo_dst, bo_wt, f_state, f_w, kept = _arpa_states(
        order_a, off, np.frombuffer(ng_ids, dtype=np.int32), np.frombuffer(ng_cost, dtype=np.float32),
        np.frombuffer(ng_bo, dtype=np.float32), bos, eos, highest)
    del ng_order, ng_ids, ng_cost, ng_bo, order_a, off
    if not len(src):
        raise GraphBuildError(
            f"{path}: no n-gram is left after dropping words without pronunciation ({len(oov)} such words,"
            f" e.g. {', '.join(list(oov)[:5])}); does the lexicon use the same case and spelling as the LM?"
        )
    if start < 0:
        raise GraphBuildError(f"{path}: the LM has no <s> unigram, so G has no start state")
    if not mapped:  # (words mapped to <unk> may make equal n-grams of different ones)
        _refuse_duplicates(path, words, src, lab, f_state)
    final = np.full(ns, np.inf, dtype=np.float32)
    final[f_state] = f_w
    g = arrays_to_fst(ns, start, np.concatenate([src, bo_src]), np.concatenate([lab, np.full(len(bo_src), backoff_label, np.int32)]),
                      np.concatenate([lab, np.zeros(len(bo_src), np.int32)]), np.concatenate([wt, bo_wt]),
                      np.concatenate([dst, bo_dst]), final)
    g.connect()
    g.arcsort("ilabel")
    log_step("G (arpa2fst)", g, t0)
    stats = GrammarStats(tuple(int(x) for x in kept), dropped, tuple(oov), mapped)
    return g, stats


def phrases_to_fst(phrases, words: SymbolTable, source: str = "<phrases>") -> object:
    """A command grammar: G accepts exactly one of the phrases, each with the same cost.

    Args:
        phrases: sequence of phrases, each a list of words.
        words: the word table.
        source: name used in error messages.

    Returns:
        G as a tropical VectorFst acceptor.
    """
    phrases = [p for p in phrases if p]
    if not phrases:
        raise GraphBuildError(f"{source}: no phrases")
    cost = math.log(len(phrases))
    src, lab, wt, dst = [], [], [], []
    nstates = 2  # 0 start, 1 final
    for k, ph in enumerate(phrases):
        s = 0
        for j, w in enumerate(ph):
            if w not in words:
                raise GraphBuildError(f"{source}: phrase {k + 1} uses {w!r}, which has no pronunciation")
            d = 1 if j + 1 == len(ph) else nstates
            if d != 1:
                nstates += 1
            src.append(s)
            lab.append(words.id(w))
            wt.append(cost if j == 0 else 0.0)
            dst.append(d)
            s = d
    final = np.full(nstates, np.inf, dtype=np.float32)
    final[1] = 0.0
    g = arrays_to_fst(nstates, 0, np.array(src), np.array(lab), np.array(lab), np.array(wt, dtype=np.float32), np.array(dst), final)
    g.arcsort("ilabel")
    return g


def read_phrases(path) -> list[list[str]]:
    """Reads a phrase list (one phrase per line, ``#`` comments) for :func:`phrases_to_fst`."""
    out = []
    for _, line in text_lines(path):
        s = line.split("#", 1)[0].split()
        if s:
            out.append(s)
    return out
