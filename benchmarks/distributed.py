"""Distributed decoding benchmark: ``decode_batch`` on a local Dask cluster of 1 and 2
worker processes (:mod:`hclg.cluster`) against the same batch in one process, same inputs,
same options; the outputs are checked byte for byte.

Sets: AN4's real GMM scores (its 130 test utterances, the demo's unigram HCLG) and
synthetic utterances on the 20k-word HMM graph of ``benchmarks/compile.py``. For each:
wall time of each configuration (the minimum of ``--repeat`` interleaved runs, clusters
started and their workers' decoders warm before the clock), the throughput against one
process and the efficiency (throughput ratio / workers); the scheduler's overhead per
shard (the same run in shards of 1 against shards of 16); and memory: each worker's RSS
and unique set size (USS: pages no other process shares; the graph, memory-mapped, is
shared) against one process's.

Usage:
    python benchmarks/distributed.py [--bench build/bench] [--size 20000] [--utts 60] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# this file's name is Dask's package's: Dask first, from site-packages, then this folder
# (for benchmarks/stream.py's synthetic sets) at the end of the path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
import distributed  # noqa: E402
import logging  # noqa: E402

logging.getLogger("distributed").setLevel(logging.WARNING)

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.append(str(ROOT / "benchmarks"))

from hclg.batch import decode_batch  # noqa: E402
from hclg.search.options import DecoderOptions  # noqa: E402

SHARED_AN4 = ROOT.parent / "shared" / "an4"
EX = ROOT / "examples" / "an4"


def memory():
    """(RSS, USS) of this process, MB."""
    import psutil

    m = psutil.Process().memory_full_info()
    return m.rss / 1e6, m.uss / 1e6


def write_ark(path, mats):
    import kaldi_native_io

    with kaldi_native_io.FloatMatrixWriter(f"ark:{path}") as w:
        for i, m in enumerate(mats):
            w.write(f"u{i:05d}", np.asarray(m, np.float32))
    return f"ark:{path}"


def run_once(graph, ark, opts, out, cluster=None, shard_size=8, jobs=1):
    t = time.perf_counter()
    s = decode_batch(graph, [ark], opts, str(out), progress=False, cluster=cluster, shard_size=shard_size, jobs=jobs)
    return time.perf_counter() - t, s


def bench(name, graph, ark, opts, repeat, tmp, shard):
    print(f"\n{name}", flush=True)
    run_once(graph, ark, opts, tmp / "warm.txt")  # kernels loaded
    clusters = {}
    for n in (1, 2):
        t = time.perf_counter()
        lc = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                                      silence_logs=40)
        c = distributed.Client(lc)
        run_once(graph, ark, opts, tmp / f"warm{n}.txt", c)  # the workers' decoders made and warm
        clusters[n] = (lc, c, time.perf_counter() - t)
    best = {k: float("inf") for k in ("one", "jobs2", 1, 2)}
    frames = 0
    for _ in range(repeat):  # interleaved: one process, 1 worker, 2 workers, again
        dt, s = run_once(graph, ark, opts, tmp / "one.txt")
        best["one"], frames = min(best["one"], dt), s.frames
        dt, _ = run_once(graph, ark, opts, tmp / "jobs2.txt", jobs=2)
        best["jobs2"] = min(best["jobs2"], dt)
        for n in (1, 2):
            dt, s = run_once(graph, ark, opts, tmp / f"c{n}.txt", clusters[n][1], shard)
            best[n] = min(best[n], dt)
            assert (tmp / f"c{n}.txt").read_bytes() == (tmp / "one.txt").read_bytes(), "outputs differ"
    print(f"  one process: {best['one']:.2f}s ({frames / best['one']:.0f} frames/s); --jobs 2 (forked processes, "
          f"no cluster): {best['jobs2']:.2f}s = {best['one'] / best['jobs2']:.2f}x")
    for n in (1, 2):
        r = best["one"] / best[n]
        print(f"  {n} worker{'s' if n > 1 else ''}: {best[n]:.2f}s ({frames / best[n]:.0f} frames/s) = {r:.2f}x one "
              f"process, efficiency {r / n:.2f}; cluster start + warm-up {clusters[n][2]:.1f}s; outputs identical")
    c1 = clusters[1][1]
    t1, s1 = run_once(graph, ark, opts, tmp / "s1.txt", c1, shard_size=1)
    t16, _ = run_once(graph, ark, opts, tmp / "s16.txt", c1, shard_size=16)
    n_utts = s1.decoded
    shards1, shards16 = n_utts, -(-n_utts // 16)
    print(f"  scheduler overhead per shard: {(t1 - t16) / max(shards1 - shards16, 1) * 1e3:.1f} ms "
          f"({n_utts} shards of 1: {t1:.2f}s; {shards16} of 16: {t16:.2f}s; 1 worker)")
    mem = clusters[2][1].run(memory)
    one_rss, one_uss = memory()
    workers = ", ".join(f"RSS {r:.0f} MB, USS {u:.0f} MB" for r, u in mem.values())
    print(f"  memory: one process (this one, with the driver) RSS {one_rss:.0f} MB, USS {one_uss:.0f} MB; "
          f"workers: {workers}")
    for lc, c, _ in clusters.values():
        c.close()
        lc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(ROOT / "build" / "bench"), help="benchmarks/compile.py's output")
    ap.add_argument("--size", default="20000")
    ap.add_argument("--utts", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--shard-size", type=int, default=8)
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        from hclg.graph.compile import compile_graph
        from hclg.graph.compile_options import CompileOptions

        an4 = compile_graph(EX / "lexicon.dic", EX / "lm_unigram.arpa", tmp / "an4",
                            CompileOptions(hmm_topology=str(EX / "transitions.txt"),
                                           pdf_map=str(EX / "pdf_map.txt")), phones=EX / "phones.txt").path
        scores = SHARED_AN4 / "loglikes_test.ark" if SHARED_AN4.exists() else EX / "loglikes_demo.ark"
        bench(f"AN4 real GMM scores ({scores.name}), unigram HCLG, beam 13", an4, f"ark:{scores}",
              DecoderOptions(input_kind="log-likelihoods", beam=13.0), args.repeat, tmp, args.shard_size)
        from stream import synthetic_sets

        for kind, gdir, mats, input_kind in synthetic_sets(args.bench, args.size, args.utts):
            if kind != "hmm":
                continue
            ark = write_ark(tmp / "synth.ark", mats)
            bench(f"{args.size}-word HMM graph, {len(mats)} synthetic utterances, beam 12", gdir, ark,
                  DecoderOptions(input_kind=input_kind, beam=12.0), args.repeat, tmp, args.shard_size)


if __name__ == "__main__":
    main()
