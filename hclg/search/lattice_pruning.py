"""Pruning and compaction of the lattice search's tokens and forward links (numba), as
Kaldi's LatticeFasterDecoder prunes them: PruneForwardLinks per frame, PruneActiveTokens
every prune_interval frames, and compaction in place of what pruning deleted (see
:mod:`hclg.search.lattice_kernel` for the search state)."""

from __future__ import annotations

import numpy as np
from numba import njit

from hclg.search.kernel_state import new_forward_links

INF = np.inf


@njit(cache=True)
def prune_frame(b, e, lattice_beam, delta, exact, final_extra, tok, links):
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
    # plain arrays in the loops
    tok_cost, tok_extra, tok_elo, tok_ehi, tok_nlo, tok_nhi = tok.cost, tok.extra, tok.elo, tok.ehi, tok.nlo, tok.nhi
    lk_dst, lk_cost = links.dst, links.cost
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
def _copy_live(lo, hi, m, new_id, links, dest):
    """Copies the live links among lo..hi-1 to ``dest`` from position m, their next tokens
    renumbered by new_id; returns the position after the last one copied."""
    for lk in range(lo, hi):
        if links.dst[lk] >= 0:
            dest.dst[m] = new_id[links.dst[lk]]
            dest.arc[m] = links.arc[lk]
            dest.cost[m] = links.cost[lk]
            m += 1
    return m


@njit(cache=True)
def compact_all(n_frames, frame_start, tok, links, new_id):
    """The final compaction: drops the dead tokens (extra = +inf) of frames 0..n_frames-1
    and rebuilds the link arrays with live links only, token by token (a token's emitting
    run, then its epsilon run, adjacent).

    Args:
        new_id: int64 [>= tokens] work space; on return the old -> new token map (-1: gone).

    Returns:
        (tokens, links, the new ForwardLinks): tokens are compacted in place, frame_start
        updated in place.
    """
    tok_state, tok_cost, tok_extra, tok_elo, tok_ehi, tok_nlo, tok_nhi, tok_ctx = tok[:8]  # plain arrays in the loops
    lk_dst = links.dst
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
    dest = new_forward_links(max(n_links * 2, 16384))
    m = np.int64(0)  # not a literal: _copy_live is compiled once (see lattice_search)
    for gi in range(n_tok):
        j = new_id[gi]
        if j < 0:
            continue
        elo = m
        m = _copy_live(tok_elo[gi], tok_ehi[gi], m, new_id, links, dest)
        nlo = m
        m = _copy_live(tok_nlo[gi], tok_nhi[gi], m, new_id, links, dest)
        tok_state[j] = tok_state[gi]
        tok_cost[j] = tok_cost[gi]
        tok_extra[j] = tok_extra[gi]
        tok_ctx[j] = tok_ctx[gi]
        tok_elo[j] = elo
        tok_ehi[j] = nlo
        tok_nlo[j] = nlo
        tok_nhi[j] = m
    return k, m, dest


@njit(cache=True)
def links_after(r, frame_start, tok):
    """Where the links of frames >= r start: links are made frame by frame (a frame's
    epsilon links, then its emitting links), so after the last link of frame r-1."""
    l0 = 0
    if r > 0:
        for gi in range(frame_start[r - 1], frame_start[r]):
            l0 = max(l0, tok.ehi[gi], tok.nhi[gi])
    return l0


@njit(cache=True)
def _remap_runs(gi, k, l0, new_pos, tok):
    """Token gi's two link runs, renumbered through new_pos, stored as token k's."""
    for r in range(2):
        lo = tok.elo[gi] if r == 0 else tok.nlo[gi]
        hi = tok.ehi[gi] if r == 0 else tok.nhi[gi]
        if hi > lo:
            lo = new_pos[lo - l0]
            hi = new_pos[hi - l0]
        else:
            lo = hi = l0
        if r == 0:
            tok.elo[k] = lo
            tok.ehi[k] = hi
        else:
            tok.nlo[k] = lo
            tok.nhi[k] = hi


@njit(cache=True)
def compact_tail(r, n_frames, frame_start, tok, links, l0, n_links, new_pos, new_id):
    """Compacts in place what was made since the last pruning: the dead tokens of frames
    r..n_frames-2 go (the last, current frame is kept whole), and the dead links of
    frames r-1 on (frame r-1's emitting links are the ones into frame r) are dropped, the
    live ones moved down in their own order, so that a run stays a run. Older frames are
    left as they are: what pruning deletes there is little, and goes in the final
    compaction.

    Args:
        r: first frame whose tokens are renumbered (>= 1).
        l0: where frame r-1's links start (``links_after(r - 1, ...)``).
        new_pos: int32 [>= n_links - l0 + 1] work space.
        new_id: int64 [>= tokens from frame r on] work space.

    Returns:
        (tokens, links) after compaction; frame_start updated in place.
    """
    tok_state, tok_cost, tok_extra, tok_ctx = tok.state, tok.cost, tok.extra, tok.ctx  # plain arrays in the loops
    lk_dst, lk_arc, lk_cost = links.dst, links.arc, links.cost
    t0 = frame_start[r]
    m = l0
    for lk in range(l0, n_links):
        new_pos[lk - l0] = m
        if lk_dst[lk] >= 0:
            m += 1
    new_pos[n_links - l0] = m
    for gi in range(frame_start[r - 1], t0):
        _remap_runs(gi, gi, l0, new_pos, tok)
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
            tok_ctx[k] = tok_ctx[gi]
            _remap_runs(gi, k, l0, new_pos, tok)
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
def prune_active(frames, pruned_upto, frame_start, lattice_beam, tok, links, n_links, n_tok):
    """Kaldi's PruneActiveTokens, every prune_interval frames: prunes the frames before the
    current one, newest first, going back only while extra costs change; then compacts in
    place what was made since the last pruning. Returns the links left."""
    no_final = np.empty(0, np.float64)
    for f in range(frames - 1, -1, -1):
        ch = prune_frame(frame_start[f], frame_start[f + 1], lattice_beam, 0.1 * lattice_beam, False, no_final,
                          tok, links)
        if f < pruned_upto and not ch:
            break  # no token of frame f changed: older frames are as they were
    r = pruned_upto + 1
    new_id = np.empty(n_tok - frame_start[r], np.int64)
    l0 = links_after(r - 1, frame_start, tok)
    new_pos = np.empty(n_links - l0 + 1, np.int32)
    _, n_links = compact_tail(r, frames + 1, frame_start, tok, links, l0, n_links, new_pos, new_id)
    return n_links
