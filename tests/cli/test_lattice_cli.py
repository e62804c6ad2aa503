"""`hclg decode --lattice` and the `hclg lattice` commands on the bundled AN4 example."""

import re

import pytest
from click.testing import CliRunner

from helpers import SHARED_AN4, ArpaScorer
from hclg.cli import main
from hclg.scoring import compute_wer, read_text


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def decoded(an4_graph, tmp_path_factory):
    from helpers import EXAMPLE

    d = tmp_path_factory.mktemp("lat")
    run("decode", "--input-kind", "log-likelihoods", "--lattice-beam", 6, "-o", d / "hyp.txt",
        "--lattice", f"ark,t:{d}/lat.txt", an4_graph, f"ark:{EXAMPLE}/loglikes_demo.ark")
    return d, EXAMPLE


def test_lattice_best_and_nbest_agree_with_the_decoder(an4_graph, decoded):
    d, _ = decoded
    lat = f"ark,t:{d}/lat.txt"
    run("lattice", "best", "--graph", an4_graph, "-o", d / "best.txt", lat)
    assert read_text(d / "best.txt") == read_text(d / "hyp.txt")
    out = run("lattice", "nbest", "-n", 3, "--graph", an4_graph, lat)
    rows = [line.split("\t") for line in out.splitlines() if "\t" in line]
    hyp = read_text(d / "hyp.txt")
    # every utterance has its 3 best, ranked, each cost = graph + 0.1 x acoustic (the decode's scale)
    assert sorted(r[0] for r in rows) == sorted(f"{u}-{k}" for u in hyp for k in (1, 2, 3))
    for utt in hyp:
        mine = sorted((r for r in rows if r[0].rsplit("-", 1)[0] == utt), key=lambda r: int(r[0].rsplit("-", 1)[1]))
        costs = [float(r[1]) for r in mine]
        assert costs == sorted(costs) and len({r[4] for r in mine}) == 3
        for _key, cost, g, a, _words in mine:
            assert float(cost) == pytest.approx(float(g) + 0.1 * float(a), abs=2e-3)
        assert mine[0][4].split() == hyp[utt]


def test_oracle_depth_ctm_posteriors(an4_graph, decoded):
    d, ex = decoded
    lat = f"ark,t:{d}/lat.txt"
    out = run("lattice", "oracle", "--graph", an4_graph, "--ref", ex / "text_demo", "-o", d / "oracle.txt", lat)
    oracle_wer = float(re.search(r"%WER ([\d.]+)", out).group(1))
    ref = read_text(ex / "text_demo")
    assert oracle_wer == pytest.approx(compute_wer(ref, read_text(d / "oracle.txt")).wer, abs=0.01)
    assert oracle_wer < compute_wer(ref, read_text(d / "hyp.txt")).wer
    out = run("lattice", "depth", lat)
    assert float(re.search(r"overall lattice depth ([\d.]+)", out).group(1)) > 1.0
    run("lattice", "ctm", "--graph", an4_graph, "-o", d / "c.ctm", lat)
    rows = [line.split() for line in open(d / "c.ctm")]
    hyp = read_text(d / "hyp.txt")
    from hclg.lattice.archives import read_lattices
    from hclg.lattice.mbr import mbr_decode
    from hclg.graph.graph_dir import load_graph

    sym = load_graph(an4_graph).words.symbols
    same = 0
    for lt in read_lattices(lat, acoustic_scale=0.1):
        mine = [r for r in rows if r[0] == lt.utt]
        m = mbr_decode(lt)
        assert [r[4] for r in mine] == [sym[w] for w in m.words]  # the MBR words
        assert [float(r[5]) for r in mine] == pytest.approx(m.confidences, abs=1e-4)
        starts = [float(r[2]) for r in mine]
        assert starts == sorted(starts) and all(0.0 < float(r[5]) <= 1.0 for r in mine)
        same += [r[4] for r in mine] == hyp[lt.utt]
    assert same >= 4  # MBR mostly keeps the MAP words
    out = run("lattice", "posteriors", "--graph", an4_graph, lat)
    post = [line.split() for line in out.splitlines() if line.count(" ") == 4]
    assert {r[0] for r in post} == set(hyp)  # every utterance has word arcs
    assert all(0.0 <= float(r[-1]) <= 1.0 + 1e-6 for r in post)
    # the posteriors of the word arcs covering a frame sum to at most one, and to one where
    # every path has a word
    for utt in hyp:
        arcs = [(int(r[1]), int(r[2]), float(r[4])) for r in post if r[0] == utt]
        mid = (arcs[0][0] + arcs[0][1]) // 2
        assert sum(p for s, e, p in arcs if s <= mid <= e) <= 1.0 + 1e-4


def test_prune_rescore_draw_sweep(an4_graph, decoded):
    d, ex = decoded
    lat = f"ark,t:{d}/lat.txt"
    run("lattice", "prune", "--beam", 2.0, "-o", f"ark:{d}/pruned.ark", lat)
    run("lattice", "best", "--graph", an4_graph, "-o", d / "pbest.txt", f"ark:{d}/pruned.ark")
    assert read_text(d / "pbest.txt") == read_text(d / "hyp.txt")
    # the same LM in and out: nothing changes
    run("lattice", "rescore", "--graph", an4_graph, "--lm", ex / "lm_unigram.arpa", "-o", f"npz:{d}/same", lat)
    run("lattice", "best", "--graph", an4_graph, "-o", d / "same.txt", f"npz:{d}/same")
    assert read_text(d / "same.txt") == read_text(d / "hyp.txt")
    run("lattice", "rescore", "--graph", an4_graph, "--lm", ex / "lm_train_3gram.arpa", "-o", f"ark,t:{d}/3g.txt", lat)
    run("lattice", "best", "--graph", an4_graph, "-o", d / "3g.hyp", f"ark,t:{d}/3g.txt")
    # against brute force: every word sequence of each lattice rescored by an independent
    # ARPA scorer (graph cost - old LM + new LM, + 0.1 x acoustic), the cheapest kept
    old, new = ArpaScorer(ex / "lm_unigram.arpa"), ArpaScorer(ex / "lm_train_3gram.arpa")
    out = run("lattice", "nbest", "-n", 100000, "--graph", an4_graph, lat)
    best = {}
    for key, _cost, g, a, words in (line.split("\t") for line in out.splitlines() if "\t" in line):
        utt, w = key.rsplit("-", 1)[0], tuple(words.split())
        c = float(g) - old.cost(w) + new.cost(w) + 0.1 * float(a)
        if utt not in best or c < best[utt][0]:
            best[utt] = (c, list(w))
    assert read_text(d / "3g.hyp") == {u: w for u, (c, w) in best.items()}
    assert read_text(d / "3g.hyp") != read_text(d / "hyp.txt")  # the trigram changes some
    run("lattice", "draw", "--graph", an4_graph, "--format", "dot", "-o", d / "dot", lat)
    dots = list((d / "dot").glob("*.dot"))
    assert len(dots) == 6 and dots[0].read_text().startswith("digraph")
    out = run("lattice", "sweep", "--graph", an4_graph, "--ref", ex / "text_demo", "--lm-weights", "8:12:2",
              "--word-penalties", "0,1", lat)
    rows = [line.split() for line in out.splitlines() if line[:1].isdigit() and "lattices" not in line and " WARNING " not in line]
    assert "best: lm-weight" in out and [r[0] for r in rows] == ["8", "10", "12"] and all(len(r) == 3 for r in rows)
    # lm-weight 10 is the decoder's acoustic scale 0.1: the decoder's own WER
    one_best = compute_wer(read_text(ex / "text_demo"), read_text(d / "hyp.txt")).wer
    assert float(rows[1][1]) == pytest.approx(one_best, abs=0.01)


def test_bad_lattice_input_is_a_clear_error(an4_graph, tmp_path):
    r = CliRunner().invoke(main, ["lattice", "best", f"ark,t:{tmp_path}/missing.txt"])
    assert r.exit_code != 0 and "missing.txt: cannot read" in r.output
    r = CliRunner().invoke(main, ["lattice", "best", "foo:bar"])
    assert r.exit_code != 0 and "unknown lattice specifier" in r.output


@pytest.mark.skipif(not (SHARED_AN4 / "loglikes_test.ark").exists(), reason="../shared/an4 not present")
def test_an4_lattices_hold_better_paths_than_the_one_best(an4_graph, tmp_path):
    from hclg.lattice import ops
    from hclg.batch import decode_batch
    from hclg.search.options import DecoderOptions
    from hclg.lattice.archives import read_lattices

    opts = DecoderOptions(input_kind="log-likelihoods", lattice_beam=6.0)
    s = decode_batch(an4_graph, [f"ark:{SHARED_AN4}/loglikes_test.ark"], opts, str(tmp_path / "h.txt"),
                     lattice_out=f"npz:{tmp_path}/lat")
    assert s.decoded == 130
    ref = read_text(SHARED_AN4 / "text_test")
    from hclg.graph.graph_dir import load_graph

    errs = n = 0
    words = load_graph(an4_graph).words
    for lat in read_lattices(f"npz:{tmp_path}/lat"):
        o = ops.oracle(lat, [words.get(w, -1) for w in ref[lat.utt]])
        errs += o.errors
        n += o.ref_len
    one_best = compute_wer(ref, read_text(tmp_path / "h.txt")).wer
    assert one_best < 39.0 and 100.0 * errs / n < one_best - 10.0


def test_lattices_with_two_jobs_and_after_resume_are_the_same(an4_graph, tmp_path):
    from helpers import EXAMPLE

    from hclg.batch import decode_batch
    from hclg.search.options import DecoderOptions

    opts = DecoderOptions(input_kind="log-likelihoods", lattice_beam=5.0)
    spec = [f"ark:{EXAMPLE}/loglikes_demo.ark"]
    decode_batch(an4_graph, spec, opts, str(tmp_path / "a.txt"), lattice_out=f"ark,t:{tmp_path}/a.lat")
    decode_batch(an4_graph, spec, opts, str(tmp_path / "b.txt"), jobs=2, lattice_out=f"ark,t:{tmp_path}/b.lat")
    full = (tmp_path / "a.lat").read_text()
    assert (tmp_path / "b.lat").read_text() == full
    # an interrupted run: two utterances done, the third lattice torn mid-write
    lines = (tmp_path / "a.txt").read_text().splitlines(keepends=True)
    (tmp_path / "c.txt").write_text("".join(lines[:2]))
    entries = full.split("\n\n")
    (tmp_path / "c.lat").write_text("\n\n".join(entries[:2]) + "\n\n" + entries[2][: len(entries[2]) // 2])
    s = decode_batch(an4_graph, spec, opts, str(tmp_path / "c.txt"), resume=True, lattice_out=f"ark,t:{tmp_path}/c.lat")
    assert s.skipped == 2 and s.decoded == 4
    assert (tmp_path / "c.lat").read_text() == full
    assert (tmp_path / "c.txt").read_text() == (tmp_path / "a.txt").read_text()
    # the same with a binary archive
    decode_batch(an4_graph, spec, opts, str(tmp_path / "d.txt"), lattice_out=f"ark:{tmp_path}/d.ark")
    whole = (tmp_path / "d.ark").read_bytes()
    (tmp_path / "e.txt").write_text("".join(lines[:2]))
    from hclg.lattice.kaldi_format import read_kaldi_binary

    ends = [0]
    list(read_kaldi_binary(whole, ends=ends))
    (tmp_path / "e.ark").write_bytes(whole[: ends[2] + (ends[3] - ends[2]) // 2])
    decode_batch(an4_graph, spec, opts, str(tmp_path / "e.txt"), resume=True, lattice_out=f"ark:{tmp_path}/e.ark")
    assert (tmp_path / "e.ark").read_bytes() == whole


def test_lattice_commands_on_an_hmm_graph_do_not_warn_about_priors(an4_graph, decoded, caplog):
    d, _ = decoded
    run("lattice", "best", "--graph", an4_graph, "-o", d / "b2.txt", f"ark,t:{d}/lat.txt")
    assert "without priors" not in caplog.text
