"""Decoding benchmark: hclg's decoder against Kaldi's FasterDecoder (kaldi-decoder), same
graph, same scaled likelihoods, same process.

Uses the 20k-vocabulary CTC TLG and monophone HCLG written by ``benchmarks/compile.py``
and synthetic utterances with realistic confusions (a quarter of frames have a wrong
label on top). For beams 8, 12, 16 (max-active 7000, min-active 200) prints frames per
second of each decoder (Kaldi on the graph as a VectorFst and as the ConstFst that
mkgraph.sh writes; the repeats interleaved), their ratio, active tokens and arcs per frame,
arcs expanded per second, and the share of utterances with the identical 1-best; then lattice generation (``--lattice-beam``, 8) against
hclg's own 1-best and Kaldi's FasterDecoder 1-best on the same input (with
``--kaldi-lattice-utts N``, also Kaldi's own lattice overhead: LatticeSimpleDecoder against
SimpleDecoder), CTC blank skipping, and ``--jobs 2``.

Usage:
    python benchmarks/compile.py --sizes 20000        # once, makes the graphs
    python benchmarks/decode.py [--bench build/bench] [--utts 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the oracles (Kaldi recipes, synthetic material)

from oracles import synth  # noqa: E402
from oracles.kaldi_recipes import expand_columns, kaldi_faster_decode  # noqa: E402


def load_lexicon(path):
    lex = {}
    for line in open(path):
        p = line.split()
        lex.setdefault(p[0], p[1:])
    return lex


def wer(utts, hyps):
    from hclg.scoring import edit_distance

    e = sum(edit_distance(list(u.words), list(h)) for u, h in zip(utts, hyps))
    return 100.0 * e / sum(len(u.words) for u in utts)


def timed(fn, repeat):
    """(fastest wall time of ``repeat`` runs of fn(), fn's result): the minimum, as timeit
    reports, so that a stray process on this 2-core machine does not decide a ratio."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def timed_interleaved(fns, repeat, clock=time.perf_counter):
    """(fastest time of each of ``fns`` by ``clock``, wall time by default; each one's last
    result), their runs interleaved (a, b, c, a, b, c, ...) so that a slow spell of this
    shared machine falls on all of them."""
    best, out = [float("inf")] * len(fns), [None] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = clock()
            out[i] = fn()
            best[i] = min(best[i], clock() - t0)
    return best, out


def kaldi_lattice_overhead(graph, kfst, utts, opts, lattice_beam, repeat):
    """Kaldi's own cost of lattices on this input: LatticeSimpleDecoder (raw lattice, not
    determinized) against SimpleDecoder, and hclg's lattice decode against its 1-best with
    the same search (no max-active, min-active 0: Kaldi's simple decoders have neither).

    Returns:
        seconds: (Kaldi 1-best, Kaldi lattice, hclg 1-best, hclg lattice).
    """
    import kaldi_decoder

    from hclg.lattice.generation import LatticeDecoder as Decoder

    opts = dataclasses.replace(opts, max_active=2**31 - 1, min_active=0, lattice_beam=lattice_beam)
    dec = Decoder(graph, opts)
    expanded = [expand_columns(dec.loglikes(u.scores), graph.ilabel_to_column) for u in utts]
    sdec = kaldi_decoder.SimpleDecoder(kfst, opts.beam)
    ldec = kaldi_decoder.LatticeSimpleDecoder(
        kfst, kaldi_decoder.LatticeSimpleDecoderConfig(beam=opts.beam, lattice_beam=lattice_beam))

    def kaldi_lattices():
        for x in expanded:
            ldec.decode(kaldi_decoder.DecodableCtc(x))
            ldec.get_raw_lattice()

    t_s, _ = timed(lambda: [sdec.decode(kaldi_decoder.DecodableCtc(x)) for x in expanded], repeat)
    t_l, _ = timed(kaldi_lattices, repeat)
    dec.decode_lattice(utts[0].scores)
    t_h, _ = timed(lambda: [dec.decode(u.scores) for u in utts], repeat)
    t_hl, _ = timed(lambda: [dec.decode_lattice(u.scores) for u in utts], repeat)
    return t_s, t_l, t_h, t_hl


def bench_graph(kind, gdir, lex, n_utts, beams, report, lattice_beam=8.0, extras=True, repeat=3, jobs_utts=600,
                kaldi_lattice_utts=0):
    import kaldi_decoder
    import kaldifst

    from hclg.search.options import DecoderOptions
    from hclg.lattice.generation import LatticeDecoder as Decoder
    from hclg.graph.graph_dir import load_graph

    t0 = time.perf_counter()
    graph = load_graph(gdir)
    t_open = time.perf_counter() - t0
    for name in ("offsets", "e_arcs", "n_arcs", "final"):
        np.asarray(getattr(graph.arrays, name)).sum()  # page the graph in, as OpenFst's read does
    t0 = time.perf_counter()
    kfst = kaldifst.StdVectorFst.read(str(gdir / "HCLG.fst"))
    t_kread = time.perf_counter() - t0
    cfst = kaldifst.StdConstFst(kfst)  # what Kaldi's mkgraph.sh writes: Kaldi decodes 2-18 % faster on it
    print(f"\n== {kind} graph {gdir}: {graph.arrays.num_states} states, "
          f"{len(graph.arrays.e_arcs) + len(graph.arrays.n_arcs)} arcs; open: hclg {t_open:.3f}s (memory-mapped), "
          f"OpenFst read {t_kread:.2f}s", flush=True)
    ik = "log-likelihoods" if kind == "hmm" else "log-posteriors"
    utts = synth.make_utterances(graph, lex, kind, n_utts)
    frames = sum(u.scores.shape[0] for u in utts)
    rows = []
    for beam in beams:
        opts = DecoderOptions(beam=beam, max_active=7000, min_active=200, input_kind=ik)
        dec = Decoder(graph, opts)
        lls = [dec.loglikes(u.scores) for u in utts]
        dec.decode(utts[0].scores)  # compiled kernel loaded before timing
        expanded = [expand_columns(ll, graph.ilabel_to_column) for ll in lls]
        kopts = kaldi_decoder.FasterDecoderOptions(beam=beam, max_active=7000, min_active=200)
        kdec, cdec = kaldi_decoder.FasterDecoder(kfst, kopts), kaldi_decoder.FasterDecoder(cfst, kopts)
        (t_h, t_k, t_c), (res, kres, cres) = timed_interleaved(
            [lambda: [dec.decode(u.scores) for u in utts], lambda: [kaldi_faster_decode(kdec, x) for x in expanded],
             lambda: [kaldi_faster_decode(cdec, x) for x in expanded]], repeat)
        assert [k[0] for k in kres] == [c[0] for c in cres]
        arcs = sum(r.arcs_expanded for r in res)
        tokens = sum(r.tokens_expanded for r in res) / frames
        fast = Decoder(graph, dataclasses.replace(opts, word_times=False))
        fast.decode(utts[0].scores)
        t_f, res_fast = timed(lambda: [fast.decode(u.scores) for u in utts], repeat)
        assert [r.word_ids for r in res_fast] == [r.word_ids for r in res]
        same = sum(list(r.word_ids) == k[0] for r, k in zip(res, kres))
        maxdiff = max(abs(r.cost - k[1]) for r, k in zip(res, kres))
        row = {"beam": beam, "frames": frames, "hclg_fps": frames / t_h, "kaldi_fps": frames / t_k,
               "ratio": t_k / t_h, "kaldi_const_fps": frames / t_c, "ratio_const": t_c / t_h,
               "tokens_per_frame": tokens, "arcs_per_frame": arcs / frames, "arcs_per_s": arcs / t_h, "identical": same / len(utts), "max_cost_diff": maxdiff,
               "wer_vs_truth": wer(utts, [r.words for r in res]),
               "hclg_fps_no_times": frames / t_f, "ratio_no_times": t_k / t_f}
        if lattice_beam > 0:
            ldec = Decoder(graph, dataclasses.replace(opts, lattice_beam=lattice_beam))
            ldec.decode_lattice(utts[0].scores)
            t_l, lres = timed(lambda: [ldec.decode_lattice(u.scores) for u in utts], repeat)
            assert [r.word_ids for r, _ in lres] == [r.word_ids for r in res]
            from hclg.lattice.ops import depth

            row.update({"lattice_fps": frames / t_l, "lattice_over_1best": t_l / t_h, "lattice_vs_kaldi": t_k / t_l,
                        "lattice_depth": float(np.mean([depth(lat) for _, lat in lres])),
                        "lattice_arcs": float(np.mean([lat.num_arcs for _, lat in lres]))})
        rows.append(row)
        if lattice_beam > 0:
            print(f"  beam {beam:4.1f}: lattices (lattice-beam {lattice_beam}) {row['lattice_fps']:9.0f} frames/s = "
                  f"{row['lattice_over_1best']:.2f}x hclg's 1-best time, {row['lattice_vs_kaldi']:.2f}x Kaldi FasterDecoder's "
                  f"speed; mean depth {row['lattice_depth']:.1f}, {row['lattice_arcs']:.0f} arcs; 1-best identical", flush=True)
        if lattice_beam > 0 and kaldi_lattice_utts > 0:
            t_s, t_l, t_h1, t_hl = kaldi_lattice_overhead(graph, kfst, utts[:kaldi_lattice_utts], opts, lattice_beam,
                                                          repeat)
            row.update({"kaldi_lattice_over_1best": t_l / t_s, "hclg_lattice_over_1best_simple": t_hl / t_h1})
            print(f"  beam {beam:4.1f}: no max-active, {kaldi_lattice_utts} utterances: Kaldi's LatticeSimpleDecoder "
                  f"(raw lattice) {t_l:.2f}s = {t_l / t_s:.2f}x its SimpleDecoder's {t_s:.2f}s; hclg's lattice decode "
                  f"(determinized) {t_hl:.2f}s = {t_hl / t_h1:.2f}x its 1-best {t_h1:.2f}s", flush=True)
        print(f"  beam {beam:4.1f}: hclg {row['hclg_fps']:9.0f} frames/s, kaldi {row['kaldi_fps']:9.0f} frames/s "
              f"(VectorFst; ConstFst {row['kaldi_const_fps']:.0f}), ratio {row['ratio']:5.2f}x (ConstFst "
              f"{row['ratio_const']:.2f}x); {tokens:.0f} tokens and {arcs / frames:.0f} arcs a frame, "
              f"{row['arcs_per_s'] / 1e6:6.1f}M arcs/s, identical 1-best "
              f"{100 * row['identical']:.1f}% (max cost diff {maxdiff:.2e}), WER vs truth {row['wer_vs_truth']:.2f}%; "
              f"without word times (text output) {row['hclg_fps_no_times']:.0f} frames/s, ratio {row['ratio_no_times']:.2f}x", flush=True)
    report[kind] = {"graph": str(gdir), "open_s": t_open, "openfst_read_s": t_kread, "beams": rows}
    if not extras:
        return
    if kind == "ctc":
        for thr in (0.95, 0.999):
            opts = DecoderOptions(beam=beams[-1], max_active=7000, min_active=200, input_kind=ik)
            base = Decoder(graph, opts)
            skip = Decoder(graph, DecoderOptions(beam=beams[-1], max_active=7000, min_active=200, input_kind=ik,
                                                 blank_skip_threshold=thr))
            tb, rb = timed(lambda: [base.decode(u.scores) for u in utts], repeat)
            ts, rs = timed(lambda: [skip.decode(u.scores) for u in utts], repeat)
            wb, ws = wer(utts, [r.words for r in rb]), wer(utts, [r.words for r in rs])
            print(f"  blank skip {thr} at beam {beams[-1]}: {tb / ts:.2f}x faster than hclg without it "
                  f"({frames / ts:.0f} frames/s), WER {wb:.2f}% -> {ws:.2f}% ({ws - wb:+.2f} abs)", flush=True)
            report[kind][f"blank_skip_{thr}"] = {"speedup": tb / ts, "wer": wb, "wer_skip": ws, "fps": frames / ts}
    # --jobs
    from hclg.batch import decode_batch

    # a batch of several seconds' work, so that starting the worker processes (a fixed
    # fraction of a second) does not decide the ratio
    jutts = synth.make_utterances(graph, lex, kind, jobs_utts, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "u.npz", **{f"u{i:04d}": u.scores for i, u in enumerate(jutts)})
        opts = DecoderOptions(beam=beams[len(beams) // 2], max_active=7000, min_active=200, input_kind=ik)
        times = {}
        for jobs in (1, 2):
            times[jobs], _ = timed(lambda: decode_batch(gdir, [str(Path(tmp) / "u.npz")], opts, str(Path(tmp) / f"o{jobs}.txt"),
                                                        jobs=jobs, progress=False), repeat)
        same = (Path(tmp) / "o1.txt").read_text() == (Path(tmp) / "o2.txt").read_text()
        print(f"  --jobs 2 at beam {opts.beam}, {jobs_utts} utterances: {times[1] / times[2]:.2f}x one job "
              f"({times[1]:.1f}s -> {times[2]:.1f}s), "
              f"same output: {same}", flush=True)
        report[kind]["jobs2_speedup"] = times[1] / times[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(ROOT / "build" / "bench"))
    ap.add_argument("--size", default="20000")
    ap.add_argument("--utts", type=int, default=200)
    ap.add_argument("--beams", default="8,12,16")
    ap.add_argument("--kinds", default="hmm,ctc")
    ap.add_argument("--lattice-beam", type=float, default=8.0, help="0: no lattice generation")
    ap.add_argument("--no-extras", action="store_true", help="skip blank skipping and --jobs")
    ap.add_argument("--repeat", type=int, default=3, help="time each decoder this many times, keep the fastest")
    ap.add_argument("--jobs-utts", type=int, default=600, help="utterances in the --jobs 2 batch")
    ap.add_argument("--kaldi-lattice-utts", type=int, default=0,
                    help="also time Kaldi's LatticeSimpleDecoder against its SimpleDecoder on this many utterances "
                         "(no max-active: slow at wide beams)")
    a = ap.parse_args()
    d = Path(a.bench) / f"v{a.size}"
    lex = load_lexicon(d / "lexicon.txt")
    report = {}
    for kind in a.kinds.split(","):
        bench_graph(kind, d / f"{kind}-graph", lex, a.utts, [float(b) for b in a.beams.split(",")], report,
                    a.lattice_beam, not a.no_extras, a.repeat, a.jobs_utts, a.kaldi_lattice_utts)
    (Path(a.bench) / "decode_report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
