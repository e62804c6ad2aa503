"""Local epsilon removal, as Kaldi's ``fstrmepslocal`` (RemoveEpsLocal) in its simplest
and most frequent case: an arc with epsilon on both sides into a state that no other arc
enters is removed, and that state's arcs and final cost move onto the arc's source (its
weight times theirs). No state or arc is ever added, the tropical weight of every path is
kept; mkgraph.sh runs it on HCLGa after the disambiguation symbols become epsilons,
before the encoded minimization, which then finds more to merge."""

from __future__ import annotations

import time

import numpy as np
import pywrapfst as fst
from numba import njit

from hclg.fst.convert import arrays_to_fst, fst_to_arrays
from hclg.fst.growable import grown
from hclg.fst.steps import log_step


@njit(cache=True)
def _take(p, n, m):
    """The pending arrays ``p`` with room for ``n + m`` arcs."""
    il, ol, w, d = p
    return grown(il, n + m), grown(ol, n + m), grown(w, n + m), grown(d, n + m)


@njit(cache=True)
def _absorb(offsets, ilabel, olabel, weight, nextstate, final, start):
    """The kernel of :func:`remove_eps_local`.

    Each state s (in order, unless already absorbed) gets a pending list of arcs, first
    its own; an epsilon/epsilon arc into t != s, t not the start and entered by this
    arc only, is replaced by t's arcs (t's own, or its result if t came earlier) with
    the arc's weight added, and t's final cost joins s's (min); t is then dead. The
    result never has more arcs than the input (each absorbed arc takes t's arcs away from
    t), so it is written into arrays of the input's size.

    Returns:
        (number of arcs, src, ilabel, olabel, weight, dst, final): the first arcs are
        the result's; dead states keep no arcs and no final cost (the caller trims them).
    """
    S = final.shape[0]
    A = ilabel.shape[0]
    nin = np.zeros(S, np.int32)
    for k in range(A):
        nin[nextstate[k]] += 1
    dead = np.zeros(S, np.bool_)
    lo = np.zeros(S, np.int64)  # a processed state's arcs in the output
    hi = np.zeros(S, np.int64)
    fin = final.copy()
    o_src = np.empty(A, np.int32)
    o_il = np.empty(A, np.int32)
    o_ol = np.empty(A, np.int32)
    o_w = np.empty(A, np.float32)
    o_dst = np.empty(A, np.int32)
    p = (np.empty(64, np.int32), np.empty(64, np.int32), np.empty(64, np.float32), np.empty(64, np.int32))
    na = 0
    for s in range(S):
        if dead[s]:
            continue
        n = np.int64(0)  # not a literal: numba would compile _take once more for it
        p = _take(p, n, offsets[s + 1] - offsets[s])
        p_il, p_ol, p_w, p_dst = p
        for k in range(offsets[s], offsets[s + 1]):
            p_il[n], p_ol[n], p_w[n], p_dst[n] = ilabel[k], olabel[k], weight[k], nextstate[k]
            n += 1
        i = 0
        first = na
        while i < n:
            t = p_dst[i]
            if p_il[i] == 0 and p_ol[i] == 0 and t != s and t != start and nin[t] == 1 and not dead[t]:
                w = p_w[i]
                dead[t] = True
                if fin[t] + w < fin[s]:
                    fin[s] = fin[t] + w
                fin[t] = np.inf
                if t < s:  # processed already: take its result
                    p = _take(p, n, hi[t] - lo[t])
                    p_il, p_ol, p_w, p_dst = p
                    for k in range(lo[t], hi[t]):
                        p_il[n], p_ol[n], p_w[n], p_dst[n] = o_il[k], o_ol[k], o_w[k] + w, o_dst[k]
                        n += 1
                else:
                    p = _take(p, n, offsets[t + 1] - offsets[t])
                    p_il, p_ol, p_w, p_dst = p
                    for k in range(offsets[t], offsets[t + 1]):
                        p_il[n], p_ol[n], p_w[n], p_dst[n] = ilabel[k], olabel[k], weight[k] + w, nextstate[k]
                        n += 1
            else:
                o_src[na], o_il[na], o_ol[na], o_w[na], o_dst[na] = s, p_il[i], p_ol[i], p_w[i], t
                na += 1
            i += 1
        lo[s], hi[s] = first, na
    m = 0  # drop the arcs of states absorbed after they were processed, in place
    for k in range(na):
        if not dead[o_src[k]]:
            o_src[m], o_il[m], o_ol[m], o_w[m], o_dst[m] = o_src[k], o_il[k], o_ol[k], o_w[k], o_dst[k]
            m += 1
    return m, o_src, o_il, o_ol, o_w, o_dst, fin


def remove_eps_local(f: fst.Fst, step: str, consume: bool = False) -> fst.VectorFst:
    """``f`` with its removable epsilon/epsilon arcs removed (see the module doc), trimmed;
    a logged step. With ``consume``, ``f`` is emptied once read."""
    t0 = time.perf_counter()
    a = fst_to_arrays(f, consume=consume)
    m, src, il, ol, w, dst, final = _absorb(a.offsets, a.ilabel, a.olabel, a.weight, a.nextstate, a.final, a.start)
    S, start = a.num_states, a.start
    del a
    g = arrays_to_fst(S, start, src[:m], il[:m], ol[:m], w[:m], dst[:m], final)
    del src, il, ol, w, dst
    g.connect()
    return log_step(step, g, t0)
