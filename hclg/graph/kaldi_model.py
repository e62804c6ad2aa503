"""Kaldi's TransitionModel, read from a ``final.mdl`` (binary or text; the older
``<Triples>`` and the current ``<Tuples>`` form), as the transition table hclg's graphs
and decoder use (:class:`hclg.graph.hmm_topology.TransitionTable`).

Transition ids are numbered exactly as Kaldi's ``TransitionModel::ComputeDerived``: for
each transition state (phone, HMM state, pdfs) in the model's order, one id per
transition out of that HMM state, in the topology's order. So a Kaldi ``HCLG.fst``,
alignment (``ali.*.gz``) or lattice reads the same ids in hclg.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hclg.graph.hmm_topology import TransitionTable, table_of_rows
from hclg.graph.kaldi_io import KaldiObjectReader


@dataclass(frozen=True)
class KaldiHmmState:
    """One state of a topology entry (``forward_pdf_class`` -1: the final state)."""

    forward_pdf_class: int
    self_loop_pdf_class: int
    transitions: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class KaldiTransitionModel:
    """Kaldi's TransitionModel.

    Attributes:
        path: the file it was read from.
        entries: the topology entries, each a tuple of states (the last one final).
        phone_entry: phone id -> index into ``entries`` (phones of the topology only).
        tuples: per transition state (1-based in Kaldi, 0-based here): (phone, HMM
            state, forward pdf, self-loop pdf).
        log_probs: float32 [num_transition_ids + 1]: log probability of each transition
            id (index 0 unused).
    """

    path: str
    entries: tuple[tuple[KaldiHmmState, ...], ...]
    phone_entry: dict[int, int]
    tuples: tuple[tuple[int, int, int, int], ...]
    log_probs: np.ndarray

    @property
    def num_pdfs(self) -> int:
        return 1 + max(max(t[2], t[3]) for t in self.tuples)

    @property
    def is_chain(self) -> bool:
        """A chain ("LF-MMI") model: every phone's HMM has one emitting state whose forward
        and self-loop transitions read different pdfs (Kaldi's chain topology); decoded
        at acoustic scale 1.0, as Kaldi's chain scripts."""
        return all(len(e) == 2 and e[0].forward_pdf_class != e[0].self_loop_pdf_class for e in self.entries)

    @property
    def phones(self) -> list[int]:
        return sorted(self.phone_entry)

    def transition_table(self) -> TransitionTable:
        """The model as hclg's transition table, ids as Kaldi's (unit = phone id)."""
        rows = [(0, 0, 0, 0, False, -1, 0.0, -math.inf, 0)]
        self_loops = [0]
        for ts, (phone, hmm_state, fwd_pdf, loop_pdf) in enumerate(self.tuples, 1):
            entry = self.entries[self.phone_entry[phone]]
            state = entry[hmm_state]
            loop_tid = 0
            first = len(rows)
            for k, (dst, _p) in enumerate(state.transitions):
                if dst == hmm_state:
                    loop_tid = first + k
            self_loops.append(loop_tid)
            loop_lp = float(self.log_probs[loop_tid]) if loop_tid else -math.inf
            for k, (dst, _p) in enumerate(state.transitions):
                tid = first + k
                rows.append((phone, phone, hmm_state, dst, dst == len(entry) - 1,
                             loop_pdf if dst == hmm_state else fwd_pdf, float(self.log_probs[tid]), loop_lp, ts))
        if len(rows) != len(self.log_probs):
            raise ValueError(f"{self.path}: {len(rows) - 1} transition ids but {len(self.log_probs) - 1} log probabilities")
        return table_of_rows(rows, self_loops)


def _read_topology(r: KaldiObjectReader) -> tuple[tuple, dict[int, int]]:
    """Kaldi's HmmTopology::Read (binary: phones, phone2idx, [-1 if the states carry
    self-loop pdf classes], entries; text: <TopologyEntry> blocks)."""
    r.expect("<Topology>")
    entries: list[tuple[KaldiHmmState, ...]] = []
    phone_entry: dict[int, int] = {}
    if r.binary:
        phones = r.int_vector()
        phone2idx = r.int_vector()
        n = r.int32()
        two_classes = n == -1
        if two_classes:
            n = r.int32()
        if not 0 < n < 1_000_000:
            r.fail(f"impossible number of topology entries {n}")
        for _ in range(n):
            states = []
            for _s in range(r.int32()):
                fwd = r.int32()
                loop = r.int32() if two_classes else fwd
                trans = tuple((r.int32(), r.float32()) for _t in range(r.int32()))
                states.append(KaldiHmmState(fwd, loop, trans))
            entries.append(tuple(states))
        for p in phones.tolist():
            if not 0 <= p < len(phone2idx) or not 0 <= phone2idx[p] < len(entries):
                r.fail(f"phone {p} has no topology entry")
            phone_entry[p] = int(phone2idx[p])
    else:
        while r.peek_token() == "<TopologyEntry>":
            r.expect("<TopologyEntry>")
            r.expect("<ForPhones>")
            for_phones = []
            while r.peek_token() != "</ForPhones>":
                for_phones.append(r.int32())
            r.expect("</ForPhones>")
            states = []
            while r.peek_token() == "<State>":
                r.expect("<State>")
                if r.int32() != len(states):
                    r.fail("states must be numbered 0, 1, ... in order")
                fwd = loop = -1
                trans = []
                while (t := r.token()) != "</State>":
                    if t == "<PdfClass>":
                        fwd = loop = r.int32()
                    elif t == "<ForwardPdfClass>":
                        fwd = r.int32()
                    elif t == "<SelfLoopPdfClass>":
                        loop = r.int32()
                    elif t == "<Transition>":
                        trans.append((r.int32(), r.float32()))
                    else:
                        r.fail(f"unexpected {t!r} in a <State>")
                states.append(KaldiHmmState(fwd, loop, tuple(trans)))
            r.expect("</TopologyEntry>")
            for p in for_phones:
                phone_entry[p] = len(entries)
            entries.append(tuple(states))
    r.expect("</Topology>")
    return tuple(entries), phone_entry


def read_transition_model(path) -> KaldiTransitionModel:
    """Reads the TransitionModel at the start of a Kaldi model file (``final.mdl``:
    GMM, nnet2 or nnet3; or a bare transition model).

    Raises:
        InputFormatError: not a Kaldi model, or an inconsistent one.
    """
    r = KaldiObjectReader(path)
    r.expect("<TransitionModel>")
    entries, phone_entry = _read_topology(r)
    kind = r.expect("<Triples>", "<Tuples>")
    n = r.int32()
    if not 0 < n < 100_000_000:
        r.fail(f"impossible number of transition states {n}")
    tuples = []
    for _ in range(n):
        phone, hmm_state, fwd = r.int32(), r.int32(), r.int32()
        loop = r.int32() if kind == "<Tuples>" else fwd
        if phone not in phone_entry or not 0 <= hmm_state < len(entries[phone_entry[phone]]) - 1:
            r.fail(f"transition state ({phone}, {hmm_state}) is not in the topology")
        tuples.append((phone, hmm_state, fwd, loop))
    r.expect("</Triples>" if kind == "<Triples>" else "</Tuples>")
    r.expect("<LogProbs>")
    log_probs = r.float_vector().astype(np.float32)
    r.expect("</LogProbs>")
    r.expect("</TransitionModel>")
    model = KaldiTransitionModel(str(path), entries, phone_entry, tuple(tuples), log_probs)
    expected = 1 + sum(len(entries[phone_entry[p]][s].transitions) for p, s, _, _ in tuples)
    if expected != len(log_probs):
        r.fail(f"the topology gives {expected - 1} transition ids but <LogProbs> has {len(log_probs) - 1} values")
    return model


def transition_table_for(model, kaldi_phones, phones) -> TransitionTable:
    """The TransitionModel of ``model`` as the transition table of a graph whose phone
    table is ``phones`` (hclg's L): transition ids, pdfs and probabilities stay Kaldi's,
    and each transition's phone (and H's output unit) is the phone of that name.

    Args:
        model: a KaldiTransitionModel (:func:`read_transition_model`).
        kaldi_phones: the model's ``phones.txt`` (a SymbolTable): its phone ids by name.
        phones: the graph's phone table (a SymbolTable).

    Raises:
        GraphBuildError: a phone of the model that ``kaldi_phones`` or ``phones`` lacks.
    """
    from hclg.errors import GraphBuildError

    table = model.transition_table()
    remap = np.zeros(len(kaldi_phones), np.int32)
    for kid in sorted(set(table.phone[1:].tolist())):
        if not 0 < kid < len(kaldi_phones):
            raise GraphBuildError(f"{model.path}: phone id {kid} is not in the phone table given with it")
        name = kaldi_phones.symbols[kid]
        if name not in phones.symbols:
            continue  # a phone the lexicon never uses: unit 0, which H leaves out (its ids stay unused)
        remap[kid] = phones.id(name)
    mapped = remap[table.phone]
    return TransitionTable(**{**table.as_arrays(), "unit": mapped, "phone": mapped})


def read_nnet_priors(path) -> np.ndarray:
    """The priors a Kaldi nnet model stores after its network, read without the network:
    nnet3 (``AmNnetSimple``: ``<Priors>`` then the vector, at the end of the file) or nnet2
    (``AmNnet``: the vector right after ``</Nnet>``).

    Raises:
        InputFormatError: a model file with no priors (a GMM or chain model, whose
            scores need none).
    """
    from hclg.errors import InputFormatError

    r = KaldiObjectReader(path)
    for token, kind in (("<Priors>", "nnet3"), ("</Nnet>", "nnet2")):
        tok = token.encode()
        if r.binary:
            at = r.data.rfind(tok + b" ")
            found, r.pos = at >= 0, at + len(tok) + 1
        else:
            found = tok in r.tokens
            r.pos = len(r.tokens) - r.tokens[::-1].index(tok) if found else 0
        if found:
            v = r.float_vector()
            if v.size == 0:
                raise InputFormatError(path, None, f"the {kind} model stores no priors (a chain model needs none)")
            return v
    raise InputFormatError(path, None, "no priors in this model file (<Priors> or an nnet2 </Nnet>); a GMM model's "
                                       "scores are likelihoods already")
