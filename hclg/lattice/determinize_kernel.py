"""Pruned lattice determinization kernel (numba), as Kaldi's DeterminizeLatticePruned.

Input: the search's raw lattice (tokens and forward links), costs as the search saw them.
Output: for every word sequence whose best path is within the beam, exactly one path,
carrying that best path's graph cost, acoustic cost and frame labels.

State of the algorithm, in named structures:

The state is in :mod:`hclg.lattice.determinize_state`.

- *Strings* (frame labels) live in a :class:`~hclg.fst.string_trie.StringTrie`: node 0 the
  empty string; appending a label is one lookup; two strings share their common prefix.
- A determinized state is a *subset* (:class:`Subsets`): elements (raw state, residual
  string, residual graph cost, residual acoustic cost), sorted by raw state, at most one
  per raw state, stored in ``elements`` from ``off[q]``; a hash of them leads to a chain
  (``chain``) of subsets with that hash (weights compared to 1/1024, Kaldi's delta).
- Subsets are expanded best-first by the cost of the best complete path through them
  (forward cost of the subset + the best element's residual + its raw backward cost);
  this never decreases along a path, so a subset is final when popped, and those past
  ``best + beam`` are never expanded.
- Closure (:class:`Closure`): from a subset's elements, links without a word are followed
  (keeping the cheapest way to each raw state; ties: smaller graph cost, then the earlier
  found), then only elements with a word link or a final cost stay. The cheapest is the
  subset's common weight; the longest common prefix of the strings is emitted on the arc.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from hclg.fst.growable import grown
from hclg.fst.hash_table import new_int_map
from hclg.fst.heap import heap_pop, heap_push
from hclg.fst.string_trie import new_trie, trie_add, trie_with_room
from hclg.lattice.determinize_state import (
    Candidates, Closure, Determinized, Finals, Subsets, WordArcs, add_final, add_word_arc, grown_candidates,
    grown_elements, new_elements, new_finals, new_word_arcs,
)
from hclg.lattice.determinize_subsets import common_weight, find_or_add_subset, residual_strings

INF = np.inf


@njit(cache=True)
def closure_pass(raw, c, stamp, slot, hp, trie, nc, nh, serial, Fq, limit):
    """The closure's loop (see :func:`_closure`), with the room it needs made by the
    caller: it runs until the heap is empty (status 0) or the room for the next state's
    links runs out (status 1: the caller grows ``c``, ``hp`` and ``trie`` and calls
    again). No structure is rebuilt inside it, so numba counts no references per link.

    Returns:
        (nc, nh, status).
    """
    ch = trie.children
    while nh > 0:
        s = hp[0]
        deg = raw.off[s + 1] - raw.off[s]
        if (nc + deg > c.state.shape[0] or nh + deg > hp.shape[0] or trie.size[0] + deg > trie.parent.shape[0]
                or 2 * (ch.size[0] + deg) > ch.keys.shape[0]):
            return nc, nh, 1
        s, nh = heap_pop(hp, nh)
        i = slot[s]
        if c.state[i] != s or stamp[s] != serial:
            continue
        sg = c.graph[i]
        sa = c.acoustic[i]
        ss = np.int64(c.string[i])
        for k in range(raw.off[s], raw.off[s + 1]):
            if raw.olabel[k] != 0:
                continue
            d = raw.dst[k]
            ng = sg + raw.graph[k]
            na = sa + raw.acoustic[k]
            if Fq + ng + na + raw.beta[d] > limit:
                continue
            if stamp[d] == serial:
                j = slot[d]
                t_old = c.graph[j] + c.acoustic[j]
                t_new = ng + na
                if not (t_new < t_old or (t_new == t_old and ng < c.graph[j])):
                    continue
                push = d < s  # a link back within a frame (not topological): visit again
            else:
                j = nc
                nc += 1
                stamp[d] = serial
                slot[d] = j
                c.state[j] = d
                push = True
            il = raw.ilabel[k]  # the string: ss + ilabel
            c.string[j] = trie_add(trie, ss, il) if il != 0 else ss
            c.graph[j] = ng
            c.acoustic[j] = na
            if push:
                nh = heap_push(hp, nh, np.int64(d))
    return nc, nh, 0


@njit(cache=True, inline="always")
def _closure(raw, cl, nc, Fq, limit, trie):
    """The closure of the seeds ``cl.elements[0:nc]`` (forward cost ``Fq``): links without
    a word are followed, keeping the cheapest way to each raw state. Raw states are
    topologically numbered: visiting them in increasing order settles each one before it
    is expanded (:func:`closure_pass`).

    Returns:
        (nc, cl, trie), grown as needed.
    """
    c = cl.elements
    serial = cl.serial[0] + 1
    cl.serial[0] = serial
    for i in range(nc):
        cl.stamp[c.state[i]] = serial
        cl.slot[c.state[i]] = i
    hp = grown(cl.heap, nc)
    nh = np.int64(0)  # int64, not a literal: see determinize_kernel
    for i in range(nc):
        nh = heap_push(hp, nh, np.int64(c.state[i]))
    while True:
        nc, nh, status = closure_pass(raw, c, cl.stamp, cl.slot, hp, trie, nc, nh, serial, Fq, limit)
        if status == 0:
            break
        c = grown_elements(c, 2 * c.state.shape[0])
        hp = grown(hp, 2 * hp.shape[0])
        trie = trie_with_room(trie, trie.parent.shape[0])
    return nc, Closure(c, cl.stamp, cl.slot, hp, cl.serial), trie


@njit(cache=True, inline="always")
def _kept(raw, c, nc, keep):
    """(nk, keep): the closure elements with a word link or a final cost, in order."""
    keep = grown(keep, nc)
    nk = np.int64(0)
    for i in range(nc):
        s = c.state[i]
        has = raw.final[s] < INF
        if not has:
            for k in range(raw.off[s], raw.off[s + 1]):
                if raw.olabel[k] != 0:
                    has = True
                    break
        if has:
            keep[nk] = i
            nk += 1
    return nk, keep


@njit(cache=True, inline="always")
def _final_weight(q, Fq, limit, subsets, raw, fin):
    """Subset q's final weight: its cheapest element with a final cost within the limit
    (ties: the smaller graph cost). Returns the finals, with it added if there is one."""
    el = subsets.elements
    bf = -1
    bg = 0.0
    ba = 0.0
    for e in range(subsets.off[q], subsets.off[q + 1]):
        s = el.state[e]
        if raw.final[s] < INF and Fq + el.graph[e] + el.acoustic[e] + raw.final[s] <= limit:
            g = el.graph[e] + raw.final[s]
            a = el.acoustic[e]
            if bf < 0 or g + a < bg + ba or (g + a == bg + ba and g < bg):
                bf, bg, ba = e, g, a
    if bf >= 0:
        fin = add_final(fin, q, bg, ba, el.string[bf])
    return fin


@njit(cache=True, inline="always")
def _word_links(q, Fq, limit, subsets, raw, cand, trie):
    """The word links out of subset q's elements within the limit, as candidates grouped
    by word (stable).

    Returns:
        (number of candidates, cand, trie)
    """
    el = subsets.elements
    nx = 0
    more = np.int64(0)  # room first: no structure rebuilt in the loop (see residual_strings)
    for e in range(subsets.off[q], subsets.off[q + 1]):
        more += raw.off[el.state[e] + 1] - raw.off[el.state[e]]
    trie = trie_with_room(trie, more)
    cand = grown_candidates(cand, more)
    for e in range(subsets.off[q], subsets.off[q + 1]):
        s = el.state[e]
        for k in range(raw.off[s], raw.off[s + 1]):
            if raw.olabel[k] == 0:
                continue
            d = raw.dst[k]
            ng = el.graph[e] + raw.graph[k]
            na = el.acoustic[e] + raw.acoustic[k]
            if Fq + ng + na + raw.beta[d] > limit:
                continue
            ss = np.int64(el.string[e])
            il = raw.ilabel[k]
            if il != 0:
                ss = trie_add(trie, ss, il)
            cand.word[nx] = raw.olabel[k]
            cand.dst[nx] = d
            cand.string[nx] = ss
            cand.graph[nx] = ng
            cand.acoustic[nx] = na
            nx += 1
    if nx > 0:
        o = np.argsort(cand.word[:nx], kind="mergesort")
        w, d, st = cand.word[:nx].copy(), cand.dst[:nx].copy(), cand.string[:nx].copy()
        g, a = cand.graph[:nx].copy(), cand.acoustic[:nx].copy()
        for i in range(nx):  # a loop, not fancy indexing (seconds less to compile)
            j = o[i]
            cand.word[i] = w[j]
            cand.dst[i] = d[j]
            cand.string[i] = st[j]
            cand.graph[i] = g[j]
            cand.acoustic[i] = a[j]
    return nx, cand, trie


@njit(cache=True, inline="always")
def _word_group_seeds(cand, xi, nx, cl):
    """The seeds of the next closure: the candidates of the word at ``cand.word[xi]``, one
    per raw state (the cheapest; ties: the smaller graph cost, then the first).

    Returns:
        (word, index after the group, number of seeds, cl)
    """
    c = cl.elements
    serial = cl.serial[0] + 1
    cl.serial[0] = serial
    w = cand.word[xi]
    nc = 0
    while xi < nx and cand.word[xi] == w:
        d = cand.dst[xi]
        if cl.stamp[d] == serial:
            j = cl.slot[d]
            t_old = c.graph[j] + c.acoustic[j]
            t_new = cand.graph[xi] + cand.acoustic[xi]
            if t_new < t_old or (t_new == t_old and cand.graph[xi] < c.graph[j]):
                c.string[j] = cand.string[xi]
                c.graph[j] = cand.graph[xi]
                c.acoustic[j] = cand.acoustic[xi]
        else:
            if nc >= c.state.shape[0]:
                c = grown_elements(c, 2 * c.state.shape[0])
            cl.stamp[d] = serial
            cl.slot[d] = nc
            c.state[nc] = d
            c.string[nc] = cand.string[xi]
            c.graph[nc] = cand.graph[xi]
            c.acoustic[nc] = cand.acoustic[xi]
            nc += 1
        xi += 1
    for i in range(nc):
        cl.stamp[c.state[i]] = -1
    return w, xi, nc, Closure(c, cl.stamp, cl.slot, cl.heap, cl.serial)


@njit(cache=True)
def determinize_kernel(raw, beam, best_total, max_mem):
    """Determinizes a raw lattice (:class:`RawGraph`; states 0..n-1, 0 the start).

    Args:
        raw: the raw lattice.
        beam: keep word sequences whose best path is within beam of best_total.
        best_total: the best path's cost.
        max_mem: stop (ok False) once the subsets, strings and arcs made take more than
            this many bytes (Kaldi's max-mem estimate).

    Returns:
        Determinized.
    """
    n = raw.final.shape[0]
    limit = best_total + beam + 1e-4
    trie = new_trie(np.int64(1024), np.int64(1 << 16))
    memo = new_int_map(np.int64(1 << 16))  # (node, depth) -> the node's suffix below depth
    subsets = Subsets(np.zeros(1025, np.int64), np.empty(1024, np.float64), np.empty(1024, np.int64),
                      np.zeros(1024, np.bool_), new_elements(np.int64(4096)), np.zeros(1, np.int64))
    table = new_int_map(np.int64(1 << 12))  # subset hash -> newest subset (see find_or_add_subset)
    cl = Closure(new_elements(np.int64(1024)), np.full(n, -1, np.int64), np.empty(n, np.int32),
                 np.empty(1024, np.int64), np.zeros(1, np.int64))
    keep = np.empty(1024, np.int32)
    rest = np.empty(1024, np.int32)
    path = np.empty(256, np.int64)
    arcs = new_word_arcs(1024)
    fin = new_finals(256)
    cand = Candidates(np.empty(1024, np.int32), np.empty(1024, np.int32), np.empty(1024, np.int32),
                      np.empty(1024, np.float64), np.empty(1024, np.float64))
    heap = [(0.0, np.int64(0))]  # (priority, subset) of subsets to expand
    heap.pop()
    start_g = 0.0
    start_a = 0.0
    start_str = np.int64(0)
    ok = True
    first = True
    c = cl.elements  # the first seed: the start state
    c.state[0] = 0
    c.string[0] = 0
    c.graph[0] = 0.0
    c.acoustic[0] = 0.0
    # counters start as np.int64, not as literals: numba would compile the functions they
    # are handed to once for the literal and once more for int64 (seconds of a cold start)
    nc = np.int64(1)
    Fq = 0.0
    q_from = np.int64(-1)
    cur_word = 0
    xi = np.int64(0)
    nx = np.int64(0)
    while True:
        if nc > 0:  # the closure of the seeds becomes a subset, and an arc into it
            nc, cl, trie = _closure(raw, cl, nc, Fq, limit, trie)
            nk, keep = _kept(raw, cl.elements, nc, keep)
            if nk > 0:
                cg, ca, p = common_weight(cl.elements, keep, nk, trie)
                rest, path, trie, memo = residual_strings(cl.elements, keep, nk, trie.depth[p], trie, memo, rest, path)
                found, subsets, table = find_or_add_subset(cl.elements, keep, nk, rest, cg, ca, Fq, raw, subsets, table, heap,
                                                     max_mem, 16 * trie.size[0] + 40 * arcs.size[0])
                if found < 0:
                    ok = False
                    break
                if first:
                    start_g, start_a, start_str = cg, ca, np.int64(p)
                    first = False
                else:
                    arcs = add_word_arc(arcs, q_from, found, cur_word, cg, ca, p)
            for i in range(nc):
                cl.stamp[cl.elements.state[i]] = -1
            nc = 0
        if first:  # the start's closure kept nothing
            break
        if xi < nx:  # the next word group of the subset being expanded
            cur_word, xi, nc, cl = _word_group_seeds(cand, xi, nx, cl)
            continue
        q = np.int64(-1)  # the next subset to expand
        while len(heap) > 0:
            pr, cq = heapq.heappop(heap)
            if subsets.done[cq] or pr > limit:
                continue
            q = cq
            break
        if q < 0:
            break
        subsets.done[q] = True
        Fq = subsets.forward[q]
        q_from = q
        fin = _final_weight(q, Fq, limit, subsets, raw, fin)
        nx, cand, trie = _word_links(q, Fq, limit, subsets, raw, cand, trie)
        xi = 0
    na, nf, ns = arcs.size[0], fin.size[0], trie.size[0]
    arcs = WordArcs(arcs.src[:na].copy(), arcs.dst[:na].copy(), arcs.word[:na].copy(), arcs.graph[:na].copy(),
                    arcs.acoustic[:na].copy(), arcs.string[:na].copy(), arcs.size)
    fin = Finals(fin.state[:nf].copy(), fin.graph[:nf].copy(), fin.acoustic[:nf].copy(), fin.string[:nf].copy(),
                 fin.size)
    return Determinized(ok, arcs, fin, start_g, start_a, start_str, trie.parent[:ns].copy(), trie.label[:ns].copy(),
                        trie.depth[:ns].copy())
