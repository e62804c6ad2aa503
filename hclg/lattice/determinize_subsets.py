"""Making a subset of the lattice determinization from a closure (numba): its common
weight and string prefix, the residual strings re-rooted, and the subset found by its
hash or made (see :mod:`hclg.lattice.determinize_kernel`)."""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from hclg.fst.growable import grown
from hclg.fst.hash_table import map_set, map_store, map_with_room, slot_of
from hclg.fst.string_trie import trie_add, trie_lca, trie_with_room
from hclg.lattice.determinize_state import Subsets, grown_elements

INF = np.inf
QUANT = 1024.0  # weights are compared at 1/QUANT (Kaldi's delta)


@njit(cache=True, inline="always")
def common_weight(c, keep, nk, trie):
    """(graph, acoustic, string): the cheapest kept element's weight (ties: the smaller
    graph cost, then the first) and the longest common prefix of the kept strings."""
    b = keep[0]
    for t in range(1, nk):
        i = keep[t]
        ti = c.graph[i] + c.acoustic[i]
        tb = c.graph[b] + c.acoustic[b]
        if ti < tb or (ti == tb and c.graph[i] < c.graph[b]):
            b = i
    p = c.string[keep[0]]
    for t in range(1, nk):
        p = trie_lca(p, c.string[keep[t]], trie.parent, trie.depth)
    return c.graph[b], c.acoustic[b], p


@njit(cache=True, inline="always")
def residual_strings(c, keep, nk, pd, trie, memo, rest, path):
    """The kept strings with their first ``pd`` labels removed, each re-rooted as a string
    of its own. Memoized per (node, pd) in ``memo``, so strings that share a prefix are
    re-rooted once. The room for every node and memo entry this can make is made first,
    so the loops below rebuild no structure (numba's reference counting of a trie
    returned in the loop made this most of the determinization's time).

    Returns:
        (rest, path, trie, memo): rest[t] the residual of kept element t.
    """
    rest = grown(rest, nk)
    need = np.int64(0)  # not a literal (see determinize_kernel)
    longest = np.int64(0)
    for t in range(nk):
        L = trie.depth[c.string[keep[t]]] - pd
        need += L
        longest = max(longest, L)
    path = grown(path, longest)
    trie = trie_with_room(trie, need)
    memo = map_with_room(memo, need)
    for t in range(nk):
        x = np.int64(c.string[keep[t]])
        if trie.depth[x] == pd:
            rest[t] = 0
            continue
        # walk up to a memoized ancestor (or to depth pd), collecting nodes
        npath = 0
        rt = np.int64(0)
        y = x
        while trie.depth[y] > pd:
            rkey = y * np.int64(1 << 20) + pd
            rs = slot_of(memo.keys, rkey)
            if memo.keys[rs] == rkey:
                rt = np.int64(memo.vals[rs])
                break
            path[npath] = y
            npath += 1
            y = trie.parent[y]
        # come back down, making the children and memoizing each step
        for u in range(npath - 1, -1, -1):
            y = np.int64(path[u])
            rt = trie_add(trie, rt, trie.label[y])
            rkey = y * np.int64(1 << 20) + pd
            map_store(memo, slot_of(memo.keys, rkey), rkey, rt)
        rest[t] = rt
    return rest, path, trie, memo


@njit(cache=True, inline="always")
def find_or_add_subset(c, keep, nk, rest, cg, ca, Fq, raw, subsets, table, heap, max_mem, other_bytes):
    """The subset of the kept elements (residual weights, re-rooted strings), found by its
    hash or made; a new subset, or a known one reached more cheaply and not yet expanded,
    is queued by the cost of its best complete path.

    Args:
        other_bytes: what the trie and the arcs take, for the max_mem estimate.

    Returns:
        (subset id, subsets, table); id -1 when making it would pass ``max_mem`` (Kaldi's
        estimate). ``table`` (an IntMap: subset hash -> the newest subset with it; the
        others by ``subsets.chain``) replaced a numba typed Dict, whose lookups missed keys
        it held once the kernel around it changed (found on AN4's lattices: equal subsets
        made twice, larger lattices).
    """
    order = np.argsort(c.state[keep[:nk]])
    h = np.int64(1469598103934665603)
    prio = INF
    for t in range(nk):
        i = keep[order[t]]
        rg = c.graph[i] - cg
        ra = c.acoustic[i] - ca
        h = (h ^ np.int64(c.state[i])) * np.int64(1099511628211)
        h = (h ^ np.int64(rest[order[t]])) * np.int64(1099511628211)
        h = (h ^ np.int64(np.round(rg * QUANT))) * np.int64(1099511628211)
        h = (h ^ np.int64(np.round(ra * QUANT))) * np.int64(1099511628211)
        v = rg + ra + raw.beta[c.state[i]]
        if v < prio:
            prio = v
    if h == -1:  # the map's empty key
        h = np.int64(-2)
    hs = slot_of(table.keys, h)
    head = np.int64(table.vals[hs]) if table.keys[hs] == h else np.int64(-1)
    r = head
    found = np.int64(-1)
    el = subsets.elements
    while r >= 0:
        if subsets.off[r + 1] - subsets.off[r] == nk:
            same = True
            for t in range(nk):
                i = keep[order[t]]
                e = subsets.off[r] + t
                if (el.state[e] != c.state[i] or el.string[e] != rest[order[t]]
                        or np.round((c.graph[i] - cg) * QUANT) != np.round(el.graph[e] * QUANT)
                        or np.round((c.acoustic[i] - ca) * QUANT) != np.round(el.acoustic[e] * QUANT)):
                    same = False
                    break
            if same:
                found = r
                break
        r = subsets.chain[r]
    Fn = Fq + cg + ca
    if found >= 0:
        if Fn < subsets.forward[found] - 1e-9 and not subsets.done[found]:
            subsets.forward[found] = Fn
            heapq.heappush(heap, (Fn + prio, np.int64(found)))
        return found, subsets, table
    n_sub = subsets.size[0]
    if 24 * (subsets.off[n_sub] + nk) + 48 * n_sub + other_bytes > max_mem:
        return np.int64(-1), subsets, table
    found = n_sub
    subsets.size[0] = n_sub + 1
    if n_sub + 2 > subsets.forward.shape[0]:
        m = 2 * subsets.forward.shape[0]
        subsets = Subsets(grown(subsets.off, m + 1), grown(subsets.forward, m), grown(subsets.chain, m),
                          grown(subsets.done, m), el, subsets.size)
    base = subsets.off[found]
    subsets.off[found + 1] = base + nk
    if base + nk > el.state.shape[0]:
        el = grown_elements(el, 2 * (base + nk))
        subsets = Subsets(subsets.off, subsets.forward, subsets.chain, subsets.done, el, subsets.size)
    for t in range(nk):
        i = keep[order[t]]
        el.state[base + t] = c.state[i]
        el.string[base + t] = rest[order[t]]
        el.graph[base + t] = c.graph[i] - cg
        el.acoustic[base + t] = c.acoustic[i] - ca
    subsets.forward[found] = Fn
    subsets.done[found] = False
    subsets.chain[found] = head
    table = map_set(table, hs, h, found)
    heapq.heappush(heap, (Fn + prio, np.int64(found)))
    return found, subsets, table
