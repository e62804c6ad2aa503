"""Lattice-generating search kernel (numba), as Kaldi's LatticeFasterDecoder.

The same token passing and the same cutoffs as :func:`hclg.decoder.kernel.viterbi` (so the
same options give the same 1-best), but every arc expanded within the cutoff leaves a
*forward link*, and links and tokens are pruned with the lattice beam as the search goes.

Search state, documented as Kaldi's ``lattice-faster-decoder.h`` documents its own:

- Frames are numbered as Kaldi numbers them: frame 0 holds the start state and its epsilon
  closure; emitting arcs out of frame f read log-likelihood row f and make frame f+1.
- *Tokens* of frame f occupy the global ids ``frame_start[f] .. frame_start[f+1]-1``; a
  graph state has at most one token per frame, found with ``index[state]`` (its slot in
  the frame being built; -1 if none).
- ``tok_state``: the graph state. ``tok_cost``: best total cost (graph + acoustic) of a path
  from the start to this token (Kaldi's ``tot_cost``). ``tok_extra``: Kaldi's
  ``extra_cost``, the cost of the best path through the token minus the best path's, as
  far as pruning has established it (0 until pruned; +inf: dead).
- ``tok_head``: the token's first forward link, -1 if none.
- *Links* (``lk_*``, Kaldi's ForwardLink): ``lk_dst`` the token reached (global id),
  ``lk_ilab`` the input label (0: epsilon arc), ``lk_olab`` the word (0: none), ``lk_g`` the
  graph cost, ``lk_a`` the acoustic cost, ``lk_next`` the source token's next link.
  Emitting links go from frame f to f+1, epsilon links stay within a frame.
- Every ``prune_interval`` frames, forward links whose extra cost exceeds the lattice beam
  are deleted from the newest frames backwards (Kaldi's PruneActiveTokens: a frame is
  visited again only while the extra costs below it changed), dead tokens are dropped and
  the token and link arrays are compacted. At the end the final costs set the extra cost
  of the last frame's tokens (PruneForwardLinksFinal) and every frame is pruned.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from hclg.decoder.kernel import _grown, get_cutoff

INF = np.inf


@njit(cache=True)
def _prune_frame(b, e, lattice_beam, delta, tok_cost, tok_extra, tok_head, lk_dst, lk_g, lk_a, lk_next):
    """Kaldi's PruneForwardLinks for the tokens b..e-1 of one frame.

    Returns:
        (extra costs changed by more than delta, a link was deleted)
    """
    any_changed = False
    deleted = False
    changed = True
    while changed:
        changed = False
        for gi in range(b, e):
            best = INF
            prev = -1
            lk = tok_head[gi]
            tc = tok_cost[gi]
            while lk >= 0:
                d = lk_dst[lk]
                le = tok_extra[d] + ((tc + lk_g[lk] + lk_a[lk]) - tok_cost[d])
                nxt = lk_next[lk]
                if not le <= lattice_beam:  # also +inf / dead next token
                    if prev < 0:
                        tok_head[gi] = nxt
                    else:
                        lk_next[prev] = nxt
                    deleted = True
                else:
                    if le < 0.0:
                        le = 0.0
                    if le < best:
                        best = le
                    prev = lk
                lk = nxt
            old = tok_extra[gi]
            if not abs(best - old) <= delta and not (best == INF and old == INF):
                changed = True
            tok_extra[gi] = best
        if changed:
            any_changed = True
    return any_changed, deleted


@njit(cache=True)
def _compact(n_frames, frame_start, tok_state, tok_cost, tok_extra, tok_head,
             lk_dst, lk_ilab, lk_olab, lk_g, lk_a, lk_next, new_id):
    """Drops dead tokens (extra = +inf) of frames 0..n_frames-1 (the last of them is kept
    whole) and rebuilds the link arrays with live links only, in token order.

    Args:
        new_id: int64 [>= tokens] work space.

    Returns:
        (tokens, links, lk_dst, lk_ilab, lk_olab, lk_g, lk_a, lk_next): the new arrays
        (links copied, tokens compacted in place, frame_start updated in place).
    """
    n_tok = frame_start[n_frames]
    last = n_frames - 1
    k = 0
    for f in range(n_frames):
        b = frame_start[f]
        e = frame_start[f + 1]
        frame_start[f] = k
        for gi in range(b, e):
            if f == last or tok_extra[gi] < INF:
                new_id[gi] = k
                k += 1
            else:
                new_id[gi] = -1
    frame_start[n_frames] = k
    n_links = 0
    for gi in range(n_tok):
        if new_id[gi] >= 0:
            lk = tok_head[gi]
            while lk >= 0:
                n_links += 1
                lk = lk_next[lk]
    cap = max(n_links * 2, 4096)
    d_dst = np.empty(cap, np.int32)
    d_ilab = np.empty(cap, np.int32)
    d_olab = np.empty(cap, np.int32)
    d_g = np.empty(cap, np.float32)
    d_a = np.empty(cap, np.float32)
    d_next = np.empty(cap, np.int32)
    m = 0
    for gi in range(n_tok):
        j = new_id[gi]
        if j < 0:
            continue
        lk = tok_head[gi]
        head = -1
        prev = -1
        while lk >= 0:
            d_dst[m] = new_id[lk_dst[lk]]
            d_ilab[m] = lk_ilab[lk]
            d_olab[m] = lk_olab[lk]
            d_g[m] = lk_g[lk]
            d_a[m] = lk_a[lk]
            d_next[m] = -1
            if prev < 0:
                head = m
            else:
                d_next[prev] = m
            prev = m
            m += 1
            lk = lk_next[lk]
        tok_state[j] = tok_state[gi]
        tok_cost[j] = tok_cost[gi]
        tok_extra[j] = tok_extra[gi]
        tok_head[j] = head
    return k, m, d_dst, d_ilab, d_olab, d_g, d_a, d_next


@njit(cache=True)
def lattice_search(start, final, e_off, e_col, e_ilab, e_olab, e_w, e_next, n_off, n_olab, n_w, n_next,
                   loglikes, beam, max_active, min_active, beam_delta, lattice_beam, prune_interval,
                   index_a, index_b):
    """Token passing with forward links over one utterance.

    Args:
        start, final, e_*, n_*: the graph's decoder arrays (see :func:`kernel.viterbi`).
        loglikes: float32 [T, C] scaled log-likelihoods.
        beam, max_active, min_active, beam_delta: as Kaldi's decoders.
        lattice_beam: float; links and tokens further than this from the best path go.
        prune_interval: frames between prunings.
        index_a, index_b: int32 [S], all -1 on entry (and on return).

    Returns:
        (frames_decoded, reached_final, best_total, arcs_expanded, frame_start int64 [F+1],
        tok_state int32 [N], tok_cost float64 [N], tok_extra float64 [N], tok_final float64 [N],
        lk_src, lk_dst, lk_ilab, lk_olab int32 [L], lk_g, lk_a float32 [L]).
        Tokens are the lattice's states in frame order, token 0 the start; ``tok_final`` is
        the final cost of last-frame tokens (0 for all of them when no final state was
        reached), +inf elsewhere.
    """
    T = loglikes.shape[0]
    delta = 0.1 * lattice_beam  # Kaldi's prune_scale
    cap = 4096
    tok_state = np.empty(cap, np.int32)
    tok_cost = np.empty(cap, np.float64)
    tok_extra = np.empty(cap, np.float64)
    tok_head = np.empty(cap, np.int32)
    lcap = 16384
    lk_dst = np.empty(lcap, np.int32)
    lk_ilab = np.empty(lcap, np.int32)
    lk_olab = np.empty(lcap, np.int32)
    lk_g = np.empty(lcap, np.float32)
    lk_a = np.empty(lcap, np.float32)
    lk_next = np.empty(lcap, np.int32)
    frame_start = np.zeros(T + 2, np.int64)
    scratch = np.empty(1024, np.float64)
    costs = np.empty(1024, np.float64)
    stack = np.empty(1024, np.int32)
    new_id = np.empty(1, np.int64)
    n_links = 0
    arcs_expanded = 0
    pruned_upto = 0  # frames below this were pruned at least once

    cur_index = index_a
    nxt_index = index_b
    tok_state[0] = start
    tok_cost[0] = 0.0
    tok_extra[0] = 0.0
    tok_head[0] = -1
    cur_index[start] = 0
    nc = 1
    base = 0
    cutoff = INF
    frames = 0
    for t in range(-1, T):
        if t >= 0:
            costs = _grown(costs, nc)
            scratch = _grown(scratch, nc)
            for i in range(nc):
                costs[i] = tok_cost[base + i]
            weight_cutoff, adaptive_beam, best = get_cutoff(costs, nc, beam, max_active, min_active, beam_delta, scratch)
            need = 0
            for i in range(nc):
                if costs[i] < weight_cutoff:
                    s = tok_state[base + i]
                    need += e_off[s + 1] - e_off[s]
            nbase = base + nc
            tok_state = _grown(tok_state, nbase + need)
            tok_cost = _grown(tok_cost, nbase + need)
            tok_extra = _grown(tok_extra, nbase + need)
            tok_head = _grown(tok_head, nbase + need)
            lk_dst = _grown(lk_dst, n_links + need)
            lk_ilab = _grown(lk_ilab, n_links + need)
            lk_olab = _grown(lk_olab, n_links + need)
            lk_g = _grown(lk_g, n_links + need)
            lk_a = _grown(lk_a, n_links + need)
            lk_next = _grown(lk_next, n_links + need)
            next_cutoff = INF
            s = tok_state[base + best]
            for k in range(e_off[s], e_off[s + 1]):
                w = costs[best] + e_w[k] - loglikes[t, e_col[k]]
                if w + adaptive_beam < next_cutoff:
                    next_cutoff = w + adaptive_beam
            # ---- ProcessEmitting ----
            nx = 0
            for i in range(nc):
                tc = costs[i]
                if not tc < weight_cutoff:
                    continue
                gi = base + i
                s = tok_state[gi]
                for k in range(e_off[s], e_off[s + 1]):
                    ac = -loglikes[t, e_col[k]]
                    w = tc + e_w[k] + ac
                    arcs_expanded += 1
                    if not w < next_cutoff:
                        continue
                    if w + adaptive_beam < next_cutoff:
                        next_cutoff = w + adaptive_beam
                    d = e_next[k]
                    j = nxt_index[d]
                    if j < 0:
                        j = nx
                        nx += 1
                        nxt_index[d] = j
                        tok_state[nbase + j] = d
                        tok_cost[nbase + j] = w
                        tok_extra[nbase + j] = 0.0
                        tok_head[nbase + j] = -1
                    elif tok_cost[nbase + j] > w:
                        tok_cost[nbase + j] = w
                    lk_dst[n_links] = nbase + j
                    lk_ilab[n_links] = e_ilab[k]
                    lk_olab[n_links] = e_olab[k]
                    lk_g[n_links] = e_w[k]
                    lk_a[n_links] = ac
                    lk_next[n_links] = tok_head[gi]
                    tok_head[gi] = n_links
                    n_links += 1
            cutoff = next_cutoff
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
        stack = _grown(stack, nc)
        for i in range(nc):
            stack[i] = tok_state[base + i]
        sp = nc
        while sp > 0:
            s = stack[sp - 1]
            deg = n_off[s + 1] - n_off[s]
            if base + nc + deg > tok_state.shape[0]:
                m = max(2 * tok_state.shape[0], base + nc + deg)
                tok_state = _grown(tok_state, m)
                tok_cost = _grown(tok_cost, m)
                tok_extra = _grown(tok_extra, m)
                tok_head = _grown(tok_head, m)
            if sp + deg > stack.shape[0]:
                stack = _grown(stack, 2 * stack.shape[0] + deg)
            if n_links + deg > lk_dst.shape[0]:
                m = 2 * lk_dst.shape[0] + deg
                lk_dst = _grown(lk_dst, m)
                lk_ilab = _grown(lk_ilab, m)
                lk_olab = _grown(lk_olab, m)
                lk_g = _grown(lk_g, m)
                lk_a = _grown(lk_a, m)
                lk_next = _grown(lk_next, m)
            sp -= 1
            gi = base + cur_index[s]
            tc = tok_cost[gi]
            if tc > cutoff:
                continue
            tok_head[gi] = -1  # its epsilon links are made again (Kaldi's DeleteForwardLinks)
            for k in range(n_off[s], n_off[s + 1]):
                w = tc + n_w[k]
                if w > cutoff:
                    continue
                d = n_next[k]
                j = cur_index[d]
                push = False
                if j < 0:
                    j = nc
                    nc += 1
                    cur_index[d] = j
                    tok_state[base + j] = d
                    tok_cost[base + j] = w
                    tok_extra[base + j] = 0.0
                    tok_head[base + j] = -1
                    push = True
                elif tok_cost[base + j] > w:
                    tok_cost[base + j] = w
                    push = True
                lk_dst[n_links] = base + j
                lk_ilab[n_links] = 0
                lk_olab[n_links] = n_olab[k]
                lk_g[n_links] = n_w[k]
                lk_a[n_links] = 0.0
                lk_next[n_links] = tok_head[gi]
                tok_head[gi] = n_links
                n_links += 1
                if push:
                    stack[sp] = d
                    sp += 1
        frame_start[frames + 1] = base + nc
        # ---- PruneActiveTokens every prune_interval frames ----
        if frames > 0 and frames % prune_interval == 0:
            for f in range(frames - 1, -1, -1):
                ch, dl = _prune_frame(frame_start[f], frame_start[f + 1], lattice_beam, delta,
                                      tok_cost, tok_extra, tok_head, lk_dst, lk_g, lk_a, lk_next)
                if f < pruned_upto and not ch:
                    break
            pruned_upto = frames
            new_id = _grown(new_id, base + nc)
            ntok, n_links, lk_dst, lk_ilab, lk_olab, lk_g, lk_a, lk_next = _compact(
                frames + 1, frame_start, tok_state, tok_cost, tok_extra, tok_head,
                lk_dst, lk_ilab, lk_olab, lk_g, lk_a, lk_next, new_id)
            base = frame_start[frames]
            # the current frame's slots are unchanged (kept whole, in order)

    # ---- final: PruneForwardLinksFinal, then every frame ----
    b = frame_start[frames]
    e = b + nc
    for gi in range(b, e):
        cur_index[tok_state[gi]] = -1
    best_total = INF
    reached = False
    for gi in range(b, e):
        f = final[tok_state[gi]]
        if f < INF:
            reached = True
            if tok_cost[gi] + f < best_total:
                best_total = tok_cost[gi] + f
    if not reached:
        for gi in range(b, e):
            if tok_cost[gi] < best_total:
                best_total = tok_cost[gi]
    tok_final = np.full(e, INF)
    final_extra = np.full(e, INF)
    for gi in range(b, e):
        f = final[tok_state[gi]] if reached else 0.0
        tok_final[gi] = f
        x = tok_cost[gi] + f - best_total
        if x <= lattice_beam:
            final_extra[gi] = x
    # links within the last frame (the extra cost of a last-frame token starts from its
    # own final cost), then every frame below. Extra costs not yet recomputed are still
    # lower bounds (0 for the last frame), so no link is deleted on a stale value.
    changed = True
    while changed:
        changed = False
        for gi in range(b, e):
            prev = -1
            lk = tok_head[gi]
            tc = tok_cost[gi]
            bestx = final_extra[gi]
            while lk >= 0:
                d = lk_dst[lk]
                le = tok_extra[d] + ((tc + lk_g[lk] + lk_a[lk]) - tok_cost[d])
                nxt = lk_next[lk]
                if not le <= lattice_beam:
                    if prev < 0:
                        tok_head[gi] = nxt
                    else:
                        lk_next[prev] = nxt
                else:
                    if le < 0.0:
                        le = 0.0
                    if le < bestx:
                        bestx = le
                    prev = lk
                lk = nxt
            if bestx != tok_extra[gi]:
                changed = True
            tok_extra[gi] = bestx
    for f in range(frames - 1, -1, -1):
        _prune_frame(frame_start[f], frame_start[f + 1], lattice_beam, 0.0,
                     tok_cost, tok_extra, tok_head, lk_dst, lk_g, lk_a, lk_next)
    # compact with an empty frame after the last, so dead last-frame tokens go too
    fs = np.empty(frames + 3, np.int64)
    fs[: frames + 1] = frame_start[: frames + 1]
    fs[frames + 1] = e
    fs[frames + 2] = e
    new_id = _grown(new_id, e)
    ntok, n_links, lk_dst, lk_ilab, lk_olab, lk_g, lk_a, lk_next = _compact(
        frames + 2, fs, tok_state, tok_cost, tok_extra, tok_head,
        lk_dst, lk_ilab, lk_olab, lk_g, lk_a, lk_next, new_id)
    out_final = np.full(ntok, INF)
    for gi in range(b, e):
        j = new_id[gi]
        if j >= 0:
            out_final[j] = tok_final[gi]
    lk_src = np.empty(n_links, np.int32)
    for gi in range(ntok):
        lk = tok_head[gi]
        while lk >= 0:
            lk_src[lk] = gi
            lk = lk_next[lk]
    return (frames, reached, best_total, arcs_expanded, fs[: frames + 2].copy(),
            tok_state[:ntok].copy(), tok_cost[:ntok].copy(), tok_extra[:ntok].copy(), out_final,
            lk_src, lk_dst[:n_links].copy(), lk_ilab[:n_links].copy(), lk_olab[:n_links].copy(),
            lk_g[:n_links].copy(), lk_a[:n_links].copy())
