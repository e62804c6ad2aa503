"""What both search kernels do before expanding a frame, as Kaldi's decoders: the beam
cutoff (FasterDecoder::GetCutoff), the next frame's first cutoff, and prefetching the
graph data the expansion will read."""

from __future__ import annotations

import numpy as np
from numba import njit

from hclg.fst.prefetch import prefetch
from hclg.fst.selection import kth_smallest
from hclg.graph.arc_records import E_COLUMN, E_OLABEL, E_REC, E_WEIGHT, N_REC
from hclg.search.kernel_state import Cutoffs
from hclg.search.word_context import context_step

INF = np.inf


@njit(cache=True)
def prefetch_state(off, s):
    """Prefetches state s's four arc offsets (off[2s] .. off[2s+3], which may straddle two
    cache lines)."""
    prefetch(off, 2 * s)
    prefetch(off, 2 * s + 3)


@njit(cache=True)
def prefetch_eps_arcs(off, n_arc, s):
    """Prefetches the first epsilon arc of state s, if it has any."""
    lo = off[2 * s + 1]
    if off[2 * s + 3] > lo:
        prefetch(n_arc, N_REC * lo)


@njit(cache=True)
def get_cutoff(costs, n, beam, max_active, min_active, beam_delta, scratch):
    """Kaldi's FasterDecoder::GetCutoff.

    Gives exactly Kaldi's result (its sorted costs and adaptive beam in single precision,
    as there), but partitions the costs only when a bound bites:
    the max_active-th smallest cost is below best + beam only if more than max_active
    costs are, and the min_active-th smallest is above it only if at most min_active
    costs are not; one counting pass tells, and in most frames neither holds.

    Args:
        costs: float64 [>= n]; token costs of this frame.
        n: number of tokens.
        beam, max_active, min_active, beam_delta: the options.
        scratch: float64 [>= n] work space.

    Returns:
        (cutoff, adaptive_beam, best_slot).
    """
    best = INF
    best_slot = -1
    for i in range(n):
        if costs[i] < best:
            best = costs[i]
            best_slot = i
    beam_cutoff = best + beam
    if n <= min_active:  # (so n <= max_active) Kaldi keeps every token
        return INF, INF, best_slot
    below = 0  # costs < beam_cutoff
    within = 0  # costs <= beam_cutoff
    for i in range(n):
        c = np.float64(np.float32(costs[i]))  # as Kaldi compares them (see below)
        below += c < beam_cutoff
        within += c <= beam_cutoff
    if below > max_active:
        k = max_active
    elif min_active > 0 and within <= min_active:  # (with min_active 0 Kaldi compares the best, in double)
        k = min_active
    else:
        return beam_cutoff, beam, best_slot
    for i in range(n):
        scratch[i] = costs[i]
    # the k-th smallest cost, in single precision: Kaldi sorts the costs in a
    # std::vector<BaseFloat> and keeps the adaptive beam as a BaseFloat
    cutoff = np.float64(np.float32(kth_smallest(scratch, n, k)))
    return cutoff, np.float64(np.float32(cutoff - best + beam_delta)), best_slot


@njit(cache=True)
def frame_cutoffs(t, states, costs, ctxs, nc, opts, scratch, g, loglikes, context):
    """What expanding frame t needs before it starts, as Kaldi's decoders work it out:
    the weight cutoff (GetCutoff), the next frame's first cutoff (the best token's arcs
    plus the adaptive beam) and how many arcs the tokens under the cutoff have.

    Args:
        t: the frame (its log-likelihood row).
        states: int32 [>= nc]; the tokens' states. costs: float64 [>= nc]; their costs.
        ctxs: int64 [>= nc]; their contexts (read only with ``context``).
        nc: number of tokens.
        opts: BeamOptions.
        scratch: float64 [>= nc] work space.
        g: the SearchGraph.
        loglikes: float32 [T, C] scaled log-likelihoods.
        context: what the search composes on the fly (G, hotwords), or None: the best
            token's word arcs then cost what stepping its context adds (the first cutoff
            is as tight as on a static graph of the composition).

    Returns:
        Cutoffs.
    """
    weight_cutoff, adaptive_beam, best = get_cutoff(costs, nc, opts.beam, opts.max_active, opts.min_active,
                                                    opts.beam_delta, scratch)
    off, e_arc, e_arcw = g.off, g.e_arc, g.e_arcw
    need = 0
    for i in range(nc):
        if costs[i] < weight_cutoff:
            s = states[i]
            lo = off[2 * s]
            need += off[2 * s + 2] - lo
            prefetch(e_arc, E_REC * lo)  # read by the expansion that follows
    next_cutoff = INF
    s = states[best]
    for k in range(off[2 * s], off[2 * s + 2]):
        w = costs[best] + e_arcw[E_REC * k + E_WEIGHT] - loglikes[t, e_arc[E_REC * k + E_COLUMN]]
        if context is not None:
            ol = e_arc[E_REC * k + E_OLABEL]
            if ol != 0:
                w += context_step(context, ctxs[best], ol)[1]
        if w + adaptive_beam < next_cutoff:
            next_cutoff = w + adaptive_beam
    return Cutoffs(weight_cutoff, adaptive_beam, next_cutoff, need)
