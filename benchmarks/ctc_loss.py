"""CTC loss + gradient: hclg (numba, sequences over cores) against torch's
``ctc_loss`` forward + backward on the CPU, same inputs, same process (issue 15's case:
32 utterances x 500 frames, a 500-token vocabulary, 100-label targets). Interleaved
repeats; the fastest of each is reported, with the largest difference of the losses and of
the logits' gradients.

Usage:
    python benchmarks/ctc_loss.py [--batch 32] [--frames 500] [--vocab 500] [--labels 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--vocab", type=int, default=500)
    ap.add_argument("--labels", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import torch

    from hclg.transcript.ctc_loss import ctc_loss

    rng = np.random.default_rng(0)
    N, T, C, U = args.batch, args.frames, args.vocab, args.labels
    logits = rng.normal(0, 2, size=(N, T, C)).astype(np.float32)
    targets = rng.integers(1, C, size=(N, U))
    x = torch.tensor(logits)
    lp = torch.log_softmax(x, -1)
    lp_np = lp.numpy()
    ctc_loss(lp_np[:1, :20], targets[:1, :5])  # kernels loaded before the clock
    best_h = best_t = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        mine = ctc_loss(lp_np, targets, reduction="mean", gradient="logits")
        g_mine = mine.grad
        best_h = min(best_h, time.perf_counter() - t)
        # torch's gradient for log_probs is softmax - occupancies (it assumes a log-softmax
        # made them): the same quantity as hclg's gradient="logits", from the same input
        xt = lp.transpose(0, 1).detach().clone().requires_grad_(True)
        t = time.perf_counter()
        ref = torch.nn.functional.ctc_loss(xt, torch.tensor(targets), torch.full((N,), T), torch.full((N,), U),
                                           reduction="mean")
        ref.backward()
        best_t = min(best_t, time.perf_counter() - t)
    print(f"batch {N} x {T} frames, {C} tokens, {U} labels; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"hclg ctc_loss + gradient   {best_h * 1000:9.1f} ms")
    print(f"torch ctc_loss + backward  {best_t * 1000:9.1f} ms")
    print(f"ratio torch / hclg         {best_t / best_h:9.2f}x")
    print(f"max |loss diff| {abs(mine.loss - float(ref.detach())):.2e}, max |grad diff| "
          f"{np.abs(g_mine - xt.grad.transpose(0, 1).numpy()).max():.2e}")


if __name__ == "__main__":
    main()
