"""On-the-fly composition: the lexicon graph composed with G (and hotwords) during the
search. Independent answers: exhaustive Viterbi over the written lexicon graph composed
(OpenFst) with G spelled out as a word transducer, and the static HCLG/TLG of the same
lexicon and LM (same 1-best at a wide beam; costs that differ only by the static graph's
summed backoff paths)."""

import dataclasses
import json

import kaldi_native_io
import numpy as np
import pytest
import pywrapfst as fst
from click.testing import CliRunner
from helpers import frame_lattice, sequence_costs, shortest
from test_bias import to_fst as bias_fst

from hclg.cli import main
from hclg.errors import GraphFormatError
from hclg.graph.compile import compile_graph
from hclg.graph.compile_options import CompileOptions
from hclg.graph.graph_dir import graph_info, load_graph
from hclg.graph.ngram import ngram_step
from hclg.lattice import ops
from hclg.lattice.generation import LatticeDecoder
from hclg.search.decoder import Decoder
from hclg.search.options import DecoderOptions

ARPA = """
\\data\\
ngram 1=6
ngram 2=5
ngram 3=3

\\1-grams:
-1.0 </s>
-99 <s> -0.5
-0.7 cat -0.3
-0.8 hat -0.2
-0.9 and -0.25
-1.5 at -0.1

\\2-grams:
-0.3 <s> cat -0.1
-0.4 cat and -0.2
-0.5 and hat
-0.6 hat </s>
-0.2 at cat

\\3-grams:
-0.1 <s> cat and
-0.2 cat and hat
-0.3 and hat </s>

\\end\\
"""
LEXICON = "and ae n d\nand ax n\ncat k ae t\nhat h ae t\nhat hh ae t\nat ae t\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Static and on-the-fly graphs, HMM and CTC, of a lexicon with alternative
    pronunciations and a trigram that backs off."""
    d = tmp_path_factory.mktemp("otf")
    (d / "lexicon.txt").write_text(LEXICON)
    (d / "lm.arpa").write_text(ARPA)
    out = {}
    for kind, opts in (("hmm", CompileOptions(sil_phone="sil")), ("ctc", CompileOptions(topology="ctc"))):
        for otf in (False, True):
            out[kind, otf] = compile_graph(d / "lexicon.txt", d / "lm.arpa", d / f"{kind}-{otf}",
                                           CompileOptions(**{**opts.__dict__, "on_the_fly": otf})).path
    return out


def g_fst(lm, n_words):
    """G spelled out: every state reads every word as :func:`ngram_step` says (the model's
    backoff rule, checked against Kaldi's G in tests/graph/test_ngram.py)."""
    c = fst.Compiler()
    lines = []
    for s in range(lm.num_states):
        for w in range(1, n_words):
            d, cost = ngram_step(lm, s, w)
            if d >= 0:
                lines.append(f"{s} {d} {w} {w} {float(cost)!r}")
        if np.isfinite(lm.final[s]):
            lines.append(f"{s} {float(lm.final[s])!r}")
    print(f"{lm.start} {lm.start} 0 0 0\n" + "\n".join(lines), file=c)  # start state first
    return c.compile()


def search_space(path, ll, word_fsts):
    """The frames composed with the lexicon graph (HCLG.fst of the on-the-fly directory)
    and the word automata (G, hotwords), by OpenFst: every path the search may take."""
    g = fst.Fst.read(str(path / "HCLG.fst"))
    g.arcsort("ilabel")
    f = fst.compose(frame_lattice(load_graph(path).ilabel_to_column, ll), g)
    for w in word_fsts:
        f.arcsort("olabel")
        w.arcsort("ilabel")
        f = fst.compose(f, w)
    return f


def exhaustive(path, ll, word_fsts):
    """(cost, words) of the best path of :func:`search_space`."""
    return shortest(search_space(path, ll, word_fsts)) or (float("inf"), None)


def exact_sequences(path, ll, word_fsts):
    """{words: best cost} of every word sequence of :func:`search_space`."""
    x = search_space(path, ll, word_fsts).project("output").rmepsilon()
    return sequence_costs(fst.determinize(x).connect())


OPTS = DecoderOptions(beam=1e4, min_active=0, input_kind="log-likelihoods", acoustic_scale=1.0)


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_onthefly_decode_is_exact_viterbi_over_lexicon_graph_and_g(tiny, kind):
    dec = Decoder(tiny[kind, True], OPTS)
    static = Decoder(tiny[kind, False], OPTS)
    G = g_fst(dec.graph.lm, len(dec.graph.words))
    rng = np.random.default_rng(3)
    checked = 0
    for T in [6, 9, 12, 16, 20, 25] * 3:
        ll = rng.normal(0, 2, size=(T, dec.graph.num_columns)).astype(np.float32)
        cost, words = exhaustive(tiny[kind, True], ll, [G])
        if not np.isfinite(cost):
            continue
        r = dec.decode(ll)
        assert r.cost == pytest.approx(cost, abs=2e-3) and list(r.word_ids) == words
        s = static.decode(ll)  # the static graph sums G's backoff paths: never costlier, and close
        assert s.cost <= r.cost + 2e-3 and r.cost - s.cost < 0.5
        checked += 1
    assert checked >= 12


def test_onthefly_with_hotwords_is_exact(tiny):
    path = tiny["hmm", True]
    dec = Decoder(path, OPTS)
    bias = dec.compile_bias([("cat and", 4.0), ("hat", 1.5), ("at cat", 6.0)])
    G = g_fst(dec.graph.lm, len(dec.graph.words))
    B = bias_fst(bias, len(dec.graph.words))
    rng = np.random.default_rng(5)
    checked = changed = 0
    for T in [8, 12, 16, 20, 25] * 3:
        ll = rng.normal(0, 2, size=(T, dec.graph.num_columns)).astype(np.float32)
        cost, words = exhaustive(path, ll, [G, B])
        if not np.isfinite(cost):
            continue
        r = dec.decode(ll, bias=bias)
        assert r.cost == pytest.approx(cost, abs=2e-3) and list(r.word_ids) == words
        changed += r.words != dec.decode(ll).words
        checked += 1
    assert checked >= 8 and changed >= 1


def test_onthefly_equals_static_on_real_an4_scores(an4_example, tmp_path):
    """AN4's GMM scores with the trigram, at a wide beam: the on-the-fly graph gives the
    static HCLG's 1-best and word times on 5 of the 6 utterances; on cen8-fjlp-b the static
    graph's extra backoff paths (summed in by its log determinization) make 'O SEVENTY
    ...' cheaper than the model's own 'GO SEVENTY ...'. The graph is far smaller. The
    lattice's best path is the 1-best."""
    ex = an4_example
    opts = {"hmm_topology": str(ex / "transitions.txt"), "pdf_map": str(ex / "pdf_map.txt")}
    paths = {otf: compile_graph(ex / "lexicon.dic", ex / "lm_train_3gram.arpa", tmp_path / str(otf),
                                CompileOptions(**opts, on_the_fly=otf), phones=ex / "phones.txt").path
             for otf in (False, True)}
    o = DecoderOptions(input_kind="log-likelihoods", beam=24)
    static, otf = Decoder(paths[False], o), LatticeDecoder(paths[True], o)
    assert otf.graph.arrays.num_states * 10 < static.graph.arrays.num_states
    same = n = 0
    for utt, m in kaldi_native_io.SequentialFloatMatrixReader(f"ark:{ex / 'loglikes_demo.ark'}"):
        a, b = static.decode(m, utt), otf.decode(m, utt)
        same += a.words == b.words and a.start_frames == b.start_frames
        # the static graph sums up to 3 trigram paths (direct, backing off once or twice) of each
        # word and of the end: at most ln 3 cheaper each
        assert a.cost <= b.cost + 1e-2 and b.cost - a.cost < np.log(3) * (len(a.words) + 1)
        if n < 2:  # the lattice's best path is the 1-best, word times too
            c, lat = otf.decode_lattice(m, utt)
            assert (c.words, c.start_frames, c.end_frames) == (b.words, b.start_frames, b.end_frames)
            assert c.cost == pytest.approx(b.cost, abs=1e-3) and ops.depth(lat) > 1
        n += 1
    assert n == 6 and same == 5


@pytest.mark.parametrize("kind", ["ctc", "hmm"])
def test_onthefly_graph_of_a_unigram_lm_prunes_as_the_static_graph(tmp_path, kind):
    """With a unigram LM (G one state, no cost a static graph would put elsewhere), an
    on-the-fly graph's search is the static graph's, token for token, at narrow beams too:
    the lexicon graph carries the unigrams as the static graph does (its word loop has
    them before the log determinization), and G's step adds nothing. With a weightless
    loop and unigram potentials pushed in instead (format 5), the first utterance already
    differed, HMM and CTC (other words: search errors)."""
    from oracles import synth

    rng = np.random.default_rng(1)
    phones = [f"p{i}" for i in range(40)]
    lex = synth.random_lexicon(rng, 1500, phones)
    synth.write_lexicon(tmp_path / "lexicon.txt", lex)
    synth.write_unigram_arpa(tmp_path / "lm.arpa", list(lex), rng)
    if kind == "hmm":
        (tmp_path / "units.txt").write_text("\n".join(phones + ["SIL"]) + "\n")
    else:
        (tmp_path / "units.txt").write_text("\n".join(["<blk>"] + phones) + "\n")
    units = {"phones" if kind == "hmm" else "tokens": tmp_path / "units.txt"}
    paths = [compile_graph(tmp_path / "lexicon.txt", tmp_path / "lm.arpa", tmp_path / str(otf),
                           CompileOptions(topology=kind, on_the_fly=otf), **units).path for otf in (False, True)]
    utts = synth.make_utterances(load_graph(paths[1]), lex, kind, 20, confusion=0.4)
    for beam in (4.0, 6.0):
        o = DecoderOptions(input_kind="log-likelihoods", beam=beam, min_active=0)
        static, otf = Decoder(paths[0], o), Decoder(paths[1], o)
        for u in utts:
            a, b = static.decode(u.scores), otf.decode(u.scores)
            assert (a.words, a.start_frames, a.tokens_expanded) == (b.words, b.start_frames, b.tokens_expanded)
            assert a.cost == pytest.approx(b.cost, abs=1e-3)


def test_word_arcs_dropped_before_stepping_g_change_nothing(an4_example, tmp_path):
    """The search drops a word arc that G's least cost of the word already prunes, without
    stepping G (NgramArrays.least): on AN4's GMM scores with the trigram, at Kaldi's beam
    and a narrow one, the 1-best, its cost and word times, the arcs expanded and the
    lattice are those of the search without it (``least`` all -inf)."""
    import dataclasses

    ex = an4_example
    path = compile_graph(ex / "lexicon.dic", ex / "lm_train_3gram.arpa", tmp_path / "otf",
                         CompileOptions(hmm_topology=str(ex / "transitions.txt"), pdf_map=str(ex / "pdf_map.txt"),
                                        on_the_fly=True), phones=ex / "phones.txt").path
    for beam in (13.0, 7.0):
        o = DecoderOptions(input_kind="log-likelihoods", beam=beam, lattice_beam=6, word_times=True)
        on, off = LatticeDecoder(path, o), LatticeDecoder(path, o)
        lm = off.graph.lm
        off.graph = dataclasses.replace(off.graph, lm=lm._replace(least=np.full_like(lm.least, -np.inf)))
        assert np.isfinite(on.graph.lm.least).sum() > 100
        for utt, m in kaldi_native_io.SequentialFloatMatrixReader(f"ark:{ex / 'loglikes_demo.ark'}"):
            a, b = on.decode(m, utt), off.decode(m, utt)
            assert (a.words, a.start_frames, a.end_frames, a.arcs_expanded) == \
                (b.words, b.start_frames, b.end_frames, b.arcs_expanded)
            assert a.cost == b.cost
            la, lb = on.decode_lattice(m, utt)[1], off.decode_lattice(m, utt)[1]
            assert ops.nbest(la, 5) == ops.nbest(lb, 5)


@pytest.mark.parametrize("kind,hot", [("hmm", False), ("ctc", False), ("hmm", True), ("ctc", True)])
def test_onthefly_lattice_holds_exactly_the_word_sequences_within_the_beam(tiny, kind, hot):
    """The lattice of an on-the-fly graph (with hotwords too) holds every word sequence of
    the exact search space within the lattice beam, each at its best cost, and its best
    path is the 1-best decode's."""
    path = tiny[kind, True]
    lattice_beam = 6.0
    dec = LatticeDecoder(path, dataclasses.replace(OPTS, lattice_beam=lattice_beam, prune_interval=4))
    bias = dec.compile_bias([("cat and", 4.0), ("hat", 1.5), ("at cat", 6.0)]) if hot else None
    word_fsts = [g_fst(dec.graph.lm, len(dec.graph.words))] + ([bias_fst(bias, len(dec.graph.words))] if hot else [])
    rng = np.random.default_rng(7)
    checked = multi = 0
    for T in [6, 9, 12, 16, 20, 25] * 3:
        ll = rng.normal(0, 1.5, size=(T, dec.graph.num_columns)).astype(np.float32)
        exact = exact_sequences(path, ll, word_fsts)
        if not exact:
            continue
        res, lat = dec.decode_lattice(ll, bias=bias)
        best = min(exact.values())
        want = {w for w, c in exact.items() if c <= best + lattice_beam - 1e-3}
        got = {p.words: p.cost for p in ops.nbest(lat, 1000)}
        # each word sequence within the beam is there at its best cost (G's costs and the
        # boosts are in the lattice); a few just past the beam may stay, at a cost of theirs,
        # where a determinized state is shared with a better prefix (as Kaldi's
        # DeterminizeLatticePruned keeps them)
        assert want <= set(got)
        for w, c in got.items():
            if w in want:
                assert c == pytest.approx(exact[w], abs=2e-3)
            else:
                assert exact[w] > best + lattice_beam - 2e-3 and c >= exact[w] - 2e-3
        r = dec.decode(ll, bias=bias)
        assert res.word_ids == r.word_ids and res.cost == pytest.approx(best, abs=2e-3)
        assert res.cost == pytest.approx(r.cost, abs=2e-3) and res.graph_cost == pytest.approx(r.graph_cost, abs=2e-3)
        checked += 1
        multi += len(got) > 1
    assert checked >= 12 and multi >= 6


def test_onthefly_lattice_of_a_stream_with_hotwords_is_the_whole_utterances(tiny):
    dec = LatticeDecoder(tiny["ctc", True], dataclasses.replace(OPTS, lattice_beam=5.0))
    rng = np.random.default_rng(11)
    for hot in (None, [("cat and", 4.0)]):
        for T in (12, 25):
            ll = rng.normal(0, 1.5, size=(T, dec.graph.num_columns)).astype(np.float32)
            r0, lat0 = dec.decode_lattice(ll, "u", bias=hot)
            s = dec.stream("u", keep_loglikes=True, bias=hot)
            for i in range(0, T, 7):
                s.accept(ll[i:i + 7])
            r1, lat1 = dec.finalize_lattice(s)
            assert r1.word_ids == r0.word_ids and r1.cost == pytest.approx(r0.cost, abs=1e-4)
            assert {p.words: round(p.cost, 3) for p in ops.nbest(lat1, 50)} == {
                p.words: round(p.cost, 3) for p in ops.nbest(lat0, 50)}


def test_info_kind_and_bad_lm_arrays(tiny, tmp_path):
    path = tiny["hmm", True]
    assert graph_info(path)["kind"] == "on-the-fly" and graph_info(tiny["hmm", False])["kind"] == "static"
    res = CliRunner().invoke(main, ["info", str(path)])
    assert res.exit_code == 0 and "on-the-fly" in res.output
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(path, bad)
    nxt = np.load(bad / "lm" / "next.npy")
    nxt[0] = 10**6
    np.save(bad / "lm" / "next.npy", nxt)
    with pytest.raises(GraphFormatError, match="n-gram arrays do not agree"):
        load_graph(bad)
    (bad / "lm" / "next.npy").unlink()
    with pytest.raises(GraphFormatError, match="missing"):
        load_graph(bad)


def test_cli_compile_on_the_fly_and_decode(tiny, tmp_path):
    d = tmp_path
    (d / "lexicon.txt").write_text(LEXICON)
    (d / "lm.arpa").write_text(ARPA)
    res = CliRunner().invoke(main, ["compile", "-l", str(d / "lexicon.txt"), "-g", str(d / "lm.arpa"), "--topology",
                                    "ctc", "--on-the-fly", str(d / "g")])
    assert res.exit_code == 0, res.output
    manifest = json.loads((d / "g" / "manifest.json").read_text())
    assert manifest["kind"] == "on-the-fly" and manifest["lm"]["states"] > 1
    assert manifest["format_version"] == 6  # an older hclg refuses it instead of misreading lm/
    dec = Decoder(d / "g", DecoderOptions(input_kind="log-posteriors"))
    x = np.random.default_rng(0).normal(0, 2, size=(40, dec.graph.num_columns)).astype(np.float32)
    x -= np.log(np.exp(x).sum(axis=1, keepdims=True))
    np.save(d / "u1.npy", x)
    res = CliRunner().invoke(main, ["decode", "--input-kind", "log-posteriors", "-o", str(d / "hyp.txt"), str(d / "g"),
                                    str(d / "u1.npy")])
    assert res.exit_code == 0, res.output
    assert (d / "hyp.txt").read_text().split()[1:] == list(dec.decode(x).words)
    (d / "hot.txt").write_text("cat and 5\n")
    res = CliRunner().invoke(main, ["decode", "--input-kind", "log-posteriors", "-o", str(d / "hyp2.txt"),
                                    "--hotwords", str(d / "hot.txt"), "--lattice", f"ark,t:{d / 'lat.txt'}",
                                    str(d / "g"), str(d / "u1.npy")])
    assert res.exit_code == 0, res.output
    r, lat = LatticeDecoder(d / "g", DecoderOptions(input_kind="log-posteriors")).decode_lattice(x, bias=[("cat and", 5.0)])
    assert (d / "hyp2.txt").read_text().split()[1:] == list(r.words) == list(dec.decode(x, bias=[("cat and", 5.0)]).words)
    res = CliRunner().invoke(main, ["lattice", "best", "--graph", str(d / "g"), "-o", str(d / "best.txt"),
                                    f"ark,t:{d / 'lat.txt'}"])
    assert res.exit_code == 0 and (d / "best.txt").read_text().split()[1:] == list(r.words), res.output
