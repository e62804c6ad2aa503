"""Determinization of functional transducers in the log semiring, as Kaldi's
``fstdeterminizestar --use-log=true`` (fstext's DeterminizerStar), in numba.

Removes epsilons and determinizes in one pass. Each state of the result is a *subset*
of input states, each with a residual output string and a residual weight; an arc of
the result carries the longest common prefix of its subset's strings and the log-sum
of its weights (both divided out of the elements). Strings longer than one label become
chains of epsilon-input arcs at the end, as Kaldi's ``Output`` does.

Compared with OpenFst's transducer determinization (Gallic weights, factor-weight and
map caches), this keeps one flat array per field and no cache, so it needs a fraction of
the memory and time on LG-sized graphs. Kaldi's semantics are kept:

- subsets are found again by their (state, string) sequence, weights compared within
  ``delta`` (the stored subset keeps the weights it was first made with). Kaldi hashes the
  states and strings only; here the sum of the weights, in wide bins, is hashed too, and
  a subset near a bin's edge is also looked up in the neighbouring bin. The same subsets
  match, but the subsets that differ only in weight, which a non-determinizable input
  makes without end, no longer share one key (with Kaldi's hash, each new one is
  compared with all the others, and the memory cap takes hours to reach);
- subsets are expanded last-made-first (Kaldi's ``Q_.push_front``), so state numbers
  follow the same order as Kaldi's;
- a state reached twice with two output strings means the input is not functional,
  and is an error.

One difference: in the epsilon closure, Kaldi propagates an input element's own
weight again when an epsilon path leads back to it (its ``weight_to_process`` is not
cleared); here it is cleared, so the closure sums each path once.

Weights are costs (-log p) in float32, as OpenFst's LogWeight; sums are computed in
float64 and stored in float32.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hclg.decoder.determinize_kernel import _lca, _rehash, _slot_of
from hclg.decoder.kernel import _grown
from hclg.graphs.fstutil import _group_by_source

INF = np.float32(np.inf)

#: kernel status codes
OK, OUT_OF_MEMORY, NOT_FUNCTIONAL, EPSILON_LOOP = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _log_plus(a, b):
    """-log(exp(-a) + exp(-b)) for costs a, b (float64)."""
    if a == np.inf:
        return b
    if b == np.inf:
        return a
    if a > b:
        return b - np.log1p(np.exp(b - a))
    return a - np.log1p(np.exp(a - b))


@njit(cache=True)
def _grow(a, need):
    """a, or a copy about 1.5 times longer when ``need`` exceeds its length."""
    if a.shape[0] >= need:
        return a
    b = np.empty(max(need, a.shape[0] + (a.shape[0] >> 1) + 16), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def _sort_by(keys, idx, n):
    """Sorts idx[0:n] by keys[idx] ascending, stable (insertion sort when short)."""
    if n > 32:
        order = np.argsort(keys[idx[:n]], kind="mergesort")
        tmp = idx[:n].copy()
        for i in range(n):
            idx[i] = tmp[order[i]]
        return
    for i in range(1, n):
        x = idx[i]
        k = keys[x]
        j = i - 1
        while j >= 0 and keys[idx[j]] > k:
            idx[j + 1] = idx[j]
            j -= 1
        idx[j + 1] = x


@njit(cache=True)
def _subset_hash(el_state, el_str, lo, hi):
    h = np.uint64(0)
    factor = np.uint64(1)
    for i in range(lo, hi):
        h = h * factor + np.uint64(el_state[i]) + np.uint64(103333) * np.uint64(el_str[i])
        factor = factor * np.uint64(23531)
    return np.int64(h & np.uint64(0x7FFFFFFFFFFFFFFF))


#: subsets are hashed with the sum of their weights in bins of BIN_WIDTH * n * delta
#: (n elements): two subsets equal within delta fall in the same or a neighbouring bin,
#: and subsets that differ only in weight (a non-determinizable input) spread out instead
#: of piling up on one key.
BIN_WIDTH = 16.0


@njit(cache=True)
def _weight_bin(el_w, lo, hi, delta):
    """(bin, position in the bin in [0, 1)) of the sum of el_w[lo:hi]."""
    s = 0.0
    for i in range(lo, hi):
        s += el_w[i]
    x = s / (BIN_WIDTH * (hi - lo) * delta)
    b = np.floor(x)
    return np.int64(b), x - b


@njit(cache=True, inline="always")
def _tag(key):
    """32 bits of a subset key's hash: its home slot is the tag's low bits, and table
    slots keep it, so a probe or a rehash reads no subset unless the tags match."""
    return ((key * np.int64(-7046029254386353131)) >> 32) & np.int64(0xFFFFFFFF)


@njit(cache=True)
def _find_subset(table, sub_off, el_state, el_str, el_w, key, base, n, delta):
    """The subset stored under ``key`` equal to el_*[base:base+n] (weights within delta).

    ``table`` is open addressing with linear probing; a slot holds ``tag << 32 | id``
    (-1: empty).

    Returns:
        (subset id or -1, the empty slot where ``key`` would be stored).
    """
    mask = table.shape[0] - 1
    tag = _tag(key)
    slot = tag & mask
    while table[slot] != -1:
        v = table[slot]
        r = v & np.int64(0xFFFFFFFF)
        if (v >> 32) & np.int64(0xFFFFFFFF) == tag and sub_off[r + 1] - sub_off[r] == n:
            o = sub_off[r]
            same = True
            for i in range(n):
                if (el_state[o + i] != el_state[base + i] or el_str[o + i] != el_str[base + i]
                        or abs(np.float64(el_w[o + i]) - np.float64(el_w[base + i])) > delta):
                    same = False
                    break
            if same:
                return r, slot
        slot = (slot + 1) & mask
    return -1, slot


@njit(cache=True, inline="always")
def _put_arc(n, t_src, t_il, t_str, t_next, t_w, q, il, sid, dest, w):
    """Writes result arc n (Kaldi's TempArc; dest -1: a final weight); room is the caller's."""
    t_src[n] = q
    t_il[n] = il
    t_str[n] = sid
    t_next[n] = dest
    t_w[n] = w


@njit(cache=True)
def _grow_arcs(need, arcs):
    """The result-arc arrays (a tuple) with room for ``need`` arcs."""
    t_src, t_il, t_str, t_next, t_w = arcs
    m = max(need, t_src.shape[0] + (t_src.shape[0] >> 1))
    return _grow(t_src, m), _grow(t_il, m), _grow(t_str, m), _grow(t_next, m), _grow(t_w, m)


#: the scalar state the driver and ``_expand`` share, st[...] (int64): counts...
N_STR, N_CH, N_SUB, N_STACK, N_ARCS, N_DONE, BAD = 0, 1, 2, 3, 4, 5, 6
#: ... and the room ``_expand`` asked for when it stopped with NEED_ROOM (minimum
#: lengths: closure workspace, queue, candidates, trie nodes, trie map entries, subset
#: elements, subsets, stack, result arcs, the path buffer)
REQ_EC, REQ_QUEUE, REQ_X, REQ_STR, REQ_CH, REQ_EL, REQ_SUB, REQ_STACK, REQ_ARC, REQ_PATH = range(7, 17)
N_SCALARS = 17
#: ``_expand`` status: the subset on top of the stack needs bigger arrays; nothing of
#: it was committed, so it is expanded again once the driver has grown them
NEED_ROOM = 4


@njit(cache=True)
def _trie_add(ss, il, str_parent, str_label, str_depth, ch_keys, ch_vals, st):
    """The trie node of string ``ss`` + label ``il``, made if new; -1 when the trie is
    full (st[REQ_STR] / st[REQ_CH] then say how much room it needs)."""
    key = (np.int64(ss) << 32) | np.int64(il)
    slt = _slot_of(ch_keys, key)
    if ch_keys[slt] == key:
        return np.int64(ch_vals[slt])
    n_str = st[N_STR]
    if n_str == str_parent.shape[0] or 2 * (st[N_CH] + 1) > ch_keys.shape[0]:
        st[REQ_STR] = n_str + 1
        st[REQ_CH] = st[N_CH] + 1
        return np.int64(-1)
    str_parent[n_str] = ss
    str_label[n_str] = il
    str_depth[n_str] = str_depth[ss] + 1
    ch_keys[slt] = key
    ch_vals[slt] = n_str
    st[N_STR] = n_str + 1
    st[N_CH] += 1
    return np.int64(n_str)


@njit(cache=True)
def _rehash_subsets(table, need):
    """The subset table, at least twice ``need`` slots (slots keep their tags: no subset
    is read)."""
    size = table.shape[0]
    while 2 * need > size:
        size *= 2
    if size == table.shape[0]:
        return table
    nt = np.full(size, -1, np.int64)
    nmask = size - 1
    for i in range(table.shape[0]):
        v = table[i]
        if v != -1:
            sl = (v >> 32) & nmask
            while nt[sl] != -1:
                sl = (sl + 1) & nmask
            nt[sl] = v
    return nt


@njit(cache=True)
def _expand(fst, trie, subs, arcs, ws, st, delta, max_bytes):
    """Expands subsets from the top of the stack until it is empty (Kaldi's
    ProcessSubset and ProcessTransitions for each: epsilon closure, final weight, one
    result arc per input label).

    Never grows an array. When one is too small it returns NEED_ROOM with the room it
    needs in st[REQ_*], before anything of the subset on top is committed (only trie
    nodes may have been added, which is harmless); the driver grows the arrays and calls
    it again. So the loop over subsets reassigns no array and unpacks the tuples once,
    and numba does no reference counting in it: an array reassigned in a loop, or
    unpacked from a tuple on each call, costs atomic increments and decrements on every
    iteration, which wait for the cache misses before them (more than half the time of
    this kernel when it grew its arrays in place).

    Args:
        fst: (offsets, ilabel, olabel, weight, nextstate, final) of the input.
        trie: (str_parent, str_label, str_depth, ch_keys, ch_vals).
        subs: (sub_off, el_state, el_str, el_w, table, stack).
        arcs: (t_src, t_il, t_str, t_next, t_w).
        ws: workspace (id_to_index, ec_state, ec_str, ec_w, ec_wtp, ec_inq, ec_idx, queue,
            x_key, x_str, x_w, x_idx, m_w, path).
        st: int64 [N_SCALARS], the counts (updated) and the room asked for.

    Returns:
        OK, NEED_ROOM, OUT_OF_MEMORY, NOT_FUNCTIONAL or EPSILON_LOOP (st[BAD]: the state).
    """
    offsets, ilabel, olabel, weight, nextstate, final = fst
    str_parent, str_label, str_depth, ch_keys, ch_vals = trie
    sub_off, el_state, el_str, el_w, table, stack = subs
    t_src, t_il, t_str, t_next, t_w = arcs
    id_to_index, ec_state, ec_str, ec_w, ec_wtp, ec_inq, ec_idx, queue, x_key, x_str, x_w, x_idx, m_w, path = ws
    while st[N_STACK] > 0:
        q = stack[st[N_STACK] - 1]
        if (st[N_DONE] & 4095) == 0:  # the first state, then every 4096
            used = (sub_off.nbytes + el_state.nbytes + el_str.nbytes + el_w.nbytes
                    + table.nbytes + t_src.nbytes * 4 + t_w.nbytes + str_parent.nbytes * 3
                    + ch_keys.nbytes + ch_vals.nbytes + stack.nbytes)
            if used > max_bytes:
                return OUT_OF_MEMORY
        # ---- epsilon closure of subset q
        lo = sub_off[q]
        hi = sub_off[q + 1]
        if hi - lo > ec_state.shape[0]:
            st[REQ_EC] = hi - lo
            return NEED_ROOM
        n_ec = 0
        for i in range(lo, hi):
            ec_state[n_ec] = el_state[i]
            ec_str[n_ec] = el_str[i]
            ec_w[n_ec] = el_w[i]
            ec_wtp[n_ec] = np.inf
            ec_inq[n_ec] = False
            id_to_index[el_state[i]] = n_ec
            n_ec += 1
        q_head = 0
        q_tail = 0
        n_loops = 0
        loop_limit = max(10_000_000, 100 * final.shape[0])
        e = 0
        # elements [0, n_in) are expanded with their own weight first, then the queue
        n_in = n_ec
        while True:
            if e < n_in:
                s = ec_state[e]
                sstr = ec_str[e]
                w_prop = ec_w[e]
                e += 1
            elif q_head < q_tail:
                s = queue[q_head]
                q_head += 1
                k = id_to_index[s]
                w_prop = ec_wtp[k]
                ec_w[k] = _log_plus(ec_w[k], w_prop)
                ec_wtp[k] = np.inf
                ec_inq[k] = False
                sstr = ec_str[k]
                n_loops += 1
                if n_loops > loop_limit:
                    st[BAD] = s
                    return EPSILON_LOOP
            else:
                break
            for a in range(offsets[s], offsets[s + 1]):
                if ilabel[a] != 0:
                    continue
                ns = nextstate[a]
                nstr = sstr
                if olabel[a] != 0:
                    nstr = _trie_add(sstr, olabel[a], str_parent, str_label, str_depth, ch_keys, ch_vals, st)
                    if nstr < 0:
                        return NEED_ROOM
                nw = w_prop + weight[a]
                k = id_to_index[ns]
                if k < 0 or k >= n_ec or ec_state[k] != ns:
                    if n_ec == ec_state.shape[0]:
                        st[REQ_EC] = n_ec + 1
                        return NEED_ROOM
                    if q_tail == queue.shape[0]:
                        st[REQ_QUEUE] = q_tail + 1
                        return NEED_ROOM
                    ec_state[n_ec] = ns
                    ec_str[n_ec] = nstr
                    ec_w[n_ec] = np.inf
                    ec_wtp[n_ec] = nw
                    ec_inq[n_ec] = True
                    id_to_index[ns] = n_ec
                    n_ec += 1
                    queue[q_tail] = ns
                    q_tail += 1
                else:
                    if ec_str[k] != nstr:
                        st[BAD] = ns
                        return NOT_FUNCTIONAL
                    ec_wtp[k] = _log_plus(ec_wtp[k], nw)
                    if not ec_inq[k]:
                        tot = _log_plus(ec_w[k], ec_wtp[k])
                        if abs(tot - ec_w[k]) > delta:
                            if q_tail == queue.shape[0]:
                                st[REQ_QUEUE] = q_tail + 1
                                return NEED_ROOM
                            ec_inq[k] = True
                            queue[q_tail] = ns
                            q_tail += 1
        for k in range(n_ec):
            if ec_wtp[k] != np.inf:
                ec_w[k] = _log_plus(ec_w[k], ec_wtp[k])
            ec_idx[k] = k
        _sort_by(ec_state, ec_idx, n_ec)
        # ---- final weight
        is_final = False
        f_str = 0
        f_w = np.inf
        for j in range(n_ec):
            k = ec_idx[j]
            fw = final[ec_state[k]]
            if fw != np.inf:
                if not is_final:
                    is_final = True
                    f_str = ec_str[k]
                    f_w = ec_w[k] + fw
                else:
                    if ec_str[k] != f_str:
                        st[BAD] = ec_state[k]
                        return NOT_FUNCTIONAL
                    f_w = _log_plus(f_w, ec_w[k] + fw)
        # ---- transitions: candidates sorted by (ilabel, next state)
        n_x = 0
        str_need = 0
        for j in range(n_ec):
            k = ec_idx[j]
            s = ec_state[k]
            for a in range(offsets[s], offsets[s + 1]):
                il = ilabel[a]
                if il == 0:
                    continue
                if n_x == x_key.shape[0]:
                    st[REQ_X] = n_x + 1
                    return NEED_ROOM
                nstr = ec_str[k]
                if olabel[a] != 0:
                    nstr = _trie_add(nstr, olabel[a], str_parent, str_label, str_depth, ch_keys, ch_vals, st)
                    if nstr < 0:
                        return NEED_ROOM
                x_key[n_x] = (np.int64(il) << 32) | np.int64(nextstate[a])
                x_str[n_x] = nstr
                x_w[n_x] = ec_w[k] + weight[a]
                x_idx[n_x] = n_x
                str_need += str_depth[nstr]
                n_x += 1
        # room for everything the subset can commit: one element, subset, stack entry and
        # arc per candidate at most, the final arc, the strings rebuilt without a prefix
        n_sub = st[N_SUB]
        n_stack = st[N_STACK] - 1
        n_arcs = st[N_ARCS]
        base0 = sub_off[n_sub]
        short = False
        if base0 + n_x > el_state.shape[0]:
            st[REQ_EL] = base0 + n_x
            short = True
        if n_sub + n_x + 2 > sub_off.shape[0] or 2 * (n_sub + n_x) > table.shape[0]:
            st[REQ_SUB] = n_sub + n_x + 2
            short = True
        if n_stack + n_x > stack.shape[0]:
            st[REQ_STACK] = n_stack + n_x
            short = True
        if n_arcs + n_x + 1 > t_src.shape[0]:
            st[REQ_ARC] = n_arcs + n_x + 1
            short = True
        if st[N_STR] + str_need > str_parent.shape[0] or 2 * (st[N_CH] + str_need) > ch_keys.shape[0]:
            st[REQ_STR] = st[N_STR] + str_need
            st[REQ_CH] = st[N_CH] + str_need
            short = True
        if str_need > path.shape[0]:
            st[REQ_PATH] = str_need
            short = True
        if short:
            return NEED_ROOM
        # ---- commit: from here on nothing can run out of room
        st[N_DONE] += 1
        if is_final:
            _put_arc(n_arcs, t_src, t_il, t_str, t_next, t_w, q, 0, f_str, -1, f_w)
            n_arcs += 1
        _sort_by(x_key, x_idx, n_x)
        g0 = 0
        while g0 < n_x:
            il = np.int32(x_key[x_idx[g0]] >> 32)
            g1 = g0
            while g1 < n_x and np.int32(x_key[x_idx[g1]] >> 32) == il:
                g1 += 1
            # merge candidates with the same next state; they must carry the same string
            n_new = 0
            j = g0
            base = sub_off[n_sub]
            while j < g1:
                c = x_idx[j]
                sn = np.int32(x_key[c] & 0xFFFFFFFF)
                sstr = x_str[c]
                w = x_w[c]
                j += 1
                while j < g1 and np.int32(x_key[x_idx[j]] & 0xFFFFFFFF) == sn:
                    if x_str[x_idx[j]] != sstr:
                        st[BAD] = sn
                        return NOT_FUNCTIONAL
                    w = _log_plus(w, x_w[x_idx[j]])
                    j += 1
                el_state[base + n_new] = sn
                el_str[base + n_new] = sstr
                m_w[n_new] = w
                n_new += 1
            # common prefix and total weight
            common = el_str[base]
            tot = m_w[0]
            for i in range(1, n_new):
                if common != 0:
                    common = _lca(common, el_str[base + i], str_parent, str_depth)
                tot = _log_plus(tot, m_w[i])
            plen = str_depth[common]
            for i in range(n_new):
                el_w[base + i] = m_w[i] - tot
                if plen > 0:  # the string without its first plen labels
                    sn = el_str[base + i]
                    d = str_depth[sn] - plen
                    for r in range(d - 1, -1, -1):
                        path[r] = str_label[sn]
                        sn = str_parent[sn]
                    node = 0
                    for r in range(d):
                        node = _trie_add(node, path[r], str_parent, str_label, str_depth, ch_keys, ch_vals, st)
                    el_str[base + i] = node
            # the subset's state: found again, or new
            h = _subset_hash(el_state, el_str, base, base + n_new)
            b, pos = _weight_bin(el_w, base, base + n_new, delta)
            key = h * np.int64(1000003) + b
            dest, slot = _find_subset(table, sub_off, el_state, el_str, el_w, key, base, n_new, delta)
            if dest < 0 and pos < 1.0001 / BIN_WIDTH:
                dest, _ = _find_subset(table, sub_off, el_state, el_str, el_w, key - 1, base, n_new, delta)
            if dest < 0 and pos > 1.0 - 1.0001 / BIN_WIDTH:
                dest, _ = _find_subset(table, sub_off, el_state, el_str, el_w, key + 1, base, n_new, delta)
            if dest < 0:
                dest = n_sub
                sub_off[n_sub + 1] = base + n_new
                table[slot] = (_tag(key) << 32) | n_sub
                n_sub += 1
                stack[n_stack] = dest
                n_stack += 1
            _put_arc(n_arcs, t_src, t_il, t_str, t_next, t_w, q, il, common, dest, tot)
            n_arcs += 1
            g0 = g1
        st[N_SUB] = n_sub
        st[N_STACK] = n_stack
        st[N_ARCS] = n_arcs
    return OK


@njit(cache=True)
def determinize_star_kernel(offsets, ilabel, olabel, weight, nextstate, final, start, delta, max_bytes):
    """DeterminizerStar over an FST given as arrays (arcs grouped by source state).

    Args:
        offsets: int64 [S+1]; arcs of state s are offsets[s]:offsets[s+1].
        ilabel, olabel, nextstate: int32 [A]. weight: float32 [A], costs.
        final: float32 [S], +inf where not final. start: the start state (>= 0).
        delta: weights within delta are equal when subsets are compared.
        max_bytes: stop with OUT_OF_MEMORY once the subsets, strings and result arcs
            take more than this.

    Returns:
        (status, n_states, temp arcs: t_src, t_ilabel, t_str, t_next (-1: a final
        weight) int32 [n_arcs], t_weight float32 [n_arcs]; strings: str_parent,
        str_label, str_depth int32 [n_str]; bad: the input state where a non-functional
        input or a runaway epsilon closure was found, else -1).
    """
    S = final.shape[0]
    A = ilabel.shape[0]
    fst = (offsets, ilabel, olabel, weight, nextstate, final)
    # string trie: node 0 is the empty string; ch_* map (parent << 32 | label) to a node
    trie = (np.zeros(1024, np.int32), np.zeros(1024, np.int32), np.zeros(1024, np.int32),
            np.full(1 << 12, -1, np.int64), np.empty(1 << 12, np.int32))
    # subsets: elements of subset q are el_*[sub_off[q]:sub_off[q+1]], sorted by state;
    # table: open addressing, a slot holds tag << 32 | subset id; stack: to expand
    cap_sub = max(1024, S // 2)
    subs = (np.zeros(cap_sub + 1, np.int64), np.empty(2 * cap_sub, np.int32), np.empty(2 * cap_sub, np.int32),
            np.empty(2 * cap_sub, np.float32), np.full(1 << 12, -1, np.int64), np.empty(1024, np.int32))
    # result arcs (Kaldi's TempArc): string ids on the output side
    cap_arc = max(1024, A // 2)
    arcs = (np.empty(cap_arc, np.int32), np.empty(cap_arc, np.int32), np.empty(cap_arc, np.int32),
            np.empty(cap_arc, np.int32), np.empty(cap_arc, np.float32))
    # workspace: epsilon closure (Kaldi's ecinfo_, id_to_index_, queue_), candidates
    # (ilabel << 32 | next state, string, weight), merged weights, a string's labels
    w = 1024
    ws = (np.full(S, -1, np.int32), np.empty(w, np.int32), np.empty(w, np.int32), np.empty(w, np.float64),
          np.empty(w, np.float64), np.empty(w, np.bool_), np.empty(w, np.int64), np.empty(w, np.int32),
          np.empty(w, np.int64), np.empty(w, np.int32), np.empty(w, np.float64), np.empty(w, np.int64),
          np.empty(w, np.float64), np.empty(64, np.int32))
    st = np.zeros(N_SCALARS, np.int64)
    st[N_STR] = 1
    st[BAD] = -1
    # the start subset: {(start, empty, 0)}
    sub_off, el_state, el_str, el_w, table, stack = subs
    sub_off[1] = 1
    el_state[0] = start
    el_str[0] = 0
    el_w[0] = 0.0
    key0 = _subset_hash(el_state, el_str, 0, 1) * np.int64(1000003) + _weight_bin(el_w, 0, 1, delta)[0]
    table[_tag(key0) & (table.shape[0] - 1)] = _tag(key0) << 32
    st[N_SUB] = 1
    stack[0] = 0
    st[N_STACK] = 1
    while True:
        status = _expand(fst, trie, subs, arcs, ws, st, delta, max_bytes)
        if status != NEED_ROOM:
            break
        # grow what the stopped subset asked for, then expand it again
        str_parent, str_label, str_depth, ch_keys, ch_vals = trie
        if st[REQ_STR] > str_parent.shape[0]:
            m = max(st[REQ_STR], 2 * str_parent.shape[0])
            str_parent, str_label, str_depth = _grow(str_parent, m), _grow(str_label, m), _grow(str_depth, m)
        if 2 * st[REQ_CH] > ch_keys.shape[0]:
            while 2 * st[REQ_CH] > ch_keys.shape[0]:
                ch_keys, ch_vals = _rehash(ch_keys, ch_vals)
        trie = (str_parent, str_label, str_depth, ch_keys, ch_vals)
        sub_off, el_state, el_str, el_w, table, stack = subs
        if st[REQ_EL] > el_state.shape[0]:
            el_state, el_str, el_w = _grow(el_state, st[REQ_EL]), _grow(el_str, st[REQ_EL]), _grow(el_w, st[REQ_EL])
        sub_off = _grow(sub_off, st[REQ_SUB])
        table = _rehash_subsets(table, st[REQ_SUB])
        if st[REQ_STACK] > stack.shape[0]:
            stack = _grown(stack, max(st[REQ_STACK], 2 * stack.shape[0]))
        subs = (sub_off, el_state, el_str, el_w, table, stack)
        if st[REQ_ARC] > arcs[0].shape[0]:
            arcs = _grow_arcs(st[REQ_ARC], arcs)
        (id_to_index, ec_state, ec_str, ec_w, ec_wtp, ec_inq, ec_idx, queue,
         x_key, x_str, x_w, x_idx, m_w, path) = ws
        if st[REQ_EC] > ec_state.shape[0]:
            m = max(st[REQ_EC], 2 * ec_state.shape[0])
            ec_state, ec_str, ec_w = _grown(ec_state, m), _grown(ec_str, m), _grown(ec_w, m)
            ec_wtp, ec_inq, ec_idx = _grown(ec_wtp, m), _grown(ec_inq, m), _grown(ec_idx, m)
        if st[REQ_QUEUE] > queue.shape[0]:
            queue = _grown(queue, max(st[REQ_QUEUE], 2 * queue.shape[0]))
        if st[REQ_X] > x_key.shape[0]:
            m = max(st[REQ_X], 2 * x_key.shape[0])
            x_key, x_str, x_w, x_idx, m_w = _grown(x_key, m), _grown(x_str, m), _grown(x_w, m), _grown(x_idx, m), _grown(m_w, m)
        if st[REQ_PATH] > path.shape[0]:
            path = np.empty(2 * st[REQ_PATH], np.int32)
        ws = (id_to_index, ec_state, ec_str, ec_w, ec_wtp, ec_inq, ec_idx, queue,
              x_key, x_str, x_w, x_idx, m_w, path)
        st[REQ_EC:] = 0
    str_parent, str_label, str_depth, ch_keys, ch_vals = trie
    t_src, t_il, t_str, t_next, t_w = arcs
    n_sub, n_arcs, n_str = st[N_SUB], st[N_ARCS], st[N_STR]
    if status != OK:
        return (status, n_sub, t_src[:0], t_il[:0], t_str[:0], t_next[:0], t_w[:0],
                str_parent[:0], str_label[:0], str_depth[:0], st[BAD])
    return (OK, n_sub, t_src[:n_arcs], t_il[:n_arcs], t_str[:n_arcs], t_next[:n_arcs], t_w[:n_arcs],
            str_parent[:n_str], str_label[:n_str], str_depth[:n_str], -1)

@njit(cache=True)
def strings_to_arcs(n_states, t_src, t_il, t_str, t_next, t_w, str_parent, str_label, str_depth):
    """Kaldi's ``DeterminizerStar::Output`` to a standard FST: an arc whose string has
    several labels becomes a chain through new states (input label and weight on its
    first arc); a final weight with a string becomes a chain to a new final state.

    Args:
        n_states: states of the determinized FST (subsets).
        t_*: its arcs as the kernel made them (t_next -1: a final weight).
        str_*: the string trie.

    Returns:
        (num_states, src, ilabel, olabel, dst int32 [arcs], weight float32 [arcs],
        final float32 [num_states]).
    """
    extra = 0
    n_out = 0
    for i in range(t_src.shape[0]):
        d = str_depth[t_str[i]]
        if t_next[i] < 0:
            extra += d
            n_out += d
        else:
            extra += max(d - 1, 0)
            n_out += max(d, 1)
    ns = n_states + extra
    src = np.empty(n_out, np.int32)
    il = np.empty(n_out, np.int32)
    ol = np.empty(n_out, np.int32)
    dst = np.empty(n_out, np.int32)
    w = np.empty(n_out, np.float32)
    fin = np.full(ns, np.inf, np.float32)
    seq = np.empty(64, np.int32)
    # chains are numbered in state order, as Kaldi's Output does (the kernel made the
    # arcs in the order it expanded the states)
    _, order = _group_by_source(n_states, t_src)
    nxt = n_states
    k = 0
    for j in range(t_src.shape[0]):
        i = order[j]
        sn = t_str[i]
        d = str_depth[sn]
        if d > seq.shape[0]:
            seq = np.empty(2 * d, np.int32)
        for r in range(d - 1, -1, -1):
            seq[r] = str_label[sn]
            sn = str_parent[sn]
        is_final = t_next[i] < 0
        # a final weight's whole string goes on a chain to a new final state; an arc's last
        # label goes on the arc into its own next state
        n_chain = d if is_final else max(d - 1, 0)
        cur = t_src[i]
        for r in range(n_chain + (0 if is_final else 1)):
            src[k] = cur
            il[k] = t_il[i] if r == 0 else 0
            ol[k] = seq[r] if r < d else 0
            w[k] = t_w[i] if r == 0 else 0.0
            if r < n_chain:
                dst[k] = nxt
                cur = nxt
                nxt += 1
            else:
                dst[k] = t_next[i]
            k += 1
        if is_final:
            fin[cur] = t_w[i] if d == 0 else 0.0
    return ns, src, il, ol, dst, w, fin
