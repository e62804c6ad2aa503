"""CTC forced alignment: hclg against ``torchaudio.functional.forced_align`` (CPU), same
process, on the real CTC output of ../shared/an4 (948 train utterances, 34 tokens).

Three aligners, each timed over all utterances (interleaved repeats, fastest kept):
  - torchaudio's forced_align on the reference's token sequence (first pronunciations);
  - hclg's ``ctc_forced_align`` on the same token sequence;
  - hclg's ``Aligner`` over the transcript graph of the words (lexicon, CTC topology), as
    ``hclg align`` runs it, one process;
and the share of utterances where hclg's path equals torchaudio's. torchaudio is not
among hclg's dependencies: run this in an environment that has it (torchaudio 2.9 needs
torch 2.9 on this machine: ``pip install torch==2.9.1 'torchaudio==2.9.*'`` in a separate
venv, then ``pip install -e .`` there).

Usage:
    python benchmarks/align.py [--repeat 3]
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
SHARED = ROOT.parent / "shared" / "an4"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    import torch
    import torchaudio.functional as taf

    from hclg.graph.compile import compile_graph
    from hclg.graph.compile_options import CompileOptions
    from hclg.search.matrix_readers import iter_matrices
    from hclg.search.options import DecoderOptions
    from hclg.transcript.align import Aligner
    from hclg.transcript.ctc_loss import ctc_forced_align, ctc_forced_align_batch

    tokens = [line.split()[0] for line in (SHARED / "ctc_tokens.txt").read_text().splitlines()]
    prons = {}
    for line in (SHARED / "lexicon.dic").read_text().splitlines():
        p = line.split()
        if p:
            prons.setdefault(re.sub(r"\(\d+\)$", "", p[0]), [x for x in p[1:] if x != "SIL"])
    prons.update({"A": ["EY"], "ONE": ["W", "AH", "N"]})  # as the model was trained
    text = dict((ln.split()[0], ln.split()[1:]) for ln in (SHARED / "text_train").read_text().splitlines())
    mats = [(u, np.array(m, dtype=np.float32)) for u, m in iter_matrices(f"ark:{SHARED / 'ctc_train_logprobs.ark'}")]
    ids = {t: i for i, t in enumerate(tokens)}
    targets = {u: [ids[p] for w in text[u] for p in prons[w]] for u, _ in mats}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "lexicon.txt").write_text("".join(f"{w} {' '.join(p)}\n" for w, p in prons.items() if p))
        (d / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(tokens)))
        compile_graph(d / "lexicon.txt", SHARED / "lm_unigram.arpa", d / "g", CompileOptions(topology="ctc"),
                      tokens=d / "tokens.txt")
        aligner = Aligner(d / "g", DecoderOptions(beam=10.0))
        aligner.align(mats[0][1], text[mats[0][0]])  # kernels loaded
        ctc_forced_align(mats[0][1], targets[mats[0][0]])
        order = sorted(range(len(mats)), key=lambda i: len(mats[i][1]))  # batches of similar lengths
        batches = [order[i:i + 32] for i in range(0, len(order), 32)]

        def batched():
            out = {}
            for b in batches:
                T = max(len(mats[i][1]) for i in b)
                lp = np.zeros((len(b), T, len(tokens)), np.float32)
                for k, i in enumerate(b):
                    lp[k, : len(mats[i][1])] = mats[i][1]
                paths, _ = ctc_forced_align_batch(lp, [targets[mats[i][0]] for i in b],
                                                  input_lengths=[len(mats[i][1]) for i in b])
                for k, i in enumerate(b):
                    out[mats[i][0]] = paths[k, : len(mats[i][1])]
            return out

        batched()
        t_ta = t_h = t_graph = t_batch = float("inf")
        same = 0
        for _ in range(args.repeat):
            t = time.perf_counter()
            ta = {u: taf.forced_align(torch.from_numpy(m)[None], torch.tensor([targets[u]], dtype=torch.int32),
                                      blank=0)[0][0].numpy() for u, m in mats}
            t_ta = min(t_ta, time.perf_counter() - t)
            t = time.perf_counter()
            mine = {u: ctc_forced_align(m, targets[u])[0] for u, m in mats}
            t_h = min(t_h, time.perf_counter() - t)
            t = time.perf_counter()
            for u, m in mats:
                aligner.align(m, text[u], u)
            t_graph = min(t_graph, time.perf_counter() - t)
            t = time.perf_counter()
            mine_b = batched()
            t_batch = min(t_batch, time.perf_counter() - t)
            same = sum(np.array_equal(ta[u], mine[u]) and np.array_equal(ta[u], mine_b[u]) for u, _ in mats)
    n = len(mats)
    frames = sum(len(m) for _, m in mats)
    print(f"{n} utterances, {frames} frames; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"torchaudio forced_align          {1000 * t_ta / n:8.3f} ms/utterance")
    print(f"hclg ctc_forced_align            {1000 * t_h / n:8.3f} ms/utterance  ({t_ta / t_h:.1f}x torchaudio)")
    print(f"hclg ctc_forced_align_batch (32) {1000 * t_batch / n:8.3f} ms/utterance  ({t_ta / t_batch:.1f}x torchaudio, "
          "all cores, padding included)")
    print(f"hclg Aligner (transcript graph)  {1000 * t_graph / n:8.3f} ms/utterance  ({t_ta / t_graph:.1f}x torchaudio)")
    print(f"same path as torchaudio          {same}/{n}")


if __name__ == "__main__":
    main()
