"""Word lattices from the search's raw lattice, with the semantics of Kaldi's
DeterminizeLatticePruned (the kernel is :mod:`hclg.lattice.determinize_kernel`)."""

from __future__ import annotations

import logging

import numpy as np

from hclg.errors import DecodeError
from hclg.lattice.assemble import expand_strings, topological_numbering
from hclg.lattice.determinize_kernel import determinize_kernel
from hclg.lattice.determinize_state import RawGraph
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
    rg = RawGraph(r_off, dst[order], raw.ilabel[order], raw.olabel[order], raw.graph[order].astype(np.float64),
                  raw.acoustic[order].astype(np.float64), beta, final)
    b = beam
    while True:
        out = determinize_kernel(rg, b, raw.best_total, max_mem if b > 0 else 2**62)
        if out.ok:
            break
        b = b / 2 if b > 0.5 else 0.0
    if b < beam:
        log.warning("utterance %r: lattice determinization passed %d bytes; lattice beam %.3g instead of %.3g",
                    utt, max_mem, b, beam)
    arcs, fin, trie = out.arcs, out.finals, (out.str_parent, out.str_label, out.str_depth)
    if len(fin.state) == 0:
        raise DecodeError(f"utterance {utt!r}: empty lattice")
    aoff, alab = expand_strings(arcs.string, *trie)
    n = 1 + max(int(arcs.src.max(initial=0)), int(arcs.dst.max(initial=0)), int(fin.state.max(initial=0)))
    fg = np.full(n, INF)
    fa = np.zeros(n)
    fg[fin.state], fa[fin.state] = fin.graph, fin.acoustic
    fids = np.zeros(n, np.int32)
    fids[fin.state] = fin.string
    foff, flab = expand_strings(fids, *trie)
    _, slab = expand_strings(np.array([out.start_string], np.int32), *trie)
    return build_lattice(utt, n, arcs.src, arcs.dst, arcs.word, arcs.graph, arcs.acoustic, aoff, alab, fg, fa, foff,
                         flab, (float(out.start_graph), float(out.start_acoustic), slab), acoustic_scale, frame_seconds,
                         b)
