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

from hclg.errors import GraphBuildError, InputFormatError
from hclg.fst.convert import arrays_to_fst, fst_to_arrays
from hclg.fst.steps import log_step
from hclg.graph.context_kernel import context_compose_kernel
from hclg.graph.kaldi_tree import window_pdfs
from hclg.text_input import text_lines

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
    lines = [line.rstrip("\r\n") for _, line in text_lines(path)]
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


def context_compose(LG, phone_symbols: tuple[str, ...], disambig: tuple[int, ...], width: int = 3,
                    with_last: bool = False):
    """C o LG for triphone C (Kaldi's ``fstcomposecontext --context-size=3
    --central-position=1``, with LG's subsequential loop), or left-biphone C (``width``
    2: ``--context-size=2 --central-position=1``, Kaldi's chain models), built only
    where LG leads.

    Input labels of the result: window k (1..W) is ``windows[k - 1]`` = (left, phone,
    right) phone ids, or (left, phone) for biphones (0 at an utterance boundary);
    disambiguation symbol j is W + 1 + j; Kaldi's ``#-1`` (read while no phone has been
    seen; triphones only) is W + 1 + len(disambig). Output labels: LG's.

    Returns:
        (CLG, windows), and with ``with_last`` the phone ids each state of CLG read last
        and before it (0: none yet; the state 0 that triphones end in: -1), before CLG is
        trimmed (:meth:`connect` is then the caller's).
    """
    t0 = time.perf_counter()
    phone_ids = np.array([i for i, p in enumerate(phone_symbols) if i > 0 and not p.startswith("#")], np.int64)
    top = max(len(phone_symbols), max(disambig, default=0) + 1) + 1
    ctx_of = np.zeros(top, np.int64)
    ctx_of[phone_ids] = np.arange(1, len(phone_ids) + 1)
    disambig_of = np.full(top, -1, np.int64)
    disambig_of[list(disambig)] = np.arange(len(disambig))
    a = fst_to_arrays(LG)
    if a.ilabel.size and a.ilabel.max() >= top:
        raise GraphBuildError(f"LG reads label {int(a.ilabel.max())}, which is not in the phone table")
    if width not in (2, 3):
        raise GraphBuildError(f"context width {width}: hclg builds C for triphones (3) and left biphones (2)")
    ns, start, src, il, ol, w, dst, final, win, last, before = context_compose_kernel(
        a.offsets, a.ilabel, a.olabel, a.weight, a.nextstate, a.final, a.start, ctx_of, disambig_of, width)
    W = len(win)
    il = np.where(il > 0, il, np.where(il < 0, W + (-il), 0))  # -1-j -> W+1+j; #-1 (-1-D) -> W+1+D
    ctx = np.concatenate([[0], phone_ids])
    windows = [tuple(int(ctx[x]) for x in row[:width]) for row in win]
    CLG = arrays_to_fst(ns, start, src, il, ol, w, dst, final)
    if with_last:
        return CLG, windows, ctx[last], ctx[before]
    CLG.connect()
    log_step("CLG = C o LG", CLG, t0, "the context FST and LG share no phone sequence")
    return CLG, windows


def compose_context(LG, phone_symbols: tuple[str, ...], disambig: tuple[int, ...], instance_of, width: int = 3,
                    markers: tuple[int, ...] = (), left_rep=None):
    """C o LG with C's windows reduced to distinct HMM instances (Kaldi's ilabel info).

    Two windows that ``instance_of`` gives the same key are one instance, one input label
    (as Kaldi's ``make-ilabel-transducer``: windows whose HMMs read the same pdfs). Input
    labels of the result: instances 1..K, then disambiguation symbol j as K + 1 + j, and
    Kaldi's ``#-1`` as K + 1 + len(disambig). ``markers`` (labels of LG read as C's
    disambiguation symbols: :mod:`hclg.graph.new_words_hmm`'s) come out one label per
    marker and context: for left biphones the phone read last, marker i after phone p (0:
    none yet) as K + 2 + len(disambig) + i * P + p (P = len(phone_symbols)); for
    triphones the two phones read last, whose HMM waits for the next phone: marker i after
    phones a, b as K + 2 + len(disambig) + i * P * P + a * P + b, a taken to ``left_rep[a,
    b]`` where that is >= 0 (one of the phones the tree cannot tell from a before b:
    :func:`hclg.graph.kaldi_hmm.tree_left_reps`), so that states that go on alike keep
    one marker and may still be merged.

    Args:
        LG: the optimized LG (input: phones and disambiguation symbols).
        phone_symbols: the phone table.
        disambig: ids of #0, #1, ... in it.
        instance_of: ``(left, phone, right) -> key``, ``(left, phone) -> key`` for
            biphones (phone ids, 0 at an utterance boundary): what makes the HMM of
            ``phone`` in that context; equal keys must mean equal HMMs. It raises
            GraphBuildError for a window it has no HMM for.
        width: 3 (triphones) or 2 (left biphones).

    Returns:
        (CLG, instances): instances[k - 1] = (k, phone, key) for labels k = 1..K.
    """
    t0 = time.perf_counter()
    CLG, windows, last, before = context_compose(LG, phone_symbols, disambig + markers, width, with_last=True)
    a = fst_to_arrays(CLG)
    W, D = len(windows), len(disambig)
    label_of: dict = {}
    instances = []
    relabel = np.zeros(W + len(disambig + markers) + 2, dtype=np.int64)
    for w, window in enumerate(windows, 1):
        key = instance_of(*window)
        k = label_of.get(key)
        if k is None:
            k = label_of[key] = len(instances) + 1
            instances.append((k, window[1], key))
        relabel[w] = k
    K = len(instances)
    for j in range(D):
        relabel[W + 1 + j] = K + 1 + j
    relabel[-1] = K + 1 + D  # #-1
    ilabel, src = relabel[a.ilabel], a.sources()
    P = len(phone_symbols)
    for i in range(len(markers)):
        at = a.ilabel == W + 1 + D + i
        pa, pb = before[src[at]], last[src[at]]
        if width == 3 and left_rep is not None:
            r = np.asarray(left_rep)[pa, pb]
            pa = np.where(r >= 0, r, pa)
        ctx = pb if width == 2 else pa * P + pb
        ilabel[at] = K + 2 + D + i * (P if width == 2 else P * P) + ctx
    CLG2 = arrays_to_fst(a.num_states, a.start, src, ilabel, a.olabel, a.weight, a.nextstate, a.final)
    CLG2.connect()
    log_step("CLG = C o LG", CLG2, t0, "the context FST and LG share no phone sequence")
    log.info("CLG: %d windows used, %d distinct HMM instances", W, K)
    return CLG2, instances


@dataclass(frozen=True)
class TableTree:
    """What a context table gives a triphone window, asked as a Kaldi tree is
    (:class:`hclg.graph.kaldi_tree.KaldiTree`' ``pdf`` and ``pdfs``): the window's phones
    are graph phone ids (0 at an utterance boundary); pdf class ``2 s`` is HMM state s's
    forward pdf and ``2 s + 1`` its self-loop's. At a boundary the context is the silence
    phone where the table knows it there, else any (``-``).

    Attributes:
        path: the table's file, for messages.
        table: the ContextTable.
        names: the base phone of each graph phone id ("" for epsilon and disambiguation).
        boundary: the context name at utterance boundaries (the silence phone), or None.
    """

    path: str
    table: ContextTable
    names: tuple[str, ...]
    boundary: str | None
    context_width: int = 3
    central_position: int = 1

    @classmethod
    def of(cls, path, table: ContextTable, phone_symbols: tuple[str, ...], base_phone, boundary: str | None):
        names = tuple("" if i == 0 or p.startswith("#") else base_phone(p) for i, p in enumerate(phone_symbols))
        return cls(str(path), table, names, boundary)

    def lookup(self, left: int, phone: int, right: int, state: int):
        """(forward pdf, self-loop pdf) of HMM state ``state`` of ``phone`` between
        ``left`` and ``right``, or None where the table has none."""
        n, b = self.names, self.boundary
        lc, rc = (n[left] if left else b or "-"), (n[right] if right else b or "-")
        v = self.table.lookup(lc, n[phone], rc, state)
        if v is None and (left == 0 or right == 0):
            v = self.table.lookup("-" if left == 0 else lc, n[phone], "-" if right == 0 else rc, state)
        return v

    def pdf(self, window: tuple[int, ...], pdf_class: int) -> int | None:
        v = self.lookup(window[0], window[1], window[2], pdf_class >> 1)
        return None if v is None else v[pdf_class & 1]

    def pdfs(self, window: tuple[int, ...], hmm_states) -> tuple[tuple[int, int], ...]:
        return window_pdfs(self, window, hmm_states)


def table_instances(tree: TableTree, hmms: dict):
    """``instance_of`` for :func:`compose_context` from a context table (its
    :class:`TableTree`): the key of a window is (phone, ((forward pdf, self-loop pdf) per
    emitting state)).

    Args:
        tree: the table over the graph's phones (:func:`hclg.graph.context_model.table_tree`).
        hmms: base phone -> PhoneHmm.
    """

    def instance_of(l, c, r):
        base = tree.names[c]
        hmm = hmms.get(base)
        if hmm is None:
            raise GraphBuildError(f"phone {base!r} has no HMM in the topology")
        pdfs = []
        for s in range(hmm.num_states - 1):
            v = tree.lookup(l, c, r, s)
            if v is None:
                b = tree.boundary or "-"
                raise GraphBuildError(f"the context table has no pdf for {tree.names[l] if l else b}-{base}+"
                                      f"{tree.names[r] if r else b} state {s}")
            pdfs.append(v)
        return (c, tuple(pdfs))

    return instance_of
