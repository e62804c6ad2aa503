"""CTC loss and its gradient (numpy API), and CTC forced alignment.

The loss of a label sequence y given per-frame log-probabilities lp is
``-log sum over frame paths that collapse to y of prod_t exp(lp[t, path_t])`` (repeats
merge, blanks vanish; a blank must stand between two equal labels), computed by
forward-backward (:mod:`hclg.transcript.ctc_kernel`). The gradient with respect to
``lp[t, k]`` is ``-gamma[t, k]``, the posterior of reading k at frame t; with respect to
the logits under a log-softmax it is ``softmax - gamma`` (what torch's ``ctc_loss``
returns as its gradient for ``log_probs``, assuming they are normalized).

Layout: batch first, ``[N, T, C]`` (torch's ``ctc_loss`` takes ``[T, N, C]``); a single
``[T, C]`` matrix is a batch of one. Reductions as torch: ``mean`` divides each loss by its
target length (at least 1) and averages over the batch; ``sum``; ``none``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hclg.transcript.ctc_kernel import bad_labels, ctc_batch, ctc_viterbi, ctc_viterbi_batch, first_bad_value

REDUCTIONS = ("mean", "sum", "none")


@dataclass(frozen=True)
class CtcLoss:
    """The result of :func:`ctc_loss`.

    Attributes:
        loss: the reduced loss (a float; the per-sequence array with ``reduction="none"``).
        losses: float64 [N]: each sequence's -log P(targets | log_probs) (+inf: no path;
            0 with ``zero_infinity``).
        grad: the shape and float type of ``log_probs``: the gradient of ``loss`` (of the
            sum of ``losses`` with ``none``) with respect to ``log_probs``, or with
            ``gradient="logits"`` with respect to the logits of which ``log_probs`` is the
            log-softmax; frames past a sequence's length, and impossible sequences, have 0.
    """

    loss: float | np.ndarray
    losses: np.ndarray
    grad: np.ndarray


def _batch(log_probs, targets, input_lengths, target_lengths, blank):
    lp = np.asarray(log_probs)
    single = lp.ndim == 2
    if single:
        lp = lp[None]
        targets = [np.asarray(targets).ravel()]
    if lp.ndim != 3 or lp.shape[2] == 0:
        raise ValueError(f"log_probs must be [T, C] or [N, T, C], got shape {np.asarray(log_probs).shape}")
    N, T_max, C = lp.shape
    if not 0 <= blank < C:
        raise ValueError(f"blank {blank} is not a column of the {C}")
    if lp.dtype not in (np.float32, np.float64):
        lp = lp.astype(np.float64)
    lp = np.ascontiguousarray(lp)
    if first_bad_value(lp):
        raise ValueError("log_probs hold NaN or +inf")
    if isinstance(targets, np.ndarray) and targets.ndim == 2:
        rows = list(targets)
    elif isinstance(targets, np.ndarray) and targets.ndim == 1 and target_lengths is not None:
        ends = np.cumsum(np.asarray(target_lengths))
        rows = np.split(targets, ends[:-1])
    else:
        rows = [np.asarray(t).ravel() for t in targets]
    if len(rows) != N:
        raise ValueError(f"{len(rows)} target sequences for a batch of {N}")
    U = np.array([len(r) for r in rows] if target_lengths is None else target_lengths, dtype=np.int64).ravel()
    T = np.full(N, T_max, np.int64) if input_lengths is None else np.asarray(input_lengths, dtype=np.int64).ravel()
    if len(U) != N or len(T) != N or (T < 0).any() or (T > T_max).any() or (U < 0).any():
        raise ValueError(f"lengths must be one per sequence, inputs within 0..{T_max}, targets >= 0")
    tg = np.zeros((N, max(1, int(U.max(initial=0)))), np.int64)
    for n, r in enumerate(rows):
        r = np.asarray(r, dtype=np.int64)[: U[n]]
        if len(r) < U[n]:
            raise ValueError(f"sequence {n}: target length {U[n]} but {len(r)} labels")
        if len(r) and (r.min() < 0 or r.max() >= C or (r == blank).any()):
            raise ValueError(f"sequence {n}: labels must be columns 0..{C - 1} other than the blank {blank}")
        tg[n, : len(r)] = r
    return single, lp, T, tg, U


def ctc_loss(log_probs, targets, input_lengths=None, target_lengths=None, blank: int = 0,
             reduction: str = "mean", zero_infinity: bool = False, gradient: str = "log_probs",
             topology: str = "standard") -> CtcLoss:
    """CTC loss and its gradient, as ``torch.nn.functional.ctc_loss`` (batch first).

    Args:
        log_probs: [T, C] or [N, T, C] per-frame log-probabilities (log-softmax outputs).
        targets: the label sequence ([U], for [T, C] input), or per sequence: a padded
            [N, U_max] array, a list of sequences, or all concatenated with
            ``target_lengths``.
        input_lengths: frames of each sequence (default: all of T).
        target_lengths: labels of each sequence (default: each sequence's length).
        blank: the blank's column.
        reduction: ``mean``, ``sum`` or ``none``.
        zero_infinity: an impossible sequence (too few frames) has loss 0 and gradient 0
            instead of +inf.
        gradient: ``log_probs`` (the exact gradient, -occupancies) or ``logits`` (through
            the log-softmax that made ``log_probs``: softmax - occupancies, what torch's
            ctc_loss passes back), computed in the same pass.
        topology: ``standard`` (torch's, k2's ``ctc_topo``) or ``compact`` (hclg's
            ``--ctc-topo compact``, k2's modified topology: equal labels may also follow
            each other with no blank between them).

    Returns:
        CtcLoss.

    Raises:
        ValueError: bad shapes, lengths, labels, or NaN/+inf inputs.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if gradient not in ("log_probs", "logits"):
        raise ValueError(f"gradient must be 'log_probs' or 'logits', got {gradient!r}")
    compact = _compact(topology)
    single, lp, T, tg, U = _batch(log_probs, targets, input_lengths, target_lengths, blank)
    w = 1.0 / (np.maximum(U, 1) * len(U)) if reduction == "mean" else np.ones(len(U))
    grad = np.empty(lp.shape, lp.dtype)
    losses = ctc_batch(lp, T, tg, U, blank, w, gradient == "logits", compact, grad)
    bad = ~np.isfinite(losses)
    if bad.any():
        grad[bad] = 0.0
        if zero_infinity:
            losses = np.where(bad, 0.0, losses)
    if reduction == "none":
        loss = losses.copy()
    else:
        loss = float((losses * w).sum())
    return CtcLoss(loss, losses, grad[0] if single else grad)


def _compact(topology: str) -> bool:
    if topology not in ("standard", "compact"):
        raise ValueError(f"topology must be 'standard' or 'compact', got {topology!r}")
    return topology == "compact"


def ctc_forced_align(log_probs, targets, blank: int = 0, topology: str = "standard") -> tuple[np.ndarray, float]:
    """CTC forced alignment (as ``torchaudio.functional.forced_align``): the best frame
    path through the CTC topology of ``targets``.

    Args:
        log_probs: [T, C] log-probabilities.
        targets: [U] labels (no blank).
        blank: the blank's column.
        topology: ``standard`` or ``compact`` (see :func:`ctc_loss`).

    Returns:
        (int64 [T] the column read on each frame, its log-probability).

    Raises:
        ValueError: bad input, or no path (fewer frames than the targets need).
    """
    lp = np.asarray(log_probs)  # one utterance: checked in two numba passes, no batch made
    if lp.ndim != 2 or lp.shape[1] == 0:
        raise ValueError(f"ctc_forced_align takes one [T, C] matrix, got shape {lp.shape}")
    if lp.dtype not in (np.float32, np.float64):
        lp = lp.astype(np.float64)
    lp = np.ascontiguousarray(lp)
    tg = np.ascontiguousarray(np.asarray(targets, dtype=np.int64).ravel())
    C = lp.shape[1]
    if not 0 <= blank < C:
        raise ValueError(f"blank {blank} is not a column of the {C}")
    if first_bad_value(lp):
        raise ValueError("log_probs hold NaN or +inf")
    if bad_labels(tg, C, blank):
        raise ValueError(f"labels must be columns 0..{C - 1} other than the blank {blank}")
    compact = _compact(topology)
    T, U = lp.shape[0], len(tg)
    path, score = ctc_viterbi(lp, T, tg if U else np.zeros(1, np.int64), U, blank, compact)
    if not np.isfinite(score):
        need = U + (0 if compact else int(np.sum(tg[1:] == tg[:-1])))
        raise ValueError(f"{T} frames cannot hold {U} labels (at least {need} frames needed)")
    return path, float(score)


def ctc_forced_align_batch(log_probs, targets, input_lengths=None, target_lengths=None,
                           blank: int = 0, topology: str = "standard") -> tuple[np.ndarray, np.ndarray]:
    """:func:`ctc_forced_align` over a batch ([N, T, C], targets as :func:`ctc_loss`
    takes them), sequences on all cores.

    Returns:
        (int64 [N, T] the columns read, -1 past each input length and for a sequence with
        no path; float64 [N] their log-probabilities, -inf where no path fits).
    """
    single, lp, T, tg, U = _batch(log_probs, targets, input_lengths, target_lengths, blank)
    if single:
        raise ValueError("ctc_forced_align_batch takes [N, T, C]; for one [T, C] matrix use ctc_forced_align")
    paths, scores = ctc_viterbi_batch(lp, T, tg, U, blank, _compact(topology))
    paths[~np.isfinite(scores)] = -1
    return paths, scores
