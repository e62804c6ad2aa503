"""Pruned lattice determinization kernel (numba), as Kaldi's DeterminizeLatticePruned.

Input: the search's raw lattice (tokens and forward links), costs as the search saw them.
Output: for every word sequence whose best path is within the beam, exactly one path,
carrying that best path's graph cost, acoustic cost and frame labels.

State of the algorithm:

- *Strings* (frame labels) live in a trie: ``str_parent``, ``str_label``, ``str_depth``
  per node, node 0 the empty string, and an open-addressing hash map (``ch_keys``,
  ``ch_vals``) from ``(parent << 32) | label`` to the child node.
  Appending a label is one lookup; two strings share their common prefix.
- A determinized state is a *subset*: elements (raw state, residual string, residual
  graph cost, residual acoustic cost), sorted by raw state, at most one per raw state,
  stored in ``el_*`` from ``sub_off[q]``; ``sub_hash`` chains find equal subsets (weights
  compared to 1/1024, Kaldi's delta).
- Subsets are expanded best-first by the cost of the best complete path through them
  (forward cost of the subset + the best element's residual + its raw backward cost);
  this never decreases along a path, so a subset is final when popped, and those past
  ``best + beam`` are never expanded.
- Closure: from a subset's elements, links without a word are followed (keeping the
  cheapest way to each raw state; ties: smaller graph cost, then the earlier found), then
  only elements with a word link or a final cost stay. The cheapest is the subset's
  common weight; the longest common prefix of the strings is emitted on the arc.
"""

from __future__ import annotations

import heapq

import numpy as np
from numba import njit, types
from numba.typed import Dict

from hclg.fst.growable import grown
from hclg.fst.hash_table import rehash, slot_of
from hclg.fst.heap import heap_pop, heap_push
from hclg.fst.string_trie import trie_child, trie_lca

INF = np.inf
QUANT = 1024.0


@njit(cache=True)
def determinize_kernel(n, r_off, r_dst, r_ilab, r_olab, r_g, r_a, beta, final, beam, best_total, max_mem):
    """Determinizes a raw lattice (states 0..n-1, 0 the start; links sorted by source).

    Args:
        n: raw states. r_off: int64 [n+1] link offsets per state.
        r_dst, r_ilab, r_olab: int32 [L]; r_g, r_a: float64 [L] (graph, acoustic cost).
        beta: float64 [n] cost from each state to the end. final: float64 [n] (+inf: not).
        beam: keep word sequences whose best path is within beam of best_total.
        max_mem: stop (returning ok=False) once the subsets, strings and arcs made take
            more than this many bytes (Kaldi's max-mem estimate).

    Returns:
        (ok, arcs: a_src, a_dst, a_word int32 [A], a_g, a_a float64 [A], a_str int32 [A];
        finals: f_state int32 [F], f_g, f_a float64 [F], f_str int32 [F];
        start weight: (g, a, str); strings: str_parent, str_label, str_depth int32).
    """
    limit = best_total + beam + 1e-4
    # string trie
    str_parent = np.zeros(1024, np.int32)
    str_label = np.zeros(1024, np.int32)
    str_depth = np.zeros(1024, np.int32)
    n_str = 1
    ch_keys = np.full(1 << 16, -1, np.int64)
    ch_vals = np.empty(1 << 16, np.int32)
    n_ch = 0
    rr_keys = np.full(1 << 16, -1, np.int64)  # (node, depth) -> the node's suffix below depth
    rr_vals = np.empty(1 << 16, np.int32)
    n_rr = 0
    hp = np.empty(1024, np.int64)
    # subsets
    sub_off = np.zeros(1025, np.int64)
    el_state = np.empty(4096, np.int32)
    el_str = np.empty(4096, np.int32)
    el_g = np.empty(4096, np.float64)
    el_a = np.empty(4096, np.float64)
    sub_F = np.empty(1024, np.float64)
    sub_next = np.empty(1024, np.int64)  # hash chain
    sub_done = np.zeros(1024, np.bool_)
    table = Dict.empty(key_type=types.int64, value_type=types.int64)
    n_sub = 0
    # closure work space
    stamp = np.full(n, -1, np.int64)
    slot = np.empty(n, np.int32)
    c_state = np.empty(1024, np.int32)
    c_str = np.empty(1024, np.int32)
    c_g = np.empty(1024, np.float64)
    c_a = np.empty(1024, np.float64)
    keep = np.empty(1024, np.int32)
    rest = np.empty(1024, np.int32)
    path = np.empty(256, np.int64)
    n_closure = 0
    # outputs
    a_src = np.empty(1024, np.int32)
    a_dst = np.empty(1024, np.int32)
    a_word = np.empty(1024, np.int32)
    a_g = np.empty(1024, np.float64)
    a_a = np.empty(1024, np.float64)
    a_str = np.empty(1024, np.int32)
    n_arcs = 0
    f_state = np.empty(256, np.int32)
    f_g = np.empty(256, np.float64)
    f_a = np.empty(256, np.float64)
    f_str = np.empty(256, np.int32)
    n_fin = 0
    # candidates for one expansion: (word, raw dst, string, g, a)
    x_word = np.empty(1024, np.int32)
    x_dst = np.empty(1024, np.int32)
    x_str = np.empty(1024, np.int32)
    x_g = np.empty(1024, np.float64)
    x_a = np.empty(1024, np.float64)

    heap = [(0.0, np.int64(0))]
    heap.pop()
    start_g = 0.0
    start_a = 0.0
    start_str = 0
    ok = True
    first = True
    # seeds for the next closure are in c_* [0:nc]
    c_state[0] = 0
    c_str[0] = 0
    c_g[0] = 0.0
    c_a[0] = 0.0
    nc = 1
    Fq = 0.0
    q_from = -1
    cur_word = 0
    xi = 0
    nx = 0
    while True:
        # ================= closure of the seeds c_*[0:nc], forward cost Fq ============
        if nc > 0:
            n_closure += 1
            for i in range(nc):
                stamp[c_state[i]] = n_closure
                slot[c_state[i]] = i
            # raw states are topologically numbered: visiting them in increasing order
            # settles each one before it is expanded
            hp = grown(hp, nc)
            nh = 0
            for i in range(nc):
                nh = heap_push(hp, nh, np.int64(c_state[i]))
            while nh > 0:
                s, nh = heap_pop(hp, nh)
                i = slot[s]
                if c_state[i] != s or stamp[s] != n_closure:
                    continue
                sg = c_g[i]
                sa = c_a[i]
                ss = c_str[i]
                for k in range(r_off[s], r_off[s + 1]):
                    if r_olab[k] != 0:
                        continue
                    d = r_dst[k]
                    ng = sg + r_g[k]
                    na = sa + r_a[k]
                    if Fq + ng + na + beta[d] > limit:
                        continue
                    push = False
                    if stamp[d] == n_closure:
                        j = slot[d]
                        t_old = c_g[j] + c_a[j]
                        t_new = ng + na
                        if not (t_new < t_old or (t_new == t_old and ng < c_g[j])):
                            continue
                        push = d < s  # a link back within a frame (not topological): visit again
                    else:
                        j = nc
                        nc += 1
                        if nc > c_state.shape[0]:
                            m = 2 * c_state.shape[0]
                            c_state = grown(c_state, m)
                            c_str = grown(c_str, m)
                            c_g = grown(c_g, m)
                            c_a = grown(c_a, m)
                        stamp[d] = n_closure
                        slot[d] = j
                        c_state[j] = d
                        push = True
                    # the string: ss + ilabel
                    il = r_ilab[k]
                    if il != 0:
                        ns, n_str, n_ch, str_parent, str_label, str_depth, ch_keys, ch_vals = trie_child(
                            ss, il, str_parent, str_label, str_depth, n_str, ch_keys, ch_vals, n_ch)
                        c_str[j] = ns
                    else:
                        c_str[j] = ss
                    c_g[j] = ng
                    c_a[j] = na
                    if push:
                        if nh >= hp.shape[0]:
                            hp = grown(hp, 2 * hp.shape[0])
                        nh = heap_push(hp, nh, np.int64(d))
            # keep elements with a word link or a final cost
            keep = grown(keep, nc)
            nk = 0
            for i in range(nc):
                s = c_state[i]
                has = final[s] < INF
                if not has:
                    for k in range(r_off[s], r_off[s + 1]):
                        if r_olab[k] != 0:
                            has = True
                            break
                if has:
                    keep[nk] = i
                    nk += 1
            if nk > 0:
                # common weight: the cheapest element
                b = keep[0]
                for t in range(1, nk):
                    i = keep[t]
                    ti = c_g[i] + c_a[i]
                    tb = c_g[b] + c_a[b]
                    if ti < tb or (ti == tb and c_g[i] < c_g[b]):
                        b = i
                cg = c_g[b]
                ca = c_a[b]
                # longest common prefix of the strings
                p = c_str[keep[0]]
                for t in range(1, nk):
                    p = trie_lca(p, c_str[keep[t]], str_parent, str_depth)
                pd = str_depth[p]
                # residual strings, re-rooted: the suffix of x below depth pd as a string
                # of its own. Memoized per (x, pd), so strings that share a prefix are
                # re-rooted once.
                rest = grown(rest, nk)
                for t in range(nk):
                    x = np.int64(c_str[keep[t]])
                    L = str_depth[x] - pd
                    if L == 0:
                        rest[t] = 0
                        continue
                    # walk up to a memoized ancestor (or to depth pd), collecting nodes
                    path = grown(path, L)
                    npath = 0
                    rt = np.int64(0)
                    y = x
                    while str_depth[y] > pd:
                        rkey = y * np.int64(1 << 20) + pd
                        rs = slot_of(rr_keys, rkey)
                        if rr_keys[rs] == rkey:
                            rt = np.int64(rr_vals[rs])
                            break
                        path[npath] = y
                        npath += 1
                        y = str_parent[y]
                    # come back down, making the children and memoizing each step
                    for u in range(npath - 1, -1, -1):
                        y = np.int64(path[u])
                        rt, n_str, n_ch, str_parent, str_label, str_depth, ch_keys, ch_vals = trie_child(
                            rt, str_label[y], str_parent, str_label, str_depth, n_str, ch_keys, ch_vals, n_ch)
                        rkey = y * np.int64(1 << 20) + pd
                        rs = slot_of(rr_keys, rkey)
                        rr_keys[rs] = rkey
                        rr_vals[rs] = rt
                        n_rr += 1
                        if 2 * n_rr > rr_keys.shape[0]:
                            rr_keys, rr_vals = rehash(rr_keys, rr_vals)
                    rest[t] = rt
                # sort kept elements by raw state
                order = np.argsort(c_state[keep[:nk]])
                # hash
                h = np.int64(1469598103934665603)
                prio = INF
                for t in range(nk):
                    i = keep[order[t]]
                    rg = c_g[i] - cg
                    ra = c_a[i] - ca
                    h = (h ^ np.int64(c_state[i])) * np.int64(1099511628211)
                    h = (h ^ np.int64(rest[order[t]])) * np.int64(1099511628211)
                    h = (h ^ np.int64(np.round(rg * QUANT))) * np.int64(1099511628211)
                    h = (h ^ np.int64(np.round(ra * QUANT))) * np.int64(1099511628211)
                    v = rg + ra + beta[c_state[i]]
                    if v < prio:
                        prio = v
                # look the subset up
                r = np.int64(-1)
                if h in table:
                    r = table[h]
                found = np.int64(-1)
                while r >= 0:
                    if sub_off[r + 1] - sub_off[r] == nk:
                        same = True
                        for t in range(nk):
                            i = keep[order[t]]
                            e = sub_off[r] + t
                            if (el_state[e] != c_state[i] or el_str[e] != rest[order[t]]
                                    or np.round((c_g[i] - cg) * QUANT) != np.round(el_g[e] * QUANT)
                                    or np.round((c_a[i] - ca) * QUANT) != np.round(el_a[e] * QUANT)):
                                same = False
                                break
                        if same:
                            found = r
                            break
                    r = sub_next[r]
                Fn = Fq + cg + ca
                if found < 0:
                    mem = 24 * (sub_off[n_sub] + nk) + 48 * n_sub + 16 * n_str + 40 * n_arcs
                    if mem > max_mem:
                        ok = False
                        break
                    found = n_sub
                    n_sub += 1
                    if n_sub + 1 > sub_F.shape[0]:
                        m = 2 * sub_F.shape[0]
                        sub_F = grown(sub_F, m)
                        sub_next = grown(sub_next, m)
                        sub_done = grown(sub_done, m)
                        sub_off = grown(sub_off, m + 1)
                    base = sub_off[found]
                    sub_off[found + 1] = base + nk
                    if base + nk > el_state.shape[0]:
                        m = 2 * (base + nk)
                        el_state = grown(el_state, m)
                        el_str = grown(el_str, m)
                        el_g = grown(el_g, m)
                        el_a = grown(el_a, m)
                    for t in range(nk):
                        i = keep[order[t]]
                        el_state[base + t] = c_state[i]
                        el_str[base + t] = rest[order[t]]
                        el_g[base + t] = c_g[i] - cg
                        el_a[base + t] = c_a[i] - ca
                    sub_F[found] = Fn
                    sub_done[found] = False
                    sub_next[found] = table[h] if h in table else np.int64(-1)
                    table[h] = found
                    heapq.heappush(heap, (Fn + prio, np.int64(found)))
                elif Fn < sub_F[found] - 1e-9 and not sub_done[found]:
                    sub_F[found] = Fn
                    heapq.heappush(heap, (Fn + prio, np.int64(found)))
                if first:
                    start_g = cg
                    start_a = ca
                    start_str = p
                    first = False
                else:
                    if n_arcs >= a_src.shape[0]:
                        m = 2 * a_src.shape[0]
                        a_src = grown(a_src, m)
                        a_dst = grown(a_dst, m)
                        a_word = grown(a_word, m)
                        a_g = grown(a_g, m)
                        a_a = grown(a_a, m)
                        a_str = grown(a_str, m)
                    a_src[n_arcs] = q_from
                    a_dst[n_arcs] = found
                    a_word[n_arcs] = cur_word
                    a_g[n_arcs] = cg
                    a_a[n_arcs] = ca
                    a_str[n_arcs] = p
                    n_arcs += 1
            for i in range(nc):
                stamp[c_state[i]] = -1
            nc = 0
        if first:  # the start's closure kept nothing
            break
        # ================= next word group of the subset being expanded ============
        if xi < nx:
            w = x_word[xi]
            cur_word = w
            n_closure += 1
            while xi < nx and x_word[xi] == w:
                d = x_dst[xi]
                if stamp[d] == n_closure:
                    j = slot[d]
                    t_old = c_g[j] + c_a[j]
                    t_new = x_g[xi] + x_a[xi]
                    if t_new < t_old or (t_new == t_old and x_g[xi] < c_g[j]):
                        c_str[j] = x_str[xi]
                        c_g[j] = x_g[xi]
                        c_a[j] = x_a[xi]
                else:
                    if nc >= c_state.shape[0]:
                        m = 2 * c_state.shape[0]
                        c_state = grown(c_state, m)
                        c_str = grown(c_str, m)
                        c_g = grown(c_g, m)
                        c_a = grown(c_a, m)
                    stamp[d] = n_closure
                    slot[d] = nc
                    c_state[nc] = d
                    c_str[nc] = x_str[xi]
                    c_g[nc] = x_g[xi]
                    c_a[nc] = x_a[xi]
                    nc += 1
                xi += 1
            for i in range(nc):
                stamp[c_state[i]] = -1
            continue
        # ================= pop the next subset ============
        q = -1
        while len(heap) > 0:
            pr, cand = heapq.heappop(heap)
            if sub_done[cand] or pr > limit:
                continue
            q = cand
            break
        if q < 0:
            break
        sub_done[q] = True
        Fq = sub_F[q]
        q_from = q
        # final weight
        bf = -1
        bg = 0.0
        ba = 0.0
        for e in range(sub_off[q], sub_off[q + 1]):
            s = el_state[e]
            if final[s] < INF and Fq + el_g[e] + el_a[e] + final[s] <= limit:
                g = el_g[e] + final[s]
                a = el_a[e]
                if bf < 0 or g + a < bg + ba or (g + a == bg + ba and g < bg):
                    bf, bg, ba = e, g, a
        if bf >= 0:
            if n_fin >= f_state.shape[0]:
                m = 2 * f_state.shape[0]
                f_state = grown(f_state, m)
                f_g = grown(f_g, m)
                f_a = grown(f_a, m)
                f_str = grown(f_str, m)
            f_state[n_fin] = q
            f_g[n_fin] = bg
            f_a[n_fin] = ba
            f_str[n_fin] = el_str[bf]
            n_fin += 1
        # word links of its elements, grouped by word
        nx = 0
        for e in range(sub_off[q], sub_off[q + 1]):
            s = el_state[e]
            for k in range(r_off[s], r_off[s + 1]):
                if r_olab[k] == 0:
                    continue
                d = r_dst[k]
                ng = el_g[e] + r_g[k]
                na = el_a[e] + r_a[k]
                if Fq + ng + na + beta[d] > limit:
                    continue
                if nx >= x_word.shape[0]:
                    m = 2 * x_word.shape[0]
                    x_word = grown(x_word, m)
                    x_dst = grown(x_dst, m)
                    x_str = grown(x_str, m)
                    x_g = grown(x_g, m)
                    x_a = grown(x_a, m)
                ss = el_str[e]
                il = r_ilab[k]
                if il != 0:
                    ss, n_str, n_ch, str_parent, str_label, str_depth, ch_keys, ch_vals = trie_child(
                        ss, il, str_parent, str_label, str_depth, n_str, ch_keys, ch_vals, n_ch)
                x_word[nx] = r_olab[k]
                x_dst[nx] = d
                x_str[nx] = ss
                x_g[nx] = ng
                x_a[nx] = na
                nx += 1
        if nx > 0:
            o = np.argsort(x_word[:nx], kind="mergesort")
            x_word[:nx] = x_word[:nx][o]
            x_dst[:nx] = x_dst[:nx][o]
            x_str[:nx] = x_str[:nx][o]
            x_g[:nx] = x_g[:nx][o]
            x_a[:nx] = x_a[:nx][o]
        xi = 0
    return (ok, a_src[:n_arcs].copy(), a_dst[:n_arcs].copy(), a_word[:n_arcs].copy(), a_g[:n_arcs].copy(),
            a_a[:n_arcs].copy(), a_str[:n_arcs].copy(), f_state[:n_fin].copy(), f_g[:n_fin].copy(),
            f_a[:n_fin].copy(), f_str[:n_fin].copy(), start_g, start_a, start_str,
            str_parent[:n_str].copy(), str_label[:n_str].copy(), str_depth[:n_str].copy())


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
    L0 = slab.shape[0]
    cost = g + a
    fcost = np.full(n, INF)
    for s in range(n):
        if fg[s] < INF:
            fcost[s] = fg[s] + fa[s]
    if n > 0 and fcost[0] < INF:
        fcost[0] += sg + sa
    # out-arc lists
    off = np.zeros(n + 1, np.int64)
    for k in range(A):
        off[src[k] + 1] += 1
    for s in range(n):
        off[s + 1] += off[s]
    order = np.argsort(src, kind="mergesort")
    # reachable from 0, then Kahn
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
    if tail != n_seen:
        e64 = np.zeros(0, np.int64)
        e32 = np.zeros(0, np.int32)
        ef = np.zeros(0)
        return False, e32, e32, e32, ef, ef, e64, e32, ef, ef, e64, e32
    start_add = np.zeros(A)
    for t in range(off[0], off[1]) if n > 0 else range(0):
        start_add[order[t]] = sg + sa
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
    best = beta[0] if n > 0 else INF
    lim = best + beam + 1e-4
    new = np.full(n, -1, np.int64)
    S = 0
    for i in range(n_seen):
        s = topo[i]
        if alpha[s] + beta[s] <= lim or s == 0:
            new[s] = S
            S += 1
    keep = np.zeros(A, np.bool_)
    nk = 0
    for k in range(A):
        if new[src[k]] >= 0 and new[dst[k]] >= 0 and alpha[src[k]] + cost[k] + start_add[k] + beta[dst[k]] <= lim:
            keep[k] = True
            nk += 1
    ks = np.nonzero(keep)[0]
    # sort by (new src, word, new dst): stable sorts, last key first
    ks = ks[np.argsort(new[dst[ks]], kind="mergesort")]
    ks = ks[np.argsort(word[ks], kind="mergesort")]
    ks = ks[np.argsort(new[src[ks]], kind="mergesort")]
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
    return True, r_src, r_dst, r_word, r_g, r_a, r_off, r_lab, q_fg, q_fa, q_off, q_lab
