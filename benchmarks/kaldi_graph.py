"""A Kaldi system's own graph, imported (``hclg import-kaldi``), against kaldi-decoder's
FasterDecoder reading the same ``HCLG.fst`` (Kaldi's ConstFst), same likelihoods, same
process: frames per second of each and their ratio, the share of identical 1-bests, and
the time to open the graph (hclg: memory-mapped arrays; Kaldi: OpenFst read).

Material: tests/data/kaldi_mono_system (a real Kaldi monophone GMM system, 55 test
utterances; GMM scores recomputed from its features by tests/oracles/kaldi_gmm.py), or with
``--system tri`` tests/data/kaldi_tri_system (the triphone system of the same recipe, same
utterances). The graphs are small (268 and 361 states), so this measures the per-frame cost
of the search on real Kaldi material, not cache behaviour on large graphs
(benchmarks/decode.py does that).

Usage:
    python benchmarks/kaldi_graph.py [--system mono|tri] [--repeat 5] [--beam 13]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from oracles.kaldi_gmm import recipe_loglikes  # noqa: E402
from oracles.kaldi_recipes import expand_columns, kaldi_faster_decode  # noqa: E402

DATA = ROOT / "tests" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="interleaved runs; the fastest is reported")
    ap.add_argument("--beam", type=float, default=13.0)
    ap.add_argument("--system", choices=("mono", "tri"), default="mono", help="which real Kaldi system")
    args = ap.parse_args()
    SYSTEM = DATA / f"kaldi_{args.system}_system"
    FEATS = DATA / "kaldi_mono_system" / "features"  # both systems decoded these features

    import kaldi_decoder
    import kaldifst

    from hclg.graph.kaldi_graph import import_kaldi_graph
    from hclg.search.decoder import Decoder
    from hclg.search.options import DecoderOptions

    u2s = dict(line.split() for line in (FEATS / "utt2spk").read_text().splitlines())
    ll = recipe_loglikes(FEATS / "raw_mfcc_test.1.ark", FEATS / "cmvn_test.ark", u2s, SYSTEM / "final.mdl")
    with tempfile.TemporaryDirectory() as d:
        graph = import_kaldi_graph(SYSTEM / "graph", SYSTEM / "final.mdl", Path(d) / "g")
        opts = DecoderOptions(beam=args.beam, max_active=7000, min_active=200, acoustic_scale=0.083333,
                              input_kind="log-likelihoods", word_times=False)
        t = time.perf_counter()
        dec = Decoder(graph, opts)
        open_hclg = time.perf_counter() - t
        t = time.perf_counter()
        kfst = kaldifst.StdConstFst.read(str(SYSTEM / "graph" / "HCLG.fst"))
        open_kaldi = time.perf_counter() - t
        kdec = kaldi_decoder.FasterDecoder(kfst, kaldi_decoder.FasterDecoderOptions(beam=args.beam, max_active=7000,
                                                                                    min_active=200))
        scaled = {u: dec.loglikes(m, u) for u, m in ll.items()}
        expanded = {u: expand_columns(s, dec.graph.ilabel_to_column) for u, s in scaled.items()}
        frames = sum(len(s) for s in scaled.values())
        dec.warm_up()
        best_h = best_k = float("inf")
        same = 0
        for _ in range(args.repeat):  # interleaved, the fastest of each kept: the machine is shared
            t = time.perf_counter()
            hyps = {u: dec.decode(ll[u], u).word_ids for u in sorted(ll)}
            best_h = min(best_h, time.perf_counter() - t)
            t = time.perf_counter()
            khyps = {u: kaldi_faster_decode(kdec, expanded[u])[0] for u in sorted(ll)}
            best_k = min(best_k, time.perf_counter() - t)
            same = sum(list(hyps[u]) == khyps[u] for u in hyps)
    print(f"{args.system}: {len(ll)} utterances, {frames} frames, beam {args.beam}, graph {dec.graph.arrays.num_states} states")
    print(f"hclg (imported graph)      {frames / best_h:10.0f} frames/s  ({best_h:.3f} s)")
    print(f"Kaldi FasterDecoder        {frames / best_k:10.0f} frames/s  ({best_k:.3f} s)")
    print(f"ratio hclg / Kaldi         {best_k / best_h:10.2f}x")
    print(f"identical 1-best           {same}/{len(ll)}")
    print(f"open: hclg {open_hclg * 1000:.1f} ms (mmap), Kaldi {open_kaldi * 1000:.1f} ms (OpenFst read)")


if __name__ == "__main__":
    main()
