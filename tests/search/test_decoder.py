import numpy as np
import pytest
import pywrapfst as fst
from helpers import frame_lattice, shortest, utterances

import kaldi_decoder
import kaldifst
from oracles.kaldi_recipes import expand_columns, kaldi_faster_decode
from hclg.search.options import DecoderOptions
from hclg.lattice.generation import LatticeDecoder
from hclg.search.decoder import Decoder
from hclg.errors import DecodeError


def exhaustive_best(hclg_path, i2c, ll):
    """Exact Viterbi: the frame lattice (every label every frame) composed with the graph,
    OpenFst's shortest path. Returns (cost, word ids)."""
    g = fst.Fst.read(str(hclg_path))
    g.arcsort("ilabel")
    return shortest(fst.compose(frame_lattice(i2c, ll), g)) or (float("inf"), None)


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_matches_exhaustive_viterbi_on_tiny_graphs(tiny_graphs, kind):
    path = tiny_graphs[0] if kind == "hmm" else tiny_graphs[1]
    dec = LatticeDecoder(path, DecoderOptions(beam=1e4, min_active=0, input_kind="log-likelihoods", acoustic_scale=1.0))
    dec.warm_up(lattice=True)  # what --jobs does before forking: must leave no trace in the search state
    rng = np.random.default_rng(0)
    i2c = dec.graph.ilabel_to_column
    checked = 0
    for T in [1, 5, 9, 12, 15, 20, 25, 30] * 3:
        ll = rng.normal(0, 2, size=(T, dec.graph.num_columns)).astype(np.float32)
        r = dec.decode(ll)
        cost, words = exhaustive_best(path / "HCLG.fst", i2c, ll)
        # no complete path of this length exists <=> the decoder reports a partial result
        assert r.partial == (not np.isfinite(cost))
        if not r.partial:
            assert r.cost == pytest.approx(cost, abs=1e-3)
            assert list(r.word_ids) == words
            assert r.graph_cost + r.acoustic_cost == pytest.approx(r.cost)
            checked += 1
    assert checked >= 15


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_same_words_and_costs_as_kaldi_faster_decoder(synthetic_graphs, kind):
    lex, hmm, ctc = synthetic_graphs
    path = hmm if kind == "hmm" else ctc
    beam, max_active, min_active = (13.0, 3000, 200) if kind == "hmm" else (10.0, 1000, 200)
    ik = "log-likelihoods" if kind == "hmm" else "log-posteriors"
    dec = Decoder(path, DecoderOptions(beam=beam, max_active=max_active, min_active=min_active, input_kind=ik))
    kfst = kaldifst.StdVectorFst.read(str(path / "HCLG.fst"))  # must outlive the decoder (it keeps a pointer)
    kdec = kaldi_decoder.FasterDecoder(kfst, kaldi_decoder.FasterDecoderOptions(beam=beam, max_active=max_active, min_active=min_active))
    same = 0
    utts = utterances(lex, dec, kind, 100, seed=11)
    correct = 0
    for u in utts:
        r = dec.decode(u.scores)
        words, cost, final = kaldi_faster_decode(kdec, expand_columns(dec.loglikes(u.scores), dec.graph.ilabel_to_column))
        assert list(r.word_ids) == words
        assert r.cost == pytest.approx(cost, abs=1e-3)
        assert r.partial == (not final)
        same += 1
        correct += r.words == u.words
    assert same == 100
    assert correct > 50  # the confusions are realistic, not hopeless


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_word_times_are_the_true_segmentation(synthetic_graphs, kind):
    lex, hmm, ctc = synthetic_graphs
    path = hmm if kind == "hmm" else ctc
    ik = "log-likelihoods" if kind == "hmm" else "log-posteriors"
    # acoustics dominate the LM (a CTC token spike is one frame: scale it up)
    dec = Decoder(path, DecoderOptions(input_kind=ik, acoustic_scale=1.0 if kind == "hmm" else 3.0))
    checked = 0
    for u in utterances(lex, dec, kind, 40, seed=5, confusion=0.0):
        r = dec.decode(u.scores)
        if r.words != u.words:  # a homophone the LM prefers: same sounds, other spelling
            assert [lex[w] for w in r.words] == [lex[w] for w in u.words]
            continue
        checked += 1
        assert r.start_frames == u.starts
        if kind == "hmm":
            assert r.end_frames == u.ends
        else:  # CTC: a word ends at its last token's first frame
            assert all(s <= e <= te for s, e, te in zip(r.start_frames, r.end_frames, u.ends))
    assert checked >= 25


def test_blank_skip_keeps_the_words(synthetic_graphs):
    lex, _, ctc = synthetic_graphs
    full = Decoder(ctc, DecoderOptions(beam=10.0, max_active=1000))
    skip = Decoder(ctc, DecoderOptions(beam=10.0, max_active=1000, blank_skip_threshold=0.95))
    same = 0
    utts = utterances(lex, full, "ctc", 30, seed=3, confusion=0.1)
    for u in utts:
        a, b = full.decode(u.scores), skip.decode(u.scores)
        same += a.words == b.words
        assert b.frames == a.frames == u.scores.shape[0]
    assert same == len(utts), same


def test_bad_matrices_are_clear_errors(tiny_graphs):
    dec = Decoder(tiny_graphs[0], DecoderOptions(input_kind="log-likelihoods"))
    n = dec.graph.num_columns
    with pytest.raises(DecodeError, match=rf"utterance 'u1': the matrix has {n + 1} columns but the graph .* reads {n}"):
        dec.decode(np.zeros((5, n + 1), np.float32), "u1")
    with pytest.raises(DecodeError, match="utterance 'u2': has 0 frames"):
        dec.decode(np.zeros((0, n), np.float32), "u2")
    bad = np.zeros((5, n), np.float32)
    bad[3, 1] = np.nan
    with pytest.raises(DecodeError, match="utterance 'u3': NaN or \\+inf at frame 3"):
        dec.decode(bad, "u3")
    with pytest.raises(ValueError, match="beam must be > 0"):
        Decoder(tiny_graphs[0], DecoderOptions(beam=-1))


def test_word_times_off_keeps_the_words_and_costs(synthetic_graphs):
    lex, hmm, ctc = synthetic_graphs
    for path, ik in ((hmm, "log-likelihoods"), (ctc, "log-posteriors")):
        on = Decoder(path, DecoderOptions(input_kind=ik, beam=10.0, max_active=1000))
        off = Decoder(path, DecoderOptions(input_kind=ik, beam=10.0, max_active=1000, word_times=False))
        for u in utterances(lex, on, "hmm" if path == hmm else "ctc", 10, seed=4):
            a, b = on.decode(u.scores), off.decode(u.scores)
            assert (a.word_ids, a.cost) == (b.word_ids, b.cost)
            assert len(a.start_frames) == len(a.words) and b.start_frames == () and b.ctm_lines() == []


def kaldi_get_cutoff(costs, beam, max_active, min_active, beam_delta):
    """Kaldi's FasterDecoder::GetCutoff as written there: nth_element on every frame, over
    ``std::vector<BaseFloat> tmp_array_`` (the costs in single precision), the adaptive beam
    a BaseFloat too (faster-decoder.h)."""
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    best = min(costs)
    beam_cutoff = best + beam
    max_active_cutoff = min_active_cutoff = float("inf")
    srt = sorted(f32(c) for c in costs)
    if len(costs) > max_active:
        max_active_cutoff = srt[max_active]
    if max_active_cutoff < beam_cutoff:
        return max_active_cutoff, f32(max_active_cutoff - best + beam_delta)
    if len(costs) > min_active:
        min_active_cutoff = best if min_active == 0 else srt[min_active]
    if min_active_cutoff > beam_cutoff:
        return min_active_cutoff, f32(min_active_cutoff - best + beam_delta)
    return beam_cutoff, beam


def test_cutoff_is_kaldis():
    """The counting shortcut gives Kaldi's cutoff and adaptive beam exactly, ties included."""
    from hclg.search.cutoff import get_cutoff

    rng = np.random.default_rng(3)
    scratch = np.empty(400)
    hits = set()
    for _ in range(3000):
        n = int(rng.integers(1, 400))
        costs = np.round(rng.exponential(rng.uniform(0.5, 8.0), n), 1)  # rounded: ties at the cutoff
        beam = float(rng.choice([0.0, 1.0, 4.0, 10.0, np.inf]))
        min_active = int(rng.integers(0, 60))
        max_active = int(rng.integers(max(min_active, 1), 300))
        cut, ab, slot = get_cutoff(costs, n, beam, max_active, min_active, 0.5, scratch)
        want = kaldi_get_cutoff(costs.tolist(), beam, max_active, min_active, 0.5)
        assert (cut, ab) == want
        assert costs[slot] == costs.min()
        hits.add("max" if want[0] < costs.min() + beam else "min" if want[0] > costs.min() + beam else "beam")
    assert hits == {"max", "min", "beam"}  # every branch was met


def test_corrupt_graph_arrays_are_refused_before_the_search(tiny_graphs, tmp_path):
    """One changed record in a graph's arrays made decode segfault (issue 13)."""
    import shutil

    from hclg.errors import GraphFormatError
    from hclg.graph.arc_records import E_COLUMN, E_NEXT, N_NEXT

    for name, field, value, what in (("e_arcs", E_NEXT, 10**7, "emitting arc 3"), ("e_arcs", E_COLUMN, -5, "emitting arc 3"),
                                      ("n_arcs", N_NEXT, -1, "epsilon arc 0")):
        g = tmp_path / f"{name}{field}{value}"
        shutil.copytree(tiny_graphs[0], g)
        a = np.load(g / "decoder" / f"{name}.npy")
        a[3 if name == "e_arcs" else 0, field] = value
        np.save(g / "decoder" / f"{name}.npy", a)
        with pytest.raises(GraphFormatError, match=f"{what} points outside the graph"):
            Decoder(g, DecoderOptions(input_kind="log-likelihoods"))


def test_active_limits_default_per_graph_kind(tiny_graphs):
    """max/min-active left unset: Kaldi's (no limit, 200) on an HMM graph, 7000/20 on a CTC
    graph (issue 19, part 4); set ones are kept, and an HMM graph's min-active 200 against a
    smaller max-active is refused naming the default."""
    hmm, ctc = tiny_graphs[0], tiny_graphs[1]
    opts = DecoderOptions(input_kind="log-likelihoods")
    assert (Decoder(hmm, opts).max_active, Decoder(hmm, opts).min_active) == (2**31 - 1, 200)
    assert (Decoder(ctc, opts).beam_options.max_active, Decoder(ctc, opts).beam_options.min_active) == (7000, 20)
    own = DecoderOptions(input_kind="log-likelihoods", max_active=500, min_active=5)
    assert (Decoder(ctc, own).beam_options.max_active, Decoder(hmm, own).beam_options.min_active) == (500, 5)
    assert Decoder(ctc, DecoderOptions(max_active=100)).min_active == 20
    with pytest.raises(ValueError, match="min_active's default on HMM graphs"):
        Decoder(hmm, DecoderOptions(input_kind="log-likelihoods", max_active=100))
    with pytest.raises(ValueError, match="min_active"):
        DecoderOptions(max_active=10, min_active=10)


def test_blank_skipping_keeps_every_word_on_real_ctc_output(an4_ctc_lang):
    """All 948 utterances of the AN4 CTC model (issue 19, part 2): skipping frames whose blank
    exceeds 0.95 gives the words of the decode that reads every frame. Before the kept frame
    of a run held the run's sum, cen1-mtcv-b's "... L A A N" was read "... L A N": one weak
    blank frame between the two EYs cost less than the LM's second A."""
    from helpers import SHARED_AN4
    from hclg.search.matrix_readers import iter_matrices

    full = Decoder(an4_ctc_lang.graph, DecoderOptions())
    skip = Decoder(an4_ctc_lang.graph, DecoderOptions(blank_skip_threshold=0.95))
    n, differ = 0, []
    for utt, m in iter_matrices(f"ark:{SHARED_AN4 / 'ctc_train_logprobs.ark'}"):
        m = np.array(m, dtype=np.float32)
        a, b = full.decode(m, utt), skip.decode(m, utt)
        if a.words != b.words:
            differ.append((utt, a.words, b.words))
        n += 1
    assert n == 948 and differ == []


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_tokens_expanded_counts_the_states_alive_at_each_frame(tiny_graphs, kind):
    """Result.tokens_expanded (benchmarks print it as active tokens per frame): with nothing
    pruned it is the number of graph states reachable at each frame (by OpenFst's arcs:
    emitting arcs take a frame, epsilon arcs none), summed over the frames expanded."""
    path = tiny_graphs[0] if kind == "hmm" else tiny_graphs[1]
    dec = Decoder(path, DecoderOptions(beam=1e4, min_active=0, input_kind="log-likelihoods", acoustic_scale=1.0))
    g = fst.Fst.read(str(path / "HCLG.fst"))

    def closure(states):
        todo, seen = list(states), set(states)
        while todo:
            for a in g.arcs(todo.pop()):
                if a.ilabel == 0 and a.nextstate not in seen:
                    seen.add(a.nextstate)
                    todo.append(a.nextstate)
        return seen

    T = 12
    ll = np.random.default_rng(3).normal(0, 1, size=(T, dec.graph.num_columns)).astype(np.float32)
    alive, want = closure({g.start()}), 0
    for _ in range(T):
        want += len(alive)
        alive = closure({a.nextstate for s in alive for a in g.arcs(s) if a.ilabel != 0})
    assert dec.decode(ll).tokens_expanded == want > 0
