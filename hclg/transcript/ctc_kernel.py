"""The CTC forward-backward and Viterbi kernels over the extended label sequence
``l' = blank, l1, blank, l2, ..., lU, blank`` (length S = 2U + 1), in the log semiring,
float64, one sequence per call (Graves et al. 2006, section 4.1). Costs are not used
here: these are log-probabilities, as the CTC literature and torch write them.

    alpha[t, s]: log of the summed probability of the paths of frames 0..t that end in
                 state s, frame t included (``y_t(l'_s)`` counted)
    beta[t, s]:  log of the summed probability of the paths of frames t..T-1 from state s
                 to the end, frame t included
    so the paths through (t, s) have log-probability alpha[t, s] + beta[t, s] - y_t(l'_s).
A state may follow itself, its predecessor, and, when it is a label different from the
label two states back, that label (skipping the blank between them).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from hclg.transcript.log_semiring import NEG_INF, log_add


@njit(cache=True, inline="always")
def _label(targets, s, blank):
    return blank if s % 2 == 0 else targets[s // 2]


@njit(cache=True)
def ctc_forward_backward(lp, T, targets, U, blank, weight, logits, compact, grad_out):
    """-log P(targets | lp[:T]) and its gradient, times ``weight``, in ``grad_out``: with
    respect to lp, ``-gamma[t, k]``, where gamma[t, k] = P(frame t reads k | targets, lp) is
    the occupancy; with ``logits`` (lp a log-softmax of logits), with respect to the logits,
    ``exp(lp[t, k]) - gamma[t, k]``. Frames past T, and every frame when no path fits, get 0.

    Args:
        lp: float32/64 [T_max, C] log-probabilities.
        T: frames of this sequence; targets: int [U_max], the first U used; blank: its column.
        weight: the loss's weight in the reduction; logits: see above.
        compact: hclg's compact topology (k2's modified one): a label may also follow an
            equal label with no blank between them (then "a a" reads as two tokens too).
        grad_out: float32/64 [T_max, C], every entry written.

    Returns:
        The loss (+inf when no path fits in T frames).
    """
    S = 2 * U + 1
    C = lp.shape[1]
    for t in range(grad_out.shape[0]):
        for k in range(C):
            grad_out[t, k] = 0.0
    if T == 0:
        return np.inf if U > 0 else 0.0
    alpha = np.full((T, S), NEG_INF)
    beta = np.full((T, S), NEG_INF)
    alpha[0, 0] = lp[0, blank]
    if S > 1:
        alpha[0, 1] = lp[0, targets[0]]
    for t in range(1, T):
        for s in range(S):
            a = alpha[t - 1, s]
            if s >= 1:
                a = log_add(a, alpha[t - 1, s - 1])
            if s >= 2 and s % 2 == 1 and (compact or targets[s // 2] != targets[s // 2 - 1]):
                a = log_add(a, alpha[t - 1, s - 2])
            if a != NEG_INF:
                alpha[t, s] = a + lp[t, _label(targets, s, blank)]
    beta[T - 1, S - 1] = lp[T - 1, blank]
    if S > 1:
        beta[T - 1, S - 2] = lp[T - 1, targets[U - 1]]
    for t in range(T - 2, -1, -1):
        for s in range(S):
            b = beta[t + 1, s]
            if s + 1 < S:
                b = log_add(b, beta[t + 1, s + 1])
            if s + 2 < S and s % 2 == 1 and (compact or targets[s // 2] != targets[s // 2 + 1]):
                b = log_add(b, beta[t + 1, s + 2])
            if b != NEG_INF:
                beta[t, s] = b + lp[t, _label(targets, s, blank)]
    log_p = alpha[T - 1, S - 1]
    if S > 1:
        log_p = log_add(log_p, alpha[T - 1, S - 2])
    if log_p == NEG_INF:
        return np.inf
    for t in range(T):
        if logits:
            for k in range(C):
                grad_out[t, k] = weight * np.exp(lp[t, k])
        for s in range(S):
            x = alpha[t, s] + beta[t, s]
            if x != NEG_INF:
                k = _label(targets, s, blank)
                grad_out[t, k] -= weight * np.exp(x - lp[t, k] - log_p)
    return -log_p


@njit(cache=True, parallel=True)
def ctc_batch(lp, T, targets, U, blank, weights, logits, compact, grads):
    """ctc_forward_backward over a batch, sequences on all cores.

    Args:
        lp: [N, T_max, C]; T: int [N]; targets: int [N, U_max]; U: int [N];
        weights: float64 [N]; logits, compact: bool; grads: [N, T_max, C] (out).

    Returns:
        float64 [N] losses.
    """
    N = lp.shape[0]
    out = np.empty(N)
    for n in prange(N):
        out[n] = ctc_forward_backward(lp[n], T[n], targets[n], U[n], blank, weights[n], logits, compact, grads[n])
    return out


@njit(cache=True)
def ctc_viterbi(lp, T, targets, U, blank, compact):
    """The best path of the label sequence's CTC topology (forced alignment): the column
    read on each of the T frames, and its log-probability (-inf if none fits)."""
    S = 2 * U + 1
    path = np.full(T, -1, np.int64)
    if T == 0:
        return path, (0.0 if U == 0 else NEG_INF)
    score = np.full((T, S), NEG_INF)
    back = np.zeros((T, S), np.int8)  # 0: from s, 1: from s - 1, 2: from s - 2
    score[0, 0] = lp[0, blank]
    if S > 1:
        score[0, 1] = lp[0, targets[0]]
    for t in range(1, T):
        for s in range(S):
            best, how = score[t - 1, s], 0
            if s >= 1 and score[t - 1, s - 1] > best:
                best, how = score[t - 1, s - 1], 1
            if s >= 2 and s % 2 == 1 and (compact or targets[s // 2] != targets[s // 2 - 1]) \
                    and score[t - 1, s - 2] > best:
                best, how = score[t - 1, s - 2], 2
            if best != NEG_INF:
                score[t, s] = best + lp[t, _label(targets, s, blank)]
                back[t, s] = how
    s = S - 1
    if S > 1 and score[T - 1, S - 2] > score[T - 1, S - 1]:
        s = S - 2
    total = score[T - 1, s]
    if total == NEG_INF:
        return path, total
    for t in range(T - 1, -1, -1):
        path[t] = _label(targets, s, blank)
        s -= back[t, s]
    return path, total


@njit(cache=True, parallel=True)
def ctc_viterbi_batch(lp, T, targets, U, blank, compact):
    """ctc_viterbi over a batch, sequences on all cores: (int64 [N, T_max] paths, -1 past
    each length; float64 [N] scores)."""
    N, T_max = lp.shape[0], lp.shape[1]
    paths = np.full((N, T_max), -1, np.int64)
    scores = np.empty(N)
    for n in prange(N):
        path, score = ctc_viterbi(lp[n], T[n], targets[n], U[n], blank, compact)
        paths[n, : T[n]] = path
        scores[n] = score
    return paths, scores


@njit(cache=True)
def first_bad_value(x):
    """Whether the array holds NaN or +inf (one pass, stops at the first)."""
    flat = x.ravel()
    for i in range(flat.shape[0]):
        v = flat[i]
        if v != v or v == np.inf:
            return True
    return False


@njit(cache=True)
def bad_labels(targets, C, blank):
    """Whether a label is not a column or is the blank."""
    for i in range(targets.shape[0]):
        k = targets[i]
        if k < 0 or k >= C or k == blank:
            return True
    return False
