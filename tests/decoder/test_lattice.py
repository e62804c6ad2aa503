import numpy as np
import pytest
import pywrapfst as fst
from helpers import utterances

from hclg.decoder import lattice_ops as ops
from hclg.decoder.config import DecoderOptions
from hclg.decoder.search import Decoder


def word_sequence_costs(hclg_path, i2c, ll):
    """Exact best cost of every word sequence the graph allows for these frames: the frame
    lattice composed with the graph, projected on words, determinized (tropical), every
    path enumerated. Returns {word tuple: cost}."""
    T = ll.shape[0]
    labels = np.nonzero(i2c >= 0)[0]
    c = fst.Compiler()
    lines = [f"{t} {t + 1} {i} {i} {-float(ll[t, i2c[i]])!r}" for t in range(T) for i in labels] + [str(T)]
    print("\n".join(lines), file=c)
    g = fst.Fst.read(str(hclg_path))
    g.arcsort("ilabel")
    x = fst.compose(c.compile(), g).project("output").rmepsilon()
    x = fst.determinize(x).connect()
    out = {}
    if x.start() == fst.NO_STATE_ID:
        return out
    stack = [(x.start(), (), 0.0)]
    while stack:
        s, words, cost = stack.pop()
        fw = float(x.final(s))
        if np.isfinite(fw):
            out[words] = cost + fw
        for a in x.arcs(s):
            stack.append((a.nextstate, words + (a.olabel,), cost + float(a.weight)))
    return out


def count_paths(lat):
    n = np.zeros(lat.num_states)
    n[0] = 1
    total = 0
    for s in range(lat.num_states):
        for k in lat.out_arcs()[s]:
            n[lat.dst[k]] += n[s]
        if np.isfinite(lat.final_graph[s]):
            total += n[s]
    return int(total)


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_lattice_holds_exactly_the_word_sequences_within_the_beam(tiny_graphs, kind):
    path = tiny_graphs[0] if kind == "hmm" else tiny_graphs[1]
    lattice_beam = 6.0
    dec = Decoder(path, DecoderOptions(beam=1e4, min_active=0, lattice_beam=lattice_beam, prune_interval=4,
                                       input_kind="log-likelihoods", acoustic_scale=1.0))
    rng = np.random.default_rng(0)
    checked = multi = 0
    for T in [6, 9, 12, 15, 20, 25, 30] * 3:
        ll = rng.normal(0, 1.5, size=(T, dec.graph.num_columns)).astype(np.float32)
        exact = word_sequence_costs(path / "HCLG.fst", dec.graph.ilabel_to_column, ll)
        if not exact:
            continue
        res, lat = dec.decode_lattice(ll)
        best = min(exact.values())
        want = {w: c for w, c in exact.items() if c <= best + lattice_beam - 1e-3}
        paths = ops.nbest(lat, 1000)
        got = {p.words: p.cost for p in paths}
        assert len(paths) == count_paths(lat)  # one path per word sequence
        assert set(want) <= set(got) and all(c <= best + lattice_beam + 1e-3 for c in got.values())
        for w, c in got.items():
            assert c == pytest.approx(exact[w], abs=1e-3)  # each sequence's best path
        assert res.cost == pytest.approx(best, abs=1e-3)
        p = paths[0]
        assert len(p.labels(lat)) == T  # an alignment of every frame
        checked += 1
        multi += len(got) > 1
    assert checked >= 15 and multi >= 5


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_lattice_best_path_is_the_decoders_one_best(synthetic_graphs, kind):
    lex, hmm, ctc = synthetic_graphs
    path = hmm if kind == "hmm" else ctc
    ik = "log-likelihoods" if kind == "hmm" else "log-posteriors"
    dec = Decoder(path, DecoderOptions(beam=12.0, max_active=3000, lattice_beam=8.0, input_kind=ik))
    depths = []
    for u in utterances(lex, dec, kind, 60, seed=21):
        r = dec.decode(u.scores)
        r2, lat = dec.decode_lattice(u.scores)
        assert r2.word_ids == r.word_ids
        assert r2.cost == pytest.approx(r.cost, abs=1e-3)
        assert r2.graph_cost == pytest.approx(r.graph_cost, abs=1e-2)
        assert (r2.start_frames, r2.end_frames) == (r.start_frames, r.end_frames)
        assert r2.partial == r.partial
        depths.append(ops.depth(lat))
        cov = ops.frame_coverage(lat, ops.posteriors(lat))
        assert len(cov) == u.scores.shape[0]
        np.testing.assert_allclose(cov, 1.0, atol=1e-6)
    assert np.mean(depths) > 1.5  # the lattices hold alternatives
