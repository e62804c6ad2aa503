"""Streaming benchmark: hclg's Stream (chunks of 10/30/60 frames, a partial result after
each) against hclg's whole-utterance decode of the same frames and against Kaldi's
FasterDecoder fed the same chunks (kaldi-decoder: InitDecoding, AdvanceDecoding with
max_num_frames = the chunk, GetBestPath after each), same process, same scaled likelihoods.

Prints, per material and chunk size: real-time factor (processing time / audio time, from
the frame shift and subsampling), per-chunk latency of ``accept`` + ``partial`` (p50,
p95), the stream's time over the offline decode's (goal <= 1.2x), Kaldi's streaming time
over hclg's, and whether the final results equal the offline ones; then RSS over a
one-hour stream (360,000 frames at 10 ms).

Material: the 20k-word HMM and CTC graphs of ``benchmarks/compile.py`` with synthetic
utterances (as ``benchmarks/decode.py``), and the real AN4 phone CTC posteriors of
``../shared/an4`` (50 held-out utterances, 30 ms frames) on the AN4 CTC TLG.

Usage:
    python benchmarks/stream.py [--bench build/bench] [--utts 60] [--repeat 3]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "search"))

from oracles import synth  # noqa: E402
from oracles.kaldi_recipes import expand_columns  # noqa: E402

SHARED_AN4 = ROOT.parent / "shared" / "an4"


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return int(re.search(r"VmRSS:\s+(\d+) kB", fh.read()).group(1)) / 1024


def hclg_stream(dec, mats, chunk):
    """(seconds, per-chunk latencies, results)."""
    lat, res = [], []
    t0 = time.perf_counter()
    for i, m in enumerate(mats):
        s = dec.stream(f"u{i}")
        for a in range(0, len(m), chunk):
            t = time.perf_counter()
            s.accept(m[a:a + chunk])
            s.partial()
            lat.append(time.perf_counter() - t)
        res.append(s.finalize())
    return time.perf_counter() - t0, lat, res


def kaldi_stream(kdec, expanded, chunk):
    import kaldi_decoder

    lat = []
    t0 = time.perf_counter()
    for x in expanded:
        d = kaldi_decoder.DecodableCtc(x)
        kdec.init_decoding()
        done = 0
        while done < len(x):
            t = time.perf_counter()
            kdec.advance_decoding(d, chunk)
            kdec.get_best_path()
            lat.append(time.perf_counter() - t)
            done = kdec.num_frames_decoded()
    return time.perf_counter() - t0, lat


def bench(name, graph_dir, mats, input_kind, repeat, with_kaldi=True, fsf=None):
    import kaldifst

    from hclg.search.decoder import Decoder
    from hclg.search.options import DecoderOptions

    dec = Decoder(graph_dir, DecoderOptions(input_kind=input_kind, frame_subsampling_factor=fsf))
    frames = sum(len(m) for m in mats)
    audio = frames * dec.frame_seconds
    dec.decode(mats[0])
    t_off = min(_timed(lambda: [dec.decode(m, f"u{i}") for i, m in enumerate(mats)]) for _ in range(repeat))
    offline = [dec.decode(m, f"u{i}") for i, m in enumerate(mats)]
    print(f"\n== {name}: {len(mats)} utterances, {frames} frames ({audio:.0f} s of audio at "
          f"{dec.frame_seconds * 1000:.0f} ms); offline decode {t_off:.2f}s (RTF {t_off / audio:.4f})", flush=True)
    kfst = kdec = expanded = None
    if with_kaldi:
        import kaldi_decoder

        kfst = kaldifst.StdVectorFst.read(str(Path(graph_dir) / "HCLG.fst"))
        kdec = kaldi_decoder.FasterDecoder(kfst, kaldi_decoder.FasterDecoderOptions(beam=dec.options.beam,
                                                                                    max_active=dec.max_active,
                                                                                    min_active=dec.min_active))
        expanded = [expand_columns(dec.loglikes(m), dec.graph.ilabel_to_column) for m in mats]
    for chunk in (10, 30, 60):
        best, kbest = None, None
        for _ in range(repeat):  # interleaved with Kaldi's; the fastest of each kept
            t, lat, res = hclg_stream(dec, mats, chunk)
            if best is None or t < best[0]:
                best = (t, lat, res)
            if with_kaldi:
                tk, latk = kaldi_stream(kdec, expanded, chunk)
                if kbest is None or tk < kbest[0]:
                    kbest = (tk, latk)
        t, lat, res = best
        same = all(r.words == o.words and abs(r.cost - o.cost) < 1e-4 for r, o in zip(res, offline))
        line = (f"  chunk {chunk:2d}: RTF {t / audio:.4f}, per chunk p50 {1e3 * np.percentile(lat, 50):.2f} ms "
                f"p95 {1e3 * np.percentile(lat, 95):.2f} ms, {t / t_off:.2f}x the offline decode, final = offline: {same}")
        if with_kaldi:
            tk, latk = kbest
            line += (f"; Kaldi FasterDecoder streaming {tk:.2f}s (p50 {1e3 * np.percentile(latk, 50):.2f} ms "
                     f"p95 {1e3 * np.percentile(latk, 95):.2f} ms) = {tk / t:.2f}x hclg's time")
        print(line, flush=True)


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def hour_rss(graph_dir, mats, input_kind, fsf=None):
    from hclg.search.decoder import Decoder
    from hclg.search.options import DecoderOptions

    dec = Decoder(graph_dir, DecoderOptions(input_kind=input_kind, frame_subsampling_factor=fsf))
    m = np.concatenate(mats)
    target = round(3600 / dec.frame_seconds)
    s = dec.stream("hour")
    fed, at_minute, t0 = 0, None, time.perf_counter()
    while fed < target:
        i = fed % len(m)
        n = min(30, len(m) - i, target - fed)
        s.accept(m[i:i + n])
        s.partial()
        fed += n
        if at_minute is None and fed * dec.frame_seconds >= 60:
            at_minute = rss_mb()
    t = time.perf_counter() - t0
    at_hour = rss_mb()
    r = s.finalize()
    print(f"\n== one-hour stream ({target} frames of {dec.frame_seconds * 1000:.0f} ms, chunks of 30, a partial after each): RSS {at_minute:.1f} MB after a "
          f"minute, {at_hour:.1f} MB after the hour ({rss_mb():.1f} MB with the hour's Result made); {t:.1f}s "
          f"(RTF {t / 3600:.4f}); {len(r.words)} words", flush=True)


def an4_ctc(tmp):
    from test_icefall_interop import icefall_lang_phone

    import kaldi_native_io

    from hclg.graph.compile import compile_graph
    from hclg.graph.compile_options import CompileOptions

    lang = icefall_lang_phone(Path(tmp) / "lang")
    compile_graph(lang / "lexicon.txt", SHARED_AN4 / "lm_train_3gram.arpa", Path(tmp) / "g",
                  CompileOptions(topology="ctc"), tokens=lang / "tokens.txt")
    dev = set((SHARED_AN4 / "ctc_dev_utts.txt").read_text().split())
    mats = [np.array(m) for k, m in kaldi_native_io.SequentialFloatMatrixReader(
        f"ark:{SHARED_AN4 / 'ctc_train_logprobs.ark'}") if k in dev]
    return Path(tmp) / "g", mats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(ROOT / "build" / "bench"), help="benchmarks/compile.py's output")
    ap.add_argument("--size", default="20000")
    ap.add_argument("--utts", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if SHARED_AN4.exists():
            g, mats = an4_ctc(tmp)
            # the AN4 CTC model's frames are 30 ms (10 ms features subsampled by 3)
            bench("AN4 real CTC posteriors, AN4 CTC TLG (3-gram)", g, mats, "log-posteriors", args.repeat, fsf=3)
            hour_rss(g, mats, "log-posteriors", fsf=3)
        for kind, gdir, mats, input_kind in synthetic_sets(args.bench, args.size, args.utts):
            bench(f"{args.size}-word {kind.upper()} graph, synthetic utterances", gdir, mats, input_kind, args.repeat)


def synthetic_sets(bench_dir, size, n_utts):
    """(kind, graph dir, score matrices, input kind) of the synthetic utterances on the
    ``size``-word graphs of benchmarks/compile.py (HMM, then CTC), those that exist."""
    from hclg.graph.graph_dir import load_graph

    base = Path(bench_dir) / f"v{size}"
    lex = {}
    if (base / "lexicon.txt").exists():
        for line in open(base / "lexicon.txt"):
            p = line.split()
            lex.setdefault(p[0], p[1:])
    for kind in ("hmm", "ctc"):
        gdir = base / f"{kind}-graph"
        if not gdir.exists():
            print(f"\n(no {gdir}: run benchmarks/compile.py --sizes {size} first)")
            continue
        utts = synth.make_utterances(load_graph(gdir), lex, kind, n_utts)
        yield kind, gdir, [u.scores for u in utts], "log-likelihoods" if kind == "hmm" else "log-posteriors"

if __name__ == "__main__":
    main()
