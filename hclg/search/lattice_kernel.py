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
  far as pruning has established it (0 until pruned, always a lower bound; +inf: dead).
- A token's forward links are two contiguous runs of the link arrays:
  ``tok_elo:tok_ehi`` its emitting links (made together when its frame is expanded) and
  ``tok_nlo:tok_nhi`` its epsilon links (made again, as a new run, whenever the token
  improves within its frame; the old run's links are deleted: Kaldi's
  DeleteForwardLinks). Links are made frame by frame (a frame's epsilon links, then its
  emitting links), so a frame's links lie after the links of the frames before it.
- *Links* (Kaldi's ForwardLink): ``lk_dst``, the token reached (global id; -1 once
  pruned); ``lk_arc``, the graph arc: k >= 0 for emitting arc k (input label, word, graph
  cost in its record in ``e_arc``; acoustic cost ``-loglikes[f, column]`` for a link out of frame f),
  -(k+1) for epsilon arc k (``n_arc``); ``lk_cost`` (float32), graph + acoustic cost, so
  that pruning never reads the graph. The exact costs are read from the graph arrays
  once, for the links that survive.
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
from hclg.search.cutoff import frame_cutoffs, prefetch_eps_arcs, prefetch_state
from hclg.graph.arc_records import E_COLUMN, E_ILABEL, E_NEXT, E_OLABEL, E_REC, E_WEIGHT, N_NEXT, N_OLABEL, N_REC, N_WEIGHT

INF = np.inf


@njit(cache=True)
def _prune_frame(b, e, lattice_beam, delta, exact, final_extra, tok_cost, tok_extra,
                 tok_elo, tok_ehi, tok_nlo, tok_nhi, lk_dst, lk_cost):
    """Kaldi's PruneForwardLinks for one frame (tokens b..e-1): recomputes their extra
    costs from their links and deletes the links past the lattice beam. Tokens are visited
    newest first (nearly reverse topological order for epsilon links, as Kaldi's token
    lists). An epsilon link may read a token this pass has not reached yet: that value is
    stale, but a lower bound, so no link is deleted wrongly. With ``exact`` the frame is
    passed over again while that happened and some extra cost changed; without it (the
    pruning every prune_interval frames) one pass is kept and the final pruning, which is
    exact, deletes what a second pass would have.

    Args:
        exact: pass again until no stale value changed.
        final_extra: float64 [e - b] for the last frame (each token's own final extra
            cost), or an empty array.

    Returns:
        whether any extra cost changed by more than delta.
    """
    any_changed = False
    has_final = final_extra.shape[0] > 0
    again = True
    while again:
        changed = False
        stale = False  # read the extra cost of a token this pass has not reached yet
        for gi in range(e - 1, b - 1, -1):
            best = final_extra[gi - b] if has_final else INF
            tc = tok_cost[gi]
            for r in range(2):
                lo = tok_elo[gi] if r == 0 else tok_nlo[gi]
                hi = tok_ehi[gi] if r == 0 else tok_nhi[gi]
                for lk in range(lo, hi):
                    d = lk_dst[lk]
                    if d < 0:
                        continue
                    if b <= d < gi:
                        stale = True
                    le = tok_extra[d] + ((tc + lk_cost[lk]) - tok_cost[d])
                    if not le <= lattice_beam:  # also +inf: a dead next token
                        lk_dst[lk] = -1
                    else:
                        if le < 0.0:
                            le = 0.0
                        if le < best:
                            best = le
            old = tok_extra[gi]
            if not (abs(best - old) <= delta or (best == INF and old == INF)):
                changed = True
            tok_extra[gi] = best
        if changed:
            any_changed = True
        # another pass only if a value read stale may have changed since
        again = exact and changed and stale
    return any_changed


@njit(cache=True)
def _copy_live(lo, hi, m, new_id, lk_dst, lk_arc, lk_cost, d_dst, d_arc, d_cost):
    """Copies the live links among lo..hi-1 to d_* from position m, their next tokens
    renumbered by new_id; returns the position after the last one copied."""
    for lk in range(lo, hi):
        if lk_dst[lk] >= 0:
            d_dst[m] = new_id[lk_dst[lk]]
            d_arc[m] = lk_arc[lk]
            d_cost[m] = lk_cost[lk]
            m += 1
    return m


@njit(cache=True)
def _compact(n_frames, frame_start, tok_state, tok_cost, tok_extra, tok_elo, tok_ehi, tok_nlo, tok_nhi,
             lk_dst, lk_arc, lk_cost, new_id):
    """The final compaction: drops the dead tokens (extra = +inf) of frames 0..n_frames-1
    and rebuilds the link arrays with live links only, token by token (a token's emitting
    run, then its epsilon run, adjacent).

    Args:
        new_id: int64 [>= tokens] work space; on return the old -> new token map (-1: gone).

    Returns:
        (tokens, links, lk_dst, lk_arc, lk_cost): the new link arrays (tokens compacted in place,
        frame_start updated in place).
    """
    n_tok = frame_start[n_frames]
    k = 0
    for f in range(n_frames):
        b = frame_start[f]
        e = frame_start[f + 1]
        frame_start[f] = k
        for gi in range(b, e):
            if tok_extra[gi] < INF:
                new_id[gi] = k
                k += 1
            else:
                new_id[gi] = -1
    frame_start[n_frames] = k
    n_links = 0
    for gi in range(n_tok):
        if new_id[gi] >= 0:
            for lk in range(tok_elo[gi], tok_ehi[gi]):
                n_links += lk_dst[lk] >= 0
            for lk in range(tok_nlo[gi], tok_nhi[gi]):
                n_links += lk_dst[lk] >= 0
    cap = max(n_links * 2, 16384)
    d_dst = np.empty(cap, np.int32)
    d_arc = np.empty(cap, np.int32)
    d_cost = np.empty(cap, np.float32)
    m = 0
    for gi in range(n_tok):
        j = new_id[gi]
        if j < 0:
            continue
        elo = m
        m = _copy_live(tok_elo[gi], tok_ehi[gi], m, new_id, lk_dst, lk_arc, lk_cost, d_dst, d_arc, d_cost)
        nlo = m
        m = _copy_live(tok_nlo[gi], tok_nhi[gi], m, new_id, lk_dst, lk_arc, lk_cost, d_dst, d_arc, d_cost)
        tok_state[j] = tok_state[gi]
        tok_cost[j] = tok_cost[gi]
        tok_extra[j] = tok_extra[gi]
        tok_elo[j] = elo
        tok_ehi[j] = nlo
        tok_nlo[j] = nlo
        tok_nhi[j] = m
    return k, m, d_dst, d_arc, d_cost


@njit(cache=True)
def _links_after(r, frame_start, tok_ehi, tok_nhi):
    """Where the links of frames >= r start: links are made frame by frame (a frame's
    epsilon links, then its emitting links), so after the last link of frame r-1."""
    l0 = 0
    if r > 0:
        for gi in range(frame_start[r - 1], frame_start[r]):
            l0 = max(l0, tok_ehi[gi], tok_nhi[gi])
    return l0


@njit(cache=True)
def _remap_runs(gi, k, l0, new_pos, tok_elo, tok_ehi, tok_nlo, tok_nhi):
    """Token gi's two link runs, renumbered through new_pos, stored as token k's."""
    for r in range(2):
        lo = tok_elo[gi] if r == 0 else tok_nlo[gi]
        hi = tok_ehi[gi] if r == 0 else tok_nhi[gi]
        if hi > lo:
            lo = new_pos[lo - l0]
            hi = new_pos[hi - l0]
        else:
            lo = hi = l0
        if r == 0:
            tok_elo[k] = lo
            tok_ehi[k] = hi
        else:
            tok_nlo[k] = lo
            tok_nhi[k] = hi


@njit(cache=True)
def _compact_tail(r, n_frames, frame_start, tok_state, tok_cost, tok_extra, tok_elo, tok_ehi, tok_nlo, tok_nhi,
                  lk_dst, lk_arc, lk_cost, l0, n_links, new_pos, new_id):
    """Compacts in place what was made since the last pruning: the dead tokens of frames
    r..n_frames-2 go (the last, current frame is kept whole), and the dead links of
    frames r-1 on (frame r-1's emitting links are the ones into frame r) are dropped, the
    live ones moved down in their own order, so that a run stays a run. Older frames are
    left as they are: what pruning deletes there is little, and goes in the final
    compaction.

    Args:
        r: first frame whose tokens are renumbered (>= 1).
        l0: where frame r-1's links start (``_links_after(r - 1, ...)``).
        new_pos: int32 [>= n_links - l0 + 1] work space.
        new_id: int64 [>= tokens from frame r on] work space.

    Returns:
        (tokens, links) after compaction; frame_start updated in place.
    """
    t0 = frame_start[r]
    m = l0
    for lk in range(l0, n_links):
        new_pos[lk - l0] = m
        if lk_dst[lk] >= 0:
            m += 1
    new_pos[n_links - l0] = m
    for gi in range(frame_start[r - 1], t0):
        _remap_runs(gi, gi, l0, new_pos, tok_elo, tok_ehi, tok_nlo, tok_nhi)
    k = t0
    for f in range(r, n_frames):
        b = frame_start[f]
        e = frame_start[f + 1]
        frame_start[f] = k
        for gi in range(b, e):
            if f < n_frames - 1 and not tok_extra[gi] < INF:
                new_id[gi - t0] = -1
                continue
            new_id[gi - t0] = k
            tok_state[k] = tok_state[gi]
            tok_cost[k] = tok_cost[gi]
            tok_extra[k] = tok_extra[gi]
            _remap_runs(gi, k, l0, new_pos, tok_elo, tok_ehi, tok_nlo, tok_nhi)
            k += 1
    frame_start[n_frames] = k
    for lk in range(l0, n_links):
        d = lk_dst[lk]
        if d >= 0:
            j = new_pos[lk - l0]
            lk_dst[j] = new_id[d - t0] if d >= t0 else d
            lk_arc[j] = lk_arc[lk]
            lk_cost[j] = lk_cost[lk]
    return k, m


@njit(cache=True)
def _emit_links(t, base, nc, nbase, costs, weight_cutoff, next_cutoff, adaptive_beam, lattice_beam,
                tok_state, tok_cost, tok_elo, tok_ehi, tok_nlo, tok_nhi, nxt_index,
                off, e_arc, e_arcw, loglikes, lk_dst, lk_arc, lk_cost, n_links):
    """ProcessEmitting from frame t (tokens base..base+nc-1, their costs in ``costs``)
    into the empty frame starting at ``nbase``, with a forward link for every arc within
    the cutoff, except links that cost more than ``lattice_beam`` over the best way into
    their token so far: their extra cost can only grow, so pruning would delete them.
    The caller guarantees room (a token and a link for every arc expanded).

    Returns:
        (tokens in the new frame, its cutoff, n_links, arcs expanded)
    """
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
        for k in range(off[2 * s], off[2 * s + 2]):
            w = tc + e_arcw[E_REC * k + E_WEIGHT] - loglikes[t, e_arc[E_REC * k + E_COLUMN]]
            arcs_expanded += 1
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
                tok_state[nbase + j] = d
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
def _eps_links(cutoff, lattice_beam, base, nc, index, stack, sp, off, n_arc, n_arcw,
               tok_state, tok_cost, tok_nlo, tok_nhi, lk_dst, lk_arc, lk_cost, n_links):
    """ProcessNonemitting on the frame whose tokens start at ``base``: follows epsilon
    arcs from the states on ``stack``, linking every arc within the cutoff. Resumable as
    :func:`kernel._eps`: returns with ``full`` set when a state's arcs might not fit.

    Returns:
        (nc, sp, n_links, full)
    """
    cap = tok_state.shape[0]
    scap = stack.shape[0]
    lcap = lk_dst.shape[0]
    while sp > 0:
        s = stack[sp - 1]
        deg = off[2 * s + 3] - off[2 * s + 1]
        if base + nc + deg > cap or sp + deg > scap or n_links + deg > lcap:
            return nc, sp, n_links, True
        sp -= 1
        gi = base + index[s]
        tc = tok_cost[gi]
        for lk in range(tok_nlo[gi], tok_nhi[gi]):  # a new run replaces the old one
            lk_dst[lk] = -1  # (Kaldi's DeleteForwardLinks)
        tok_nlo[gi] = n_links
        tok_nhi[gi] = n_links
        if tc > cutoff:
            continue
        for k in range(off[2 * s + 1], off[2 * s + 3]):
            w = tc + n_arcw[N_REC * k + N_WEIGHT]
            if w > cutoff:
                continue
            d = n_arc[N_REC * k + N_NEXT]
            j = index[d]
            push = False
            if j < 0:
                j = nc
                nc += 1
                index[d] = j
                tok_state[base + j] = d
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
            lk_cost[n_links] = n_arcw[N_REC * k + N_WEIGHT]
            n_links += 1
            if push:
                stack[sp] = d
                sp += 1
        tok_nhi[gi] = n_links
    return nc, sp, n_links, False


@njit(cache=True)
def lattice_search(start, final, off, e_arc, e_arcw, n_arc, n_arcw,
                   loglikes, beam, max_active, min_active, beam_delta, lattice_beam, prune_interval,
                   index_a, index_b):
    """Token passing with forward links over one utterance.

    Args:
        start, final, off, e_arc, e_arcw, n_arc, n_arcw: the graph's decoder arrays
            (see :func:`kernel.viterbi`).
        loglikes: float32 [T, C] scaled log-likelihoods.
        beam, max_active, min_active, beam_delta: as Kaldi's decoders.
        lattice_beam: float; links and tokens further than this from the best path go.
        prune_interval: frames between prunings.
        index_a, index_b: int32 [S], all -1 on entry (and on return).

    Returns:
        (frames_decoded, reached_final, best_total, arcs_expanded, frame_start int64 [F+1],
        tok_cost float64 [N], tok_extra float64 [N], tok_final float64 [N],
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
    tok_elo = np.empty(cap, np.int32)
    tok_ehi = np.empty(cap, np.int32)
    tok_nlo = np.empty(cap, np.int32)
    tok_nhi = np.empty(cap, np.int32)
    lk_dst = np.empty(16384, np.int32)
    lk_arc = np.empty(16384, np.int32)
    lk_cost = np.empty(16384, np.float32)
    frame_start = np.zeros(T + 3, np.int64)
    scratch = np.empty(1024, np.float64)
    costs = np.empty(1024, np.float64)
    stack = np.empty(1024, np.int32)
    new_id = np.empty(1, np.int64)
    new_pos = np.empty(1, np.int32)
    no_final = np.empty(0, np.float64)
    n_links = 0
    arcs_expanded = 0
    pruned_upto = 0  # frames below this were pruned at least once

    cur_index = index_a
    nxt_index = index_b
    tok_state[0] = start
    tok_cost[0] = 0.0
    tok_nlo[0] = 0
    tok_nhi[0] = 0
    cur_index[start] = 0
    nc = 1
    base = 0
    cutoff = INF
    frames = 0
    for t in range(-1, T):
        if t >= 0:
            costs = grown(costs, nc)
            scratch = grown(scratch, nc)
            for i in range(nc):
                costs[i] = tok_cost[base + i]
            weight_cutoff, adaptive_beam, next_cutoff, need = frame_cutoffs(
                t, tok_state[base:base + nc], costs, nc, beam, max_active, min_active, beam_delta, scratch,
                off, e_arc, e_arcw, loglikes)
            nbase = base + nc
            tok_state = grown(tok_state, nbase + need)
            tok_cost = grown(tok_cost, nbase + need)
            tok_extra = grown(tok_extra, nbase + need)
            tok_elo = grown(tok_elo, nbase + need)
            tok_ehi = grown(tok_ehi, nbase + need)
            tok_nlo = grown(tok_nlo, nbase + need)
            tok_nhi = grown(tok_nhi, nbase + need)
            lk_dst = grown(lk_dst, n_links + need)
            lk_arc = grown(lk_arc, n_links + need)
            lk_cost = grown(lk_cost, n_links + need)
            nx, cutoff, n_links, arcs = _emit_links(
                t, base, nc, nbase, costs, weight_cutoff, next_cutoff, adaptive_beam, lattice_beam,
                tok_state, tok_cost, tok_elo, tok_ehi, tok_nlo, tok_nhi, nxt_index,
                off, e_arc, e_arcw, loglikes, lk_dst, lk_arc, lk_cost, n_links)
            arcs_expanded += arcs
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
        for i in range(nc):
            stack[i] = tok_state[base + i]
            prefetch_eps_arcs(off, n_arc, stack[i])
        sp = nc
        while True:
            nc, sp, n_links, full = _eps_links(cutoff, lattice_beam, base, nc, cur_index, stack, sp, off, n_arc, n_arcw,
                                               tok_state, tok_cost, tok_nlo, tok_nhi, lk_dst, lk_arc, lk_cost, n_links)
            if not full:
                break
            m = 2 * tok_state.shape[0]
            tok_state = grown(tok_state, m)
            tok_cost = grown(tok_cost, m)
            tok_extra = grown(tok_extra, m)
            tok_elo = grown(tok_elo, m)
            tok_ehi = grown(tok_ehi, m)
            tok_nlo = grown(tok_nlo, m)
            tok_nhi = grown(tok_nhi, m)
            stack = grown(stack, 2 * stack.shape[0])
            m = 2 * lk_dst.shape[0]
            lk_dst = grown(lk_dst, m)
            lk_arc = grown(lk_arc, m)
            lk_cost = grown(lk_cost, m)
        frame_start[frames + 1] = base + nc
        for gi in range(base, base + nc):  # the other fields: set when the frame is expanded
            tok_extra[gi] = 0.0
            tok_elo[gi] = 0
            tok_ehi[gi] = 0
        # ---- PruneActiveTokens every prune_interval frames ----
        if frames > 0 and frames % prune_interval == 0 and t < T - 1:
            for f in range(frames - 1, -1, -1):
                ch = _prune_frame(frame_start[f], frame_start[f + 1], lattice_beam, delta, False, no_final,
                                  tok_cost, tok_extra, tok_elo, tok_ehi, tok_nlo, tok_nhi, lk_dst, lk_cost)
                if f < pruned_upto and not ch:
                    break  # no token of frame f changed: older frames are as they were
            r = pruned_upto + 1
            new_id = grown(new_id, base + nc - frame_start[r])
            l0 = _links_after(r - 1, frame_start, tok_ehi, tok_nhi)
            new_pos = grown(new_pos, n_links - l0 + 1)
            _, n_links = _compact_tail(
                r, frames + 1, frame_start, tok_state, tok_cost, tok_extra, tok_elo, tok_ehi, tok_nlo, tok_nhi,
                lk_dst, lk_arc, lk_cost, l0, n_links, new_pos, new_id)
            pruned_upto = frames
            base = frame_start[frames]  # the current frame is kept whole, in order

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
    last_final = np.full(nc, INF)
    final_extra = np.full(nc, INF)
    for gi in range(b, e):
        f = final[tok_state[gi]] if reached else 0.0
        last_final[gi - b] = f
        x = tok_cost[gi] + f - best_total
        if x <= lattice_beam:
            final_extra[gi - b] = x
    # extra costs not yet recomputed are lower bounds (0 in the last frame), so no link is
    # deleted on a stale value
    _prune_frame(b, e, lattice_beam, 0.0, True, final_extra, tok_cost, tok_extra,
                 tok_elo, tok_ehi, tok_nlo, tok_nhi, lk_dst, lk_cost)
    for f in range(frames - 1, -1, -1):
        _prune_frame(frame_start[f], frame_start[f + 1], lattice_beam, 0.0, True, no_final, tok_cost, tok_extra,
                     tok_elo, tok_ehi, tok_nlo, tok_nhi, lk_dst, lk_cost)
    new_id = grown(new_id, e)
    frame_start[frames + 1] = e
    ntok, n_links, lk_dst, lk_arc, lk_cost = _compact(
        frames + 1, frame_start, tok_state, tok_cost, tok_extra, tok_elo, tok_ehi, tok_nlo, tok_nhi,
        lk_dst, lk_arc, lk_cost, new_id)
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
    for f in range(frames + 1):
        for gi in range(frame_start[f], frame_start[f + 1]):
            for lk in range(tok_elo[gi], tok_nhi[gi]):
                lk_src[lk] = gi
                k = lk_arc[lk]
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
    return (frames, reached, best_total, arcs_expanded, frame_start[: frames + 2].copy(),
            tok_cost[:ntok].copy(), tok_extra[:ntok].copy(), tok_final,
            lk_src, lk_dst[:n_links].copy(), lk_ilab, lk_olab, lk_g, lk_a)
