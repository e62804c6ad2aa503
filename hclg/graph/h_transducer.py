"""H, the HMM transducer over transition ids (:mod:`hclg.graph.hmm_topology`): first built
without self-loops (Kaldi's ``make-h-transducer``), composed and optimised, and the
self-loops are added last (Kaldi's ``add-self-loops --reorder=true``): the arc for the
transition out of an HMM state consumes that state's last frame, and the self-loop sits
on the arc's source state."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hclg.errors import GraphBuildError
from hclg.fst.arrays import FstArrays
from hclg.fst.convert import arrays_to_fst, fst_to_arrays, read_arrays_as_fst
from hclg.graph.hmm_topology import TransitionTable


def make_h_transducer(
    table: TransitionTable, num_phone_symbols: int, disambig_phones: tuple[int, ...], transition_scale: float
):
    """Ha: transition ids (without self-loops) to HMM units (phones, or context-dependent
    instances), as Kaldi's ``make-h-transducer``.

    Each forward transition is an arc whose cost is ``-transition_scale *
    log(p / (1 - p_self_loop))``; the unit is written on the arcs leaving the entry
    state. Disambiguation symbol ``#k`` (label ``disambig_phones[k]`` on H's output) is
    read as input label ``num_transitions + 1 + k``.

    Returns:
        (Ha, input labels of the disambiguation symbols).
    """
    n = table.num_transitions
    src, ilab, olab, wt, dst = [], [], [], [], []
    nstates = 1
    node: dict[tuple[int, int], int] = {}
    for t in range(1, n + 1):
        if table.to_state[t] == table.hmm_state[t]:
            continue
        pid, a, b = int(table.unit[t]), int(table.hmm_state[t]), int(table.to_state[t])
        s = 0 if a == 0 else node.setdefault((pid, a), None)
        if s is None:
            s = node[(pid, a)] = nstates
            nstates += 1
        if table.is_final[t]:
            d = 0
        else:
            d = node.get((pid, b))
            if d is None:
                d = node[(pid, b)] = nstates
                nstates += 1
        p_loop = math.exp(table.self_loop_log_prob[t]) if np.isfinite(table.self_loop_log_prob[t]) else 0.0
        src.append(s)
        ilab.append(t)
        olab.append(pid if a == 0 else 0)
        wt.append(-transition_scale * (table.log_prob[t] - math.log1p(-p_loop)))
        dst.append(d)
    dis_labels = tuple(n + 1 + k for k in range(len(disambig_phones)))
    for lab, ph in zip(dis_labels, disambig_phones):
        src.append(0)
        ilab.append(lab)
        olab.append(ph)
        wt.append(0.0)
        dst.append(0)
    final = np.full(nstates, np.inf, dtype=np.float32)
    final[0] = 0.0
    h = arrays_to_fst(nstates, 0, np.array(src), np.array(ilab), np.array(olab), np.array(wt, dtype=np.float32), np.array(dst), final)
    return h, dis_labels


@njit(cache=True)
def _sort_by_ilabel(count, il2, ol2, w2, nx2):
    """Sorts each state's arcs (count[s]:count[s+1]) by input label, stable (insertion
    sort: states have few arcs)."""
    for s in range(count.shape[0] - 1):
        lo = count[s]
        for i in range(lo + 1, count[s + 1]):
            x_il = il2[i]
            x_ol = ol2[i]
            x_w = w2[i]
            x_nx = nx2[i]
            j = i - 1
            while j >= lo and il2[j] > x_il:
                il2[j + 1] = il2[j]
                ol2[j + 1] = ol2[j]
                w2[j + 1] = w2[j]
                nx2[j + 1] = nx2[j]
                j -= 1
            il2[j + 1] = x_il
            ol2[j + 1] = x_ol
            w2[j + 1] = x_w
            nx2[j + 1] = x_nx


@njit(cache=True)
def _self_loops(offsets, ilabel, olabel, weight, nextstate, final, trans_state, self_loop_of, loop_log_prob, scale):
    """Kaldi's add-self-loops --reorder=true over arrays (see :func:`add_self_loops`).

    Args:
        offsets: int64 [S+1]; ilabel, olabel, nextstate: int32 [A]; weight: float32 [A];
            final: float32 [S]: the graph without self-loops, arcs grouped by state.
        trans_state: int32 [T+1]: the HMM state each transition id leaves (0: epsilon).
        self_loop_of: int32 [Q+1]: the self-loop transition id of each HMM state (0: none).
        loop_log_prob: float64 [T+1]: log probability of each transition's self-loop.
        scale: Kaldi's --self-loop-scale.

    Returns:
        (offsets, ilabel, olabel, weight, nextstate, final) of the result, each state's
        arcs sorted by input label (stable).
    """
    S = final.shape[0]
    big = np.iinfo(np.int32).max
    bad = np.zeros(S, np.bool_)
    moved = 0
    for s in range(S):
        cmin = big
        cmax = -1
        for a in range(offsets[s], offsets[s + 1]):
            c = trans_state[ilabel[a]]
            cmin = min(cmin, c)
            cmax = max(cmax, c)
        if (cmin != cmax and cmax >= 0) or (final[s] != np.inf and cmax > 0):
            bad[s] = True
            for a in range(offsets[s], offsets[s + 1]):
                if ilabel[a] != 0:
                    moved += 1
    S2 = S + moved
    # each state's class (the HMM state its arcs leave), then its self-loop
    cls = np.zeros(S2, np.int32)
    nxt_new = S
    for s in range(S):
        for a in range(offsets[s], offsets[s + 1]):
            c = trans_state[ilabel[a]]
            if bad[s]:
                if ilabel[a] != 0:
                    cls[nxt_new] = c
                    nxt_new += 1
            elif c > cls[s]:
                cls[s] = c
    # per HMM state: the self-loop's cost and what its forward arcs pay
    loop_cost = np.zeros(self_loop_of.shape[0], np.float32)
    fwd_cost = np.zeros(self_loop_of.shape[0], np.float32)
    for c in range(self_loop_of.shape[0]):
        if self_loop_of[c] > 0:
            lp = loop_log_prob[self_loop_of[c]]
            loop_cost[c] = -scale * lp
            fwd_cost[c] = -scale * np.log1p(-np.exp(lp))
    loop = np.zeros(S2, np.int32)
    count = np.zeros(S2 + 1, np.int64)
    for s in range(S2):
        loop[s] = self_loop_of[cls[s]]
        if s < S:
            count[s + 1] = (offsets[s + 1] - offsets[s]) + (loop[s] > 0)
        else:
            count[s + 1] = 1 + (loop[s] > 0)
    for s in range(S2):
        count[s + 1] += count[s]
    A2 = count[S2]
    il2 = np.empty(A2, np.int32)
    ol2 = np.empty(A2, np.int32)
    w2 = np.empty(A2, np.float32)
    nx2 = np.empty(A2, np.int32)
    fin2 = np.full(S2, np.inf, np.float32)
    fin2[:S] = final
    nxt_new = S
    for s in range(S):
        k = count[s]
        if bad[s]:  # its epsilon arcs, then one epsilon arc per moved arc, to a new state
            for a in range(offsets[s], offsets[s + 1]):
                if ilabel[a] == 0:
                    il2[k] = 0
                    ol2[k] = olabel[a]
                    w2[k] = weight[a]
                    nx2[k] = nextstate[a]
                    k += 1
            for a in range(offsets[s], offsets[s + 1]):
                if ilabel[a] != 0:
                    il2[k] = 0
                    ol2[k] = olabel[a]
                    w2[k] = weight[a]
                    nx2[k] = nxt_new
                    k += 1
                    q = nxt_new
                    j = count[q]
                    il2[j] = ilabel[a]
                    ol2[j] = 0
                    w2[j] = fwd_cost[cls[q]]
                    nx2[j] = nextstate[a]
                    if loop[q] > 0:
                        il2[j + 1] = loop[q]
                        ol2[j + 1] = 0
                        w2[j + 1] = loop_cost[cls[q]]
                        nx2[j + 1] = q
                    nxt_new += 1
        else:
            for a in range(offsets[s], offsets[s + 1]):
                il2[k] = ilabel[a]
                ol2[k] = olabel[a]
                w2[k] = weight[a] + fwd_cost[cls[s]] if ilabel[a] != 0 else weight[a]
                nx2[k] = nextstate[a]
                k += 1
        if loop[s] > 0:
            il2[k] = loop[s]
            ol2[k] = 0
            w2[k] = loop_cost[cls[s]]
            nx2[k] = s
            k += 1
    _sort_by_ilabel(count, il2, ol2, w2, nx2)
    return count, il2, ol2, w2, nx2, fin2


def self_loop_arrays(f, table: TransitionTable, self_loop_scale: float, consume: bool = False) -> FstArrays:
    """:func:`add_self_loops`, with the result as arrays (arcs sorted by input label).

    Args:
        f: the graph without self-loops.
        table, self_loop_scale: as for add_self_loops.
        consume: empty ``f`` once it has been read.
    """
    a = fst_to_arrays(f, consume=consume)
    if a.num_arcs and a.ilabel.max() > table.num_transitions:
        raise GraphBuildError("the graph has input labels that are not transition ids (disambiguation symbols left?)")
    off, il, ol, w, nx, fin = _self_loops(
        a.offsets, a.ilabel, a.olabel, a.weight, a.nextstate, a.final,
        np.ascontiguousarray(table.trans_state, dtype=np.int32), np.ascontiguousarray(table.self_loop_of, dtype=np.int32),
        np.ascontiguousarray(table.self_loop_log_prob, dtype=np.float64), float(self_loop_scale))
    return FstArrays(a.start, fin, off, il, ol, w, nx)


def add_self_loops(f, table: TransitionTable, self_loop_scale: float):
    """Adds HMM self-loops to a graph built without them, as Kaldi's
    ``add-self-loops --reorder=true``.

    A state whose out-arcs leave different HMM states (or that is final and has
    transition arcs) first gets each such arc moved behind a new state reached by
    epsilon (Kaldi's MakeFollowingInputSymbolsSameClass). Then each state whose arcs all
    leave HMM state ``q`` gets ``q``'s self-loop with cost ``-self_loop_scale * log
    p_loop``, and its forward arcs pay ``-self_loop_scale * log(1 - p_loop)``.

    Args:
        f: the graph without self-loops (input labels: transition ids and epsilon).
        table: its transition table.
        self_loop_scale: Kaldi's --self-loop-scale.

    Returns:
        The graph with self-loops, a new VectorFst, arcs sorted by input label.
    """
    return read_arrays_as_fst(self_loop_arrays(f, table, self_loop_scale), ilabel_sorted=True)
