"""Real material: AN4's GMM scores (130 test utterances) and the AN4 CTC model's posteriors
(its 50 held-out utterances), against Kaldi's decoders (kaldi-decoder) in the same run.

Sections (``--only`` picks some):

- ``tune``: the CTC demo's settings, chosen on the held-out utterances only: WER over
  ``--blank-penalty`` x ``--acoustic-scale``, unigram and trigram TLG.
- ``ctc``: hclg vs Kaldi's FasterDecoder at the same beam/max-active/min-active (frames/s,
  active tokens per frame, identical 1-best), CTC defaults against Kaldi's min-active 200,
  blank skipping (speed-up against the ideal 1/(1-skipped) and WER change), and lattice
  decode against 1-best.
- ``gmm``: the same on AN4's GMM scores (HCLG, unigram and trigram), lattices at Kaldi's
  ``steps/decode.sh`` settings (beam 13, lattice-beam 6) and lattice-beam 8, and Kaldi's
  LatticeSimpleDecoder (raw lattice) against its SimpleDecoder on the same input.
- ``cold``: seconds of a one-utterance ``hclg decode`` with numba's cache empty (a fresh
  install) against warm, in fresh processes.

Times are the minimum of ``--repeat`` interleaved runs (CPU time of this process).

Usage:
    python benchmarks/real.py [--only tune,ctc,gmm,cold] [--repeat 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the oracles

from benchmarks.decode import timed_interleaved  # noqa: E402
from oracles.kaldi_recipes import expand_columns, kaldi_faster_decode  # noqa: E402

SHARED_AN4 = ROOT.parent / "shared" / "an4"
EX = ROOT / "examples" / "an4"
INT_MAX = 2**31 - 1


def cpu_min(fns, repeat):
    """Runs each of ``fns`` ``repeat`` times, interleaved; returns (minimum CPU seconds of
    each, the last result of each)."""
    return timed_interleaved(fns, repeat, time.process_time)


def wer(refs, hyps):
    from hclg.scoring import compute_wer

    return compute_wer(dict(zip(range(len(refs)), refs)), dict(zip(range(len(hyps)), hyps))).wer


def ctc_material(tmp: Path):
    """(graph dirs by LM, matrices, references) for the CTC model's 50 held-out utterances;
    the graphs are the demo's: examples/an4's CTC lexicon and the model's tokens."""
    import kaldi_native_io

    from hclg.graph.compile import compile_graph
    from hclg.graph.compile_options import CompileOptions
    from hclg.scoring import read_text

    graphs = {}
    for lm in ("unigram", "train_3gram"):
        graphs[lm] = compile_graph(EX / "ctc_lexicon.txt", EX / f"lm_{lm}.arpa", tmp / f"ctc-{lm}",
                                   CompileOptions(topology="ctc", frame_subsampling_factor=3),
                                   tokens=EX / "ctc_tokens.txt").path
    dev = set((SHARED_AN4 / "ctc_dev_utts.txt").read_text().split())
    text = read_text(SHARED_AN4 / "text_train")
    utts, mats = [], []
    for u, m in kaldi_native_io.SequentialFloatMatrixReader(f"ark:{SHARED_AN4 / 'ctc_train_logprobs.ark'}"):
        if u in dev:
            utts.append(u)
            mats.append(np.array(m))
    return graphs, mats, [list(text[u]) for u in utts]


def tune(graphs, mats, refs):
    from hclg.search.decoder import Decoder
    from hclg.search.options import DecoderOptions

    penalties = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
    scales = (0.5, 0.7, 1.0, 1.4, 2.0)
    for lm, g in graphs.items():
        print(f"\n== tune, {lm} TLG, 50 held-out utterances: WER % by acoustic scale (rows) and blank penalty", flush=True)
        print("scale  " + "  ".join(f"{p:5.1f}" for p in penalties))
        best = (float("inf"), None)
        for s in scales:
            row = []
            for p in penalties:
                dec = Decoder(g, DecoderOptions(acoustic_scale=s, blank_penalty=p))
                w = wer(refs, [list(dec.decode(m).words) for m in mats])
                row.append(w)
                best = min(best, (w, (s, p)))
            print(f"{s:5.1f}  " + "  ".join(f"{w:5.2f}" for w in row), flush=True)
        print(f"best: {best[0]:.2f} % at acoustic scale {best[1][0]}, blank penalty {best[1][1]}")


def compare_kaldi(name, graph_dir, mats, refs, opts_list, repeat):
    """hclg against kaldi-decoder's FasterDecoder at the same options, on the graph as a
    VectorFst and as a ConstFst (what Kaldi's mkgraph.sh writes), interleaved; one line each."""
    import kaldi_decoder
    import kaldifst

    from hclg.search.decoder import Decoder

    vfst = kaldifst.StdVectorFst.read(str(Path(graph_dir) / "HCLG.fst"))
    cfst = kaldifst.StdConstFst(vfst)
    frames = sum(len(m) for m in mats)
    print(f"\n== {name}: {len(mats)} utterances, {frames} frames; hclg vs Kaldi's FasterDecoder (VectorFst, ConstFst)",
          flush=True)
    for o in opts_list:
        dec = Decoder(graph_dir, o)
        expanded = [expand_columns(dec.loglikes(m), dec.graph.ilabel_to_column) for m in mats]
        kopts = kaldi_decoder.FasterDecoderOptions(beam=o.beam, max_active=dec.max_active, min_active=dec.min_active)
        kv, kc = kaldi_decoder.FasterDecoder(vfst, kopts), kaldi_decoder.FasterDecoder(cfst, kopts)
        dec.decode(mats[0])
        (t_h, t_v, t_c), (res, kres, cres) = cpu_min([lambda: [dec.decode(m) for m in mats],
                                                      lambda: [kaldi_faster_decode(kv, x) for x in expanded],
                                                      lambda: [kaldi_faster_decode(kc, x) for x in expanded]], repeat)
        same = sum(list(r.word_ids) == k[0] == c[0] for r, k, c in zip(res, kres, cres))
        tokens = sum(r.tokens_expanded for r in res) / frames
        arcs = sum(r.arcs_expanded for r in res) / frames
        print(f"beam {o.beam:g} max-active {dec.max_active} min-active {dec.min_active}: hclg {frames / t_h:,.0f} "
              f"frames/s; Kaldi VectorFst {frames / t_v:,.0f} ({t_v / t_h:.2f}x), ConstFst {frames / t_c:,.0f} "
              f"({t_c / t_h:.2f}x); {tokens:.0f} tokens, {arcs:.0f} arcs a frame; 1-best identical "
              f"{same}/{len(mats)}; WER {wer(refs, [list(r.words) for r in res]):.2f} %", flush=True)


def lattice_ratio(name, graph_dir, mats, opts_list, repeat):
    """hclg's lattice decode (determinized, as written) against its 1-best, same options."""
    from hclg.lattice.generation import LatticeDecoder

    print(f"\n== {name}: lattice decode against 1-best", flush=True)
    for o in opts_list:
        dec = LatticeDecoder(graph_dir, o)
        dec.decode_lattice(mats[0])
        (t1, tl), (_, lats) = cpu_min([lambda: [dec.decode(m) for m in mats],
                                       lambda: [dec.decode_lattice(m) for m in mats]], repeat)
        print(f"beam {o.beam:g} lattice-beam {o.lattice_beam:g}: 1-best {t1:.3f}s, lattice {tl:.3f}s "
              f"({tl / t1:.2f}x)", flush=True)


def kaldi_lattice_cost(name, graph_dir, mats, beam, lattice_beam, repeat):
    """Kaldi's own price of lattices on this input: LatticeSimpleDecoder (the raw lattice, no
    determinization) against SimpleDecoder, and hclg's lattice decode (determinized) with the
    same search (no max-active, min-active 0, as Kaldi's simple decoders)."""
    import kaldi_decoder
    import kaldifst

    from hclg.lattice.generation import LatticeDecoder
    from hclg.search.options import DecoderOptions

    kfst = kaldifst.StdVectorFst.read(str(Path(graph_dir) / "HCLG.fst"))
    dec = LatticeDecoder(graph_dir, DecoderOptions(beam=beam, lattice_beam=lattice_beam, max_active=INT_MAX,
                                                   min_active=0, input_kind="log-likelihoods"))
    expanded = [expand_columns(dec.loglikes(m), dec.graph.ilabel_to_column) for m in mats]
    sdec = kaldi_decoder.SimpleDecoder(kfst, beam)
    ldec = kaldi_decoder.LatticeSimpleDecoder(kfst, kaldi_decoder.LatticeSimpleDecoderConfig(
        beam=beam, lattice_beam=lattice_beam))

    def kaldi_lattices():
        for x in expanded:
            ldec.decode(kaldi_decoder.DecodableCtc(x))
            ldec.get_raw_lattice()

    dec.decode_lattice(mats[0])
    (ks, kl, h1, hl), _ = cpu_min([lambda: [sdec.decode(kaldi_decoder.DecodableCtc(x)) for x in expanded],
                                   kaldi_lattices, lambda: [dec.decode(m) for m in mats],
                                   lambda: [dec.decode_lattice(m) for m in mats]], repeat)
    print(f"{name}, beam {beam:g} lattice-beam {lattice_beam:g}, simple search: Kaldi SimpleDecoder {ks:.2f}s, "
          f"LatticeSimpleDecoder (raw) {kl:.2f}s ({kl / ks:.2f}x); hclg 1-best {h1:.3f}s, lattice {hl:.3f}s "
          f"({hl / h1:.2f}x); hclg lattice vs Kaldi raw lattice {kl / hl:.1f}x faster", flush=True)


def ctc(graphs, mats, refs, repeat):
    from hclg.search.decoder import Decoder
    from hclg.search.options import DecoderOptions

    g = graphs["train_3gram"]
    opts = [DecoderOptions(beam=b, min_active=m) for b in (8.0, 12.0, 16.0) for m in (None, 200)]
    compare_kaldi("AN4 CTC held-out, trigram TLG", g, mats, refs, opts, repeat)
    print("\n== blank skipping (threshold 0.95), defaults, beam 16", flush=True)
    full = Decoder(g, DecoderOptions())
    skip = Decoder(g, DecoderOptions(blank_skip_threshold=0.95))
    skip.decode(mats[0])
    full.decode(mats[0])
    (t_f, t_s), (rf, rs) = cpu_min([lambda: [full.decode(m) for m in mats],
                                    lambda: [skip.decode(m) for m in mats]], repeat)
    frames = sum(len(m) for m in mats)
    skipped = sum(int((np.exp(m[:, 0]) > 0.95).sum()) for m in mats) / frames
    ideal = 1 / (1 - skipped)
    wf, ws = wer(refs, [list(r.words) for r in rf]), wer(refs, [list(r.words) for r in rs])
    diff = sum(list(a.words) != list(b.words) for a, b in zip(rf, rs))
    print(f"blank > 0.95 on {100 * skipped:.1f} % of frames: ideal {ideal:.2f}x; measured {t_f / t_s:.2f}x "
          f"({100 * t_f / t_s / ideal:.0f} % of ideal); WER {wf:.2f} % -> {ws:.2f} %; {diff} utterances differ",
          flush=True)
    lattice_ratio("AN4 CTC held-out, trigram TLG", g, mats,
                  [DecoderOptions(beam=13.0, lattice_beam=6.0), DecoderOptions(beam=13.0, lattice_beam=8.0)], repeat)


def gmm(tmp: Path, repeat):
    import kaldi_native_io

    from hclg.graph.compile import compile_graph
    from hclg.graph.compile_options import CompileOptions
    from hclg.scoring import read_text
    from hclg.search.options import DecoderOptions

    text = read_text(SHARED_AN4 / "text_test")
    utts, mats = [], []
    for u, m in kaldi_native_io.SequentialFloatMatrixReader(f"ark:{SHARED_AN4 / 'loglikes_test.ark'}"):
        utts.append(u)
        mats.append(np.array(m))
    refs = [list(text[u]) for u in utts]
    for lm in ("unigram", "train_3gram"):
        g = compile_graph(SHARED_AN4 / "lexicon.dic", SHARED_AN4 / f"lm_{lm}.arpa", tmp / f"hmm-{lm}",
                          CompileOptions(hmm_topology=str(SHARED_AN4 / "transitions.txt"),
                                         pdf_map=str(SHARED_AN4 / "pdf_map.txt")),
                          phones=SHARED_AN4 / "phones.txt").path
        ik = "log-likelihoods"
        opts = [DecoderOptions(beam=b, max_active=7000, input_kind=ik) for b in (8.0, 13.0, 16.0)]
        compare_kaldi(f"AN4 GMM test, {lm} HCLG", g, mats, refs, opts, repeat)
        lattice_ratio(f"AN4 GMM test, {lm} HCLG", g, mats,
                      [DecoderOptions(beam=13.0, max_active=7000, lattice_beam=lb, input_kind=ik) for lb in (6.0, 8.0)],
                      repeat)
        for lb in (6.0, 8.0):
            kaldi_lattice_cost(f"AN4 GMM test, {lm} HCLG", g, mats, 13.0, lb, repeat)


FLOOR = """
import numpy as np
from numba import njit
@njit(cache=True)
def f(x):
    return x.sum()
f(np.ones(3))
"""

KALDI_ONE = """
import sys, kaldifst, kaldi_decoder, kaldi_native_io, numpy as np
f = kaldifst.StdVectorFst.read(sys.argv[1] + "/HCLG.fst")
d = kaldi_decoder.FasterDecoder(f, kaldi_decoder.FasterDecoderOptions(max_active=7000, min_active=20))
for u, m in kaldi_native_io.SequentialFloatMatrixReader("ark:" + sys.argv[2]):
    d.decode(kaldi_decoder.DecodableCtc(np.array(m)))
    print(u, kaldifst.get_linear_symbol_sequence(d.get_best_path()[1])[2])
"""


def cold(tmp: Path, repeat):
    """One-utterance ``hclg decode`` in a fresh process: numba's cache empty (NUMBA_CACHE_DIR
    an empty folder: as a fresh install before ``hclg warm-up``) against warm; beside it,
    the same decode with Kaldi's decoder from Python, and the floor of any numba program
    (a process that loads one cached numba function)."""
    import kaldi_native_io

    hclg = str(Path(sys.executable).parent / "hclg")
    g = tmp / "cold-graph"
    subprocess.run([hclg, "compile", "--topology", "ctc", "-l", str(EX / "ctc_lexicon.txt"), "--tokens",
                    str(EX / "ctc_tokens.txt"), "-g", str(EX / "lm_train_3gram.arpa"), str(g)], check=True,
                   capture_output=True)
    one = tmp / "one.ark"
    reader = kaldi_native_io.SequentialFloatMatrixReader(f"ark:{EX / 'ctc_logprobs_demo.ark'}")
    u, m = next(iter(reader))
    w = kaldi_native_io.FloatMatrixWriter(f"ark:{one}")
    w.write(u, np.array(m))
    w.close()
    (tmp / "floor.py").write_text(FLOOR)
    (tmp / "kaldi_one.py").write_text(KALDI_ONE)

    def run(cmd, env=None):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env or dict(os.environ))
        return time.perf_counter() - t0

    decode = [hclg, "decode", str(g), f"ark:{one}", "-o", str(tmp / "hyp.txt")]
    run([sys.executable, str(tmp / "floor.py")])  # its cache
    print("\n== cold start and fixed costs: one-utterance decode, fresh process (wall seconds, minimum)", flush=True)
    warm = {}
    for name, cmd in (("python -c 'import numpy'", [sys.executable, "-c", "import numpy"]),
                      ("numba floor (one cached function)", [sys.executable, str(tmp / "floor.py")]),
                      ("hclg --help", [hclg, "--help"]),
                      ("Kaldi's FasterDecoder from Python", [sys.executable, str(tmp / "kaldi_one.py"), str(g), str(one)]),
                      ("hclg decode", decode),
                      ("hclg decode --lattice", decode + ["--lattice", f"ark:{tmp / 'lat.ark'}"])):
        warm[name] = min(run(cmd) for _ in range(repeat))
        print(f"{name}: {warm[name]:.2f}s", flush=True)
    for name, cmd in (("hclg decode", decode), ("hclg decode --lattice", decode + ["--lattice", f"ark:{tmp / 'lat.ark'}"])):
        with tempfile.TemporaryDirectory() as cache:
            t = run(cmd, dict(os.environ, NUMBA_CACHE_DIR=cache))
        print(f"{name}, numba's cache empty: {t:.1f}s (+{t - warm[name]:.1f}s over warm)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="tune,ctc,gmm,cold", help="comma-separated sections")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    only = set(args.only.split(","))
    if not SHARED_AN4.exists():
        sys.exit(f"{SHARED_AN4} not found: this benchmark reads the shared AN4 material")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if only & {"tune", "ctc"}:
            graphs, mats, refs = ctc_material(tmp)
            if "tune" in only:
                tune(graphs, mats, refs)
            if "ctc" in only:
                ctc(graphs, mats, refs, args.repeat)
        if "gmm" in only:
            gmm(tmp, args.repeat)
        if "cold" in only:
            cold(tmp, args.repeat)


if __name__ == "__main__":
    main()
