"""hclg's CTC loss as a ``torch.autograd.Function`` (torch is an optional extra: this
module imports it; nothing else in hclg does). Same arguments and layout as
``torch.nn.functional.ctc_loss``: ``log_probs`` [T, N, C]. Its backward gives the exact
gradient with respect to ``log_probs`` (-occupancies); through a log-softmax that is the
usual ``softmax - occupancies`` on the logits."""

from __future__ import annotations

import numpy as np
import torch

from hclg.transcript.ctc_loss import ctc_loss as _numpy_ctc_loss


class CtcLossFunction(torch.autograd.Function):
    """Forward: hclg's forward-backward on the CPU; backward: the stored gradient."""

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity):
        lp = log_probs.detach().cpu().double().numpy().transpose(1, 0, 2)  # [N, T, C]
        tg = targets.detach().cpu().numpy()
        tl = target_lengths.detach().cpu().numpy() if torch.is_tensor(target_lengths) else np.asarray(target_lengths)
        il = input_lengths.detach().cpu().numpy() if torch.is_tensor(input_lengths) else np.asarray(input_lengths)
        r = _numpy_ctc_loss(lp, tg, il, tl, blank=blank, reduction=reduction, zero_infinity=zero_infinity)
        ctx.save_for_backward(torch.from_numpy(r.grad.transpose(1, 0, 2).copy()).to(log_probs.dtype))
        ctx.per_sequence = reduction == "none"
        loss = torch.as_tensor(r.loss, dtype=log_probs.dtype)
        return loss.to(log_probs.device)

    @staticmethod
    def backward(ctx, grad_out):
        (grad,) = ctx.saved_tensors
        g = grad_out.to(grad.device)
        scale = g[None, :, None] if ctx.per_sequence else g
        return (grad * scale).to(grad_out.device), None, None, None, None, None, None


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False):
    """A drop-in for ``torch.nn.functional.ctc_loss`` computed by hclg (CPU)."""
    return CtcLossFunction.apply(log_probs, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)
