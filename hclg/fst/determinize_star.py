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

import time

import numpy as np
import pywrapfst as fst
from numba import njit

from hclg.errors import GraphBuildError
from hclg.fst.arrays import group_by_source
from hclg.fst.convert import arrays_to_fst, fst_to_arrays
from hclg.fst.determinize_star_expand import (
    BAD, EPSILON_LOOP, N_ARCS, N_SCALARS, N_STACK, N_STR, N_SUB, NEED_ROOM, NOT_FUNCTIONAL, OK,
    OUT_OF_MEMORY, REQ_ARC, REQ_CH, REQ_EC, REQ_EL, REQ_PATH, REQ_QUEUE, REQ_STACK, REQ_STR, REQ_SUB, REQ_X,
    expand_subset)
from hclg.fst.determinize_star_state import ClosureWork, StarInput, StarOutput, StarSubsets, StarTrie, TempArcs
from hclg.fst.determinize_star_subsets import rehash_subsets, subset_hash, subset_tag, weight_bin
from hclg.fst.growable import grown, grown_by_half
from hclg.fst.hash_table import rehash
from hclg.fst.memory import available_memory
from hclg.fst.steps import log, log_step

#: Kaldi's kDelta: subsets whose weights differ by less are one state.
DELTA = 1.0 / 1024
#: the determinization may use this fraction of the available memory before it stops
MAX_MEM_FRACTION = 0.8


@njit(cache=True)
def grow_arcs(need, arcs):
    """The result arcs with room for ``need`` arcs."""
    m = max(need, arcs.src.shape[0] + (arcs.src.shape[0] >> 1))
    return TempArcs(grown_by_half(arcs.src, m), grown_by_half(arcs.ilabel, m), grown_by_half(arcs.string, m),
                    grown_by_half(arcs.next, m), grown_by_half(arcs.weight, m))


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
        StarOutput.
    """
    S = final.shape[0]
    A = ilabel.shape[0]
    fst = StarInput(offsets, ilabel, olabel, weight, nextstate, final)
    # string trie: node 0 is the empty string; ch_* map (parent << 32 | label) to a node
    trie = StarTrie(np.zeros(1024, np.int32), np.zeros(1024, np.int32), np.zeros(1024, np.int32),
                    np.full(1 << 12, -1, np.int64), np.empty(1 << 12, np.int32))
    # subsets: elements of subset q are el_*[sub_off[q]:sub_off[q+1]], sorted by state;
    # table: open addressing, a slot holds tag << 32 | subset id; stack: to expand
    cap_sub = max(1024, S // 2)
    subs = StarSubsets(np.zeros(cap_sub + 1, np.int64), np.empty(2 * cap_sub, np.int32), np.empty(2 * cap_sub, np.int32),
                       np.empty(2 * cap_sub, np.float32), np.full(1 << 12, -1, np.int64), np.empty(1024, np.int32))
    # result arcs (Kaldi's TempArc): string ids on the output side
    cap_arc = max(1024, A // 2)
    arcs = TempArcs(np.empty(cap_arc, np.int32), np.empty(cap_arc, np.int32), np.empty(cap_arc, np.int32),
                    np.empty(cap_arc, np.int32), np.empty(cap_arc, np.float32))
    # workspace: epsilon closure (Kaldi's ecinfo_, id_to_index_, queue_), candidates
    # (ilabel << 32 | next state, string, weight), merged weights, a string's labels
    w = 1024
    ws = ClosureWork(np.full(S, -1, np.int32), np.empty(w, np.int32), np.empty(w, np.int32), np.empty(w, np.float64),
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
    zero, one = np.int64(0), np.int64(1)  # not literals: numba would compile both functions for them too
    key0 = subset_hash(el_state, el_str, zero, one) * np.int64(1000003) + weight_bin(el_w, zero, one, delta)[0]
    table[subset_tag(key0) & (table.shape[0] - 1)] = subset_tag(key0) << 32
    st[N_SUB] = 1
    stack[0] = 0
    st[N_STACK] = 1
    while True:
        status = expand_subset(fst, trie, subs, arcs, ws, st, delta, max_bytes)
        if status != NEED_ROOM:
            break
        # grow what the stopped subset asked for, then expand it again
        str_parent, str_label, str_depth, ch_keys, ch_vals = trie
        if st[REQ_STR] > str_parent.shape[0]:
            m = max(st[REQ_STR], 2 * str_parent.shape[0])
            str_parent, str_label, str_depth = grown_by_half(str_parent, m), grown_by_half(str_label, m), grown_by_half(str_depth, m)
        if 2 * st[REQ_CH] > ch_keys.shape[0]:
            while 2 * st[REQ_CH] > ch_keys.shape[0]:
                ch_keys, ch_vals = rehash(ch_keys, ch_vals)
        trie = StarTrie(str_parent, str_label, str_depth, ch_keys, ch_vals)
        sub_off, el_state, el_str, el_w, table, stack = subs
        if st[REQ_EL] > el_state.shape[0]:
            el_state, el_str, el_w = grown_by_half(el_state, st[REQ_EL]), grown_by_half(el_str, st[REQ_EL]), grown_by_half(el_w, st[REQ_EL])
        sub_off = grown_by_half(sub_off, st[REQ_SUB])
        table = rehash_subsets(table, st[REQ_SUB])
        if st[REQ_STACK] > stack.shape[0]:
            stack = grown(stack, max(st[REQ_STACK], 2 * stack.shape[0]))
        subs = StarSubsets(sub_off, el_state, el_str, el_w, table, stack)
        if st[REQ_ARC] > arcs.src.shape[0]:
            arcs = grow_arcs(st[REQ_ARC], arcs)
        (id_to_index, ec_state, ec_str, ec_w, ec_wtp, ec_inq, ec_idx, queue,
         x_key, x_str, x_w, x_idx, m_w, path) = ws
        if st[REQ_EC] > ec_state.shape[0]:
            m = max(st[REQ_EC], 2 * ec_state.shape[0])
            ec_state, ec_str, ec_w = grown(ec_state, m), grown(ec_str, m), grown(ec_w, m)
            ec_wtp, ec_inq, ec_idx = grown(ec_wtp, m), grown(ec_inq, m), grown(ec_idx, m)
        if st[REQ_QUEUE] > queue.shape[0]:
            queue = grown(queue, max(st[REQ_QUEUE], 2 * queue.shape[0]))
        if st[REQ_X] > x_key.shape[0]:
            m = max(st[REQ_X], 2 * x_key.shape[0])
            x_key, x_str, x_w, x_idx, m_w = grown(x_key, m), grown(x_str, m), grown(x_w, m), grown(x_idx, m), grown(m_w, m)
        if st[REQ_PATH] > path.shape[0]:
            path = np.empty(2 * st[REQ_PATH], np.int32)
        ws = ClosureWork(id_to_index, ec_state, ec_str, ec_w, ec_wtp, ec_inq, ec_idx, queue,
                         x_key, x_str, x_w, x_idx, m_w, path)
        st[REQ_EC:] = 0
    n_sub = st[N_SUB]
    n_arcs = st[N_ARCS] if status == OK else 0
    n_str = st[N_STR] if status == OK else 0
    kept = TempArcs(arcs.src[:n_arcs], arcs.ilabel[:n_arcs], arcs.string[:n_arcs], arcs.next[:n_arcs],
                    arcs.weight[:n_arcs])
    return StarOutput(status, n_sub, kept, trie.parent[:n_str], trie.label[:n_str], trie.depth[:n_str],
                      st[BAD] if status != OK else -1)

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
    _, order = group_by_source(n_states, t_src)
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


def determinize_log(f: fst.Fst, step: str, hint: str, max_mem: int | None = None,
                    consume: bool = False) -> fst.VectorFst:
    """Removes epsilons and determinizes in the log semiring, as Kaldi's
    ``fstdeterminizestar --use-log=true`` (this module).

    An input that is already input-deterministic and free of epsilons (e.g. Ha o LG for
    a monophone system) is returned as it is: determinizing it changes nothing.

    Args:
        f: a functional tropical FST.
        step: name of the step, for the log and for errors.
        hint: the likely cause, said if the input cannot be determinized.
        max_mem: bytes the determinization may use for its subsets, strings and arcs
            before it stops with an error (non-determinizable input grows without
            bound); default a fraction of available memory
            (MAX_MEM_FRACTION).
        consume: empty ``f`` (delete its states) as soon as it has been read.

    Returns:
        An equivalent deterministic tropical FST.
    """
    t0 = time.perf_counter()
    props = f.properties(fst.I_DETERMINISTIC | fst.EPSILONS | fst.I_EPSILONS, True)
    if (props & fst.I_DETERMINISTIC) and not (props & (fst.EPSILONS | fst.I_EPSILONS)):
        log.info("%s: already deterministic, skipped", step)
        return log_step(step + " (already deterministic)", f, t0)
    if max_mem is None:
        max_mem = int(available_memory() * MAX_MEM_FRACTION)
    a = fst_to_arrays(f, consume=consume)
    if a.start < 0:
        raise GraphBuildError(f"Composition failure: step {step!r} got an empty FST. {hint}".strip())
    out = determinize_star_kernel(a.offsets, a.ilabel, a.olabel, a.weight, a.nextstate, a.final, a.start, DELTA,
                                  max_mem)
    status, n, bad = out.status, out.n_states, out.bad
    del a
    if status == OUT_OF_MEMORY:
        raise GraphBuildError(f"step {step!r} ran out of its memory cap ({max_mem / 2**30:.2f} GiB allowed, "
                              f"{n} states made). Likely cause: {hint}")
    if status == NOT_FUNCTIONAL:
        raise GraphBuildError(f"step {step!r}: the FST is not functional (input state {bad} is reached by one "
                              f"input string with two output strings), so it cannot be determinized. "
                              f"Likely cause: {hint}")
    if status == EPSILON_LOOP:
        raise GraphBuildError(f"step {step!r}: the epsilon closure through input state {bad} does not converge "
                              f"(an epsilon cycle of negative cost?). Likely cause: {hint}")
    t = out.arcs
    ns, src, il, ol, dst, w, fin = strings_to_arcs(n, t.src, t.ilabel, t.string, t.next, t.weight, out.str_parent,
                                                   out.str_label, out.str_depth)
    del out, t
    out = arrays_to_fst(ns, 0, src, il, ol, w, dst, fin)
    return log_step(step, out, t0)
