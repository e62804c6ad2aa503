"""The token-passing Viterbi beam search kernel (numba), as Kaldi's FasterDecoder.

Kernels take flat numpy arrays and scalars only. The public entry is
:class:`hclg.decoder.search.Decoder`, which checks inputs and calls :func:`viterbi`.

Search state, documented as Kaldi's ``lattice-faster-decoder.h`` documents its own:

- A *token* is a graph state alive at a frame boundary. Tokens of one frame live in
  compact slot arrays (``tok_state``, ``tok_cost``, ``tok_ac``, ``tok_link``,
  ``tok_last``); ``index[state]`` gives a state's slot in the current frame, -1 if none.
  Two slot sets and two index arrays alternate between frames; an index array is reset
  to -1 for exactly the states it held, so it is never cleared whole.
- ``tok_cost``: best total cost (graph + acoustic) of a path ending in this state now.
- ``tok_ac``: the acoustic part of that cost, so graph cost = cost - ac.
- ``tok_link``: the newest *link* of that path, -1 at the start. Links are the light
  traceback: a record is written only when a path crosses an arc that outputs a word or
  marks an event (an HMM phone's last frame, a CTC token's first frame), never per frame.
  ``link_prev`` chains them backwards; ``link_label`` is the word id (> 0) or minus the
  event's input label (< 0); ``link_frame`` is the frame it happened at.
- ``tok_last``: the input label of the path's last emitting arc (CTC: tells a repeat of
  the same token from a new one).
- Emitting arcs consume a frame; then epsilon arcs are followed within the frame, with a
  stack, as Kaldi's ProcessNonemitting. Pruning is Kaldi's: the cutoff is best + beam,
  tightened to max_active tokens, widened to min_active, plus beam_delta when either
  sets it; the next frame's cutoff is bounded while expanding, starting from the best
  token's arcs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hclg.fst.growable import grown
from hclg.search.cutoff import frame_cutoffs, prefetch_eps_arcs, prefetch_state
from hclg.graph.arc_records import E_COLUMN, E_ILABEL, E_NEXT, E_OLABEL, E_REC, E_WEIGHT, N_NEXT, N_OLABEL, N_REC, N_WEIGHT

EVENT_NONE = 0
EVENT_PHONE_END = 1  # HMM: a transition into the phone's final state (phone ends this frame)
EVENT_TOKEN = 2  # CTC: a non-blank token (an event when it is not a repeat)
EVENT_BLANK = 3  # CTC blank

INF = np.inf


@njit(cache=True)
def _add_link(link_prev, link_label, link_frame, n_links, prev, label, frame):
    """Writes link ``n_links`` (room guaranteed by the caller); returns its index."""
    link_prev[n_links] = prev
    link_label[n_links] = label
    link_frame[n_links] = frame
    return n_links


@njit(cache=True)
def _emit(t, c_state, c_cost, c_ac, c_link, c_last, nc, weight_cutoff, next_cutoff, adaptive_beam,
          x_state, x_cost, x_ac, x_link, x_last, nxt_index,
          off, e_arc, e_arcw, loglikes, event_kind,
          link_prev, link_label, link_frame, n_links):
    """Kaldi's ProcessEmitting for frame t: expands the tokens under weight_cutoff into
    the (empty) next-frame slots. The caller guarantees room: x_* for every arc expanded,
    links for two per arc.

    Returns:
        (tokens in next frame, next frame's cutoff, n_links, arcs expanded)
    """
    nx = 0
    arcs = 0
    for i in range(nc):
        tc = c_cost[i]
        if not tc < weight_cutoff:
            continue
        s = c_state[i]
        for k in range(off[2 * s], off[2 * s + 2]):
            ac = -loglikes[t, e_arc[E_REC * k + E_COLUMN]]
            w = tc + e_arcw[E_REC * k + E_WEIGHT] + ac
            arcs += 1
            if not w < next_cutoff:
                continue
            if w + adaptive_beam < next_cutoff:
                next_cutoff = w + adaptive_beam
            d = e_arc[E_REC * k + E_NEXT]
            j = nxt_index[d]
            if j < 0:
                j = nx
                nx += 1
                nxt_index[d] = j
                x_state[j] = d
                prefetch_state(off, d)
            elif not x_cost[j] > w:
                continue
            x_cost[j] = w
            x_ac[j] = c_ac[i] + ac
            il = e_arc[E_REC * k + E_ILABEL]
            link = c_link[i]
            ol = e_arc[E_REC * k + E_OLABEL]
            kind = event_kind[il]
            if ol != 0:
                link = _add_link(link_prev, link_label, link_frame, n_links, link, ol, t)
                n_links += 1
            if kind == 1 or (kind == 2 and c_last[i] != il):
                link = _add_link(link_prev, link_label, link_frame, n_links, link, -il, t)
                n_links += 1
            x_link[j] = link
            x_last[j] = il
    return nx, next_cutoff, n_links, arcs


@njit(cache=True)
def _eps(frame, cutoff, c_state, c_cost, c_ac, c_link, c_last, nc, index, stack, sp,
         off, n_arc, n_arcw, link_prev, link_label, link_frame, n_links):
    """Kaldi's ProcessNonemitting: follows epsilon arcs from the states on ``stack``.

    Resumable: before popping a state it checks there is room for all its epsilon arcs
    (slots, stack, links); if not it returns with ``full`` set and the caller grows the
    arrays and calls again with the same stack.

    Returns:
        (nc, sp, n_links, full)
    """
    cap = c_state.shape[0]
    scap = stack.shape[0]
    lcap = link_prev.shape[0]
    while sp > 0:
        s = stack[sp - 1]
        deg = off[2 * s + 3] - off[2 * s + 1]
        if nc + deg > cap or sp + deg > scap or n_links + deg > lcap:
            return nc, sp, n_links, True
        sp -= 1
        i = index[s]
        tc = c_cost[i]
        if tc > cutoff:
            continue
        for k in range(off[2 * s + 1], off[2 * s + 3]):
            w = tc + n_arcw[N_REC * k + N_WEIGHT]
            if w > cutoff:
                continue
            d = n_arc[N_REC * k + N_NEXT]
            j = index[d]
            if j < 0:
                j = nc
                nc += 1
                index[d] = j
                c_state[j] = d
                prefetch_state(off, d)
            elif not c_cost[j] > w:
                continue
            c_cost[j] = w
            c_ac[j] = c_ac[i]
            c_last[j] = c_last[i]
            link = c_link[i]
            ol = n_arc[N_REC * k + N_OLABEL]
            if ol != 0:
                link = _add_link(link_prev, link_label, link_frame, n_links, link, ol, frame)
                n_links += 1
            c_link[j] = link
            stack[sp] = d
            sp += 1
    return nc, sp, n_links, False


@njit(cache=True)
def viterbi(start, final, off, e_arc, e_arcw, n_arc, n_arcw,
            loglikes, event_kind, beam, max_active, min_active, beam_delta, index_a, index_b):
    """1-best token-passing search over one utterance.

    Args:
        start: start state.
        final: float32 [S]; final costs (+inf: not final).
        off: int64 [2 (S+1)]; both arc offsets of each state side by side: the emitting
            arcs of state s are off[2s]:off[2s+2], its epsilon arcs off[2s+1]:off[2s+3].
        e_arc: int32 [E * E_REC]; emitting arc k's record at E_REC * k: column read,
            graph cost (read through e_arcw), destination, input label, output label
            (offsets E_COLUMN, E_WEIGHT, E_NEXT, E_ILABEL, E_OLABEL; see graphdir).
        e_arcw: float32 [E * E_REC]; the same buffer viewed as float32.
        n_arc: int32 [N * N_REC]; epsilon arcs likewise (N_OLABEL, N_WEIGHT, N_NEXT),
            n_arcw its float32 view.
        loglikes: float32 [T, C]; scaled log-likelihoods (acoustic cost = -loglike).
        event_kind: int8 [max_ilabel+1]; EVENT_* per input label.
        beam, max_active, min_active, beam_delta: as Kaldi's FasterDecoder.
        index_a, index_b: int32 [S], all -1 on entry (and on return).

    Returns:
        (best_cost, best_ac, best_link, reached_final, link_prev, link_label, link_frame,
        n_links, arcs_expanded, frames_decoded)
    """
    T = loglikes.shape[0]
    cap = 1024
    c_state = np.empty(cap, np.int32)
    c_cost = np.empty(cap, np.float64)
    c_ac = np.empty(cap, np.float64)
    c_link = np.empty(cap, np.int32)
    c_last = np.empty(cap, np.int32)
    x_state = np.empty(cap, np.int32)
    x_cost = np.empty(cap, np.float64)
    x_ac = np.empty(cap, np.float64)
    x_link = np.empty(cap, np.int32)
    x_last = np.empty(cap, np.int32)
    scratch = np.empty(cap, np.float64)
    stack = np.empty(cap, np.int32)
    link_prev = np.empty(4096, np.int32)
    link_label = np.empty(4096, np.int32)
    link_frame = np.empty(4096, np.int32)
    n_links = 0
    arcs_expanded = 0
    frames = 0

    cur_index = index_a
    nxt_index = index_b
    c_state[0] = start
    c_cost[0] = 0.0
    c_ac[0] = 0.0
    c_link[0] = -1
    c_last[0] = 0
    cur_index[start] = 0
    nc = 1
    cutoff = INF
    for t in range(-1, T):
        if t >= 0:
            scratch = grown(scratch, nc)
            weight_cutoff, adaptive_beam, next_cutoff, need = frame_cutoffs(
                t, c_state, c_cost, nc, beam, max_active, min_active, beam_delta, scratch, off, e_arc, e_arcw, loglikes)
            # room for every arc the expansion may take
            x_state = grown(x_state, need)
            x_cost = grown(x_cost, need)
            x_ac = grown(x_ac, need)
            x_link = grown(x_link, need)
            x_last = grown(x_last, need)
            link_prev = grown(link_prev, n_links + 2 * need)
            link_label = grown(link_label, n_links + 2 * need)
            link_frame = grown(link_frame, n_links + 2 * need)
            nx, cutoff, n_links, arcs = _emit(
                t, c_state, c_cost, c_ac, c_link, c_last, nc, weight_cutoff, next_cutoff, adaptive_beam,
                x_state, x_cost, x_ac, x_link, x_last, nxt_index,
                off, e_arc, e_arcw, loglikes, event_kind,
                link_prev, link_label, link_frame, n_links)
            arcs_expanded += arcs
            for i in range(nc):
                cur_index[c_state[i]] = -1
            cur_index, nxt_index = nxt_index, cur_index
            c_state, x_state = x_state, c_state
            c_cost, x_cost = x_cost, c_cost
            c_ac, x_ac = x_ac, c_ac
            c_link, x_link = x_link, c_link
            c_last, x_last = x_last, c_last
            nc = nx
            if nc == 0:
                break
            frames = t + 1
        stack = grown(stack, nc)
        for i in range(nc):
            stack[i] = c_state[i]
            prefetch_eps_arcs(off, n_arc, c_state[i])
        sp = nc
        frame = t if t >= 0 else 0
        while True:
            nc, sp, n_links, full = _eps(frame, cutoff, c_state, c_cost, c_ac, c_link, c_last, nc, cur_index,
                                         stack, sp, off, n_arc, n_arcw, link_prev, link_label, link_frame, n_links)
            if not full:
                break
            c_state = grown(c_state, 2 * c_state.shape[0])
            c_cost = grown(c_cost, c_state.shape[0])
            c_ac = grown(c_ac, c_state.shape[0])
            c_link = grown(c_link, c_state.shape[0])
            c_last = grown(c_last, c_state.shape[0])
            stack = grown(stack, 2 * stack.shape[0])
            link_prev = grown(link_prev, 2 * link_prev.shape[0])
            link_label = grown(link_label, link_prev.shape[0])
            link_frame = grown(link_frame, link_prev.shape[0])

    # ---- final ----
    best = -1
    best_total = INF
    reached_final = False
    for i in range(nc):
        f = final[c_state[i]]
        if f < INF and c_cost[i] + f < best_total:
            best_total = c_cost[i] + f
            best = i
            reached_final = True
    if best < 0:
        for i in range(nc):
            if c_cost[i] < best_total:
                best_total = c_cost[i]
                best = i
    best_ac = 0.0
    best_link = -1
    if best >= 0:
        best_ac = c_ac[best]
        best_link = c_link[best]
    for i in range(nc):
        cur_index[c_state[i]] = -1
    return (best_total, best_ac, best_link, reached_final, link_prev, link_label, link_frame,
            n_links, arcs_expanded, frames)
