import numpy as np
import pytest

from hclg.decoder.likelihoods import estimate_priors, read_priors, scaled_loglikes
from hclg.errors import DecodeError


def test_kinds_agree_on_the_same_distribution():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5))
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    a = scaled_loglikes(logits, "logits", 1.0)
    b = scaled_loglikes(logp, "log-posteriors", 1.0)
    c = scaled_loglikes(np.exp(logp), "posteriors", 1.0)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(b, c, atol=1e-5)
    assert a.dtype == np.float32 and a.flags.c_contiguous


def test_priors_scale_and_blank_penalty():
    logp = np.log(np.full((2, 3), 1 / 3))
    pri = np.log(np.array([0.5, 0.25, 0.25]))
    x = scaled_loglikes(logp, "log-posteriors", 0.1, pri, prior_scale=1.0, blank_column=0, blank_penalty=2.0)
    want = 0.1 * (logp - pri[None, :])
    want[:, 0] -= 0.1 * 2.0
    np.testing.assert_allclose(x, want, atol=1e-6)
    # log-likelihoods ignore priors
    np.testing.assert_allclose(scaled_loglikes(logp, "log-likelihoods", 1.0, pri), logp, atol=1e-6)


def test_bad_inputs():
    with pytest.raises(DecodeError, match="posteriors must be finite and >= 0"):
        scaled_loglikes(-np.ones((2, 2)), "posteriors", 1.0, utt="u")
    with pytest.raises(DecodeError, match=r"expected a \[frames, columns\] matrix"):
        scaled_loglikes(np.ones(3), "logits", 1.0)


def test_read_priors_formats(tmp_path):
    import kaldi_native_io as kio

    counts = np.array([2.0, 1.0, 1.0])
    want = np.log(counts / counts.sum())
    (tmp_path / "p.txt").write_text(" [ 2 1 1 ]\n")
    np.save(tmp_path / "p.npy", counts)
    kio.FloatVector(counts.astype(np.float32)).write(str(tmp_path / "p.vec"), binary=True)  # Kaldi binary vector
    for name in ("p.txt", "p.npy", "p.vec"):
        np.testing.assert_allclose(read_priors(tmp_path / name), want, atol=1e-6)
    (tmp_path / "l.txt").write_text(" ".join(str(x) for x in want))
    np.testing.assert_allclose(read_priors(tmp_path / "l.txt"), want)


def test_estimated_priors_are_the_average_posterior():
    p1 = np.array([[0.5, 0.5], [1.0, 0.0]])
    p2 = np.array([[0.0, 1.0]])
    pri = estimate_priors([p1, p2], "posteriors")
    np.testing.assert_allclose(pri, [0.5, 0.5], atol=1e-6)
