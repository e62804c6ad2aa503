"""CTC loss, gradient and forced alignment against brute-force enumeration of every frame
path (tiny cases) and against torch.nn.functional.ctc_loss and its autograd (random
batches: repeated labels, T barely long enough, T too short)."""

import itertools
import math

import numpy as np
import pytest
from helpers import ctc_collapse

from hclg.transcript.ctc_loss import ctc_forced_align, ctc_loss


def brute_force(lp, target, blank):
    """(-log P, occupancies [T, C], best path, best score) by enumerating all C^T paths."""
    T, C = lp.shape
    total, occ, best, best_path = -math.inf, np.zeros((T, C)), -math.inf, None
    probs = []
    for path in itertools.product(range(C), repeat=T):
        if ctc_collapse(path, blank) != list(target):
            continue
        s = float(sum(lp[t, k] for t, k in enumerate(path)))
        probs.append((path, s))
        total = np.logaddexp(total, s)
        if s > best:
            best, best_path = s, path
    for path, s in probs:
        for t, k in enumerate(path):
            occ[t, k] += math.exp(s - total)
    return -total, occ, best_path, best


def log_softmax(x):
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)


@pytest.mark.parametrize("target", [[1], [1, 2], [1, 1], [2, 1, 2], [1, 1, 1], []])
def test_loss_gradient_and_alignment_equal_brute_force(target):
    rng = np.random.default_rng(len(target))
    for T in (len(target) * 2 + 1, 4, 5):
        lp = log_softmax(rng.normal(0, 1.5, size=(T, 3)))
        loss_bf, occ, path_bf, score_bf = brute_force(lp, target, 0)
        r = ctc_loss(lp, target, reduction="sum")
        if math.isinf(loss_bf):
            assert math.isinf(r.loss)
            continue
        assert r.loss == pytest.approx(loss_bf, abs=1e-9)
        np.testing.assert_allclose(r.grad, -occ, atol=1e-9)
        path, score = ctc_forced_align(lp, target)
        assert tuple(path) == path_bf and score == pytest.approx(score_bf, abs=1e-9)


def test_too_few_frames():
    lp = log_softmax(np.zeros((2, 3)))
    assert ctc_loss(lp, [1, 1], reduction="sum").loss == math.inf  # "1 1" needs a blank between: 3 frames
    r = ctc_loss(lp, [1, 1], reduction="sum", zero_infinity=True)
    assert r.loss == 0.0 and not r.grad.any()
    with pytest.raises(ValueError, match="2 frames cannot hold 2 labels \\(at least 3 frames needed\\)"):
        ctc_forced_align(lp, [1, 1])
    with pytest.raises(ValueError, match="other than the blank"):
        ctc_loss(lp, [0, 1])


torch = pytest.importorskip("torch")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_equals_torch_ctc_loss_and_its_gradient(reduction, zero_infinity):
    rng = np.random.default_rng(7)
    N, T, C = 6, 14, 5
    logits = rng.normal(0, 2, size=(N, T, C))
    in_len = np.array([14, 14, 9, 7, 3, 12])
    targets = [[1, 2, 3], [2, 2, 2, 2], [4, 1, 1, 4], [1, 2, 1], [3, 3], []]  # (3, 3) in 3 frames: just fits
    in_len[4] = 3
    targets[2] = [4, 1, 1, 4, 2, 2, 3, 1]  # 8 labels, 2 repeats: needs 10 frames, has 9: infinite
    tl = torch.tensor(logits, requires_grad=True)
    lp_t = torch.log_softmax(tl, dim=-1)
    padded = np.zeros((N, 8), np.int64)
    for n, t in enumerate(targets):
        padded[n, : len(t)] = t
    ref = torch.nn.functional.ctc_loss(lp_t.transpose(0, 1), torch.tensor(padded), torch.tensor(in_len),
                                       torch.tensor([len(t) for t in targets]), blank=0, reduction=reduction,
                                       zero_infinity=zero_infinity)
    (ref.sum() if reduction == "none" else ref).backward()
    mine = ctc_loss(log_softmax(logits), targets, in_len, blank=0, reduction=reduction, zero_infinity=zero_infinity,
                    gradient="logits")
    want = ref.detach().numpy()
    if reduction != "none" and not zero_infinity:
        assert math.isinf(mine.loss) and math.isinf(float(want))
        return
    np.testing.assert_allclose(mine.loss, want, rtol=1e-5, atol=1e-6)
    if reduction == "none" and not zero_infinity:  # torch's gradient is NaN-free only where the loss is finite
        ok = np.isfinite(want)
        np.testing.assert_allclose(mine.grad[ok], tl.grad.numpy()[ok], atol=1e-5)
    else:
        np.testing.assert_allclose(mine.grad, tl.grad.numpy(), atol=1e-5)


def test_torch_autograd_wrapper_trains_as_torchs_own():
    from hclg.transcript.torch_ctc import ctc_loss as hclg_ctc_loss

    rng = np.random.default_rng(3)
    T, N, C = 20, 3, 6
    targets = torch.tensor([[1, 2, 2, 3], [4, 4, 0, 0], [5, 1, 3, 0]])
    tlen, ilen = torch.tensor([4, 2, 3]), torch.tensor([20, 15, 11])
    x0 = rng.normal(0, 1, size=(T, N, C))
    grads = []
    for fn in (torch.nn.functional.ctc_loss, hclg_ctc_loss):  # the same logits through each
        x = torch.tensor(x0, requires_grad=True)
        loss = fn(torch.log_softmax(x, -1), targets, ilen, tlen, blank=0, reduction="mean")
        loss.backward()
        grads.append((float(loss.detach()), x.grad.numpy().copy()))
    assert grads[1][0] == pytest.approx(grads[0][0], rel=1e-6)
    np.testing.assert_allclose(grads[1][1], grads[0][1], atol=1e-6)


def test_batched_forced_alignment_is_each_sequences_own():
    from hclg.transcript.ctc_loss import ctc_forced_align_batch

    rng = np.random.default_rng(5)
    lp = log_softmax(rng.normal(0, 2, size=(4, 12, 5)))
    targets = [[1, 2, 2], [3], [4, 4, 4, 4, 4, 4, 4], []]  # the third needs 13 frames: no path
    paths, scores = ctc_forced_align_batch(lp, targets, input_lengths=[12, 6, 12, 9])
    for n, (t, length) in enumerate(zip(targets, [12, 6, 12, 9])):
        if n == 2:
            assert scores[n] == -math.inf and (paths[n] == -1).all()
            continue
        path, score = ctc_forced_align(lp[n, :length], t)
        assert list(paths[n, :length]) == list(path) and (paths[n, length:] == -1).all() and scores[n] == score


@pytest.mark.parametrize("topology", ["standard", "compact"])
def test_loss_over_each_topology_is_the_sum_over_its_graph(topology):
    """-ctc_loss equals the forward log-likelihood over hclg's own CTC topology T
    (make_ctc_topo, standard or compact) composed with the label sequence: for the compact
    one (equal labels may follow each other with no blank) as for the standard one."""
    import pywrapfst as fst

    from hclg.graph.arc_records import decoder_arrays
    from hclg.graph.ctc_topology import make_ctc_topo
    from hclg.transcript.forward import forward_backward

    rng = np.random.default_rng(9)
    C = 5
    T_topo = make_ctc_topo(C, 0, compact=topology == "compact")
    T_topo.arcsort("olabel")
    i2c = np.arange(-1, C, dtype=np.int32)  # label k + 1 reads column k
    for target in ([1, 1], [2, 2, 2], [1, 2, 1], [3, 3, 4, 4]):
        c = fst.Compiler()
        print("\n".join([f"{i} {i + 1} {k + 1} {k + 1}" for i, k in enumerate(target)] + [str(len(target))]), file=c)
        g = decoder_arrays(fst.compose(T_topo, c.compile(), connect=True), i2c).search_graph()
        for T in (len(target), 2 * len(target) + 1, 9):
            lp = log_softmax(rng.normal(0, 1.5, size=(T, C)))
            want = forward_backward(g, lp)
            got = ctc_loss(lp, target, reduction="sum", topology=topology)
            if not np.isfinite(want.log_likelihood):
                assert got.loss == math.inf, (target, T)
                continue
            assert -got.loss == pytest.approx(want.log_likelihood, abs=1e-9), (target, T)
            np.testing.assert_allclose(-got.grad, want.posteriors, atol=1e-9)
            path, score = ctc_forced_align(lp, target, topology=topology)
            assert ctc_loss(lp, target, reduction="sum", topology=topology).loss <= -score + 1e-9
