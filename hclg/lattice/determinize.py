"""Word lattices from the search's raw lattice, with the semantics of Kaldi's
DeterminizeLatticePruned (the kernel is :mod:`hclg.lattice.determinize_kernel`)."""

from __future__ import annotations

import logging

import numpy as np

from hclg.errors import DecodeError
from hclg.lattice.determinize_kernel import determinize_kernel, expand_strings, topological_numbering
from hclg.lattice.lattice import INF, Lattice, build_lattice
from hclg.search.raw_lattice import RawLattice

log = logging.getLogger("hclg")


def determinize(raw: RawLattice, utt: str, beam: float, acoustic_scale: float, frame_seconds: float,
                max_mem: int = 50_000_000) -> Lattice:
    """Raw lattice -> word Lattice within ``beam`` (numba kernel:
    :func:`hclg.lattice.determinize_kernel.determinize_kernel`). When its memory passes
    ``max_mem`` bytes (Kaldi's max-mem and default) the beam is halved and it tries again,
    down to the best path alone (a warning says so); a non-empty raw lattice never gives an
    empty lattice."""
    n = raw.num_states
    new = topological_numbering(raw.frame_start, raw.src, raw.dst, raw.ilabel)
    if n and new[0] != 0:
        raise DecodeError(f"utterance {utt!r}: raw lattice start state has incoming epsilon links")
    src, dst = new[raw.src], new[raw.dst].astype(np.int32)
    order = np.argsort(src, kind="stable")
    r_off = np.searchsorted(src[order], np.arange(n + 1)).astype(np.int64)
    beta = np.empty(n)
    beta[new] = raw.best_total + raw.extra - raw.cost
    final = np.empty(n)
    final[new] = raw.final
    args = (n, r_off, dst[order], raw.ilabel[order], raw.olabel[order], raw.graph[order].astype(np.float64),
            raw.acoustic[order].astype(np.float64), beta, final)
    b = beam
    while True:
        out = determinize_kernel(*args, b, raw.best_total, max_mem if b > 0 else 2**62)
        if out[0]:
            break
        b = b / 2 if b > 0.5 else 0.0
    if b < beam:
        log.warning("utterance %r: lattice determinization passed %d bytes; lattice beam %.3g instead of %.3g",
                    utt, max_mem, b, beam)
    (_ok, a_src, a_dst, a_word, a_g, a_a, a_str, f_state, f_g, f_a, f_str, sg, sa, sstr, sp, sl, sd) = out
    if len(f_state) == 0:
        raise DecodeError(f"utterance {utt!r}: empty lattice")
    aoff, alab = expand_strings(a_str, sp, sl, sd)
    n = 1 + max(int(a_src.max(initial=0)), int(a_dst.max(initial=0)), int(f_state.max(initial=0)))
    fg = np.full(n, INF)
    fa = np.zeros(n)
    fg[f_state], fa[f_state] = f_g, f_a
    fids = np.zeros(n, np.int32)
    fids[f_state] = f_str
    foff, flab = expand_strings(fids, sp, sl, sd)
    soff, slab = expand_strings(np.array([sstr], np.int32), sp, sl, sd)
    return build_lattice(utt, n, a_src, a_dst, a_word, a_g, a_a, aoff, alab, fg, fa, foff, flab,
                         (float(sg), float(sa), slab), acoustic_scale, frame_seconds, b)
