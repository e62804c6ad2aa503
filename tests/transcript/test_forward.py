"""The forward algorithm and forward-backward over graphs: against brute-force enumeration
of every path of a small compiled HCLG, and against the CTC loss (a separate
implementation) on the transcript graphs of real CTC output."""

import itertools
import math

import numpy as np
import pytest
from helpers import SHARED_AN4

from hclg.graph.arc_records import E_COLUMN, E_NEXT, E_REC, E_WEIGHT, N_NEXT, N_REC, N_WEIGHT
from hclg.graph.graph_dir import load_graph
from hclg.transcript.forward import forward_backward


def brute_force(g, ll):
    """Sum and column posteriors over every path, enumerated depth first."""
    T, C = ll.shape
    paths = []

    def walk(s, t, logp, cols):
        if t == T and g.final[s] < np.inf:
            paths.append((logp - float(g.final[s]), tuple(cols)))
        for k in range(g.off[2 * s + 1], g.off[2 * s + 3]):
            walk(int(g.n_arc[N_REC * k + N_NEXT]), t, logp - float(g.n_arcw[N_REC * k + N_WEIGHT]), cols)
        if t < T:
            for k in range(g.off[2 * s], g.off[2 * s + 2]):
                c = int(g.e_arc[E_REC * k + E_COLUMN])
                walk(int(g.e_arc[E_REC * k + E_NEXT]), t + 1,
                     logp - float(g.e_arcw[E_REC * k + E_WEIGHT]) + float(ll[t, c]), cols + [c])

    walk(int(g.start), 0, 0.0, [])
    total = np.logaddexp.reduce([p for p, _ in paths]) if paths else -math.inf
    post = np.zeros((T, C))
    for p, cols in paths:
        for t, c in enumerate(cols):
            post[t, c] += math.exp(p - total)
    return total, post


def test_forward_backward_equals_enumerating_every_path(tiny_graphs):
    rng = np.random.default_rng(11)
    for path, lengths in ((tiny_graphs[0], (9, 10, 11)), (tiny_graphs[1], (3, 4, 5))):  # HMM, CTC
        g = load_graph(path)
        sg = g.arrays.search_graph()
        for T in lengths:
            ll = rng.normal(-2, 1, size=(T, g.num_columns))
            want_total, want_post = brute_force(sg, ll)
            got = forward_backward(sg, ll)
            assert np.isfinite(want_total) and got.log_likelihood == pytest.approx(want_total, abs=1e-9), T
            np.testing.assert_allclose(got.posteriors, want_post, atol=1e-9)


def test_transcript_forward_is_minus_the_ctc_loss(an4_ctc_lang):
    """The CTC transcript graph (one pronunciation a word, no silence) sums over exactly the
    CTC paths of the token sequence: its forward log-likelihood is -ctc_loss and its
    posteriors are the loss's occupancies, on real CTC output."""
    from hclg.search.matrix_readers import iter_matrices
    from hclg.search.options import DecoderOptions
    from hclg.transcript.align import Aligner
    from hclg.transcript.ctc_loss import ctc_loss

    text = an4_ctc_lang.text
    a = Aligner(an4_ctc_lang.graph, DecoderOptions())
    for utt, m in itertools.islice(iter_matrices(f"ark:{SHARED_AN4 / 'ctc_train_logprobs.ark'}"), 20):
        m = np.array(m, dtype=np.float64)
        f = a.forward(m, text[utt], utt)
        r = ctc_loss(m, an4_ctc_lang.targets(utt), reduction="sum")
        assert f.log_likelihood == pytest.approx(-r.loss, abs=1e-6), utt
        np.testing.assert_allclose(f.posteriors, -r.grad, atol=1e-6)


def test_pruned_forward_backward_on_a_whole_decoding_graph(an4_graph):
    """Over AN4's whole HCLG on real GMM scores: with an infinite beam the pruned pass is
    the exact one; with Kaldi-like beams it is a lower bound, close at 16 (the sum of the
    paths it drops), and each frame's posteriors still sum to 1."""
    from helpers import EXAMPLE

    from hclg.search.decoder import Decoder
    from hclg.search.matrix_readers import iter_matrices
    from hclg.search.options import DecoderOptions

    dec = Decoder(an4_graph, DecoderOptions(input_kind="log-likelihoods"))
    for utt, m in itertools.islice(iter_matrices(f"ark:{EXAMPLE / 'loglikes_demo.ark'}"), 3):
        ll = dec.loglikes(m, utt)
        exact = forward_backward(dec.search_graph, ll)
        full = forward_backward(dec.search_graph, ll, beam=math.inf)
        assert full.log_likelihood == pytest.approx(exact.log_likelihood, abs=1e-9)
        np.testing.assert_allclose(full.posteriors, exact.posteriors, atol=1e-9)
        near = forward_backward(dec.search_graph, ll, beam=16.0)
        assert exact.log_likelihood - 0.01 < near.log_likelihood <= exact.log_likelihood + 1e-9, utt
        np.testing.assert_allclose(near.posteriors.sum(axis=1), 1.0, atol=1e-9)
        assert exact.log_likelihood >= -dec.decode(m, utt).cost  # a sum over paths is at least the best one
