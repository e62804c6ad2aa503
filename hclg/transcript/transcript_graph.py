"""Transcript graphs built directly as arrays, without OpenFst (thousands a second): the
word-level L of a transcript (its words in order, each with all its pronunciations, and
the optional silence of the graph's L between them), then each phone arc expanded into
its HMM with Kaldi's self-loop order (``add-self-loops --reorder=true``).

The HMM expansion of a phone arc ``s -p-> d`` (transition ids of the graph's table):
  - a node N(q) per HMM state q of p with transitions out of it (N(0) is s itself);
  - a forward transition t: q -> j (not the self-loop) is an arc from N(q), cost
    ``-transition_scale * (log P(t) - log(1 - P(loop q)))``, to a landing node L(t);
  - L(t) carries q's self-loop (cost ``-self_loop_scale * log P(loop q)``) and one
    epsilon arc, cost ``-self_loop_scale * log(1 - P(loop q))``, on to N(j), or to d when
    j is p's final state;
  - the phone arc's word (if any) is output on the arcs out of N(0).
A path then reads q's forward transition on q's first frame and its self-loop on the
next ones, as Kaldi's graphs, with the weights that Kaldi's AddSelfLoopsBefore gives
(tested against compose + :func:`hclg.graph.h_transducer.add_self_loops`).
"""

from __future__ import annotations

import math

import numpy as np

from hclg.fst.arrays import FstArrays, group_by_source
from hclg.graph.arc_records import DecoderArrays, records_of_arrays
from hclg.graph.hmm_topology import TransitionTable


class UnitArcs:
    """An epsilon-free acceptor of unit (phone/token) labels with word outputs, built
    arc by arc: the word-level L of one transcript."""

    def __init__(self):
        self.src, self.unit, self.word, self.cost, self.dst = [], [], [], [], []
        self.num_states = 0
        self.finals: dict[int, float] = {}

    def state(self) -> int:
        self.num_states += 1
        return self.num_states - 1

    def arc(self, s, unit, word, cost, d):
        self.src.append(s)
        self.unit.append(unit)
        self.word.append(word)
        self.cost.append(cost)
        self.dst.append(d)


def transcript_units(word_prons, sil_unit: int | None, sil_prob: float, sil_loop_prob: float = 0.0) -> UnitArcs:
    """The word-level L of a transcript, without epsilons.

    Args:
        word_prons: per word of the transcript, (word id, its pronunciations as tuples of
            unit labels).
        sil_unit: the optional silence's unit label, or None for no silence.
        sil_prob: probability of silence at the start and after each word (Kaldi's L).
        sil_loop_prob: probability that a silence is followed by another.

    Returns:
        UnitArcs (state 0 the start).
    """
    u = UnitArcs()
    start = u.state()
    p = sil_prob if sil_unit is not None else 0.0
    nosil = -math.log1p(-p) if p > 0 else 0.0
    withsil = -math.log(p) if p > 0 else math.inf
    sil_end = -math.log1p(-sil_loop_prob) if sil_loop_prob > 0 else 0.0

    def entries_after(frm):
        """(state, extra cost) from which what follows ``frm`` starts: ``frm`` itself (no
        silence), or the state after an optional (repeatable) silence from it."""
        if p == 0:
            return [(frm, nosil)]
        to = u.state()
        if sil_loop_prob > 0:
            s = u.state()
            u.arc(frm, sil_unit, 0, withsil - math.log(sil_loop_prob), s)
            u.arc(frm, sil_unit, 0, withsil + sil_end, to)
            u.arc(s, sil_unit, 0, -math.log(sil_loop_prob), s)
            u.arc(s, sil_unit, 0, sil_end, to)
        else:
            u.arc(frm, sil_unit, 0, withsil, to)
        return [(frm, nosil), (to, 0.0)]

    entries = entries_after(start)
    for wid, prons in word_prons:
        end = u.state()  # the word's end, before its optional silence
        for pron in prons:
            first_dst = end if len(pron) == 1 else u.state()
            for s, extra in entries:
                u.arc(s, pron[0], wid, extra, first_dst)
            prev = first_dst
            for k in range(1, len(pron)):
                d = end if k + 1 == len(pron) else u.state()
                u.arc(prev, pron[k], 0, 0.0, d)
                prev = d
        entries = entries_after(end)
    for s, extra in entries:
        u.finals[s] = extra
    return u


class HmmExpander:
    """Each phone's HMM as a template of arcs over local nodes (0: the phone arc's source,
    1: its destination, 2...: the phone's own nodes), made once from the transition
    table; :meth:`expand` stamps them onto a transcript's phone arcs with numpy."""

    def __init__(self, table: TransitionTable, transition_scale: float, self_loop_scale: float):
        frm, to, il, first, wt = [], [], [], [], []
        nunits = int(table.unit.max()) + 1
        self.t_off = np.zeros(nunits, np.int64)
        self.t_len = np.zeros(nunits, np.int64)
        self.t_nodes = np.zeros(nunits, np.int64)
        by_unit: dict[int, list[int]] = {}
        for t in range(1, table.num_transitions + 1):
            if table.to_state[t] != table.hmm_state[t] and table.unit[t] > 0:
                by_unit.setdefault(int(table.unit[t]), []).append(t)
        for unit, tids in sorted(by_unit.items()):
            self.t_off[unit] = len(frm)
            node = {0: 0}
            nodes = 2
            for t in tids:  # N(q) for each state with transitions out of it
                q = int(table.hmm_state[t])
                if q not in node:
                    node[q] = nodes
                    nodes += 1
            for t in tids:
                if not table.is_final[t] and int(table.to_state[t]) not in node:
                    node[int(table.to_state[t])] = nodes
                    nodes += 1
            for t in tids:
                q, j = int(table.hmm_state[t]), int(table.to_state[t])
                land = nodes
                nodes += 1
                loop_lp = float(table.self_loop_log_prob[t])
                has_loop = np.isfinite(loop_lp)
                frm.append(node[q])
                to.append(land)
                il.append(t)
                first.append(q == 0)
                wt.append(-transition_scale * (float(table.log_prob[t]) - (math.log1p(-math.exp(loop_lp)) if has_loop
                                                                           else 0.0)))
                if has_loop:
                    frm.append(land)
                    to.append(land)
                    il.append(int(table.self_loop_of[table.trans_state[t]]))
                    first.append(False)
                    wt.append(-self_loop_scale * loop_lp)
                frm.append(land)
                to.append(1 if table.is_final[t] else node[j])
                il.append(0)
                first.append(False)
                wt.append(-self_loop_scale * math.log1p(-math.exp(loop_lp)) if has_loop else 0.0)
            self.t_len[unit] = len(frm) - self.t_off[unit]
            self.t_nodes[unit] = nodes - 2
        self.frm, self.to = np.array(frm, np.int64), np.array(to, np.int64)
        self.il, self.first = np.array(il, np.int32), np.array(first, bool)
        self.wt = np.array(wt, np.float64)

    def expand(self, u: UnitArcs, ilabel_to_column) -> DecoderArrays:
        """The search graph of a transcript's units expanded into their HMMs."""
        src, unit, dst = (np.array(x, np.int64) for x in (u.src, u.unit, u.dst))
        word, cost = np.array(u.word, np.int32), np.array(u.cost, np.float64)
        if len(unit) and (unit.max() >= len(self.t_len) or (self.t_len[unit] == 0).any()):
            bad = int(unit[(unit >= len(self.t_len)) | (self.t_len[np.minimum(unit, len(self.t_len) - 1)] == 0)][0])
            raise ValueError(f"unit {bad} has no HMM in the transition table")
        m, k = self.t_len[unit], self.t_nodes[unit]
        ends = np.cumsum(m)
        owner = np.repeat(np.arange(len(unit)), m)
        tpl = np.repeat(self.t_off[unit], m) + (np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - m, m))
        base = u.num_states + np.cumsum(k) - k

        def glob(local):
            return np.where(local == 0, src[owner], np.where(local == 1, dst[owner], base[owner] + local - 2))

        first = self.first[tpl]
        n = int(u.num_states + k.sum())
        arc_src = glob(self.frm[tpl])
        final = np.full(n, np.inf, np.float32)
        for s, c in u.finals.items():
            final[s] = c
        offsets, order = group_by_source(n, arc_src)
        arrays = FstArrays(0, final, offsets, self.il[tpl][order], np.where(first, word[owner], 0).astype(np.int32)[order],
                           (self.wt[tpl] + np.where(first, cost[owner], 0.0)).astype(np.float32)[order],
                           glob(self.to[tpl]).astype(np.int32)[order])
        return records_of_arrays(arrays, ilabel_to_column)


def ctc_expand(u: UnitArcs, blank: int, ilabel_to_column) -> DecoderArrays:
    """A transcript's tokens under the standard CTC topology (as T o L with k2's
    ``ctc_topo``): E(s), at unit state s after a blank or nothing, loops on the blank and
    starts each token k of an arc a out of s in K(a); K(a) repeats k, goes to E(d) on a
    blank, or straight into a token j != k of an arc out of d. A token's frames carry its
    arc's cost on the first; E(s) is final where s is, and so is K(a) where a ends there."""
    n_u = u.num_states
    A = len(u.src)
    out_of: dict[int, list[int]] = {}
    for a in range(A):
        out_of.setdefault(u.src[a], []).append(a)
    src, il, ol, wt, dst = [], [], [], [], []

    def arc(s, label, word, w, d):
        src.append(s)
        il.append(label)
        ol.append(word)
        wt.append(w)
        dst.append(d)

    def k_node(a):  # K(a) after the E nodes
        return n_u + a

    for s in range(n_u):
        arc(s, blank, 0, 0.0, s)
        for a in out_of.get(s, ()):
            arc(s, u.unit[a], u.word[a], u.cost[a], k_node(a))
    for a in range(A):
        k, d = u.unit[a], u.dst[a]
        arc(k_node(a), k, 0, 0.0, k_node(a))
        arc(k_node(a), blank, 0, 0.0, d)
        for b in out_of.get(d, ()):
            if u.unit[b] != k:
                arc(k_node(a), u.unit[b], u.word[b], u.cost[b], k_node(b))
    n = n_u + A
    final = np.full(n, np.inf, np.float32)
    for s, c in u.finals.items():
        final[s] = c
    for a in range(A):
        if u.dst[a] in u.finals:
            final[k_node(a)] = u.finals[u.dst[a]]
    offsets, order = group_by_source(n, np.array(src, np.int64))
    arrays = FstArrays(0, final, offsets, np.array(il, np.int32)[order], np.array(ol, np.int32)[order],
                       np.array(wt, np.float32)[order], np.array(dst, np.int32)[order])
    return records_of_arrays(arrays, ilabel_to_column)
