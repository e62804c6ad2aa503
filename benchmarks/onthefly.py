"""On-the-fly composition benchmark: the lexicon graph + G composed during the search,
against the static graph (HCLG / TLG) of the same lexicon and LM.

For each vocabulary size (the CMU dictionary and the en-us 3-gram of the pocketsphinx
wheel, as ``benchmarks/compile.py``) and kind (HMM, CTC):

1. Build: wall time and peak RSS of ``compile --on-the-fly`` and of the static compile,
   each in its own process, and the graphs' sizes. A static graph already in
   ``BENCH/vSIZE/KIND-graph`` is reused, and its build figures read from
   ``compile_report.json`` (say so) unless ``--rebuild-static``.
2. Decode: synthetic utterances (``tests/oracles/synth.py``) decoded with both graphs at
   each beam, interleaved and repeated, the fastest kept: time ratio, tokens expanded per
   frame, 1-best agreement and WER of each against the words said; and the on-the-fly
   graph without G's bound (``NgramArrays.least`` all -inf: every word arc stepped
   through G before pruning), the same search otherwise.
   With several beams, each static beam's time against the fastest on-the-fly beam run
   that reaches its WER (the goal is stated at the same WER, not the same beam).
3. Biasing: decode time on the on-the-fly graph with 0, 100, 1,000 and 10,000 hotwords.

Usage:
    python benchmarks/onthefly.py [--bench build/bench] [--sizes 20000,full] [--kinds hmm,ctc]
                                  [--utts 40] [--beams 8,12] [--repeat 3] [--rebuild-static]
                                  [--skip-unbounded] [--skip-build]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from compile import peak_rss_mb, prepare, tokens_file


def _build(kind, lex, arpa, out, on_the_fly, q):
    import logging

    from hclg.graph.compile import CompileOptions, compile_graph

    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    c0 = time.process_time()
    if kind == "ctc":
        r = compile_graph(lex, arpa, out, CompileOptions(topology="ctc", on_the_fly=on_the_fly),
                          tokens=tokens_file(Path(lex), Path(out).parent))
    else:
        r = compile_graph(lex, arpa, out, CompileOptions(sil_prob=0.5, on_the_fly=on_the_fly))
    q.put({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "rss_mb": peak_rss_mb(),
           "states": r.states, "arcs": r.arcs})


def build(kind, lex, arpa, out, on_the_fly):
    ctx = mp.get_context("spawn")  # a fresh process: its peak RSS is the build's alone
    q = ctx.Queue()
    p = ctx.Process(target=_build, args=(kind, str(lex), str(arpa), str(out), on_the_fly, q))
    p.start()
    res = q.get()
    p.join()
    return res


def static_figures(bench: Path, size, kind, lex, arpa, rebuild):
    gdir = bench / f"v{size}" / f"{kind}-graph"
    report = bench / "compile_report.json"
    if gdir.exists() and not rebuild:
        rep = json.loads(report.read_text()).get(f"{kind}-v{size}", {}).get("hclg") if report.exists() else None
        if rep and "seconds" in rep:
            return gdir, {**rep, "note": "from compile_report.json (an earlier run of benchmarks/compile.py)"}
        return gdir, {"note": "graph reused; no build figures on record"}
    return gdir, build(kind, lex, arpa, gdir, False)


def wer(ref_hyp):
    import kaldialign

    errs = sum(kaldialign.edit_distance(r, h)["total"] for r, h in ref_hyp)
    return 100.0 * errs / max(1, sum(len(r) for r, _ in ref_hyp))


def decode_compare(static_dir, otf_dir, kind, lex, n_utts, beams, repeat, unbounded=True):
    from oracles import synth

    from hclg.graph.graph_dir import load_graph
    from hclg.search.decoder import Decoder
    from hclg.search.options import DecoderOptions

    utts = synth.make_utterances(load_graph(otf_dir), lex, kind, n_utts)
    mats = [u.scores for u in utts]
    frames = sum(len(m) for m in mats)
    input_kind = "log-likelihoods" if kind == "hmm" else "log-posteriors"
    curve = {}  # graph -> [(beam, seconds, WER)]
    for beam in beams:
        opts = DecoderOptions(input_kind=input_kind, beam=beam)
        decs = {"static": Decoder(static_dir, opts) if static_dir else None, "on-the-fly": Decoder(otf_dir, opts),
                "no G bound": Decoder(otf_dir, opts)}
        decs = {k: d for k, d in decs.items() if d is not None and (unbounded or k != "no G bound")}
        if unbounded:  # word arcs stepped through G before pruning, as before NgramArrays.least
            lm = decs["no G bound"].graph.lm
            decs["no G bound"].graph = dataclasses.replace(decs["no G bound"].graph,
                                                           lm=lm._replace(least=np.full_like(lm.least, -np.inf)))
        best = {k: np.inf for k in decs}
        res = {}
        for d in decs.values():
            d.decode(mats[0])
        for _ in range(repeat):
            for k, d in decs.items():
                t = time.perf_counter()
                res[k] = [d.decode(m, f"u{i}") for i, m in enumerate(mats)]
                best[k] = min(best[k], time.perf_counter() - t)
        line = [f"  beam {beam:g}:"]
        for k in decs:
            arcs = sum(r.arcs_expanded for r in res[k]) / frames
            w = wer([(list(u.words), list(r.words)) for u, r in zip(utts, res[k])])
            line.append(f"{k} {best[k]:.2f}s ({frames / best[k]:.0f} frames/s, {arcs:.0f} arcs/frame, WER {w:.2f}%)")
            curve.setdefault(k, []).append((beam, best[k], w))
        if "static" in decs:
            same = sum(a.words == b.words for a, b in zip(res["static"], res["on-the-fly"]))
            without = f" (without G's bound {best['no G bound'] / best['static']:.2f}x)" if unbounded else ""
            line.append(f"ratio {best['on-the-fly'] / best['static']:.2f}x{without}; same 1-best {same}/{len(mats)}")
        print("; ".join(line), flush=True)
    if "static" in curve and len(beams) > 1:
        same_wer(curve["static"], curve["on-the-fly"])
    return decs["on-the-fly"], mats


def same_wer(static, otf):
    """The time each graph needs for the same WER: for each static beam, the fastest
    on-the-fly beam run whose WER is no higher, and the ratio of their times."""
    print("  at the same WER (the fastest on-the-fly beam run with no higher WER than the static beam's):", flush=True)
    for beam, secs, w in static:
        ok = [(s, b, x) for b, s, x in otf if x <= w]
        if ok:
            s, b, x = min(ok)
            print(f"    static beam {beam:g} ({secs:.2f}s, WER {w:.2f}%): on-the-fly beam {b:g} ({s:.2f}s, WER "
                  f"{x:.2f}%), {s / secs:.2f}x", flush=True)
        else:
            print(f"    static beam {beam:g} ({secs:.2f}s, WER {w:.2f}%): no on-the-fly beam run reaches it", flush=True)


def bias_cost(dec, mats, repeat):
    from hotwords import random_phrases

    rng = np.random.default_rng(0)
    biases = {0: None}
    for n in (100, 1000, 10000):
        phrases = random_phrases(dec.graph.words, n, rng)
        t = time.perf_counter()
        biases[n] = dec.compile_bias(phrases)
        ms = 1e3 * (time.perf_counter() - t)
        dec.decode(mats[0], bias=biases[n])
        print(f"  {n:5d} hotwords compiled in {ms:.1f} ms", flush=True)
    best = {n: np.inf for n in biases}
    for _ in range(repeat):
        for n, b in biases.items():
            t = time.perf_counter()
            for m in mats:
                dec.decode(m, bias=b)
            best[n] = min(best[n], time.perf_counter() - t)
    print("  hotwords on the on-the-fly graph: " + ", ".join(f"{n}: {best[n]:.2f}s = {best[n] / best[0]:.2f}x"
                                                             for n in biases), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(ROOT / "build" / "bench"), help="benchmarks/compile.py's output")
    ap.add_argument("--sizes", default="20000,full")
    ap.add_argument("--kinds", default="hmm,ctc")
    ap.add_argument("--utts", type=int, default=40)
    ap.add_argument("--beams", default="8,12")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rebuild-static", action="store_true")
    ap.add_argument("--skip-static", action="store_true", help="no static graph (build or decode)")
    ap.add_argument("--skip-unbounded", action="store_true", help="no run without G's bound (wide beams: slow)")
    ap.add_argument("--skip-build", action="store_true", help="the on-the-fly graph already built: no build figures")
    args = ap.parse_args()
    bench = Path(args.bench)
    sets = prepare(bench, args.sizes.split(","))
    for size, (lex, arpa) in sets.items():
        prons = {}
        with open(lex, encoding="utf-8") as fh:
            for line in fh:
                p = line.split()
                prons.setdefault(p[0], p[1:])
        for kind in args.kinds.split(","):
            print(f"\n== {kind.upper()}, vocabulary {size} ({len(prons)} words)", flush=True)
            otf_dir = bench / f"v{size}" / f"{kind}-onthefly"
            if not (args.skip_build and (otf_dir / "manifest.json").exists()):
                r = build(kind, lex, arpa, otf_dir, True)
                print(f"  on-the-fly build: {r['seconds']:.1f}s wall, {r['cpu_seconds']:.1f}s CPU, peak RSS "
                      f"{r['rss_mb']:.0f} MB; {r['states']} states, {r['arcs']} arcs", flush=True)
            static_dir = None
            if not args.skip_static:
                static_dir, s = static_figures(bench, size, kind, lex, arpa, args.rebuild_static)
                print("  static build: " + (f"{s['seconds']:.1f}s wall, peak RSS {s['rss_mb']:.0f} MB; "
                                            f"{s['states']} states, {s['arcs']} arcs" if "seconds" in s else "")
                      + (f" ({s['note']})" if "note" in s else ""), flush=True)
            dec, mats = decode_compare(static_dir, otf_dir, kind, prons, args.utts,
                                       [float(b) for b in args.beams.split(",")], args.repeat, not args.skip_unbounded)
            bias_cost(dec, mats, args.repeat)


if __name__ == "__main__":
    main()
