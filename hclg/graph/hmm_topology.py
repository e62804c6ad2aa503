"""HMM topologies per phone and the transition table, as Kaldi's.

HMM graphs use transition ids as input labels, as Kaldi does: one id per (phone, HMM
state, transition). Each id reads one posterior column (its pdf). H is built from the
table without self-loops and the self-loops are added last (:mod:`hclg.graph.h_transducer`).
The topology comes from Kaldi's built-in 3-state or chain HMMs, a Kaldi ``topo`` file, or
a table of ``phone from_state to_state probability`` lines.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hclg.errors import GraphBuildError, InputFormatError
from hclg.text_input import text_lines

log = logging.getLogger("hclg")


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
        reach = {last}  # the states with a path to the exit state
        while True:
            more = {i for i, j, _ in self.transitions if j in reach} - reach
            if not more:
                break
            reach |= more
        stuck = sorted(set(range(last)) - reach)
        if stuck:
            raise InputFormatError(where, None, f"phone {phone}: state {stuck[0]} has no path to the exit state {last}")
        for i in range(last):
            total = sum(p for a, _, p in self.transitions if a == i)
            if abs(total - 1.0) > 1e-3:  # Kaldi warns too: the graph is then not stochastic
                log.warning("%s: phone %s: the transition probabilities out of state %d sum to %.4g, not 1",
                            where, phone, i, total)


def _hmm(probs: dict, pdf_classes=None, self_loop_classes=None) -> PhoneHmm:
    n = max(max(i, j) for i, j in probs) + 1
    fwd = tuple(pdf_classes) if pdf_classes else tuple(range(n - 1))
    return PhoneHmm(n, tuple((i, j, p) for (i, j), p in sorted(probs.items())), fwd, tuple(self_loop_classes) if self_loop_classes else fwd)


#: Kaldi's default 3-state left-to-right topology (prepare_lang.sh, non-silence phones).
KALDI_3STATE = _hmm({(0, 0): 0.75, (0, 1): 0.25, (1, 1): 0.75, (1, 2): 0.25, (2, 2): 0.75, (2, 3): 0.25})
#: Kaldi's 1-state "chain" topology: forward and self-loop use different pdfs.
CHAIN = _hmm({(0, 0): 0.5, (0, 1): 0.5}, pdf_classes=[0], self_loop_classes=[1])
BUILTIN_TOPOLOGIES = {"kaldi-3state": KALDI_3STATE, "chain": CHAIN}


def base_phone(p: str) -> str:
    """A word-position phone's base phone (``AH_B`` -> ``AH``)."""
    return p[:-2] if p[-2:] in ("_B", "_I", "_E", "_S") else p


def read_hmms(spec: str, phones: tuple[str, ...]) -> dict[str, "PhoneHmm"]:
    """The HMM of each of ``phones`` (base phones) from ``--hmm-topology``: a built-in
    topology's name, a Kaldi ``topo`` file, or a transition table (``phone from to
    probability`` lines)."""
    if spec in BUILTIN_TOPOLOGIES:
        return {p: BUILTIN_TOPOLOGIES[spec] for p in phones}
    text = "".join(line for _, line in text_lines(spec))
    if text.lstrip().startswith("<Topology>"):
        return read_kaldi_topo(spec, phones)
    return read_transition_table(spec)


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
    toks = re.findall(r"<[^>]+>|[^\s<>]+", "".join(line for _, line in text_lines(path)))
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
    for n, line in text_lines(path):
        s = line.split("#", 1)[0].split()
        if not s:
            continue
        if len(s) != 4:
            raise InputFormatError(path, n, f"expected 'phone from_state to_state probability', got {line.strip()!r}")
        try:
            a, b, p = int(s[1]), int(s[2]), float(s[3])
        except ValueError:
            raise InputFormatError(path, n, f"expected integers and a probability, got {line.strip()!r}") from None
        probs = per.setdefault(s[0], {})
        if (a, b) in probs:
            raise InputFormatError(path, n, f"phone {s[0]}: transition {a}->{b} given twice")
        probs[(a, b)] = p
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
    first: dict[tuple[str, int], int] = {}
    for n, line in text_lines(path):
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
        if (s[0], vals[0]) in out:
            raise InputFormatError(path, n, f"phone {s[0]} state {vals[0]} is mapped twice (line {first[s[0], vals[0]]} "
                                            "and this one)")
        first[(s[0], vals[0])] = n
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
    return table_of_rows(rows, self_loops)


def table_of_rows(rows, self_loops) -> TransitionTable:
    """A TransitionTable from one row per transition id (row 0: id 0, unused): (unit,
    phone, hmm_state, to_state, is_final, pdf, log_prob, self_loop_log_prob, trans_state),
    and the self-loop id of each transition state (index 0 unused)."""
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


