"""DeterminizeStar's expansion of one subset (numba): its epsilon closure, its arcs grouped
by input label, each arc's destination subset found or made (see
:mod:`hclg.fst.determinize_star` for the algorithm and Kaldi's semantics it keeps)."""

from __future__ import annotations

import numpy as np
from numba import njit

from hclg.fst.determinize_star_subsets import BIN_WIDTH, find_subset, subset_hash, subset_tag, weight_bin
from hclg.fst.hash_table import slot_of
from hclg.fst.string_trie import trie_lca

INF = np.float32(np.inf)

#: kernel status codes
OK, OUT_OF_MEMORY, NOT_FUNCTIONAL, EPSILON_LOOP = 0, 1, 2, 3


#: the scalar state the driver and ``expand_subset`` share, st[...] (int64): counts...
N_STR, N_CH, N_SUB, N_STACK, N_ARCS, N_DONE, BAD = 0, 1, 2, 3, 4, 5, 6
#: ... and the room ``expand_subset`` asked for when it stopped with NEED_ROOM (minimum
#: lengths: closure workspace, queue, candidates, trie nodes, trie map entries, subset
#: elements, subsets, stack, result arcs, the path buffer)
REQ_EC, REQ_QUEUE, REQ_X, REQ_STR, REQ_CH, REQ_EL, REQ_SUB, REQ_STACK, REQ_ARC, REQ_PATH = range(7, 17)
N_SCALARS = 17
#: ``expand_subset`` status: the subset on top of the stack needs bigger arrays; nothing of
#: it was committed, so it is expanded again once the driver has grown them
NEED_ROOM = 4



@njit(cache=True, inline="always")
def log_plus(a, b):
    """-log(exp(-a) + exp(-b)) for costs a, b (float64)."""
    if a == np.inf:
        return b
    if b == np.inf:
        return a
    if a > b:
        return b - np.log1p(np.exp(b - a))
    return a - np.log1p(np.exp(a - b))


@njit(cache=True)
def sort_by(keys, idx, n):
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


@njit(cache=True, inline="always")
def put_arc(n, t_src, t_il, t_str, t_next, t_w, q, il, sid, dest, w):
    """Writes result arc n (Kaldi's TempArc; dest -1: a final weight); room is the caller's."""
    t_src[n] = q
    t_il[n] = il
    t_str[n] = sid
    t_next[n] = dest
    t_w[n] = w





@njit(cache=True)
def trie_add(ss, il, str_parent, str_label, str_depth, ch_keys, ch_vals, st):
    """The trie node of string ``ss`` + label ``il``, made if new; -1 when the trie is
    full (st[REQ_STR] / st[REQ_CH] then say how much room it needs)."""
    key = (np.int64(ss) << 32) | np.int64(il)
    slt = slot_of(ch_keys, key)
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
def expand_subset(fst, trie, subs, arcs, ws, st, delta, max_bytes):
    """Expands subsets from the top of the stack until it is empty (Kaldi's
    ProcessSubset and ProcessTransitions for each: epsilon closure, final weight, one
    result arc per input label).

    Longer than 120 lines because it is one loop over subsets that must not call out with
    its arrays: helpers would unpack the tuples again on each subset, with the reference
    counting described next.

    Never grows an array. When one is too small it returns NEED_ROOM with the room it
    needs in st[REQ_*], before anything of the subset on top is committed (only trie
    nodes may have been added, which is harmless); the driver grows the arrays and calls
    it again. So the loop over subsets reassigns no array and unpacks the tuples once,
    and numba does no reference counting in it: an array reassigned in a loop, or
    unpacked from a tuple on each call, costs atomic increments and decrements on every
    iteration, which wait for the cache misses before them (more than half the time of
    this kernel when it grew its arrays in place).

    Args (:mod:`hclg.fst.determinize_star_state`):
        fst: StarInput.
        trie: StarTrie.
        subs: StarSubsets.
        arcs: TempArcs.
        ws: ClosureWork.
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
        n_ec = np.int64(0)  # not a literal: numba would compile sort_by for it too
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
                ec_w[k] = log_plus(ec_w[k], w_prop)
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
                    nstr = trie_add(sstr, olabel[a], str_parent, str_label, str_depth, ch_keys, ch_vals, st)
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
                    ec_wtp[k] = log_plus(ec_wtp[k], nw)
                    if not ec_inq[k]:
                        tot = log_plus(ec_w[k], ec_wtp[k])
                        if abs(tot - ec_w[k]) > delta:
                            if q_tail == queue.shape[0]:
                                st[REQ_QUEUE] = q_tail + 1
                                return NEED_ROOM
                            ec_inq[k] = True
                            queue[q_tail] = ns
                            q_tail += 1
        for k in range(n_ec):
            if ec_wtp[k] != np.inf:
                ec_w[k] = log_plus(ec_w[k], ec_wtp[k])
            ec_idx[k] = k
        sort_by(ec_state, ec_idx, n_ec)
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
                    f_w = log_plus(f_w, ec_w[k] + fw)
        # ---- transitions: candidates sorted by (ilabel, next state)
        n_x = np.int64(0)  # (as n_ec)
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
                    nstr = trie_add(nstr, olabel[a], str_parent, str_label, str_depth, ch_keys, ch_vals, st)
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
            put_arc(n_arcs, t_src, t_il, t_str, t_next, t_w, q, 0, f_str, -1, f_w)
            n_arcs += 1
        sort_by(x_key, x_idx, n_x)
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
                    w = log_plus(w, x_w[x_idx[j]])
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
                    common = trie_lca(common, el_str[base + i], str_parent, str_depth)
                tot = log_plus(tot, m_w[i])
            plen = str_depth[common]
            for i in range(n_new):
                el_w[base + i] = m_w[i] - tot
                if plen > 0:  # the string without its first plen labels
                    sn = el_str[base + i]
                    d = str_depth[sn] - plen
                    for r in range(d - 1, -1, -1):
                        path[r] = str_label[sn]
                        sn = str_parent[sn]
                    node = np.int64(0)  # not a literal (as n_ec)
                    for r in range(d):
                        node = trie_add(node, path[r], str_parent, str_label, str_depth, ch_keys, ch_vals, st)
                    el_str[base + i] = node
            # the subset's state: found again, or new
            h = subset_hash(el_state, el_str, base, base + n_new)
            b, pos = weight_bin(el_w, base, base + n_new, delta)
            key = h * np.int64(1000003) + b
            dest, slot = find_subset(table, sub_off, el_state, el_str, el_w, key, base, n_new, delta)
            if dest < 0 and pos < 1.0001 / BIN_WIDTH:
                dest, _ = find_subset(table, sub_off, el_state, el_str, el_w, key - 1, base, n_new, delta)
            if dest < 0 and pos > 1.0 - 1.0001 / BIN_WIDTH:
                dest, _ = find_subset(table, sub_off, el_state, el_str, el_w, key + 1, base, n_new, delta)
            if dest < 0:
                dest = n_sub
                sub_off[n_sub + 1] = base + n_new
                table[slot] = (subset_tag(key) << 32) | n_sub
                n_sub += 1
                stack[n_stack] = dest
                n_stack += 1
            put_arc(n_arcs, t_src, t_il, t_str, t_next, t_w, q, il, common, dest, tot)
            n_arcs += 1
            g0 = g1
        st[N_SUB] = n_sub
        st[N_STACK] = n_stack
        st[N_ARCS] = n_arcs
    return OK
