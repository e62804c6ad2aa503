"""H, the HMM transducer over transition ids (:mod:`hclg.graph.hmm_topology`): first built
without self-loops (Kaldi's ``make-h-transducer``), composed and optimised, and the
self-loops are added last (Kaldi's ``add-self-loops --reorder=true``): the arc for the
transition out of an HMM state consumes that state's first frame, and the self-loop sits
on the state the arc enters, as in every graph Kaldi's mkgraph.sh makes."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.typed import Dict, List

from hclg.errors import GraphBuildError
from hclg.fst.arrays import FstArrays
from hclg.fst.convert import arrays_to_fst, fst_to_arrays, read_arrays_as_fst
from hclg.graph.hmm_topology import TransitionTable


def make_h_transducer(
    table: TransitionTable, num_phone_symbols: int, disambig_phones: tuple[int, ...], transition_scale: float
):
    """Ha: transition ids (without self-loops) to HMM units (phones, or context-dependent
    instances), as Kaldi's ``make-h-transducer``; each transition id belongs to the unit
    ``table.unit`` gives it (see :func:`h_transducer_from_arcs`).

    Returns:
        (Ha, input labels of the disambiguation symbols).
    """
    return h_transducer_from_arcs(table, None, disambig_phones, transition_scale)


def h_transducer_from_arcs(table: TransitionTable, arcs, disambig_phones: tuple[int, ...], transition_scale: float):
    """Ha from (unit, transition id) pairs: each unit's HMM is the transitions listed for
    it (a transition id may serve several units: context-dependent instances share the
    transition states whose pdfs they share, as in Kaldi's H).

    Each forward transition is an arc whose cost is ``-transition_scale *
    log(p / (1 - p_self_loop))``; the unit is written on the arcs leaving the entry
    state; self-loops are left out (added after optimisation). Disambiguation symbol
    ``#k`` (label ``disambig_phones[k]`` on H's output) is read as input label
    ``table.num_transitions + 1 + k``.

    Args:
        table: the TransitionTable (states, finality and probabilities of the ids).
        arcs: (unit label, transition id) pairs, or None: each id once, in the unit
            ``table.unit`` gives it. A unit <= 0 is skipped (a phone of the model that the
            graph's phone table lacks: no path reads it).
        disambig_phones: H's output labels of #0, #1, ...
        transition_scale: Kaldi's --transition-scale.

    Returns:
        (Ha, input labels of the disambiguation symbols).
    """
    n = table.num_transitions
    if arcs is None:
        arcs = [(int(table.unit[t]), t) for t in range(1, n + 1)]
    src, ilab, olab, wt, dst = [], [], [], [], []
    nstates = 1
    node: dict[tuple[int, int], int] = {}
    for pid, t in arcs:
        if table.to_state[t] == table.hmm_state[t] or pid <= 0:
            continue
        a, b = int(table.hmm_state[t]), int(table.to_state[t])
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
def _preceding_same_class(offsets, ilabel, nextstate, S, start, trans_state):
    """Kaldi's MakePrecedingInputSymbolsSameClass(start_is_epsilon=true) with the classes
    of TidToTstateMapper (a transition id's transition state; 0 for epsilon): each arc
    with an input label into a state entered by arcs of different classes is sent
    instead to a new state, one per (state, class), which has an epsilon arc to it.

    Returns:
        (new next state of every arc, the bad state each new state leads to, the class
        entering each state of the result: -1 none, 0 epsilon, else a transition state)
    """
    cls = np.full(S, -1, np.int32)
    if start >= 0:
        cls[start] = 0
    bad = np.zeros(S, np.bool_)
    for s in range(S):
        for a in range(offsets[s], offsets[s + 1]):
            c = trans_state[ilabel[a]]
            d = nextstate[a]
            if cls[d] == -1:
                cls[d] = c
            elif cls[d] != c:
                bad[d] = True
    nxt = nextstate.copy()
    dummy = Dict.empty(key_type=types.int64, value_type=types.int64)
    target = List.empty_list(types.int64)
    dcls = List.empty_list(types.int64)
    width = np.int64(trans_state.max()) + 1
    for s in range(S):
        for a in range(offsets[s], offsets[s + 1]):
            d = nextstate[a]
            if ilabel[a] != 0 and bad[d]:
                c = trans_state[ilabel[a]]
                key = np.int64(d) * width + c
                if key not in dummy:
                    dummy[key] = S + len(target)
                    target.append(d)
                    dcls.append(c)
                nxt[a] = dummy[key]
    D = len(target)
    to = np.empty(D, np.int32)
    state_in = np.full(S + D, -1, np.int32)
    state_in[:S] = cls
    for k in range(D):
        to[k] = target[k]
        state_in[S + k] = dcls[k]
    for s in range(S):
        if bad[s]:
            state_in[s] = 0  # only epsilon arcs enter it now
    return nxt, to, state_in


@njit(cache=True)
def _self_loops(offsets, ilabel, olabel, weight, nextstate, final, start, trans_state, self_loop_of, loop_log_prob,
                scale):
    """Kaldi's add-self-loops --reorder=true (AddSelfLoopsBefore) over arrays (see
    :func:`add_self_loops`).

    Args:
        offsets: int64 [S+1]; ilabel, olabel, nextstate: int32 [A]; weight: float32 [A];
            final: float32 [S]; start: the graph without self-loops, arcs grouped by state.
        trans_state: int32 [T+1]: the HMM state each transition id leaves (0: epsilon).
        self_loop_of: int32 [Q+1]: the self-loop transition id of each HMM state (0: none).
        loop_log_prob: float64 [T+1]: log probability of each transition's self-loop.
        scale: Kaldi's --self-loop-scale.

    Returns:
        (offsets, ilabel, olabel, weight, nextstate, final) of the result, each state's
        arcs sorted by input label (stable).
    """
    S = final.shape[0]
    nxt, to, state_in = _preceding_same_class(offsets, ilabel, nextstate, S, start, trans_state)
    D = to.shape[0]
    S2 = S + D
    # per HMM state, in single precision as Kaldi's TransitionModel: the self-loop's cost
    # and what every arc (and final weight) leaving a state it enters pays
    loop_cost = np.zeros(self_loop_of.shape[0], np.float32)
    fwd_cost = np.zeros(self_loop_of.shape[0], np.float32)
    for c in range(self_loop_of.shape[0]):
        if self_loop_of[c] > 0:
            lp = np.float32(loop_log_prob[self_loop_of[c]])
            loop_cost[c] = np.float32(-lp * scale)
            fwd_cost[c] = np.float32(-np.log(np.float32(1.0) - np.float32(np.exp(lp))) * scale)
    count = np.zeros(S2 + 1, np.int64)
    for s in range(S2):
        c = state_in[s]
        deg = (offsets[s + 1] - offsets[s]) if s < S else 1
        count[s + 1] = count[s] + deg + (1 if c > 0 and self_loop_of[c] > 0 else 0)
    A2 = count[S2]
    il2 = np.empty(A2, np.int32)
    ol2 = np.empty(A2, np.int32)
    w2 = np.empty(A2, np.float32)
    nx2 = np.empty(A2, np.int32)
    fin2 = np.full(S2, np.inf, np.float32)
    fin2[:S] = final
    for s in range(S2):
        c = state_in[s]
        fwd = fwd_cost[c] if c > 0 else np.float32(0.0)
        k = count[s]
        if s < S:
            for a in range(offsets[s], offsets[s + 1]):
                il2[k] = ilabel[a]
                ol2[k] = olabel[a]
                w2[k] = weight[a] + fwd
                nx2[k] = nxt[a]
                k += 1
            if fin2[s] != np.inf:
                fin2[s] = fin2[s] + fwd
        else:  # a new state: its epsilon arc to the state it stands in front of
            il2[k] = 0
            ol2[k] = 0
            w2[k] = fwd
            nx2[k] = to[s - S]
            k += 1
        if c > 0 and self_loop_of[c] > 0:
            il2[k] = self_loop_of[c]
            ol2[k] = 0
            w2[k] = loop_cost[c]
            nx2[k] = s
    _sort_by_ilabel(count, il2, ol2, w2, nx2)
    return count, il2, ol2, w2, nx2, fin2


def self_loop_arrays(f, table: TransitionTable, self_loop_scale: float, consume: bool = False) -> FstArrays:
    """:func:`add_self_loops`, with the result as arrays (arcs sorted by input label).

    Args:
        f: the graph without self-loops (an FST, or FstArrays).
        table, self_loop_scale: as for add_self_loops.
        consume: empty ``f`` once it has been read.
    """
    a = f if isinstance(f, FstArrays) else fst_to_arrays(f, consume=consume)
    if a.num_arcs and a.ilabel.max() > table.num_transitions:
        raise GraphBuildError("the graph has input labels that are not transition ids (disambiguation symbols left?)")
    off, il, ol, w, nx, fin = _self_loops(
        a.offsets, a.ilabel, a.olabel, a.weight, a.nextstate, a.final, int(a.start),
        np.ascontiguousarray(table.trans_state, dtype=np.int32), np.ascontiguousarray(table.self_loop_of, dtype=np.int32),
        np.ascontiguousarray(table.self_loop_log_prob, dtype=np.float64), float(self_loop_scale))
    return FstArrays(a.start, fin, off, il, ol, w, nx)


def add_self_loops(f, table: TransitionTable, self_loop_scale: float):
    """Adds HMM self-loops to a graph built without them, as Kaldi's
    ``add-self-loops --reorder=true`` (mkgraph.sh's default): the self-loop of HMM state
    ``q`` sits on the state that ``q``'s forward transitions enter, so a path reads
    ``q``'s forward transition on its first frame in ``q`` and the self-loop after it.

    A state entered by transitions out of different HMM states first has each such arc
    sent to a new state, one per HMM state, with an epsilon arc to it (Kaldi's
    MakePrecedingInputSymbolsSameClass; the start state counts as entered by epsilon).
    Then each state entered by transitions out of HMM state ``q`` gets ``q``'s self-loop,
    cost ``-self_loop_scale * log p_loop``, and every arc leaving it, and its final
    weight, pays ``-self_loop_scale * log(1 - p_loop)`` (the graph stays stochastic).

    Args:
        f: the graph without self-loops (input labels: transition ids and epsilon).
        table: its transition table.
        self_loop_scale: Kaldi's --self-loop-scale.

    Returns:
        The graph with self-loops, a new VectorFst, arcs sorted by input label.
    """
    return read_arrays_as_fst(self_loop_arrays(f, table, self_loop_scale), ilabel_sorted=True)
