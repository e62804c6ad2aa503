"""The kernel of :func:`hclg.graph.context.compose_context`: C o LG built directly, only
where LG leads (as Kaldi's ``ComposeContext`` does with its on-demand inverse context
FST), so that C itself (phones^3 arcs: 43 million for 350 position-dependent phones) is
never made."""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.typed import Dict

from hclg.fst.growable import grown


@njit(cache=True)
def _window(window_of, win, nw, a, b, c, n):
    """The id (1..) of window (a, b, c), numbered on first sight; returns (id, win, nw)."""
    key = (a * n + b) * n + c
    if key not in window_of:
        win = grown(win, 3 * (nw + 1))
        win[3 * nw], win[3 * nw + 1], win[3 * nw + 2] = a, b, c
        nw += 1
        window_of[key] = nw
    return window_of[key], win, nw


@njit(cache=True)
def context_compose_kernel(offsets, ilabel, olabel, weight, nextstate, final, start, ctx_of, disambig_of, width):
    """C o (LG with Kaldi's subsequential loop), triphone C (``width`` 3, central position 1)
    or left-biphone C (``width`` 2, central position 1: Kaldi's chain models).

    A state is (a, b, q): the last two phones read (context indices, 0 = none yet; a is
    always 0 for biphones) and LG's state q. LG's arcs move as follows:

    - phone c (``ctx_of[label] > 0``): triphones: to (b, c, q'), reading window (a, b, c),
      or Kaldi's ``#-1`` while b is none; biphones: to (0, c, q'), reading window (b, c, 0),
      as Kaldi's ``--context-width=2 --central-position=1`` (no phone is delayed);
    - disambiguation symbol j (``disambig_of[label] = j >= 0``): to (a, b, q'), reading
      it (C's disambiguation loops);
    - epsilon: to (a, b, q'), reading epsilon.

    Triphones: where q is final, an arc reading window (a, b, none) (``#-1`` if b is none:
    a path of LG without phones) with q's final cost leads to the one final state (C
    reading the end marker ``$``). Biphones: (a, b, q) is final where q is.

    Args:
        offsets, ilabel, olabel, weight, nextstate, final, start: LG as FstArrays.
        ctx_of: int64 [max label + 1]: context index (1..) of each phone label, 0 else.
        disambig_of: int64 [max label + 1]: index j of each disambiguation label, -1 else.
        width: 3 or 2.

    Returns:
        (num_states, start, src, ilabel, olabel, weight, dst, final, windows, last, before): input
        labels are window ids 1..W (``windows[k - 1]`` = (a, b, c) context indices, c = 0
        at the end), ``-1 - j`` for disambiguation symbol j and ``-1 - D`` for ``#-1``
        (D = number of disambiguation symbols); the caller numbers them. ``last``: each
        state's b (the context index of the last phone read); ``before``: its a.
    """
    D = np.int64(disambig_of.max()) + 1
    n = np.int64(ctx_of.max()) + 1
    S_lg = np.int64(final.shape[0])
    state_of = Dict.empty(key_type=types.int64, value_type=types.int64)
    window_of = Dict.empty(key_type=types.int64, value_type=types.int64)
    cap = 1024
    qa = np.empty(cap, np.int64)  # per composite state: a, b, q
    qb = np.empty(cap, np.int64)
    qq = np.empty(cap, np.int64)
    win = np.empty(3 * cap, np.int64)  # per window: a, b, c
    src = np.empty(cap, np.int64)
    il = np.empty(cap, np.int64)
    ol = np.empty(cap, np.int64)
    w = np.empty(cap, np.float32)
    dst = np.empty(cap, np.int64)
    fin_state = 0  # state 0: the one final state; state 1: the start
    qa[0], qb[0], qq[0] = -1, -1, -1
    qa[1], qb[1], qq[1] = 0, 0, start
    state_of[start] = 1
    ns = 2
    na = 0
    # int64, not literals: numba would compile _window once more for each literal
    nw = np.int64(0)
    no_phone = np.int64(0)
    head = 1
    while head < ns:
        a, b, q = qa[head], qb[head], qq[head]
        s = head
        head += 1
        todo = offsets[q + 1] - offsets[q] + 1
        src = grown(src, na + todo)
        il = grown(il, na + todo)
        ol = grown(ol, na + todo)
        w = grown(w, na + todo)
        dst = grown(dst, na + todo)
        for k in range(offsets[q], offsets[q + 1]):
            lab = ilabel[k]
            c = ctx_of[lab] if lab < ctx_of.shape[0] else 0
            j = disambig_of[lab] if lab < disambig_of.shape[0] else -1
            if c > 0 and width == 2:
                na_, nb_ = 0, c
                in_lab, win, nw = _window(window_of, win, nw, b, c, no_phone, n)
            elif c > 0:
                na_, nb_ = b, c
                if b == 0:
                    in_lab = -1 - D
                else:
                    in_lab, win, nw = _window(window_of, win, nw, a, b, c, n)
            else:
                na_, nb_ = a, b
                in_lab = -1 - j if j >= 0 else 0
            q2 = nextstate[k]
            key = (na_ * n + nb_) * S_lg + q2
            if key not in state_of:
                qa = grown(qa, ns + 1)
                qb = grown(qb, ns + 1)
                qq = grown(qq, ns + 1)
                qa[ns], qb[ns], qq[ns] = na_, nb_, q2
                state_of[key] = ns
                ns += 1
            src[na], il[na], ol[na], w[na], dst[na] = s, in_lab, olabel[k], weight[k], state_of[key]
            na += 1
        if np.isfinite(final[q]) and width == 3:
            in_lab = -1 - D  # no phone yet: Kaldi's #-1 (its window's central phone is none)
            if b != 0:
                in_lab, win, nw = _window(window_of, win, nw, a, b, no_phone, n)
            src[na], il[na], ol[na], w[na], dst[na] = s, in_lab, 0, final[q], fin_state
            na += 1
    fin = np.full(ns, np.inf, np.float32)
    if width == 3:
        fin[fin_state] = 0.0
    else:
        for s in range(1, ns):
            fin[s] = final[qq[s]]
    windows = win[: 3 * nw].copy().reshape(nw, 3)
    return (ns, 1, src[:na].copy(), il[:na].copy(), ol[:na].copy(), w[:na].copy(), dst[:na].copy(), fin, windows,
            qb[:ns].copy(), qa[:ns].copy())
