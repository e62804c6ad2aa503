"""Streaming decoding (hclg.search.stream): a stream fed in chunks ends with exactly the
whole-utterance decode of the same frames (the independent answer: Decoder.decode, itself
checked against Kaldi elsewhere), its certain words never change, Kaldi's endpoint rules
fire at the frames they say on constructed inputs, and memory stays flat over an hour of
frames."""

from __future__ import annotations

import json
import re

import kaldi_native_io
import numpy as np
import pytest
from helpers import ROOT, SHARED_AN4

import hclg.search.stream as stream_module
from hclg.errors import DecodeError
from hclg.graph.compile import compile_graph
from hclg.graph.compile_options import CompileOptions
from hclg.search.decoder import Decoder
from hclg.search.endpoint import EndpointOptions, endpoint_rule
from hclg.search.options import DecoderOptions

EXAMPLE = ROOT / "examples" / "an4"
LL = DecoderOptions(input_kind="log-likelihoods")


def an4_loglikes():
    return {k: np.array(m) for k, m in kaldi_native_io.SequentialFloatMatrixReader(
        f"ark:{EXAMPLE / 'loglikes_demo.ark'}")}


@pytest.fixture(scope="module")
def ctc_graph(an4_ctc_lang):
    """The AN4 CTC TLG (tests/conftest.py) and 4 held-out utterances of the model's real
    log-posteriors."""
    dev = (SHARED_AN4 / "ctc_dev_utts.txt").read_text().split()[:4]
    mats = {k: np.array(m) for k, m in kaldi_native_io.SequentialFloatMatrixReader(
        f"ark:{SHARED_AN4 / 'ctc_train_logprobs.ark'}") if k in dev}
    return an4_ctc_lang.graph, mats


def stream_decode(dec, m, sizes, utt="u"):
    s = dec.stream(utt)
    i = 0
    for n in sizes:
        s.accept(m[i:i + n])
        i += n
    assert i == len(m)
    return s.finalize()


def same(a, b):
    assert a.words == b.words
    assert a.cost == pytest.approx(b.cost, abs=1e-4)
    assert (a.start_frames, a.end_frames) == (b.start_frames, b.end_frames)
    assert (a.alignment, a.phones, a.partial, a.frames) == (b.alignment, b.phones, b.partial, b.frames)


@pytest.fixture
def small_compaction(monkeypatch):
    """Compact the traceback after every chunk, so that the tests go through it."""
    monkeypatch.setattr(stream_module, "COMPACT_AT", 2)


def test_every_chunk_size_gives_the_whole_decode_hmm(an4_graph, small_compaction):
    dec = Decoder(an4_graph, LL)
    mats = an4_loglikes()
    for utt in sorted(mats)[:2]:
        m = mats[utt]
        whole = dec.decode(m, utt)
        for n in range(1, len(m) + 1):
            sizes = [n] * (len(m) // n) + ([len(m) % n] if len(m) % n else [])
            same(stream_decode(dec, m, sizes, utt), whole)


def test_every_chunk_size_gives_the_whole_decode_ctc(ctc_graph, small_compaction):
    graph, mats = ctc_graph
    dec = Decoder(graph)
    for utt in sorted(mats)[:2]:
        m = mats[utt]
        whole = dec.decode(m, utt)
        assert whole.words
        for n in range(1, len(m) + 1):
            sizes = [n] * (len(m) // n) + ([len(m) % n] if len(m) % n else [])
            same(stream_decode(dec, m, sizes, utt), whole)


@pytest.mark.parametrize("opts", [dict(alignment=True), dict(word_times=False), dict(beam=6.0, max_active=300)])
def test_random_chunks_with_empty_ones_give_the_whole_decode(an4_graph, ctc_graph, small_compaction, opts):
    rng = np.random.default_rng(0)
    cases = [(Decoder(an4_graph, DecoderOptions(input_kind="log-likelihoods", **opts)), an4_loglikes()),
             (Decoder(ctc_graph[0], DecoderOptions(**opts)), ctc_graph[1])]
    for dec, mats in cases:
        for utt, m in mats.items():
            sizes, left = [], len(m)
            while left:
                n = min(left, int(rng.integers(0, 40)))
                sizes.append(n)
                left -= n
            same(stream_decode(dec, m, sizes, utt), dec.decode(m, utt))


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_lattice_of_a_stream_is_the_whole_utterances(an4_graph, ctc_graph, kind):
    from hclg.lattice.generation import LatticeDecoder

    if kind == "hmm":
        dec, mats = LatticeDecoder(an4_graph, LL), an4_loglikes()
    else:
        dec, mats = LatticeDecoder(ctc_graph[0]), ctc_graph[1]
    for utt, m in list(mats.items())[:3]:
        r0, lat0 = dec.decode_lattice(m, utt)
        s = dec.stream(utt, keep_loglikes=True)
        for i in range(0, len(m), 17):
            s.accept(m[i:i + 17])
        r1, lat1 = dec.finalize_lattice(s)
        same(r1, r0)
        assert lat1.num_states == lat0.num_states and lat1.num_arcs == lat0.num_arcs
        assert np.array_equal(lat1.word, lat0.word) and np.allclose(lat1.graph, lat0.graph)
        assert np.allclose(lat1.acoustic, lat0.acoustic)


def test_certain_words_never_change_and_partials_lead_to_the_result(an4_graph, ctc_graph, small_compaction):
    """Partial results: the first ``certain`` words stay in every later partial and in the
    final result; the last partial (all frames) is the best path without final costs."""
    for dec, mats in ((Decoder(an4_graph, LL), an4_loglikes()), (Decoder(ctc_graph[0]), ctc_graph[1])):
        grew = 0
        for utt, m in mats.items():
            s = dec.stream(utt)
            certain = ()
            for i in range(0, len(m), 5):
                s.accept(m[i:i + 5])
                p = s.partial()
                assert p.words[:len(certain)] == certain and p.frames == min(i + 5, len(m))
                grew += p.certain > len(certain)
                certain = p.certain_words
            assert s.finalize().words[:len(certain)] == certain
        assert grew > 0  # words do become certain before the end


def test_a_finalized_stream_takes_no_more_frames_and_says_so(an4_graph):
    dec = Decoder(an4_graph, LL)
    m = next(iter(an4_loglikes().values()))
    s = dec.stream("u")
    with pytest.raises(DecodeError, match="no frames"):
        s.finalize()
    s = dec.stream("u")
    s.accept(m)
    s.finalize()
    with pytest.raises(DecodeError, match="finalized"):
        s.accept(m)
    with pytest.raises(DecodeError, match="columns"):
        dec.stream("u").accept(m[:, :5])
    ctc = Decoder(an4_graph, LL)  # (an HMM graph takes no blank skipping at all)
    assert ctc.stream("x").frames == 0


# --- endpointing -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def go_graphs(tmp_path_factory):
    """Tiny CTC graphs over tokens <blk> g ow (x): 'go' final at cost 0 (a phrase), 'go'
    final at cost 2 ln 10 = 4.6 (an ARPA whose </s> has log10 prob -2), and 'gox' (never
    final after 'g ow')."""
    d = tmp_path_factory.mktemp("go")
    (d / "tokens.txt").write_text("<blk> 0\ng 1\now 2\nx 3\n")
    (d / "lex.txt").write_text("go g ow\ngox g ow x\n")
    (d / "go.txt").write_text("go\n")
    (d / "gox.txt").write_text("gox\n")
    (d / "lm.arpa").write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-2.0 </s>\n-99 <s> 0\n0 go 0\n\n\\end\\\n")
    out = {}
    for name, g in (("final0", "go.txt"), ("final4.6", "lm.arpa"), ("never_final", "gox.txt")):
        out[name] = compile_graph(d / "lex.txt", d / g, d / name, CompileOptions(topology="ctc", unk="go"),
                                  tokens=d / "tokens.txt").path
    return out


def frames_of(tokens):
    """CTC log-posteriors: each frame all but certain of its token (column)."""
    m = np.full((len(tokens), 4), -30.0, np.float32)
    m[np.arange(len(tokens)), tokens] = 0.0
    return m


def first_endpoint(dec, m):
    """(frames fed, rule) when the first rule fires, feeding one frame at a time."""
    s = dec.stream("u")
    for i in range(len(m)):
        s.accept(m[i:i + 1])
        r = s.endpoint_rule()
        if r:
            return i + 1, r
    return None


@pytest.mark.parametrize("skip", [None, 0.95])
@pytest.mark.parametrize("fsf", [1, 3])
def test_each_endpoint_rule_fires_at_the_frame_kaldis_rules_say(go_graphs, fsf, skip):
    """Frames are 10 ms (x3 with frame subsampling 3: 30 ms). Hand-computed: rule 1 (5 s of
    silence, nothing else) at 500 frames / 167 (5.01 s); after 'g g ow ow' (4 frames):
    rule 2 (0.5 s, relative cost <= 2) at 4 + 50 / 4 + 17, rule 3 (1 s, <= 8) at 4 + 100 /
    4 + 34, rule 4 (2 s, any cost) at 4 + 200 / 4 + 67; rule 5 (20 s of speech, no pause)
    at 2000 / 667. The same with blank skipping (the silent frames are then not even read)."""
    opts = DecoderOptions(frame_subsampling_factor=fsf, blank_skip_threshold=skip)
    B, G, O, X = 0, 1, 2, 3
    speech = [G, G, O, O]
    want = {1: (500, 167), 2: (54, 21), 3: (104, 38), 4: (204, 71), 5: (2000, 667)}
    k = 0 if fsf == 1 else 1
    cases = {
        1: (go_graphs["final0"], [B] * 3000),
        2: (go_graphs["final0"], speech + [B] * 3000),
        3: (go_graphs["final4.6"], speech + [B] * 3000),
        4: (go_graphs["never_final"], speech + [B] * 3000),
        5: (go_graphs["final4.6"], [G, G, O, O] * 600),
    }
    for rule, (graph, tokens) in cases.items():
        dec = Decoder(graph, opts)
        assert first_endpoint(dec, frames_of(tokens)) == (want[rule][k], rule), rule
    assert X == 3


def test_endpoint_rules_are_kaldis_defaults_and_formula():
    o = EndpointOptions()
    assert o.rule(1) == (False, 5.0, np.inf, 0.0) and o.rule(2) == (True, 0.5, 2.0, 0.0)
    assert o.rule(3) == (True, 1.0, 8.0, 0.0) and o.rule(4) == (True, 2.0, np.inf, 0.0)
    assert o.rule(5) == (False, 0.0, np.inf, 20.0)
    assert endpoint_rule(o, 0.5, 2.0, 1.0) == 2 and endpoint_rule(o, 0.5, 2.01, 1.0) == 0
    assert endpoint_rule(o, 0.6, 0.0, 0.6) == 0  # silence only: rules 2-4 need speech
    with pytest.raises(ValueError, match="rule2_min_trailing_silence"):
        EndpointOptions(rule2_min_trailing_silence=-1)


# --- memory ------------------------------------------------------------------------------


def rss_kb() -> int:
    with open("/proc/self/status") as fh:
        text = fh.read()
    return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1))


def test_memory_stays_flat_over_an_hour_of_frames(an4_graph):
    """360,000 frames (an hour at 10 ms) of the AN4 utterances' real scores, one after
    another, in one stream without endpointing: RSS after the hour is within a few MB of
    RSS after the first minute, and the search keeps only the uncertain traceback. (A
    narrow beam keeps the test short: memory is about the traceback, which grows with
    frames, not with the beam.)"""
    dec = Decoder(an4_graph, DecoderOptions(input_kind="log-likelihoods", beam=7.0, max_active=300, min_active=20))
    m = np.concatenate(list(an4_loglikes().values()))
    s = dec.stream("hour")
    chunk = 100
    fed, at_minute = 0, None
    while fed < 360_000:
        i = fed % len(m)
        n = min(chunk, len(m) - i, 360_000 - fed)
        s.accept(m[i:i + n])
        fed += n
        if fed // chunk % 50 == 0:
            s.partial()
        if at_minute is None and fed >= 6000:
            at_minute = rss_kb()
    grown_kb = rss_kb() - at_minute
    assert grown_kb < 4096, grown_kb
    assert s._st.n_links < 20_000 and s.partial().certain > 1000
    r = s.finalize()
    assert r.frames == 360_000 and len(r.words) > 1000


# --- CLI ---------------------------------------------------------------------------------


def test_cli_streams_archives_as_json_lines(an4_graph, tmp_path):
    from click.testing import CliRunner

    from hclg.cli import main

    mats = an4_loglikes()
    bad = dict(mats)
    bad["zz-nan"] = np.full((20, next(iter(mats.values())).shape[1]), np.nan, np.float32)
    with kaldi_native_io.FloatMatrixWriter(f"ark:{tmp_path / 'in.ark'}") as w:
        for k, v in bad.items():
            w.write(k, v)
    out = tmp_path / "out.jsonl"
    args = ["stream", str(an4_graph), f"ark:{tmp_path / 'in.ark'}", "-o", str(out), "--input-kind",
            "log-likelihoods", "--chunk-frames", "25"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "streamed 6, failed 1" in r.output  # the NaN utterance fails alone
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    dec = Decoder(an4_graph, DecoderOptions(input_kind="log-likelihoods"))
    finals = {}
    for rec in recs:
        if rec.get("final"):
            finals.setdefault(rec["utt"], []).append(rec)
    for utt, m in mats.items():  # short utterances: one segment each, the whole decode's words
        assert [f["text"] for f in finals[utt]] == [dec.decode(m, utt).text]
    assert any(rec.get("utt") == "zz-nan" and "error" in rec for rec in recs)
    assert sum(1 for rec in recs if rec.get("done")) == 6
    # --resume keeps the done utterances and does the failed one again
    out.write_text(out.read_text() + '{"utt": "torn"')
    r = CliRunner().invoke(main, [*args, "--resume"])
    again = [json.loads(line) for line in out.read_text().splitlines()]
    assert sum(1 for rec in again if rec.get("done")) == 6 and len(again) == len(recs)


def test_streams_in_threads_share_one_decoder(an4_graph):
    """One stream per thread, the decoder (graph, options, index arrays' pool) shared:
    the same results as one after another."""
    from concurrent.futures import ThreadPoolExecutor

    dec = Decoder(an4_graph, LL)
    mats = an4_loglikes()
    want = {u: dec.decode(m, u) for u, m in mats.items()}

    def run(item):
        u, m = item
        out = []
        for _ in range(3):
            s = dec.stream(u)
            for i in range(0, len(m), 7):
                s.accept(m[i:i + 7])
                s.partial()
            out.append(s.finalize())
        return u, out

    with ThreadPoolExecutor(4) as ex:
        for u, results in ex.map(run, mats.items()):
            for r in results:
                same(r, want[u])


def test_blank_skipping_frame_by_frame_reads_the_whole_decodes_frames():
    """BlankSkipper, fed in random chunks, lets through exactly the frames
    blank_skip_frames picks for the whole utterance (random CTC-like frames with long
    blank runs, repeats across them, and runs at both ends)."""
    from hclg.search.likelihoods import BlankSkipper, blank_skip_frames

    rng = np.random.default_rng(4)
    for _ in range(200):
        T, C = int(rng.integers(1, 60)), int(rng.integers(2, 6))
        ll = rng.normal(0, 1, (T, C)).astype(np.float32)
        post = np.where(rng.random(T) < 0.6, 0.99, 0.1)
        want, want_rows = blank_skip_frames(ll, post, 0, 0.95)
        sk, got, rows, i = BlankSkipper(0, 0.95), [], [], 0
        while i < T:
            n = int(rng.integers(0, 8))
            r, f = sk.push(ll[i:i + n], post[i:i + n])
            rows, got, i = rows + r, got + f, i + n
        r, f = sk.finish()
        rows, got = rows + r, got + f
        assert got == want.tolist()
        np.testing.assert_array_equal(np.array(rows, dtype=np.float32).reshape(want_rows.shape), want_rows)


def test_streams_with_blank_skipping_give_the_whole_decode(ctc_graph, small_compaction):
    graph, mats = ctc_graph
    dec = Decoder(graph, DecoderOptions(blank_skip_threshold=0.95))
    for utt, m in mats.items():
        whole = dec.decode(m, utt)
        for n in (1, 2, 3, 7, 25, len(m)):
            sizes = [n] * (len(m) // n) + ([len(m) % n] if len(m) % n else [])
            same(stream_decode(dec, m, sizes, utt), whole)


def test_cli_stream_writes_each_segments_lattice(an4_graph, tmp_path):
    """--lattice: one lattice per segment (key UTT-SEGMENT), made from the segment's
    frames as their whole decode makes it: its best path is the segment's final text."""
    from click.testing import CliRunner

    from hclg.cli import main
    from hclg.lattice.archives import read_lattices
    from hclg.lattice.ops import best_path

    r = CliRunner().invoke(main, ["stream", str(an4_graph), f"ark:{EXAMPLE / 'loglikes_demo.ark'}", "--input-kind",
                                  "log-likelihoods", "-o", str(tmp_path / "s.jsonl"), "--lattice",
                                  f"ark:{tmp_path / 'lat.ark'}", "--rule5-min-utterance-length", "1.2"])
    assert r.exit_code == 0, r.output
    finals = {f"{rec['utt']}-{rec['segment']}": rec["text"] for rec in map(json.loads, (tmp_path / "s.jsonl").open())
              if rec.get("final")}
    assert len(finals) > 6  # rule 5 at 1.2 s cut the longer utterances
    lats = {lat.utt: lat for lat in read_lattices(f"ark:{tmp_path / 'lat.ark'}")}
    assert set(lats) == set(finals)
    wsym = Decoder(an4_graph, LL).graph.words.symbols
    for key, lat in lats.items():
        assert " ".join(wsym[w] for w in best_path(lat).words) == finals[key], key
    r = CliRunner().invoke(main, ["stream", str(an4_graph), f"ark:{EXAMPLE / 'loglikes_demo.ark'}", "--input-kind",
                                  "log-likelihoods", "-o", str(tmp_path / "s2.jsonl"), "--lattice",
                                  f"ark:{tmp_path / 'lat2.ark'}", "--resume"])
    assert r.exit_code != 0 and "--resume" in r.output and "Traceback" not in r.output
