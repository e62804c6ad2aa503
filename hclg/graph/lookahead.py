"""Language-model lookahead for on-the-fly composition, by weight pushing.

When the search composes the lexicon graph (H∘C∘L or T∘L) with G as it goes, a word's
LM cost is known only where the graph outputs the word, often at its end: until then
pruning sees no LM cost at all, and every word of the vocabulary looks as likely as any
other. As the unigram lookahead of classic one-pass decoders (Ortmanns, Ney and Coenen
1996), each state s of the lexicon graph gets a potential ``pi(s)``: the least LM cost of
the next word a path from s can output, ``word_cost`` giving each word's cost
(the unigram costs, :func:`hclg.graph.ngram.unigram_costs`). Arc weights become
``w + pi(next) - pi(s)`` and final costs ``final(s) - pi(s) + pi(start)``: a path's total
is unchanged (the potentials telescope), but a path entering a word's subtree pays the
cheapest cost it can still get there at once, and the rest when the word is known.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hclg.fst.arrays import group_by_source
from hclg.graph.arc_records import E_NEXT, E_WEIGHT, N_NEXT, N_WEIGHT, DecoderArrays


@njit(cache=True)
def _potentials(init, order, pred_off, pred):
    """The least ``init`` reachable from each state over word-free arcs: states in
    ascending order of ``init``, each handing its value back to all the states that reach
    it and have none yet (a zero-weight Dijkstra)."""
    n = init.shape[0]
    pi = np.empty(n, np.float64)
    done = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    for s0 in order:
        if done[s0]:
            continue
        v = init[s0]
        done[s0] = True
        pi[s0] = v
        sp = 1
        stack[0] = s0
        while sp > 0:
            sp -= 1
            s = stack[sp]
            for k in range(pred_off[s], pred_off[s + 1]):
                p = pred[k]
                if not done[p]:
                    done[p] = True
                    pi[p] = v
                    stack[sp] = p
                    sp += 1
    return pi


def word_potentials(arr: DecoderArrays, word_cost: np.ndarray) -> np.ndarray:
    """float64 [S]: for each state, the least ``word_cost`` of a word a path from it can
    output next (0 where a path can end first: a final state on the way; 0 where no
    word and no end is reachable)."""
    ns = arr.num_states
    e_src = np.repeat(np.arange(ns, dtype=np.int32), np.diff(arr.e_offsets))
    n_src = np.repeat(np.arange(ns, dtype=np.int32), np.diff(arr.n_offsets))
    src = np.concatenate([e_src, n_src])
    nxt = np.concatenate([arr.e_next, arr.n_next])
    ol = np.concatenate([arr.e_olabel, arr.n_olabel])
    init = np.where(np.isfinite(arr.final), 0.0, np.inf)
    has_word = ol != 0
    np.minimum.at(init, src[has_word], word_cost[ol[has_word]].astype(np.float64))
    free = ~has_word
    pred_off, order = group_by_source(ns, nxt[free])
    pred = src[free][order]
    pi = _potentials(init, np.argsort(init, kind="stable"), pred_off, pred)
    pi[~np.isfinite(pi)] = 0.0
    return pi


def push_lookahead(arr: DecoderArrays, word_cost: np.ndarray) -> DecoderArrays:
    """The arrays with the potentials of :func:`word_potentials` pushed into their weights
    (see the module doc): same paths, same totals."""
    pi = word_potentials(arr, word_cost)
    ns = arr.num_states
    e, n = np.array(arr.e_arcs), np.array(arr.n_arcs)
    for rec, off, nxt_f, wt_f in ((e, arr.e_offsets, E_NEXT, E_WEIGHT), (n, arr.n_offsets, N_NEXT, N_WEIGHT)):
        src = np.repeat(np.arange(ns), np.diff(off))
        w = rec.view(np.float32)
        w[:, wt_f] = (w[:, wt_f] + pi[rec[:, nxt_f]] - pi[src]).astype(np.float32)
    final = (np.asarray(arr.final, np.float64) - pi + pi[arr.start]).astype(np.float32)
    return DecoderArrays(arr.start, final, np.asarray(arr.offsets), e, n)
