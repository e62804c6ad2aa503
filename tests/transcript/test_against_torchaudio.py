"""CTC forced alignment against torchaudio.functional.forced_align on random inputs.
torchaudio is not among hclg's test dependencies (on this machine it needs torch 2.9 and
several GB): this test runs where it is installed and is skipped elsewhere; it passed in
a venv with torch 2.9.1 + torchaudio 2.9.1 (see benchmarks/align.py for the real-data
comparison, 948 of 948 paths equal)."""

import numpy as np
import pytest

torchaudio_functional = pytest.importorskip("torchaudio.functional")
torch = pytest.importorskip("torch")

from hclg.transcript.ctc_loss import ctc_forced_align  # noqa: E402


def test_same_path_as_torchaudio_on_random_inputs():
    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(300):
        C, T = int(rng.integers(3, 8)), int(rng.integers(5, 40))
        U = int(rng.integers(1, max(2, T // 3)))
        targets = rng.integers(1, C, size=U)
        x = rng.normal(0, 3, size=(T, C))
        lp = (x - np.log(np.exp(x).sum(1, keepdims=True))).astype(np.float32)
        try:
            path, score = ctc_forced_align(lp, targets)
        except ValueError:  # too few frames for these labels
            continue
        ref, ref_scores = torchaudio_functional.forced_align(torch.from_numpy(lp)[None],
                                                            torch.tensor(targets[None], dtype=torch.int32), blank=0)
        assert list(path) == ref[0].tolist()
        assert score == pytest.approx(float(ref_scores[0].sum()), abs=1e-3)
        checked += 1
    assert checked > 200
