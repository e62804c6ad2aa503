"""Assembling a word lattice's arrays from determinized parts (numba): the trie strings
expanded into frame labels, the raw lattice's topological numbering, and the final pass
that pushes the start weight, prunes to the beam and sorts (:func:`finish_lattice`)."""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.inf


@njit(cache=True)
def expand_strings(ids, str_parent, str_label, str_depth):
    """Trie string ids -> (offsets int64 [len(ids)+1], labels int32) in CSR form."""
    off = np.zeros(ids.shape[0] + 1, np.int64)
    for i in range(ids.shape[0]):
        off[i + 1] = off[i] + str_depth[ids[i]]
    lab = np.empty(off[-1], np.int32)
    for i in range(ids.shape[0]):
        x = ids[i]
        for u in range(off[i + 1] - 1, off[i] - 1, -1):
            lab[u] = str_label[x]
            x = str_parent[x]
    return off, lab


@njit(cache=True)
def topological_numbering(frame_start, src, dst, ilab):
    """New ids for the raw lattice's states so that every link goes to a higher id:
    frames in order, and within a frame Kahn's order over its epsilon links (a cycle,
    which only zero-cost epsilon loops could make, keeps the old order for what is left).

    Returns:
        int64 [N] new id of each state.
    """
    n = frame_start[-1]
    indeg = np.zeros(n, np.int64)
    order = np.argsort(src, kind="mergesort")
    off = np.zeros(n + 1, np.int64)
    for k in range(src.shape[0]):
        off[src[k] + 1] += 1
    for i in range(n):
        off[i + 1] += off[i]
    for k in range(src.shape[0]):
        if ilab[k] == 0 and dst[k] != src[k]:
            indeg[dst[k]] += 1
    new = np.full(n, -1, np.int64)
    queue = np.empty(n, np.int64)
    nxt = 0
    for f in range(frame_start.shape[0] - 1):
        b, e = frame_start[f], frame_start[f + 1]
        qh = 0
        qt = 0
        for s in range(b, e):
            if indeg[s] == 0:
                queue[qt] = s
                qt += 1
        while True:
            while qh < qt:
                s = queue[qh]
                qh += 1
                new[s] = nxt
                nxt += 1
                for t in range(off[s], off[s + 1]):
                    k = order[t]
                    if ilab[k] == 0 and dst[k] != src[k]:
                        d = dst[k]
                        indeg[d] -= 1
                        if indeg[d] == 0 and new[d] < 0:
                            queue[qt] = d
                            qt += 1
            left = -1
            for s in range(b, e):
                if new[s] < 0:
                    left = s
                    break
            if left < 0:
                break
            indeg[left] = 0  # break a cycle
            queue[qt] = left
            qt += 1
    return new


@njit(cache=True)
def _topological_order(n, src, dst, off, order):
    """(ok, topo, count): the states reachable from 0 in topological order (Kahn's); ok is
    False when they hold a cycle. ``off``/``order`` list each state's arcs."""
    seen = np.zeros(n, np.bool_)
    stack = np.empty(n + 1, np.int64)
    sp = 0
    if n > 0:
        seen[0] = True
        stack[0] = 0
        sp = 1
    while sp > 0:
        sp -= 1
        s = stack[sp]
        for t in range(off[s], off[s + 1]):
            d = dst[order[t]]
            if not seen[d]:
                seen[d] = True
                stack[sp] = d
                sp += 1
    indeg = np.zeros(n, np.int64)
    n_seen = 0
    for s in range(n):
        if seen[s]:
            n_seen += 1
            for t in range(off[s], off[s + 1]):
                indeg[dst[order[t]]] += 1
    topo = np.empty(n_seen, np.int64)
    head = 0
    tail = 0
    if n > 0:
        topo[0] = 0
        tail = 1
    while head < tail:
        s = topo[head]
        head += 1
        for t in range(off[s], off[s + 1]):
            d = dst[order[t]]
            indeg[d] -= 1
            if indeg[d] == 0:
                topo[tail] = d
                tail += 1
    return tail == n_seen, topo, n_seen


@njit(cache=True)
def _forward_backward(n, topo, n_seen, off, order, dst, cost, start_add, fcost):
    """(alpha, beta): best cost from the start to each state, and from it to the end."""
    alpha = np.full(n, INF)
    if n > 0:
        alpha[0] = 0.0
    for i in range(n_seen):
        s = topo[i]
        if alpha[s] < INF:
            for t in range(off[s], off[s + 1]):
                k = order[t]
                v = alpha[s] + cost[k] + start_add[k]
                if v < alpha[dst[k]]:
                    alpha[dst[k]] = v
    beta = fcost.copy()
    for i in range(n_seen - 1, -1, -1):
        s = topo[i]
        for t in range(off[s], off[s + 1]):
            k = order[t]
            v = cost[k] + start_add[k] + beta[dst[k]]
            if v < beta[s]:
                beta[s] = v
    return alpha, beta


@njit(cache=True)
def _kept_arcs(ks, new, src, dst, word, g, a, aoff, alab, sg, sa, slab):
    """The arcs ``ks`` renumbered by ``new``, the start weight on the start state's arcs."""
    nk = ks.shape[0]
    L0 = slab.shape[0]
    r_src = np.empty(nk, np.int32)
    r_dst = np.empty(nk, np.int32)
    r_word = np.empty(nk, np.int32)
    r_g = np.empty(nk)
    r_a = np.empty(nk)
    r_off = np.zeros(nk + 1, np.int64)
    for i in range(nk):
        k = ks[i]
        extra = L0 if src[k] == 0 else 0
        r_off[i + 1] = r_off[i] + extra + aoff[k + 1] - aoff[k]
    r_lab = np.empty(r_off[nk], np.int32)
    for i in range(nk):
        k = ks[i]
        r_src[i] = new[src[k]]
        r_dst[i] = new[dst[k]]
        r_word[i] = word[k]
        p = r_off[i]
        if src[k] == 0:
            r_g[i] = g[k] + sg
            r_a[i] = a[k] + sa
            for u in range(L0):
                r_lab[p] = slab[u]
                p += 1
        else:
            r_g[i] = g[k]
            r_a[i] = a[k]
        for u in range(aoff[k], aoff[k + 1]):
            r_lab[p] = alab[u]
            p += 1
    return r_src, r_dst, r_word, r_g, r_a, r_off, r_lab


@njit(cache=True)
def _kept_finals(n, S, new, alpha, fcost, lim, fg, fa, foff, flab, sg, sa, slab):
    """The final weights of the S states kept (renumbered by ``new``) within ``lim``, the
    start weight on the start state's."""
    L0 = slab.shape[0]
    q_fg = np.full(S, INF)
    q_fa = np.zeros(S)
    q_off = np.zeros(S + 1, np.int64)
    old_of = np.empty(S, np.int64)
    for s in range(n):
        if new[s] >= 0:
            old_of[new[s]] = s
    for i in range(S):
        s = old_of[i]
        ln = 0
        if fcost[s] < INF and alpha[s] + fcost[s] <= lim:
            ln = foff[s + 1] - foff[s] + (L0 if s == 0 else 0)
        q_off[i + 1] = q_off[i] + ln
    q_lab = np.empty(q_off[S], np.int32)
    for i in range(S):
        s = old_of[i]
        if fcost[s] < INF and alpha[s] + fcost[s] <= lim:
            q_fg[i] = fg[s] + (sg if s == 0 else 0.0)
            q_fa[i] = fa[s] + (sa if s == 0 else 0.0)
            p = q_off[i]
            if s == 0:
                for u in range(L0):
                    q_lab[p] = slab[u]
                    p += 1
            for u in range(foff[s], foff[s + 1]):
                q_lab[p] = flab[u]
                p += 1
    return q_fg, q_fa, q_off, q_lab


@njit(cache=True)
def finish_lattice(n, src, dst, word, g, a, aoff, alab, fg, fa, foff, flab, sg, sa, slab, beam):
    """Turns determinized parts into a word lattice's arrays: the start weight (sg, sa,
    slab) goes onto the start state's arcs and final weight; arcs and finals off every path
    within ``beam`` of the best go (Kaldi prunes after determinizing); the states left are
    renumbered in topological order (start 0) and arcs sorted by (source, word, dest).

    Args:
        n: states. src, dst, word: int [A]; g, a: float64 [A]; aoff int64 [A+1], alab int32.
        fg, fa: float64 [n] final weight (fg = +inf: not final); foff int64 [n+1], flab int32.

    Returns:
        (ok (False: a cycle), src, dst, word, g, a, aoff, alab, fg, fa, foff, flab) of the result.
    """
    A = src.shape[0]
    cost = g + a
    fcost = np.full(n, INF)
    for s in range(n):
        if fg[s] < INF:
            fcost[s] = fg[s] + fa[s]
    if n > 0 and fcost[0] < INF:
        fcost[0] += sg + sa
    off = np.zeros(n + 1, np.int64)  # out-arc lists
    for k in range(A):
        off[src[k] + 1] += 1
    for s in range(n):
        off[s + 1] += off[s]
    order = np.argsort(src, kind="mergesort")
    ok, topo, n_seen = _topological_order(n, src, dst, off, order)
    if not ok:
        e64 = np.zeros(0, np.int64)
        e32 = np.zeros(0, np.int32)
        ef = np.zeros(0)
        return False, e32, e32, e32, ef, ef, e64, e32, ef, ef, e64, e32
    start_add = np.zeros(A)
    for t in range(off[0], off[1]) if n > 0 else range(0):
        start_add[order[t]] = sg + sa
    alpha, beta = _forward_backward(n, topo, n_seen, off, order, dst, cost, start_add, fcost)
    best = beta[0] if n > 0 else INF
    lim = best + beam + 1e-4
    new = np.full(n, -1, np.int64)
    S = np.int64(0)  # not a literal: _kept_finals is compiled once
    for i in range(n_seen):
        s = topo[i]
        if alpha[s] + beta[s] <= lim or s == 0:
            new[s] = S
            S += 1
    keep = np.zeros(A, np.bool_)
    for k in range(A):
        if new[src[k]] >= 0 and new[dst[k]] >= 0 and alpha[src[k]] + cost[k] + start_add[k] + beta[dst[k]] <= lim:
            keep[k] = True
    ks = np.nonzero(keep)[0]
    # sort by (new src, word, new dst): stable sorts, last key first
    ks = ks[np.argsort(new[dst[ks]], kind="mergesort")]
    ks = ks[np.argsort(word[ks], kind="mergesort")]
    ks = ks[np.argsort(new[src[ks]], kind="mergesort")]
    r_src, r_dst, r_word, r_g, r_a, r_off, r_lab = _kept_arcs(ks, new, src, dst, word, g, a, aoff, alab, sg, sa, slab)
    q_fg, q_fa, q_off, q_lab = _kept_finals(n, S, new, alpha, fcost, lim, fg, fa, foff, flab, sg, sa, slab)
    return True, r_src, r_dst, r_word, r_g, r_a, r_off, r_lab, q_fg, q_fa, q_off, q_lab
