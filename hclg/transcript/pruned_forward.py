"""Forward-backward over a large graph with a beam: only the states within ``beam`` of
the frame's best forward score are expanded (Kaldi's decoders prune so), and the forward
and backward scores are kept for the states the forward pass reached, frame by frame
(memory grows with the frames and the states kept, not with the graph).

Within a frame, epsilon arcs are summed in the graph's epsilon-topological order: the
states a frame reaches are taken from a min-heap by their rank in that order, so each is
expanded after every epsilon arc into it. The sums that beam pruning leaves out are lost:
the log-likelihood is a lower bound of the exact one (:func:`hclg.transcript.forward`),
and equal to it with an infinite beam.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hclg.fst.growable import grown
from hclg.fst.heap import heap_pop, heap_push
from hclg.graph.arc_records import E_COLUMN, E_NEXT, E_REC, E_WEIGHT, N_NEXT, N_REC, N_WEIGHT
from hclg.transcript.log_semiring import NEG_INF, log_add


@njit(cache=True, inline="always")
def _reach(d, x, n, st, al, pos, heap, hn, rank):
    """Adds log-probability x to state d in the frame being built: a new entry (its rank
    pushed for the closure) the first time. Returns (n, st, al, heap, hn)."""
    j = pos[d]
    if j >= 0:
        al[j] = log_add(al[j], x)
        return n, st, al, heap, hn
    st = grown(st, n + 1)
    al = grown(al, n + 1)
    heap = grown(heap, hn + 1)
    pos[d] = n
    st[n] = d
    al[n] = x
    return n + 1, st, al, heap, heap_push(heap, hn, rank[d])


@njit(cache=True)
def _close(fbeg, n, st, al, proc, pos, heap, hn, rank, order, off, n_arc, n_arcw):
    """The epsilon closure of the frame whose entries start at ``fbeg`` (its ranks on the
    heap): pops states in rank order into ``proc``, adding their epsilon successors.
    Returns (n, st, al, proc, heap) (the arrays may have grown)."""
    k = fbeg
    while hn > 0:
        r, hn = heap_pop(heap, hn)
        s = order[r]
        i = pos[s]
        proc = grown(proc, k + 1)
        proc[k] = i
        k += 1
        a = al[i]
        for e in range(off[2 * s + 1], off[2 * s + 3]):
            n, st, al, heap, hn = _reach(n_arc[N_REC * e + N_NEXT], a - n_arcw[N_REC * e + N_WEIGHT], n, st, al, pos,
                                         heap, hn, rank)
    return n, st, al, proc, heap


@njit(cache=True)
def pruned_forward_backward(start, final, off, e_arc, e_arcw, n_arc, n_arcw, ll, order, rank, beam):
    """(log-likelihood, float64 [T, C] column posteriors) with beam pruning (see the
    module doc). ``order``/``rank``: the epsilon-topological order of the states and each
    state's place in it."""
    S = final.shape[0]
    T, C = ll.shape
    pos = np.full(S, -1, np.int64)
    pos2 = np.full(S, -1, np.int64)
    fs = np.zeros(T + 2, np.int64)
    best = np.full(T + 1, NEG_INF)
    st = np.empty(1024, np.int32)
    al = np.empty(1024, np.float64)
    proc = np.empty(1024, np.int64)
    heap = np.empty(1024, np.int64)
    st[0] = start
    al[0] = 0.0
    pos[start] = 0
    heap[0] = rank[start]
    zero, one = np.int64(0), np.int64(1)  # not literals: numba would compile _close and the heap twice
    n, st, al, proc, heap = _close(zero, one, st, al, proc, pos, heap, one, rank, order, off, n_arc, n_arcw)
    for t in range(T + 1):
        fb, fe = fs[t], n
        fs[t + 1] = fe
        b = NEG_INF
        for i in range(fb, fe):
            pos[st[i]] = -1
            if al[i] > b:
                b = al[i]
        best[t] = b
        if t == T:
            break
        hn = np.int64(0)
        for i in range(fb, fe):  # ProcessEmitting, pruned to the beam
            if al[i] < b - beam:
                continue
            s = st[i]
            for e in range(off[2 * s], off[2 * s + 2]):
                x = al[i] - e_arcw[E_REC * e + E_WEIGHT] + ll[t, e_arc[E_REC * e + E_COLUMN]]
                n, st, al, heap, hn = _reach(e_arc[E_REC * e + E_NEXT], x, n, st, al, pos, heap, hn, rank)
        n, st, al, proc, heap = _close(fe, n, st, al, proc, pos, heap, hn, rank, order, off, n_arc, n_arcw)
    total = NEG_INF
    for i in range(fs[T], fs[T + 1]):
        if final[st[i]] < np.inf:
            total = log_add(total, al[i] - final[st[i]])
    post = np.zeros((T, C))
    beta = np.full(n, NEG_INF)
    if total == NEG_INF:
        return total, post
    for t in range(T, -1, -1):
        fb, fe = fs[t], fs[t + 1]
        for i in range(fb, fe):
            pos[st[i]] = i
        if t == T:
            for i in range(fb, fe):
                if final[st[i]] < np.inf:
                    beta[i] = -final[st[i]]
        else:
            nb, ne = fs[t + 1], fs[t + 2]
            for i in range(nb, ne):
                pos2[st[i]] = i
            for i in range(fb, fe):
                if al[i] < best[t] - beam:
                    continue
                s = st[i]
                for e in range(off[2 * s], off[2 * s + 2]):
                    j = pos2[e_arc[E_REC * e + E_NEXT]]
                    if j < 0 or beta[j] == NEG_INF:
                        continue
                    c = e_arc[E_REC * e + E_COLUMN]
                    x = -e_arcw[E_REC * e + E_WEIGHT] + ll[t, c] + beta[j]
                    beta[i] = log_add(beta[i], x)
                    post[t, c] += np.exp(al[i] + x - total)
            for i in range(nb, ne):
                pos2[st[i]] = -1
        for k in range(fe - 1, fb - 1, -1):  # epsilon arcs: later in the order first
            i = proc[k]
            s = st[i]
            for e in range(off[2 * s + 1], off[2 * s + 3]):
                j = pos[n_arc[N_REC * e + N_NEXT]]
                if j >= 0 and beta[j] != NEG_INF:
                    beta[i] = log_add(beta[i], beta[j] - n_arcw[N_REC * e + N_WEIGHT])
        for i in range(fb, fe):
            pos[st[i]] = -1
    return total, post
