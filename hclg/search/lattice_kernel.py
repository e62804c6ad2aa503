"""Lattice-generating search kernel (numba), as Kaldi's LatticeFasterDecoder.

The same token passing and the same cutoffs as :func:`hclg.search.viterbi_kernel.viterbi` (so the
same options give the same 1-best), but every arc expanded within the cutoff leaves a
*forward link*, and links and tokens are pruned with the lattice beam as the search goes.

Search state, documented as Kaldi's ``lattice-faster-decoder.h`` documents its own:

- Frames are numbered as Kaldi numbers them: frame 0 holds the start state and its epsilon
  closure; emitting arcs out of frame f read log-likelihood row f and make frame f+1.
- *Tokens* (:class:`~hclg.search.kernel_state.LatticeTokens` ``tok``) of frame f occupy
  the global ids ``frame_start[f] .. frame_start[f+1]-1``; a graph state has at most one
  token per frame, found with ``index[state]`` (its slot in the frame being built; -1 if
  none). ``tok.extra`` is Kaldi's ``extra_cost`` as far as pruning has established it (0
  until pruned, always a lower bound; +inf: dead).
- A token's forward links are two contiguous runs of the link arrays:
  ``tok.elo:tok.ehi`` its emitting links (made together when its frame is expanded) and
  ``tok.nlo:tok.nhi`` its epsilon links (made again, as a new run, whenever the token
  improves within its frame; the old run's links are deleted: Kaldi's
  DeleteForwardLinks). Links are made frame by frame (a frame's epsilon links, then its
  emitting links), so a frame's links lie after the links of the frames before it.
- *Links* (:class:`~hclg.search.kernel_state.ForwardLinks` ``links``, Kaldi's ForwardLink):
  ``links.dst``, the token reached; ``links.arc``, the graph arc: k >= 0 for emitting arc k
  (input label, word, graph cost in its record; acoustic cost ``-loglikes[f, column]``
  for a link out of frame f), -(k+1) for epsilon arc k; ``links.cost``, graph + acoustic
  cost, so that pruning never reads the graph. The exact costs are read from the graph
  arrays once, for the links that survive.
- Every ``prune_interval`` frames, links whose extra cost exceeds the lattice beam are
  deleted from the newest frames backwards (Kaldi's PruneActiveTokens: an older frame is
  visited again only while the extra costs above it changed); then what was made since
  the last pruning is compacted in place (its dead tokens and links dropped; older
  frames keep what pruning deleted there until the end, a little). At the end the final
  costs set the extra cost of the last frame's tokens (PruneForwardLinksFinal), every
  frame is pruned and everything is compacted.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from hclg.fst.growable import grown
from hclg.graph.arc_records import E_COLUMN, E_ILABEL, E_NEXT, E_OLABEL, E_REC, E_WEIGHT, N_NEXT, N_OLABEL, N_REC, N_WEIGHT
from hclg.search.cutoff import frame_cutoffs, prefetch_eps_arcs, prefetch_state
from hclg.search.lattice_pruning import compact_all, prune_active, prune_frame
from hclg.search.kernel_state import (
    LatticeSearchOutput, grown_forward_links, grown_lattice_tokens, new_forward_links, new_lattice_tokens,
)
from hclg.search.word_context import context_gate, context_least, context_start, context_step, token_final, token_slot

INF = np.inf
#: bytes a kept token and a kept link take (LatticeTokens, ForwardLinks); their arrays grow
#: by doubling, so what is allocated is up to twice the count
TOKEN_BYTES = 48
LINK_BYTES = 12


@njit(cache=True)
def _emit_links(t, base, nc, nbase, costs, cut, lattice_beam, tok, nxt_index, g, loglikes, links, n_links,
                context):
    """ProcessEmitting from frame t (tokens base..base+nc-1, their costs in ``costs``)
    into the empty frame starting at ``nbase``, with a forward link for every arc within
    the cutoff, except links that cost more than ``lattice_beam`` over the best way into
    their token so far: their extra cost can only grow, so pruning would delete them.
    The caller guarantees room (a token and a link for every arc expanded). With
    ``context`` (G, hotwords: :func:`hclg.search.word_context.word_context`) a word's arc
    moves the token's context and its link's cost includes the context's.

    Returns:
        (tokens in the new frame, its cutoff, n_links, arcs expanded)
    """
    # fields unpacked once: the loops below then index plain arrays, as numba likes best
    tok_state, tok_cost, tok_elo, tok_ehi, tok_nlo, tok_nhi = tok.state, tok.cost, tok.elo, tok.ehi, tok.nlo, tok.nhi
    tok_ctx = tok.ctx
    lk_dst, lk_arc, lk_cost = links.dst, links.arc, links.cost
    off, e_arc, e_arcw = g.off, g.e_arc, g.e_arcw
    weight_cutoff, adaptive_beam, next_cutoff = cut.weight, cut.adaptive_beam, cut.next
    gate = context_gate(context)
    n_gate = gate.shape[0]
    nx = 0
    arcs_expanded = 0
    for i in range(nc):
        tc = costs[i]
        gi = base + i
        tok_elo[gi] = n_links
        if not tc < weight_cutoff:
            tok_ehi[gi] = n_links
            continue
        s = tok_state[gi]
        cx0 = tok_ctx[gi]
        for k in range(off[2 * s], off[2 * s + 2]):
            w = tc + e_arcw[E_REC * k + E_WEIGHT] - loglikes[t, e_arc[E_REC * k + E_COLUMN]]
            arcs_expanded += 1
            cx = cx0
            if context is not None:  # the context handed on only for word arcs (see token_slot)
                ol = e_arc[E_REC * k + E_OLABEL]
                if (cx0 != 0 or ol >= n_gate or gate[ol]) and ol != 0:  # one read, no branch on ol (context_gate)
                    if not w + context_least(context, ol) < next_cutoff:
                        continue  # pruned whatever G's state: no step
                    cx, wc = context_step(context, cx0, ol)
                    w += wc
            if not w < next_cutoff:
                continue
            if w + adaptive_beam < next_cutoff:
                next_cutoff = w + adaptive_beam
            d = e_arc[E_REC * k + E_NEXT]
            j = token_slot(nxt_index, d, cx, tok, nbase, nx, context is not None)
            if j < 0:
                j = -1 - j
                nx += 1
                tok_cost[nbase + j] = w
                prefetch_state(off, d)
                tok_nlo[nbase + j] = 0
                tok_nhi[nbase + j] = 0
            elif tok_cost[nbase + j] > w:
                tok_cost[nbase + j] = w
            elif w - tok_cost[nbase + j] > lattice_beam:
                continue  # its extra cost can only be larger: it would be pruned anyway
            lk_dst[n_links] = nbase + j
            lk_arc[n_links] = k
            lk_cost[n_links] = w - tc
            n_links += 1
        tok_ehi[gi] = n_links
    return nx, next_cutoff, n_links, arcs_expanded


@njit(cache=True)
def _eps_links(cutoff, lattice_beam, base, nc, index, stack, sp, g, tok, links, n_links, context):
    """ProcessNonemitting on the frame whose tokens start at ``base``: follows epsilon
    arcs from the tokens (slots in the frame) on ``stack``, linking every arc within the
    cutoff; with ``context``, as :func:`_emit_links`. Resumable as the 1-best search's:
    returns with ``full`` set when a token's arcs might not fit.

    Returns:
        (nc, sp, n_links, full)
    """
    # fields unpacked once: the loops below then index plain arrays, as numba likes best
    tok_state, tok_cost, tok_nlo, tok_nhi, tok_ctx = tok.state, tok.cost, tok.nlo, tok.nhi, tok.ctx
    lk_dst, lk_arc, lk_cost = links.dst, links.arc, links.cost
    off, n_arc, n_arcw = g.off, g.n_arc, g.n_arcw
    cap = tok_state.shape[0]
    scap = stack.shape[0]
    lcap = lk_dst.shape[0]
    gate = context_gate(context)
    n_gate = gate.shape[0]
    while sp > 0:
        gi = base + stack[sp - 1]
        s = tok_state[gi]
        deg = off[2 * s + 3] - off[2 * s + 1]
        if base + nc + deg > cap or sp + deg > scap or n_links + deg > lcap:
            return nc, sp, n_links, True
        sp -= 1
        tc = tok_cost[gi]
        cx0 = tok_ctx[gi]
        for lk in range(tok_nlo[gi], tok_nhi[gi]):  # a new run replaces the old one
            lk_dst[lk] = -1  # (Kaldi's DeleteForwardLinks)
        tok_nlo[gi] = n_links
        tok_nhi[gi] = n_links
        if tc > cutoff:
            continue
        for k in range(off[2 * s + 1], off[2 * s + 3]):
            cx = cx0
            wa = n_arcw[N_REC * k + N_WEIGHT]
            wc = 0.0
            if context is not None:
                ol = n_arc[N_REC * k + N_OLABEL]
                if (cx0 != 0 or ol >= n_gate or gate[ol]) and ol != 0:  # as in _emit_links
                    if tc + wa + context_least(context, ol) > cutoff:
                        continue
                    cx, wc = context_step(context, cx0, ol)
            w = tc + wa + wc
            if w > cutoff:
                continue
            d = n_arc[N_REC * k + N_NEXT]
            j = token_slot(index, d, cx, tok, base, nc, context is not None)
            push = False
            if j < 0:
                j = -1 - j
                nc += 1
                tok_cost[base + j] = w
                prefetch_state(off, d)
                tok_nlo[base + j] = 0
                tok_nhi[base + j] = 0
                push = True
            elif tok_cost[base + j] > w:
                tok_cost[base + j] = w
                push = True
            elif w - tok_cost[base + j] > lattice_beam:
                continue  # can only be pruned
            lk_dst[n_links] = base + j
            lk_arc[n_links] = -k - 1
            lk_cost[n_links] = wa + wc
            n_links += 1
            if push:
                stack[sp] = j
                sp += 1
        tok_nhi[gi] = n_links
    return nc, sp, n_links, False


@njit(cache=True)
def lattice_search(g, loglikes, opts, lattice_beam, prune_interval, index_a, index_b, max_mem, context=None):
    """Token passing with forward links over one utterance.

    Args:
        g: the graph (SearchGraph).
        loglikes: float32 [T, C] scaled log-likelihoods.
        opts: BeamOptions, as the 1-best search's.
        lattice_beam: float; links and tokens further than this from the best path go.
        prune_interval: frames between prunings.
        index_a, index_b: int32 [S], all -1 on entry (and on return).
        max_mem: bytes; when the tokens and links kept pass it (counted after each
            frame), the search stops there with ``too_big`` set.
        context: what the search composes on the fly (:func:`hclg.search.word_context.word_context`:
            G, hotwords), or None; a lattice state is then a (graph state, context) pair,
            and a link's graph cost includes the context's.

    Returns:
        LatticeSearchOutput.
    """
    T = loglikes.shape[0]
    tok = new_lattice_tokens(4096)
    links = new_forward_links(np.int64(16384))
    frame_start = np.zeros(T + 3, np.int64)
    scratch = np.empty(1024, np.float64)
    costs = np.empty(1024, np.float64)
    stack = np.empty(1024, np.int32)
    # counters start as np.int64, not as literals: numba would compile the kernels they
    # are handed to once for the literal and once more for int64 (seconds of a cold start)
    n_links = np.int64(0)
    arcs_expanded = np.int64(0)
    pruned_upto = np.int64(0)  # frames below this were pruned at least once

    cur_index = index_a
    nxt_index = index_b
    tok.state[0] = g.start
    tok.cost[0] = 0.0
    tok.nlo[0] = 0
    tok.nhi[0] = 0
    tok.ctx[0] = 0
    if context is not None:
        tok.ctx[0] = context_start(context)
    tok.chain[0] = -1
    cur_index[g.start] = 0
    nc = np.int64(1)
    base = np.int64(0)
    cutoff = INF
    frames = np.int64(0)
    too_big = False
    for t in range(-1, T):
        if t >= 0:
            costs = grown(costs, nc)
            scratch = grown(scratch, nc)
            tok_cost = tok.cost
            for i in range(nc):
                costs[i] = tok_cost[base + i]
            cut = frame_cutoffs(t, tok.state[base:base + nc], costs, tok.ctx[base:base + nc], nc, opts, scratch, g,
                                loglikes, context)
            nbase = base + nc
            tok = grown_lattice_tokens(tok, nbase + cut.arcs)
            links = grown_forward_links(links, n_links + cut.arcs)
            nx, cutoff, n_links, arcs = _emit_links(t, base, nc, nbase, costs, cut, lattice_beam, tok, nxt_index,
                                                    g, loglikes, links, n_links, context)
            arcs_expanded += arcs
            tok_state = tok.state
            for i in range(nc):
                cur_index[tok_state[base + i]] = -1
            cur_index, nxt_index = nxt_index, cur_index
            if nx == 0:
                break
            base = nbase
            nc = nx
            frames = t + 1
            frame_start[frames] = base
        # ---- ProcessNonemitting on frame `frames` ----
        stack = grown(stack, nc)
        tok_state, off, n_arc = tok.state, g.off, g.n_arc
        for i in range(nc):
            stack[i] = i
            prefetch_eps_arcs(off, n_arc, tok_state[base + i])
        sp = nc
        while True:
            nc, sp, n_links, full = _eps_links(cutoff, lattice_beam, base, nc, cur_index, stack, sp, g, tok,
                                               links, n_links, context)
            if not full:
                break
            tok = grown_lattice_tokens(tok, 2 * tok.state.shape[0])
            stack = grown(stack, 2 * stack.shape[0])
            links = grown_forward_links(links, 2 * links.dst.shape[0])
        frame_start[frames + 1] = base + nc
        tok_extra, tok_elo, tok_ehi = tok.extra, tok.elo, tok.ehi
        for gi in range(base, base + nc):  # the other fields: set when the frame is expanded
            tok_extra[gi] = 0.0
            tok_elo[gi] = 0
            tok_ehi[gi] = 0
        if frames > 0 and frames % prune_interval == 0 and t < T - 1:
            n_links = prune_active(frames, pruned_upto, frame_start, lattice_beam, tok, links, n_links, base + nc)
            pruned_upto = frames
            base = frame_start[frames]  # the current frame is kept whole, in order
        if LINK_BYTES * n_links + TOKEN_BYTES * (base + nc) > max_mem:
            too_big = True
            break
    tok_state = tok.state
    for gi in range(frame_start[frames], frame_start[frames] + nc):
        cur_index[tok_state[gi]] = -1
    return _finish(g, loglikes, frames, nc, frame_start, lattice_beam, tok, links, arcs_expanded, too_big, context)


@njit(cache=True)
def _finish(g, loglikes, frames, nc, frame_start, lattice_beam, tok, links, arcs_expanded, too_big, context):
    """The end of the lattice search: the best final cost, PruneForwardLinksFinal on the
    last frame, exact pruning of every frame, the final compaction, and the surviving
    links' exact costs read from the graph (and the context)."""
    b = frame_start[frames]
    e = b + nc
    best_total = INF
    reached = False
    for gi in range(b, e):
        f = token_final(g.final, tok, gi, context)
        if f < INF:
            reached = True
            if tok.cost[gi] + f < best_total:
                best_total = tok.cost[gi] + f
    if not reached:
        for gi in range(b, e):
            if tok.cost[gi] < best_total:
                best_total = tok.cost[gi]
    last_final = np.full(nc, INF)
    final_extra = np.full(nc, INF)
    for gi in range(b, e):
        f = token_final(g.final, tok, gi, context) if reached else 0.0
        last_final[gi - b] = f
        x = tok.cost[gi] + f - best_total
        if x <= lattice_beam:
            final_extra[gi - b] = x
    # extra costs not yet recomputed are lower bounds (0 in the last frame), so no link is
    # deleted on a stale value
    prune_frame(b, e, lattice_beam, 0.0, True, final_extra, tok, links)
    no_final = np.empty(0, np.float64)
    for f in range(frames - 1, -1, -1):
        prune_frame(frame_start[f], frame_start[f + 1], lattice_beam, 0.0, True, no_final, tok, links)
    new_id = np.empty(e, np.int64)
    frame_start[frames + 1] = e
    ntok, n_links, links = compact_all(frames + 1, frame_start, tok, links, new_id)
    tok_final = np.full(ntok, INF)
    for gi in range(b, e):
        j = new_id[gi]
        if j >= 0:
            tok_final[j] = last_final[gi - b]
    lk_src = np.empty(n_links, np.int32)
    lk_ilab = np.empty(n_links, np.int32)
    lk_olab = np.empty(n_links, np.int32)
    lk_g = np.empty(n_links, np.float32)
    lk_a = np.empty(n_links, np.float32)
    e_arc, e_arcw, n_arc, n_arcw = g.e_arc, g.e_arcw, g.n_arc, g.n_arcw
    for f in range(frames + 1):
        for gi in range(frame_start[f], frame_start[f + 1]):
            for lk in range(tok.elo[gi], tok.nhi[gi]):
                lk_src[lk] = gi
                k = links.arc[lk]
                if k >= 0:
                    lk_ilab[lk] = e_arc[E_REC * k + E_ILABEL]
                    lk_olab[lk] = e_arc[E_REC * k + E_OLABEL]
                    lk_g[lk] = e_arcw[E_REC * k + E_WEIGHT]
                    lk_a[lk] = -loglikes[f, e_arc[E_REC * k + E_COLUMN]]
                else:
                    lk_ilab[lk] = 0
                    lk_olab[lk] = n_arc[N_REC * (-k - 1) + N_OLABEL]
                    lk_g[lk] = n_arcw[N_REC * (-k - 1) + N_WEIGHT]
                    lk_a[lk] = 0.0
                if context is not None and lk_olab[lk] != 0:
                    lk_g[lk] += context_step(context, tok.ctx[gi], lk_olab[lk])[1]
    return LatticeSearchOutput(frames, reached, best_total, arcs_expanded, frame_start[: frames + 2].copy(),
                               tok.cost[:ntok].copy(), tok.extra[:ntok].copy(), tok_final,
                               lk_src, links.dst[:n_links].copy(), lk_ilab, lk_olab, lk_g, lk_a, too_big)
