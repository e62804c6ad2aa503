import numpy as np
import pytest
import pywrapfst as fst
from helpers import sequence_costs, utterances

from hclg.lattice import ops
from hclg.search.options import DecoderOptions
from hclg.lattice.generation import LatticeDecoder


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
    return sequence_costs(fst.determinize(x).connect())


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
    dec = LatticeDecoder(path, DecoderOptions(beam=1e4, min_active=0, lattice_beam=lattice_beam, prune_interval=4,
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
    dec = LatticeDecoder(path, DecoderOptions(beam=12.0, max_active=3000, lattice_beam=8.0, input_kind=ik))
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


# ---------------------------------------------------------------- Kaldi's lattice decoder

def kaldi_word_sequences(kaldi_lat, beam):
    """{word tuple: best cost} of the word sequences within ``beam`` of a kaldifst raw
    Lattice (total cost = graph + acoustic), by OpenFst determinization of its words."""
    c = fst.Compiler()
    lines = []
    for line in kaldi_lat.to_str(show_weight_one=True).strip().splitlines():
        f = line.split()
        if len(f) >= 4:
            g, a = (float(x) for x in f[4].split(",")) if len(f) > 4 else (0.0, 0.0)
            lines.append(f"{f[0]} {f[1]} {f[3]} {f[3]} {g + a!r}")
        else:
            g, a = (float(x) for x in f[1].split(",")) if len(f) > 1 else (0.0, 0.0)
            lines.append(f"{f[0]} {g + a!r}")
    print("\n".join(lines), file=c)
    out = sequence_costs(fst.determinize(c.compile().rmepsilon()).connect())
    best = min(out.values())
    return {w: c for w, c in out.items() if c <= best + beam}


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_same_word_sequences_as_kaldi_lattice_simple_decoder(synthetic_graphs, kind):
    import kaldi_decoder
    import kaldifst

    from oracles.kaldi_recipes import expand_columns

    lex, hmm, ctc = synthetic_graphs
    path = hmm if kind == "hmm" else ctc
    ik = "log-likelihoods" if kind == "hmm" else "log-posteriors"
    # Kaldi's LatticeSimpleDecoder has no max-active, so its time grows fast with the beam:
    # beam 11 compares 129 (HMM) and 62 (CTC) word sequences, beam 14 134 and 68 in 6x the time
    beam, lattice_beam = 11.0, 5.0
    dec = LatticeDecoder(path, DecoderOptions(beam=beam, min_active=0, lattice_beam=lattice_beam, input_kind=ik))
    kfst = kaldifst.StdVectorFst.read(str(path / "HCLG.fst"))  # must outlive the decoder
    kdec = kaldi_decoder.LatticeSimpleDecoder(kfst, kaldi_decoder.LatticeSimpleDecoderConfig(beam=beam, lattice_beam=lattice_beam))
    compared = 0
    for u in utterances(lex, dec, kind, 25, seed=31):
        _, lat = dec.decode_lattice(u.scores)
        kdec.decode(kaldi_decoder.DecodableCtc(expand_columns(dec.loglikes(u.scores), dec.graph.ilabel_to_column)))
        ok, raw = kdec.get_raw_lattice()
        theirs = kaldi_word_sequences(raw, lattice_beam)
        ours = {p.words: p.cost for p in ops.nbest(ops.prune(lat, lattice_beam), 10000)}  # pruned first: fewer paths to list
        # away from the beam's edge the two sets agree exactly, with the same costs
        best = min(theirs.values())
        inner = {w for w, c in theirs.items() if c < best + lattice_beam - 0.05}
        assert inner <= set(ours)
        assert {w for w, c in ours.items() if c < best + lattice_beam - 0.05} <= set(theirs)
        for w in inner:
            assert ours[w] == pytest.approx(theirs[w], abs=1e-3)
        compared += len(inner)
    print(f"{kind}: {compared} word sequences compared")
    assert compared >= 50


# ---------------------------------------------------------------- formats

def test_kaldi_text_binary_and_npz_round_trips_are_lossless(synthetic_graphs, tmp_path):
    from hclg.lattice import archives as lio

    lex, hmm, _ = synthetic_graphs
    dec = LatticeDecoder(hmm, DecoderOptions(beam=12.0, max_active=3000, lattice_beam=6.0, input_kind="log-likelihoods"))
    lats = [dec.decode_lattice(u.scores, f"u{i}")[1] for i, u in enumerate(utterances(lex, dec, "hmm", 5, seed=2))]
    for spec in (f"ark,t:{tmp_path}/l.txt", f"ark:{tmp_path}/l.ark", f"npz:{tmp_path}/npz"):
        with lio.LatticeWriter(spec) as w:
            for lat in lats:
                w.write(lat)
        back = list(lio.read_lattices(spec, acoustic_scale=dec.acoustic_scale))
        assert [b.utt for b in back] == [lat.utt for lat in lats]
        binary = spec.startswith("ark:")
        for a, b in zip(lats, back):
            for f in ("src", "dst", "word", "align_off", "align", "final_align_off", "final_align"):
                np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f"{spec} {f}")
            tol = 1e-5 if binary else 0  # the binary form stores float32, as Kaldi's
            np.testing.assert_allclose(b.graph, a.graph, rtol=tol)
            np.testing.assert_allclose(b.acoustic, a.acoustic, rtol=tol)
            np.testing.assert_allclose(b.final_graph, a.final_graph, rtol=tol)
            assert ops.best_path(b).words == ops.best_path(a).words
    assert (tmp_path / "l.txt").read_text().startswith("u0\n0\t")


def test_binary_fst_layout_is_what_openfst_reads(tmp_path):
    """The same writer, with Kaldi's (non-compact) lattice weights, gives a file that
    Kaldi's own reader (kaldifst) opens with the same arcs and weights."""
    import struct

    import kaldifst

    from hclg.fst.openfst_file import vector_fst_bytes

    arcs = {0: [(5, 7, (1.5, 2.25), 1), (6, 0, (0.5, 0.0), 2)], 1: [(0, 3, (0.0, 1.0), 2)], 2: []}
    finals = {2: (0.25, 0.5)}
    w = lambda g, a: struct.pack("<ff", g, a)
    data = vector_fst_bytes("lattice4", 3, 3, lambda s: w(*finals.get(s, (np.inf, np.inf))),
                            lambda s: [(il, ol, w(*gw), d) for il, ol, gw, d in arcs[s]])
    (tmp_path / "l.fst").write_bytes(data)
    k = kaldifst.Lattice.read(str(tmp_path / "l.fst"))
    got = sorted(line.split() for line in k.to_str(show_weight_one=True).strip().splitlines())
    want = sorted([["0", "1", "5", "7", "1.5,2.25"], ["0", "2", "6", "0", "0.5,0"], ["1", "2", "0", "3", "0,1"],
                   ["2", "0.25,0.5"]])
    assert got == want


def test_bad_lattice_text_names_file_and_line(tmp_path):
    from hclg.lattice.archives import read_lattices
    from hclg.errors import InputFormatError

    p = tmp_path / "bad.txt"
    p.write_text("u1\n0\t1\t3\t1.0,2.0,4_4\n1\t2\t5\tnot-a-weight\n\n")
    with pytest.raises(InputFormatError, match=r"bad.txt:3: expected a CompactLattice weight"):
        list(read_lattices(f"ark,t:{p}"))


# ---------------------------------------------------------------- tools

def all_paths(lat):
    """Every complete path of a lattice as (words, cost): brute force."""
    c, f = lat.arc_costs()
    out, stack = [], [(0, (), 0.0)]
    arcs = lat.out_arcs()
    while stack:
        s, words, cost = stack.pop()
        if np.isfinite(f[s]):
            out.append((words, cost + f[s]))
        for k in arcs[s]:
            w = int(lat.word[k])
            stack.append((int(lat.dst[k]), words + ((w,) if w else ()), cost + c[k]))
    return out


def test_nbest_oracle_prune_posteriors_against_brute_force(tiny_graphs):
    from hclg.scoring import edit_distance

    dec = LatticeDecoder(tiny_graphs[0], DecoderOptions(beam=1e4, min_active=0, lattice_beam=8.0,
                                                 input_kind="log-likelihoods", acoustic_scale=1.0))
    rng = np.random.default_rng(3)
    checked = 0
    for T in [12, 15, 20, 25, 30] * 3:
        ll = rng.normal(0, 1.5, size=(T, dec.graph.num_columns)).astype(np.float32)
        res, lat = dec.decode_lattice(ll)
        if res.partial:
            continue
        paths = sorted(all_paths(lat), key=lambda x: x[1])
        nb = ops.nbest(lat, 4)
        assert [p.words for p in nb] == [w for w, _ in paths[:4]]
        assert [p.cost for p in nb] == pytest.approx([c for _, c in paths[:4]], abs=1e-6)
        # oracle: fewest errors over every path, against a reference drawn at random
        ref = list(rng.integers(1, len(dec.graph.words.symbols), size=int(rng.integers(1, 5))))
        o = ops.oracle(lat, ref)
        assert o.errors == min(edit_distance(ref, list(w)) for w, _ in paths)
        assert o.errors == edit_distance(ref, list(o.words))
        assert o.errors <= edit_distance(ref, list(res.word_ids))
        # prune keeps exactly the paths within the beam
        pr = ops.prune(lat, 2.0)
        want = {w for w, c in paths if c <= paths[0][1] + 2.0 - 1e-6}
        got = {w for w, _ in all_paths(pr)}
        assert want <= got and all(c <= paths[0][1] + 2.0 + 1e-6 for _, c in all_paths(pr))
        # posteriors: a path's posterior is exp(-cost) normalized
        post = ops.posteriors(lat)
        z = np.exp(-np.array([c for _, c in paths]))
        assert post.total_cost == pytest.approx(-np.log(z.sum()), abs=1e-6)
        np.testing.assert_allclose(ops.frame_coverage(lat, post), 1.0, atol=1e-9)
        checked += 1
    assert checked >= 8


def arpa_sentence_cost(path, words):
    """Brute-force ARPA scoring of one sentence (natural-log cost, </s> included): the
    n-gram if listed, else the history's backoff and a shorter history."""
    import math

    prob, bo, order = {}, {}, 0
    section = 0
    for line in open(path):
        s = line.strip()
        if s.startswith("\\") and s.endswith("-grams:"):
            section = int(s[1])
            order = max(order, section)
            continue
        f = s.split()
        if section and len(f) >= section + 1 and not s.startswith("\\"):
            key = tuple(f[1: 1 + section])
            prob[key] = -float(f[0]) * math.log(10)
            if len(f) > section + 1:
                bo[key] = -float(f[-1]) * math.log(10)
    seq = ["<s>"] + list(words) + ["</s>"]
    total = 0.0
    for i in range(1, len(seq)):
        h = tuple(seq[max(0, i - order + 1): i])
        while h + (seq[i],) not in prob:
            total += bo.get(h, 0.0)
            h = h[1:]
        total += prob[h + (seq[i],)]
    return total


def test_rescoring_replaces_the_lm_cost_exactly(synthetic_graphs, tmp_path):
    from oracles import synth
    from hclg.lattice.rescore import NgramLM, rescore

    lex, hmm, _ = synthetic_graphs
    old_arpa = hmm.parent / "lm.arpa"
    new_arpa = tmp_path / "new.arpa"
    synth.write_random_arpa(new_arpa, list(lex), np.random.default_rng(7), 20000)
    old, new = NgramLM(old_arpa), NgramLM(new_arpa)
    dec = LatticeDecoder(hmm, DecoderOptions(beam=12.0, max_active=3000, lattice_beam=6.0, input_kind="log-likelihoods"))
    sym = dec.graph.words.symbols
    checked = 0
    for u in utterances(lex, dec, "hmm", 8, seed=9):
        _, lat = dec.decode_lattice(u.scores)
        before = {p.words: p for p in ops.nbest(lat, 100000)}
        same = rescore(lat, dec.graph.words, old, old)
        after = {p.words: p for p in ops.nbest(same, 100000)}
        assert set(after) == set(before)
        for w, p in after.items():
            assert p.graph_cost == pytest.approx(before[w].graph_cost, abs=1e-6)
            assert p.acoustic_cost == pytest.approx(before[w].acoustic_cost, abs=1e-6)
        swapped = rescore(lat, dec.graph.words, old, new)
        for p in ops.nbest(swapped, 50):
            words = [sym[w] for w in p.words]
            want = before[p.words].graph_cost - arpa_sentence_cost(old_arpa, words) + arpa_sentence_cost(new_arpa, words)
            assert p.graph_cost == pytest.approx(want, abs=1e-3)
            checked += 1
    assert checked >= 50


def test_memory_guard_prunes_harder_but_never_empties_the_lattice(synthetic_graphs, caplog):
    lex, hmm, _ = synthetic_graphs
    opts = DecoderOptions(beam=12.0, max_active=3000, lattice_beam=8.0, input_kind="log-likelihoods")
    full = LatticeDecoder(hmm, opts)
    tight = LatticeDecoder(hmm, DecoderOptions(**{**opts.__dict__, "max_mem": 2000}))
    smaller = 0
    for u in utterances(lex, full, "hmm", 10, seed=41):
        r, lat = full.decode_lattice(u.scores)
        r2, lat2 = tight.decode_lattice(u.scores)
        assert r2.word_ids == r.word_ids and r2.cost == pytest.approx(r.cost, abs=1e-3)
        assert lat2.num_arcs >= 1 and lat2.num_arcs <= lat.num_arcs
        smaller += lat2.num_arcs < lat.num_arcs
    assert smaller >= 5
    assert "lattice beam" in caplog.text


def test_mbr_on_the_consensus_example():
    """Three paths: "a b" 0.40, "c d" 0.35, "c b" 0.25. The MAP path is "a b", but the
    consensus is "c b": c has posterior 0.60 in the first bin and b 0.65 in the second,
    and its expected errors are 0.4 * 1 + 0.35 * 1 = 0.75 (Mangu et al.'s example form)."""
    import io
    import math

    from hclg.lattice.kaldi_format import read_kaldi_text
    from hclg.lattice.mbr import mbr_decode

    c = lambda p: -math.log(p)
    text = (f"u\n0\t1\t1\t{c(.4)},0,\n1\t4\t2\t0,0,\n0\t2\t3\t{c(.35)},0,\n2\t4\t4\t0,0,\n"
            f"0\t3\t3\t{c(.25)},0,\n3\t4\t2\t0,0,\n4\t0,0,\n\n")
    lat = next(read_kaldi_text(io.StringIO(text), acoustic_scale=1.0))
    assert ops.best_path(lat).words == (1, 2)
    m = mbr_decode(lat)
    assert m.words == (3, 2)
    assert m.confidences == pytest.approx((0.60, 0.65))
    assert m.expected_errors == pytest.approx(0.75, abs=1e-3)


def test_mbr_of_a_single_path_is_that_path_with_confidence_one(tiny_graphs):
    from hclg.lattice.mbr import mbr_decode

    dec = LatticeDecoder(tiny_graphs[0], DecoderOptions(beam=1e4, min_active=0, lattice_beam=1e-3,
                                                 input_kind="log-likelihoods", acoustic_scale=1.0))
    rng = np.random.default_rng(5)
    done = 0
    for T in [15, 20, 25, 30] * 2:
        res, lat = dec.decode_lattice(rng.normal(0, 1.5, size=(T, dec.graph.num_columns)).astype(np.float32))
        if res.partial or len(ops.nbest(lat, 2)) != 1:
            continue
        m = mbr_decode(lat)
        assert m.words == res.word_ids and all(c == pytest.approx(1.0) for c in m.confidences)
        assert m.expected_errors == pytest.approx(0.0, abs=1e-3)
        done += 1
    assert done >= 3


def test_openfst_output_has_the_lattice_paths_and_total_costs(synthetic_graphs, tmp_path):
    from helpers import shortest

    from hclg.lattice.archives import LatticeWriter

    lex, _, ctc = synthetic_graphs
    dec = LatticeDecoder(ctc, DecoderOptions(beam=10.0, max_active=1000, lattice_beam=6.0))
    for i, u in enumerate(utterances(lex, dec, "ctc", 4, seed=8)):
        _, lat = dec.decode_lattice(u.scores, f"u{i}")
        with LatticeWriter(f"fst:{tmp_path}") as w:
            w.write(lat)
        f = fst.Fst.read(str(tmp_path / f"u{i}.fst"))
        best = ops.best_path(lat)
        cost, words = shortest(f)
        assert tuple(words) == best.words and cost == pytest.approx(best.cost, abs=1e-3)
        assert f.num_states() == lat.num_states


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_pruning_as_the_search_goes_changes_nothing(synthetic_graphs, kind):
    """Pruning every prune_interval frames (and compacting what it deleted) only saves
    memory: the raw lattice, token for token and link for link, is the one made with no
    pruning until the end, where the final pruning is exact."""
    from hclg.search.lattice_kernel import lattice_search

    lex, hmm, ctc = synthetic_graphs
    path = hmm if kind == "hmm" else ctc
    ik = "log-likelihoods" if kind == "hmm" else "log-posteriors"
    dec = LatticeDecoder(path, DecoderOptions(beam=12.0, max_active=3000, input_kind=ik))
    frames = 0
    for u in utterances(lex, dec, kind, 12, seed=5):
        ll = dec.loglikes(u.scores)
        frames += ll.shape[0]
        whole = lattice_search(dec.search_graph, ll, dec.beam_options, 8.0, 10**9, *dec.indices(), 2**62)
        for interval in (1, 7, 25):
            got = lattice_search(dec.search_graph, ll, dec.beam_options, 8.0, interval, *dec.indices(), 2**62)
            assert got[:4] == whole[:4]
            for a, b in zip(got[4:], whole[4:]):
                np.testing.assert_array_equal(a, b)
    assert frames > 12 * 50  # utterances span several pruning intervals
