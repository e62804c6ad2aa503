"""The token-passing Viterbi beam search kernel (numba), as Kaldi's FasterDecoder.

Kernels take arrays and scalars grouped in named structures (:mod:`hclg.search.kernel_state`
documents the search state field by field). The public entry is
:class:`hclg.search.decoder.Decoder`, which checks inputs and calls :func:`viterbi`.

Emitting arcs consume a frame; then epsilon arcs are followed within the frame, with a
stack, as Kaldi's ProcessNonemitting. Pruning is Kaldi's: the cutoff is best + beam,
tightened to max_active tokens, widened to min_active, plus beam_delta when either sets
it; the next frame's cutoff is bounded while expanding, starting from the best token's
arcs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from hclg.fst.growable import grown
from hclg.graph.arc_records import E_COLUMN, E_ILABEL, E_NEXT, E_OLABEL, E_REC, E_WEIGHT, N_NEXT, N_OLABEL, N_REC, N_WEIGHT
from hclg.search.cutoff import frame_cutoffs, prefetch_eps_arcs, prefetch_state
from hclg.search.kernel_state import (
    EVENT_PHONE_END, EVENT_TOKEN, ViterbiState, grown_tokens, grown_trace_links, new_tokens, new_trace_links,
)
from hclg.search.word_context import context_gate, context_least, context_start, context_step, token_final, token_slot

INF = np.inf


class ViterbiOutput(NamedTuple):
    """What :func:`viterbi` returns."""

    best_cost: float  # total cost of the best path (final cost included when reached_final)
    best_ac: float  # its acoustic part
    best_link: int  # its newest traceback link, -1 if none
    reached_final: bool  # the best path ends in a final state
    links: object  # TraceLinks: the traceback records
    n_links: int  # records in use
    arcs_expanded: int  # emitting arcs expanded
    frames: int  # frames decoded
    tokens_expanded: int  # tokens expanded, summed over frames (active tokens per frame x frames)


@njit(cache=True, inline="always")
def _add_link(links, n_links, prev, label, frame):
    """Writes traceback link ``n_links`` (room guaranteed by the caller); returns its index."""
    links.prev[n_links] = prev
    links.label[n_links] = label
    links.frame[n_links] = frame
    return n_links


@njit(cache=True)
def _emit(t, frame, cur, nc, cut, nxt, nxt_index, g, loglikes, event_kind, links, n_links, context):
    """Kaldi's ProcessEmitting for frame ``frame`` (row t of ``loglikes``): expands the
    ``nc`` tokens of ``cur`` under the weight cutoff into the (empty) next-frame tokens
    ``nxt``. The caller guarantees room: ``nxt`` for every arc expanded, links for two per
    arc. With ``context`` (:func:`hclg.search.word_context.word_context`: G, hotwords;
    None compiles it all away) a word's arc also moves the token's context and adds its
    cost.

    Returns:
        (tokens in next frame, next frame's cutoff, n_links, arcs expanded)
    """
    # fields unpacked once: the loops below then index plain arrays, as numba likes best
    off, e_arc, e_arcw = g.off, g.e_arc, g.e_arcw
    weight_cutoff, adaptive_beam, next_cutoff = cut.weight, cut.adaptive_beam, cut.next
    c_cost, c_ac, c_link, c_last, c_ctx = cur.cost, cur.ac, cur.link, cur.last, cur.ctx
    x_cost, x_ac, x_link, x_last = nxt.cost, nxt.ac, nxt.link, nxt.last
    gate = context_gate(context)
    n_gate = gate.shape[0]
    nx = 0
    arcs = 0
    for i in range(nc):
        tc = c_cost[i]
        if not tc < weight_cutoff:
            continue
        s = cur.state[i]
        cx0 = 0
        if context is not None:
            cx0 = c_ctx[i]
        for k in range(off[2 * s], off[2 * s + 2]):
            ac = -loglikes[t, e_arc[E_REC * k + E_COLUMN]]
            w = tc + e_arcw[E_REC * k + E_WEIGHT] + ac
            arcs += 1
            cx = cx0
            if context is not None:  # before the cutoff: a boost may keep the arc, G may drop it
                ol = e_arc[E_REC * k + E_OLABEL]
                # (one read, no branch on ol != 0, mixed on the arcs; the context handed on only here: see token_slot)
                if (cx0 != 0 or ol >= n_gate or gate[ol]) and ol != 0:
                    if not w + context_least(context, ol) < next_cutoff:
                        continue  # pruned whatever G's state: no step
                    cx, dw = context_step(context, cx0, ol)
                    w += dw
            if not w < next_cutoff:
                continue
            if w + adaptive_beam < next_cutoff:
                next_cutoff = w + adaptive_beam
            d = e_arc[E_REC * k + E_NEXT]
            j = token_slot(nxt_index, d, cx, nxt, 0, nx, context is not None)
            if j < 0:
                j = -1 - j
                nx += 1
                prefetch_state(off, d)
            elif not x_cost[j] > w:
                continue
            x_cost[j] = w
            x_ac[j] = c_ac[i] + ac
            il = e_arc[E_REC * k + E_ILABEL]
            ol = e_arc[E_REC * k + E_OLABEL]
            link = c_link[i]
            kind = event_kind[il]
            if ol != 0:
                link = _add_link(links, n_links, link, ol, frame)
                n_links += 1
            if kind == EVENT_PHONE_END or (kind == EVENT_TOKEN and c_last[i] != il):
                link = _add_link(links, n_links, link, -il, frame)
                n_links += 1
            x_link[j] = link
            x_last[j] = il
    return nx, next_cutoff, n_links, arcs


@njit(cache=True)
def _eps(frame, cutoff, tok, nc, index, stack, sp, g, links, n_links, context):
    """Kaldi's ProcessNonemitting: follows epsilon arcs from the tokens (slots) on
    ``stack``; with ``context``, as :func:`_emit`.

    Resumable: before popping a token it checks there is room for all its epsilon arcs
    (tokens, stack, links); if not it returns with ``full`` set and the caller grows the
    arrays and calls again with the same stack.

    Returns:
        (nc, sp, n_links, full)
    """
    off, n_arc, n_arcw = g.off, g.n_arc, g.n_arcw
    t_cost, t_ac, t_link, t_last, t_ctx = tok.cost, tok.ac, tok.link, tok.last, tok.ctx
    cap = tok.state.shape[0]
    scap = stack.shape[0]
    lcap = links.prev.shape[0]
    gate = context_gate(context)
    n_gate = gate.shape[0]
    while sp > 0:
        i = stack[sp - 1]
        s = tok.state[i]
        deg = off[2 * s + 3] - off[2 * s + 1]
        if nc + deg > cap or sp + deg > scap or n_links + deg > lcap:
            return nc, sp, n_links, True
        sp -= 1
        tc = t_cost[i]
        if tc > cutoff:
            continue
        cx0 = 0
        if context is not None:
            cx0 = t_ctx[i]
        for k in range(off[2 * s + 1], off[2 * s + 3]):
            w = tc + n_arcw[N_REC * k + N_WEIGHT]
            cx = cx0
            if context is not None:
                ol = n_arc[N_REC * k + N_OLABEL]
                if (cx0 != 0 or ol >= n_gate or gate[ol]) and ol != 0:  # as in _emit
                    if w + context_least(context, ol) > cutoff:
                        continue
                    cx, dw = context_step(context, cx0, ol)
                    w += dw
            if w > cutoff:
                continue
            d = n_arc[N_REC * k + N_NEXT]
            j = token_slot(index, d, cx, tok, 0, nc, context is not None)
            if j < 0:
                j = -1 - j
                nc += 1
                prefetch_state(off, d)
            elif not t_cost[j] > w:
                continue
            t_cost[j] = w
            t_ac[j] = t_ac[i]
            t_last[j] = t_last[i]
            link = t_link[i]
            ol = n_arc[N_REC * k + N_OLABEL]
            if ol != 0:
                link = _add_link(links, n_links, link, ol, frame)
                n_links += 1
            t_link[j] = link
            stack[sp] = j
            sp += 1
    return nc, sp, n_links, False


@njit(cache=True)
def best_slots(tok, nc, final, context):
    """(best slot, its cost, best slot with final costs, that total) of ``nc`` tokens;
    slots -1 when there are none (or none is final). With ``context``, a final cost
    includes its end (G's end of sentence, a partly matched phrase's credit given back)."""
    best, best_cost = -1, INF
    fbest, fbest_total = -1, INF
    for i in range(nc):
        c = tok.cost[i]
        if c < best_cost:
            best, best_cost = i, c
        f = token_final(final, tok, i, context)
        if f < INF and c + f < fbest_total:
            fbest, fbest_total = i, c + f
    return best, best_cost, fbest, fbest_total


@njit(cache=True)
def final_best(tok, nc, final, context):
    """(slot, total cost, reached final) of the utterance's best token: final costs
    included when some token is final, else the best partial one (slot -1: no tokens)."""
    best, best_cost, fbest, fbest_total = best_slots(tok, nc, final, context)
    if fbest >= 0:
        return fbest, fbest_total, True
    return best, best_cost, False


@njit(cache=True)
def _closure(cur, nc, cur_index, stack, links, n_links, cutoff, frame, g, context):
    """The epsilon closure of the ``nc`` tokens of ``cur`` at frame ``frame`` (growing the
    stores as :func:`_eps` asks). Returns (cur, nc, stack, links, n_links)."""
    stack = grown(stack, nc)
    states, off, n_arc = cur.state, g.off, g.n_arc
    for i in range(nc):
        stack[i] = i
        prefetch_eps_arcs(off, n_arc, states[i])
    sp = nc
    while True:
        nc, sp, n_links, full = _eps(frame, cutoff, cur, nc, cur_index, stack, sp, g, links, n_links, context)
        if not full:
            break
        cur = grown_tokens(cur, 2 * cur.state.shape[0])
        stack = grown(stack, 2 * stack.shape[0])
        links = grown_trace_links(links, 2 * links.prev.shape[0])
    return cur, nc, stack, links, n_links


@njit(cache=True)
def viterbi_start(g, index_a, index_b, context):
    """The search before its first frame: the start state and its epsilon closure.

    Args:
        g: the graph (SearchGraph).
        index_a, index_b: int32 [S], all -1 (the search owns them until released).
        context: what the search composes on the fly (:func:`hclg.search.word_context.word_context`: G, hotwords), or None.

    Returns:
        ViterbiState.
    """
    cur = new_tokens(1024)
    cur.state[0] = g.start
    cur.cost[0] = 0.0
    cur.ac[0] = 0.0
    cur.link[0] = -1
    cur.last[0] = 0
    cur.ctx[0] = 0
    if context is not None:
        cur.ctx[0] = context_start(context)
    cur.chain[0] = -1
    index_a[g.start] = 0
    links = new_trace_links(4096)
    zero = np.int64(0)  # int64, not literals: see lattice_search
    cur, nc, stack, links, n_links = _closure(cur, np.int64(1), index_a, np.empty(1024, np.int32), links, zero, INF,
                                              zero, g, context)
    return ViterbiState(cur, new_tokens(1024), nc, index_a, index_b, np.empty(1024, np.float64), stack, links,
                        n_links, 0, 0, 0, False)


@njit(cache=True)
def viterbi_advance(st, g, loglikes, event_kind, opts, context):
    """Decodes the frames of ``loglikes`` (the next ones of the search ``st``; any number,
    0 included), as Kaldi's AdvanceDecoding.

    Args:
        st: ViterbiState.
        g: the graph (SearchGraph).
        loglikes: float32 [T, C]; scaled log-likelihoods (acoustic cost = -loglike).
        event_kind: int8 [max_ilabel+1]; EVENT_* per input label.
        opts: BeamOptions.
        context: as given to :func:`viterbi_start`.

    Returns:
        The ViterbiState after them.
    """
    cur, nxt, nc, cur_index, nxt_index = st.cur, st.nxt, st.nc, st.cur_index, st.nxt_index
    scratch, stack, links, n_links = st.scratch, st.stack, st.links, st.n_links
    frames, arcs_expanded, tokens_expanded, dead = st.frames, st.arcs_expanded, st.tokens_expanded, st.dead
    for t in range(loglikes.shape[0]):
        if dead:
            break
        frame = frames
        scratch = grown(scratch, nc)
        cut = frame_cutoffs(t, cur.state, cur.cost, cur.ctx, nc, opts, scratch, g, loglikes, context)
        nxt = grown_tokens(nxt, cut.arcs)  # room for every arc the expansion may take
        links = grown_trace_links(links, n_links + 2 * cut.arcs)
        nx, cutoff, n_links, arcs = _emit(t, frame, cur, nc, cut, nxt, nxt_index, g, loglikes, event_kind, links,
                                          n_links, context)
        arcs_expanded += arcs
        tokens_expanded += nc
        states = cur.state
        for i in range(nc):
            cur_index[states[i]] = -1
        cur_index, nxt_index = nxt_index, cur_index
        cur, nxt = nxt, cur
        nc = nx
        if nc == 0:
            dead = True
            break
        frames = frame + 1
        cur, nc, stack, links, n_links = _closure(cur, nc, cur_index, stack, links, n_links, cutoff, frame, g, context)
    return ViterbiState(cur, nxt, nc, cur_index, nxt_index, scratch, stack, links, n_links, frames, arcs_expanded,
                        tokens_expanded, dead)


@njit(cache=True)
def viterbi_release(st):
    """Resets the search's index arrays to all -1 (they can serve another search)."""
    states = st.cur.state
    for i in range(st.nc):
        st.cur_index[states[i]] = -1


@njit(cache=True)
def viterbi(g, loglikes, event_kind, opts, index_a, index_b, context=None):
    """1-best token-passing search over one utterance (:func:`viterbi_start`, then
    :func:`viterbi_advance` over all its frames).

    Args:
        g: the graph (SearchGraph).
        loglikes: float32 [T, C]; scaled log-likelihoods (acoustic cost = -loglike).
        event_kind: int8 [max_ilabel+1]; EVENT_* per input label.
        opts: BeamOptions.
        index_a, index_b: int32 [S], all -1 on entry (and on return).
        context: what the search composes on the fly (:func:`hclg.search.word_context.word_context`: G, hotwords), or None.

    Returns:
        ViterbiOutput.
    """
    st = viterbi_advance(viterbi_start(g, index_a, index_b, context), g, loglikes, event_kind, opts, context)
    best, best_total, reached_final = final_best(st.cur, st.nc, g.final, context)
    best_ac = 0.0
    best_link = -1
    if best >= 0:
        best_ac = st.cur.ac[best]
        best_link = st.cur.link[best]
    viterbi_release(st)
    return ViterbiOutput(best_total, best_ac, best_link, reached_final, st.links, st.n_links, st.arcs_expanded,
                         st.frames, st.tokens_expanded)
