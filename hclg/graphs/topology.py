"""Acoustic topologies: HMMs per phone (H) and the CTC topology (T).

HMM graphs use transition ids as input labels, as Kaldi does: one id per (phone, HMM
state, transition). Each id reads one posterior column (its pdf). H is first built
without self-loops (Kaldi's ``make-h-transducer``), composed and optimised, and the
self-loops are added last (Kaldi's ``add-self-loops --reorder=true``): the arc for the
transition out of an HMM state consumes that state's last frame, and the self-loop
sits on the arc's source state.

CTC graphs use token ids as input labels: label ``k + 1`` reads posterior column ``k``
(label 0 is epsilon), so the blank is label ``blank_id + 1``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from hclg.errors import GraphBuildError, InputFormatError
from hclg.graphs.fstutil import FstArrays, arrays_to_fst, fst_to_arrays, read_arrays_as_fst


@dataclass(frozen=True)
class PhoneHmm:
    """The HMM of one phone.

    Attributes:
        num_states: states including the final (non-emitting) one, which is the last.
        transitions: (from, to, probability) with ``from`` an emitting state.
        forward_pdf_class: per emitting state, the pdf class of its forward transitions.
        self_loop_pdf_class: per emitting state, the pdf class of its self-loop.
    """

    num_states: int
    transitions: tuple[tuple[int, int, float], ...]
    forward_pdf_class: tuple[int, ...]
    self_loop_pdf_class: tuple[int, ...]

    def validate(self, phone: str, where: str) -> None:
        last = self.num_states - 1
        for i, j, p in self.transitions:
            if not (0 <= i < last and 0 <= j <= last):
                raise InputFormatError(where, None, f"phone {phone}: transition {i}->{j} is outside states 0..{last}")
            if j == 0 and i != 0:
                raise InputFormatError(where, None, f"phone {phone}: transition {i}->0 back into the entry state is not supported")
            if not 0.0 < p <= 1.0:
                raise InputFormatError(where, None, f"phone {phone}: transition {i}->{j} has probability {p}")
        for i in range(last):
            if not any(a == i and b != i for a, b, _ in self.transitions):
                raise InputFormatError(where, None, f"phone {phone}: state {i} has no transition out of it")


def _hmm(probs: dict, pdf_classes=None, self_loop_classes=None) -> PhoneHmm:
    n = max(max(i, j) for i, j in probs) + 1
    fwd = tuple(pdf_classes) if pdf_classes else tuple(range(n - 1))
    return PhoneHmm(n, tuple((i, j, p) for (i, j), p in sorted(probs.items())), fwd, tuple(self_loop_classes) if self_loop_classes else fwd)


#: Kaldi's default 3-state left-to-right topology (prepare_lang.sh, non-silence phones).
KALDI_3STATE = _hmm({(0, 0): 0.75, (0, 1): 0.25, (1, 1): 0.75, (1, 2): 0.25, (2, 2): 0.75, (2, 3): 0.25})
#: Kaldi's 1-state "chain" topology: forward and self-loop use different pdfs.
CHAIN = _hmm({(0, 0): 0.5, (0, 1): 0.5}, pdf_classes=[0], self_loop_classes=[1])
BUILTIN_TOPOLOGIES = {"kaldi-3state": KALDI_3STATE, "chain": CHAIN}


def read_kaldi_topo(path, phones: tuple[str, ...]) -> dict[str, PhoneHmm]:
    """Reads a Kaldi ``topo`` file.

    ``<ForPhones>`` lists phone ids as in Kaldi's phones.txt (1 = the first phone of
    ``phones``) or phone names. ``<PdfClass>`` or ``<ForwardPdfClass>``/
    ``<SelfLoopPdfClass>`` name pdf classes; the state without one is final.

    Args:
        path: the topo file.
        phones: the phone list (order gives Kaldi's 1-based ids).

    Returns:
        phone -> PhoneHmm.
    """
    path = Path(path)
    toks = re.findall(r"<[^>]+>|[^\s<>]+", path.read_text(encoding="utf-8"))
    out: dict[str, PhoneHmm] = {}
    i = 0

    def expect(t):
        nonlocal i
        if i >= len(toks) or toks[i] != t:
            raise InputFormatError(path, None, f"expected {t} at token {i}, got {toks[i] if i < len(toks) else 'end of file'!r}")
        i += 1

    expect("<Topology>")
    while i < len(toks) and toks[i] == "<TopologyEntry>":
        i += 1
        expect("<ForPhones>")
        for_phones = []
        while toks[i] != "</ForPhones>":
            t = toks[i]
            if t.isdigit():
                k = int(t)
                if not 1 <= k <= len(phones):
                    raise InputFormatError(path, None, f"<ForPhones> id {k} is not a phone (1..{len(phones)})")
                for_phones.append(phones[k - 1])
            else:
                for_phones.append(t)
            i += 1
        i += 1
        trans, fwd, slc = {}, {}, {}
        final_state = None
        while toks[i] == "<State>":
            s = int(toks[i + 1])
            i += 2
            while toks[i] != "</State>":
                t = toks[i]
                if t == "<PdfClass>":
                    fwd[s] = slc[s] = int(toks[i + 1])
                    i += 2
                elif t == "<ForwardPdfClass>":
                    fwd[s] = int(toks[i + 1])
                    i += 2
                elif t == "<SelfLoopPdfClass>":
                    slc[s] = int(toks[i + 1])
                    i += 2
                elif t == "<Transition>":
                    trans[(s, int(toks[i + 1]))] = float(toks[i + 2])
                    i += 3
                else:
                    raise InputFormatError(path, None, f"unexpected {t!r} in <State> {s}")
            i += 1
            if s not in fwd:
                final_state = s
        expect("</TopologyEntry>")
        if final_state is None or sorted(fwd) != list(range(final_state)):
            raise InputFormatError(path, None, "each entry needs emitting states 0..n-2 and a final state n-1 without a pdf class")
        hmm = PhoneHmm(final_state + 1, tuple((a, b, p) for (a, b), p in sorted(trans.items())),
                       tuple(fwd[k] for k in range(final_state)), tuple(slc.get(k, fwd[k]) for k in range(final_state)))
        for p in for_phones:
            hmm.validate(p, str(path))
            out[p] = hmm
    expect("</Topology>")
    return out


def read_transition_table(path) -> dict[str, PhoneHmm]:
    """Reads ``phone from to probability`` lines (``#`` comments); the highest state of
    each phone is its final state. Pdf class = state index."""
    path = Path(path)
    per: dict[str, dict] = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            s = line.split("#", 1)[0].split()
            if not s:
                continue
            if len(s) != 4:
                raise InputFormatError(path, n, f"expected 'phone from_state to_state probability', got {line.strip()!r}")
            try:
                a, b, p = int(s[1]), int(s[2]), float(s[3])
            except ValueError:
                raise InputFormatError(path, n, f"expected integers and a probability, got {line.strip()!r}") from None
            per.setdefault(s[0], {})[(a, b)] = p
    out = {}
    for ph, probs in per.items():
        hmm = _hmm(probs)
        hmm.validate(ph, str(path))
        out[ph] = hmm
    if not out:
        raise InputFormatError(path, None, "no transitions")
    return out


def read_pdf_map(path) -> dict[tuple[str, int], tuple[int, int]]:
    """Reads ``phone hmm_state pdf [self_loop_pdf]`` lines (``#`` comments).

    Returns:
        (phone, state) -> (forward pdf, self-loop pdf).
    """
    path = Path(path)
    out = {}
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            s = line.split("#", 1)[0].split()
            if not s:
                continue
            if len(s) not in (3, 4):
                raise InputFormatError(path, n, f"expected 'phone hmm_state pdf_id [self_loop_pdf_id]', got {line.strip()!r}")
            try:
                vals = [int(x) for x in s[1:]]
            except ValueError:
                raise InputFormatError(path, n, f"expected integer state and pdf ids, got {line.strip()!r}") from None
            if min(vals) < 0:
                raise InputFormatError(path, n, "ids must be >= 0")
            out[(s[0], vals[0])] = (vals[1], vals[-1] if len(vals) == 4 else vals[1])
    return out


@dataclass(frozen=True)
class TransitionTable:
    """Transition ids (the input labels of an HMM graph), 1-based; arrays indexed by id.

    Attributes:
        unit: int32 [n+1]; the HMM unit each transition belongs to: what H writes for it
            (the phone id, or a context-dependent instance's label).
        phone: int32 [n+1]; phone id (in the graph's phone table) of each transition.
        hmm_state: int32 [n+1]; source HMM state.
        to_state: int32 [n+1]; destination HMM state (== hmm_state for a self-loop).
        is_final: bool [n+1]; the transition leaves the phone (to its final state).
        pdf: int32 [n+1]; posterior column read by the frame this transition consumes.
        log_prob: float64 [n+1]; log transition probability.
        self_loop_log_prob: float64 [n+1]; log prob of the source state's self-loop
            (-inf if none).
        trans_state: int32 [n+1]; id of the (phone, state) the transition leaves; 0 for
            id 0.
        self_loop_of: int32 [num_trans_states+1]; self-loop transition id of each
            transition state, 0 if none.
    """

    unit: np.ndarray
    phone: np.ndarray
    hmm_state: np.ndarray
    to_state: np.ndarray
    is_final: np.ndarray
    pdf: np.ndarray
    log_prob: np.ndarray
    self_loop_log_prob: np.ndarray
    trans_state: np.ndarray
    self_loop_of: np.ndarray

    @property
    def num_transitions(self) -> int:
        return int(self.phone.shape[0]) - 1

    def as_arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def make_transition_table(
    phone_symbols: tuple[str, ...],
    hmms: dict[str, PhoneHmm],
    pdf_map: dict[tuple[str, int], tuple[int, int]] | None,
    base_phone=lambda p: p,
) -> TransitionTable:
    """Numbers the transitions of every phone's HMM (context-independent units: the H
    output label of each phone's transitions is the phone id).

    Args:
        phone_symbols: the graph's phone table (index = phone id); ``<eps>`` and ``#n``
            are skipped.
        hmms: base phone -> PhoneHmm; a missing phone is an error.
        pdf_map: (base phone, state) -> (forward pdf, self-loop pdf); None assigns a
            new pdf to each distinct (base phone, pdf class).
        base_phone: maps a (position-dependent) phone to its base phone.

    Returns:
        The TransitionTable.
    """
    auto: dict[tuple[str, int], int] = {}
    units = []
    for pid, ph in enumerate(phone_symbols):
        if pid == 0 or ph.startswith("#"):
            continue
        base = base_phone(ph)
        hmm = hmms.get(base)
        if hmm is None:
            raise GraphBuildError(f"phone {base!r} has no HMM in the topology")
        pdfs = []
        for st in range(hmm.num_states - 1):
            if pdf_map is not None:
                if (base, st) not in pdf_map:
                    raise GraphBuildError(f"the pdf map has no entry for phone {base!r} state {st}")
                pdfs.append(pdf_map[(base, st)])
            else:
                pdfs.append((auto.setdefault((base, hmm.forward_pdf_class[st]), len(auto)),
                             auto.setdefault((base, hmm.self_loop_pdf_class[st]), len(auto))))
        units.append((pid, pid, hmm, tuple(pdfs)))
    return transition_table_from_units(units)


def transition_table_from_units(units) -> TransitionTable:
    """Numbers the transitions of a list of HMM units.

    Args:
        units: (unit label, phone id, PhoneHmm, ((forward pdf, self-loop pdf) per
            emitting state)) per unit. The unit label is what H writes for the unit: the
            phone id for context-independent graphs, a context-dependent instance's label
            otherwise.

    Returns:
        The TransitionTable.
    """
    rows = [(0, 0, 0, 0, False, -1, 0.0, -math.inf, 0)]
    self_loops = [0]
    for unit, pid, hmm, pdfs in units:
        last = hmm.num_states - 1
        for st in range(last):
            ts = len(self_loops)
            self_loops.append(0)
            out = [(a, b, p) for a, b, p in hmm.transitions if a == st]
            loop_p = next((p for a, b, p in out if b == a), 0.0)
            for a, b, p in out:
                pdf = pdfs[st][1] if b == a else pdfs[st][0]
                if b == a:
                    self_loops[ts] = len(rows)
                rows.append((unit, pid, a, b, b == last, pdf, math.log(p), math.log(loop_p) if loop_p > 0 else -math.inf, ts))
    cols = list(zip(*rows))
    return TransitionTable(
        unit=np.array(cols[0], dtype=np.int32),
        phone=np.array(cols[1], dtype=np.int32),
        hmm_state=np.array(cols[2], dtype=np.int32),
        to_state=np.array(cols[3], dtype=np.int32),
        is_final=np.array(cols[4], dtype=bool),
        pdf=np.array(cols[5], dtype=np.int32),
        log_prob=np.array(cols[6], dtype=np.float64),
        self_loop_log_prob=np.array(cols[7], dtype=np.float64),
        trans_state=np.array(cols[8], dtype=np.int32),
        self_loop_of=np.array(self_loops, dtype=np.int32),
    )


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
    # arcs of each state sorted by input label, stable (insertion sort: states have few)
    for s in range(S2):
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


def make_ctc_topo(num_tokens: int, blank_id: int, compact: bool = False):
    """T: CTC frame labels to tokens (repeats collapse, blanks vanish), as k2's ctc_topo.

    Token ``k`` is label ``k + 1``. The standard topology has a state per token and an
    arc between every pair ((N)^2 arcs); the compact one (k2's ``modified=True``) has
    O(N) arcs via epsilons, at the price of also reading ``a a`` as two tokens.

    Args:
        num_tokens: posterior columns, blank included.
        blank_id: column of the blank.
        compact: build the compact variant.

    Returns:
        T as a tropical VectorFst (every state final).
    """
    if not 0 <= blank_id < num_tokens:
        raise ValueError(f"blank_id {blank_id} outside 0..{num_tokens - 1}")
    b = blank_id + 1
    labels = np.arange(1, num_tokens + 1)
    if not compact:
        # state k-1 = "last frame was token k" (blank state = b - 1)
        i, j = np.meshgrid(labels, labels, indexing="ij")
        i, j = i.ravel(), j.ravel()
        olab = np.where((i == j) | (j == b), 0, j)
        src, dst, ilab = i - 1, j - 1, j
        ns = num_tokens
        start = b - 1
        final = np.zeros(ns, dtype=np.float32)
    else:
        toks = labels[labels != b]
        # state 0: after blank/start; state t: inside token t.
        ns = num_tokens
        st = np.arange(1, ns)
        src = np.concatenate([[0], np.zeros(len(toks), int), st, st])
        ilab = np.concatenate([[b], toks, toks, np.zeros(len(toks), int)])
        olab = np.concatenate([[0], toks, np.zeros(len(toks), int), np.zeros(len(toks), int)])
        dst = np.concatenate([[0], st, st, np.zeros(len(toks), int)])
        start = 0
        final = np.zeros(ns, dtype=np.float32)
    return arrays_to_fst(ns, start, src, ilab, olab, np.zeros(len(src), np.float32), dst, final)
