"""Context dependency: triphone C, as Kaldi's ``fstcomposecontext`` with context width 3 and
central position 1, and the table that gives each context-dependent HMM state its pdf.

Context table formats (``--context-table``):

- hclg's own: lines ``left phone right hmm_state pdf [self_loop_pdf]`` (``#`` comments);
  ``-`` for left or right means any context (the back-off entry; ``- phone - state pdf``
  is the context-independent one).
- a Sphinx ``mdef`` (model definition, text): each triphone row
  ``base lft rt p attrib tmat s0 s1 s2 N`` gives the tied states (senones = posterior
  columns) of the HMM of ``base`` between ``lft`` and ``rt``; rows with ``-`` contexts are
  the context-independent ones. The word position ``p`` is ignored (``i`` preferred).

At an utterance boundary the context is the silence phone if the table knows it there,
else any.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pywrapfst as fst

from hclg.errors import GraphBuildError, InputFormatError
from hclg.fst.convert import arrays_to_fst, fst_to_arrays
from hclg.fst.steps import log_step

log = logging.getLogger("hclg")


@dataclass(frozen=True)
class ContextTable:
    """(left, phone, right, state) -> (forward pdf, self-loop pdf); ``-`` matches any."""

    entries: dict

    def lookup(self, left: str, phone: str, right: str, state: int):
        e = self.entries
        for key in ((left, phone, right, state), (left, phone, "-", state), ("-", phone, right, state), ("-", phone, "-", state)):
            v = e.get(key)
            if v is not None:
                return v
        return None


def read_context_table(path) -> ContextTable:
    """Reads a context table (hclg's format or a Sphinx mdef; see the module doc)."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    entries: dict = {}
    is_mdef = any(line.strip().endswith("n_base") for line in lines[:20])
    if is_mdef:
        rank = {"i": 0, "b": 1, "e": 2, "s": 3, "-": 4}
        best_rank: dict = {}
        for n, line in enumerate(lines, 1):
            f = line.split()
            if len(f) < 8 or f[-1] != "N" or line.lstrip().startswith("#"):
                continue
            base, lft, rt, pos = f[0], f[1], f[2], f[3]
            try:
                states = [int(x) for x in f[6:-1]]
            except ValueError:
                raise InputFormatError(path, n, f"expected tied-state ids, got {line.strip()!r}") from None
            key3 = (lft, base, rt)
            r = rank.get(pos, 5)
            if best_rank.get(key3, 99) <= r:
                continue
            best_rank[key3] = r
            for s, sid in enumerate(states):
                entries[(lft, base, rt, s)] = (sid, sid)
    else:
        for n, line in enumerate(lines, 1):
            f = line.split("#", 1)[0].split()
            if not f:
                continue
            if len(f) not in (5, 6):
                raise InputFormatError(path, n, f"expected 'left phone right hmm_state pdf [self_loop_pdf]', got {line.strip()!r}")
            try:
                s, pdf = int(f[3]), int(f[4])
                loop = int(f[5]) if len(f) == 6 else pdf
            except ValueError:
                raise InputFormatError(path, n, f"expected integer state and pdf ids, got {line.strip()!r}") from None
            entries[(f[0], f[1], f[2], s)] = (pdf, loop)
    if not entries:
        raise InputFormatError(path, None, "no context-dependent entries found")
    return ContextTable(entries)


def add_subsequential_loop(f, subseq: int):
    """Each final state gets an arc reading ``subseq`` (carrying its final cost) to a new
    final state that loops on ``subseq``: the end marker C needs to emit the last
    phone's right context (as Kaldi's AddSubsequentialLoop)."""
    a = fst_to_arrays(f)
    ns = a.num_states
    fin = np.nonzero(np.isfinite(a.final))[0]
    src = np.concatenate([a.sources(), fin, [ns]])
    il = np.concatenate([a.ilabel, np.full(len(fin) + 1, subseq)])
    ol = np.concatenate([a.olabel, np.zeros(len(fin) + 1, np.int32)])
    w = np.concatenate([a.weight, a.final[fin], [0.0]]).astype(np.float32)
    dst = np.concatenate([a.nextstate, np.full(len(fin) + 1, ns)])
    final = np.full(ns + 1, np.inf, np.float32)
    final[ns] = 0.0
    g = arrays_to_fst(ns + 1, a.start, src, il, ol, w, dst, final)
    g.arcsort("ilabel")
    return g


def make_context_fst(phone_ids: list[int], disambig: list[int], subseq: int):
    """The triphone context transducer C (input: windows; output: phones).

    States are the last two phones read on the output side (0 = none yet). Reading phone
    ``c`` in state ``(a, b)`` writes window ``(a, b, c)`` and moves to ``(b, c)``; while
    ``b`` is none it writes Kaldi's ``#-1`` instead (a disambiguation symbol, not epsilon,
    so that H o C o L o G stays determinizable); ``subseq`` writes ``(a, b, 0)`` and moves
    to the final state; disambiguation symbols loop, written as themselves.

    Returns:
        (C, windows): windows[k] = (a, b, c) for input label k (k >= 1); disambiguation
        symbol j is input label len(windows) + j, and ``#-1`` is
        len(windows) + len(disambig).
    """
    ctx = [0] + list(phone_ids)
    index = {p: i for i, p in enumerate(ctx)}
    n = len(ctx)
    final_state = n * n
    windows = [None]
    START = -1  # placeholder for #-1, numbered once the windows are counted
    src, il, ol, dst = [], [], [], []
    for a in ctx:
        for b in ctx:
            s = index[a] * n + index[b]
            if a != 0 and b == 0:
                continue  # unreachable: a phone is never followed by 'none'
            for c in phone_ids:
                if b == 0:
                    lab = START
                else:
                    windows.append((a, b, c))
                    lab = len(windows) - 1
                src.append(s)
                il.append(lab)
                ol.append(c)
                dst.append(index[b] * n + index[c])
            if b == 0:
                lab = 0
            else:
                windows.append((a, b, 0))
                lab = len(windows) - 1
            src.append(s)
            il.append(lab)
            ol.append(subseq)
            dst.append(final_state)
    W = len(windows)
    il = [W + len(disambig) if x == START else x for x in il]
    for s in range(n * n):
        for j, d in enumerate(disambig):
            src.append(s)
            il.append(W + j)
            ol.append(d)
            dst.append(s)
    final = np.full(n * n + 1, np.inf, np.float32)
    final[final_state] = 0.0
    C = arrays_to_fst(n * n + 1, 0, np.array(src), np.array(il), np.array(ol), np.zeros(len(src), np.float32), np.array(dst), final)
    C.connect()
    C.arcsort("olabel")
    return C, windows


def compose_context(LG, phone_symbols: tuple[str, ...], disambig: tuple[int, ...], table: ContextTable,
                    hmms: dict, base_phone, boundary: str | None):
    """C o LG with C's windows reduced to distinct HMM instances (Kaldi's ilabel info).

    Two windows whose central phone and per-state pdfs agree are one instance, one input
    label. Input labels of the result: instances 1..K, then disambiguation symbol j as
    K + 1 + j, and Kaldi's ``#-1`` as K + 1 + len(disambig).

    Args:
        LG: the optimized LG (input: phones and disambiguation symbols).
        phone_symbols: the phone table.
        disambig: ids of #0, #1, ... in it.
        table: the ContextTable.
        hmms: base phone -> PhoneHmm.
        base_phone: (position-dependent) phone -> base phone.
        boundary: context name at utterance boundaries (the silence phone), or None.

    Returns:
        (CLG, units): units as :func:`hclg.graph.topology.transition_table_from_units`
        takes them, labels 1..K.
    """
    t0 = time.perf_counter()
    phone_ids = [i for i, p in enumerate(phone_symbols) if i > 0 and not p.startswith("#")]
    subseq = len(phone_symbols)
    C, windows = make_context_fst(phone_ids, list(disambig), subseq)
    log_step("C (triphone context)", C, t0)
    LGs = add_subsequential_loop(LG, subseq)
    t0 = time.perf_counter()
    CLG = fst.compose(C, LGs, connect=True)
    log_step("CLG = C o LG", CLG, t0, "the context FST and LG share no phone sequence")
    a = fst_to_arrays(CLG)
    W = len(windows)
    used = np.unique(a.ilabel[(a.ilabel > 0) & (a.ilabel < W)])
    names = phone_symbols

    def ctx_name(p):
        if p == 0:
            return boundary if boundary else "-"
        return base_phone(names[p])

    instance_of: dict = {}
    units = []
    relabel = np.zeros(W + len(disambig) + 1, dtype=np.int64)
    for w in used:
        l, c, r = windows[w]
        base = base_phone(names[c])
        hmm = hmms.get(base)
        if hmm is None:
            raise GraphBuildError(f"phone {base!r} has no HMM in the topology")
        pdfs = []
        for s in range(hmm.num_states - 1):
            v = table.lookup(ctx_name(l), base, ctx_name(r), s)
            if v is None and (l == 0 or r == 0):
                v = table.lookup("-" if l == 0 else ctx_name(l), base, "-" if r == 0 else ctx_name(r), s)
            if v is None:
                raise GraphBuildError(f"the context table has no pdf for {ctx_name(l)}-{base}+{ctx_name(r)} state {s}")
            pdfs.append(v)
        key = (c, tuple(pdfs))
        k = instance_of.get(key)
        if k is None:
            k = instance_of[key] = len(units) + 1
            units.append((k, c, hmm, tuple(pdfs)))
        relabel[w] = k
    K = len(units)
    for j in range(len(disambig) + 1):
        relabel[W + j] = K + 1 + j
    src = a.sources()
    CLG2 = arrays_to_fst(a.num_states, a.start, src, relabel[a.ilabel], a.olabel, a.weight, a.nextstate, a.final)
    log.info("CLG: %d windows used, %d distinct HMM instances", len(used), K)
    return CLG2, units

