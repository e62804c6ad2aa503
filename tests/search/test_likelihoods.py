import numpy as np
import pytest

from hclg.search.likelihoods import blank_skip_frames, estimate_priors, read_priors, scaled_loglikes
from hclg.errors import DecodeError
from helpers import SHARED_AN4


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


def _ctc_frames(rows):
    """log-posteriors [T, 6] (blank = column 0) from (top column, its posterior, second column)."""
    x = np.full((len(rows), 6), 1e-4)
    for t, (top, p, second) in enumerate(rows):
        x[t, top] = p
        if second is not None:
            x[t, second] = 0.05
    return np.log(x / x.sum(axis=1, keepdims=True)).astype(np.float32)


def test_blank_skip_keeps_a_blank_only_where_a_repeat_may_need_it():
    B = 0
    ll = _ctc_frames([
        (B, 0.99, None), (B, 0.99, None),  # leading run: dropped
        (1, 0.9, 4),  # 2
        (B, 0.99, None), (B, 0.99, None), (B, 0.99, None),  # between {1, 4} and {2, 5}: dropped
        (2, 0.9, 5),  # 6
        (B, 0.99, None), (B, 0.99, None),  # between {2, 5} and {2, 4}: first kept (a repeat of 2?)
        (2, 0.9, 4),  # 9
        (B, 0.6, 3),  # 10: blank, but under the threshold
        (3, 0.9, 1),  # 11
        (B, 0.99, None),  # trailing run: dropped
    ])
    post = np.exp(ll[:, B])
    frames, rows = blank_skip_frames(ll, post, B, 0.95)
    assert frames.tolist() == [2, 6, 7, 9, 10, 11]
    # the kept frame 7 stands for its run (7, 8): it holds their sum; the others are as read
    want = ll[[2, 6, 7, 9, 10, 11]].copy()
    want[2] = ll[7] + ll[8]
    np.testing.assert_array_equal(rows, want)
    assert blank_skip_frames(ll, post, B, 1.0)[0].tolist() == list(range(13))
    everything_blank = ll[[0, 1]]
    assert blank_skip_frames(everything_blank, np.exp(everything_blank[:, B]), B, 0.95)[0].tolist() == [0]


def test_a_matrix_that_is_not_its_declared_kind_is_refused():
    """Posteriors decoded as log-posteriors gave empty hypotheses and exit 0 (issue 13)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20, 6))
    post = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    with pytest.raises(DecodeError, match="declared log-posteriors.*looks like posteriors"):
        scaled_loglikes(post, "log-posteriors", 1.0, utt="u")
    with pytest.raises(DecodeError, match="declared posteriors.*looks like logits or log-likelihoods"):
        scaled_loglikes(np.exp(logits), "posteriors", 1.0, utt="u")  # not normalized
    with pytest.raises(DecodeError, match="declared log-posteriors.*looks like logits or log-likelihoods"):
        scaled_loglikes(logits, "log-posteriors", 1.0, utt="u")
    # what is declared right passes, -inf (probability 0) included
    lp = np.log(post)
    lp[0, 0] = -np.inf
    lp[0] -= np.log(np.exp(lp[0]).sum())
    scaled_loglikes(lp, "log-posteriors", 1.0)
    scaled_loglikes(post, "posteriors", 1.0)
    scaled_loglikes(logits, "logits", 1.0)


@pytest.mark.skipif(not (SHARED_AN4 / "ctc_train_logprobs.ark").exists(), reason="../shared/an4 not present")
def test_real_ctc_log_posteriors_pass_the_check():
    import kaldi_native_io as kio

    from hclg.search.likelihoods import fitting_kind

    for n, (_k, m) in enumerate(kio.SequentialFloatMatrixReader(f"ark:{SHARED_AN4}/ctc_train_logprobs.ark")):
        x = np.array(m, dtype=np.float64)
        assert fitting_kind(x) == "log-posteriors"
        scaled_loglikes(x, "log-posteriors", 1.0)
        if n == 100:
            break


def test_hmm_posteriors_without_priors_warn(tiny_graphs, caplog):
    from hclg.search.decoder import Decoder
    from hclg.search.options import DecoderOptions

    hmm, ctc = tiny_graphs
    Decoder(hmm, DecoderOptions(input_kind="log-posteriors"))
    assert "without priors" in caplog.text
    caplog.clear()
    Decoder(hmm, DecoderOptions(input_kind="log-likelihoods"))
    Decoder(ctc, DecoderOptions(input_kind="log-posteriors"))
    assert "without priors" not in caplog.text
