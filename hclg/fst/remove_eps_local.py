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
def _absorb(offsets, ilabel, olabel, weight, nextstate, final, start):
    """The kernel of :func:`remove_eps_local`.

    Each state s (in order, unless already absorbed) gets a pending list of arcs, first
    its own; an epsilon/epsilon arc into t != s, t not the start and entered by this
    arc only, is replaced by t's arcs (t's own, or its result if t came earlier) with
    the arc's weight added, and t's final cost joins s's (min); t is then dead.

    Returns:
        (src, ilabel, olabel, weight, dst, final) of the result (dead states keep no
        arcs and no final cost; the caller trims them).
    """
    S = final.shape[0]
    nin = np.zeros(S, np.int64)
    for k in range(nextstate.shape[0]):
        nin[nextstate[k]] += 1
    dead = np.zeros(S, np.bool_)
    lo = np.zeros(S, np.int64)  # a processed state's arcs in the output
    hi = np.zeros(S, np.int64)
    fin = final.copy()
    cap = max(16, ilabel.shape[0])
    o_src = np.empty(cap, np.int64)
    o_il = np.empty(cap, np.int64)
    o_ol = np.empty(cap, np.int64)
    o_w = np.empty(cap, np.float32)
    o_dst = np.empty(cap, np.int64)
    p_il = np.empty(64, np.int64)  # the pending arcs of the state at hand
    p_ol = np.empty(64, np.int64)
    p_w = np.empty(64, np.float32)
    p_dst = np.empty(64, np.int64)
    na = 0
    for s in range(S):
        if dead[s]:
            continue
        n = 0
        deg = offsets[s + 1] - offsets[s]
        p_il, p_ol, p_w, p_dst = grown(p_il, deg), grown(p_ol, deg), grown(p_w, deg), grown(p_dst, deg)
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
                    m = hi[t] - lo[t]
                    p_il, p_ol, p_w, p_dst = grown(p_il, n + m), grown(p_ol, n + m), grown(p_w, n + m), grown(p_dst, n + m)
                    for k in range(lo[t], hi[t]):
                        p_il[n], p_ol[n], p_w[n], p_dst[n] = o_il[k], o_ol[k], o_w[k] + w, o_dst[k]
                        n += 1
                else:
                    m = offsets[t + 1] - offsets[t]
                    p_il, p_ol, p_w, p_dst = grown(p_il, n + m), grown(p_ol, n + m), grown(p_w, n + m), grown(p_dst, n + m)
                    for k in range(offsets[t], offsets[t + 1]):
                        p_il[n], p_ol[n], p_w[n], p_dst[n] = ilabel[k], olabel[k], weight[k] + w, nextstate[k]
                        n += 1
            else:
                o_src, o_il, o_ol = grown(o_src, na + 1), grown(o_il, na + 1), grown(o_ol, na + 1)
                o_w, o_dst = grown(o_w, na + 1), grown(o_dst, na + 1)
                o_src[na], o_il[na], o_ol[na], o_w[na], o_dst[na] = s, p_il[i], p_ol[i], p_w[i], t
                na += 1
            i += 1
        lo[s], hi[s] = first, na
    keep = np.zeros(na, np.bool_)
    for k in range(na):
        keep[k] = not dead[o_src[k]]
    return o_src[:na][keep], o_il[:na][keep], o_ol[:na][keep], o_w[:na][keep], o_dst[:na][keep], fin


def remove_eps_local(f: fst.Fst, step: str) -> fst.VectorFst:
    """``f`` with its removable epsilon/epsilon arcs removed (see the module doc), trimmed;
    a logged step."""
    t0 = time.perf_counter()
    a = fst_to_arrays(f)
    src, il, ol, w, dst, final = _absorb(a.offsets, a.ilabel, a.olabel, a.weight, a.nextstate, a.final, a.start)
    g = arrays_to_fst(a.num_states, a.start, src, il, ol, w, dst, final)
    g.connect()
    return log_step(step, g, t0)
