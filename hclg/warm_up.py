"""Compiling hclg's numba kernels ahead of use (``hclg warm-up``): numba compiles each
kernel on its first call and keeps the machine code in its on-disk cache beside the
package, so the first ``compile`` or ``decode`` of a fresh install would otherwise spend
a minute compiling. This runs the library's real paths (graph recipes, 1-best and lattice
search, streams, hotwords, lattice determinization and tools, CTC loss and alignment) on tiny
inputs, so that every kernel is
compiled for the argument types real runs give it. ``make`` runs it once at install.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np

log = logging.getLogger("hclg")

_LEXICON = "cat k ae t\nhat h ae t\nand ae n d\n"
_ARPA = """\\data\\
ngram 1=5
ngram 2=2

\\1-grams:
-0.7 </s>
-99 <s> -0.3
-0.6 cat -0.2
-0.6 hat -0.2
-0.9 and -0.2

\\2-grams:
-0.2 <s> cat
-0.3 cat and

\\end\\
"""


def warm_up_kernels() -> float:
    """Compiles (or loads from numba's cache) every kernel a compile, decode and lattice
    command uses. Returns the seconds it took."""
    t0 = time.perf_counter()
    level = log.level
    log.setLevel(logging.ERROR)  # the tiny inputs' own warnings (no token list...) are not the user's
    try:
        _run_everything()
    finally:
        log.setLevel(level)
    secs = time.perf_counter() - t0
    log.debug("hclg's kernels are compiled and cached (%.1fs)", secs)
    return secs


def _run_everything() -> None:
    from hclg.batch import decode_batch
    from hclg.graph.compile import compile_graph
    from hclg.graph.compile_options import CompileOptions
    from hclg.graph.graph_dir import load_graph
    from hclg.lattice import ops
    from hclg.lattice.archives import read_lattices
    from hclg.lattice.mbr import mbr_decode
    from hclg.search.options import DecoderOptions
    from hclg.transcript.align import Aligner
    from hclg.transcript.forward import forward_backward
    from hclg.transcript.ctc_loss import ctc_forced_align, ctc_forced_align_batch, ctc_loss

    for dtype in (np.float32, np.float64):  # the CTC loss kernels, for both float types
        lp = np.log(np.full((2, 6, 4), 0.25, dtype))
        for gradient in ("log_probs", "logits"):
            ctc_loss(lp, [[1, 2], [3, 3]], gradient=gradient)
        ctc_forced_align(lp[0], [1, 2])
        ctc_forced_align_batch(lp, [[1, 2], [3, 3]])
    with tempfile.TemporaryDirectory(prefix="hclg-warm-up-") as d:
        tmp = Path(d)
        (tmp / "lexicon.txt").write_text(_LEXICON, encoding="utf-8")
        (tmp / "lm.arpa").write_text(_ARPA, encoding="utf-8")
        rng = np.random.default_rng(0)
        for topology, kind in (("hmm", "log-likelihoods"), ("ctc", "log-posteriors")):
            graph = tmp / topology
            compile_graph(tmp / "lexicon.txt", tmp / "lm.arpa", graph, CompileOptions(topology=topology))
            ncol = load_graph(graph).num_columns
            x = rng.normal(0, 2, size=(60, ncol)).astype(np.float32)
            if kind == "log-posteriors":
                x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
            np.save(tmp / "u1.npy", x)
            for lattice in ("ark,t", "ark"):
                decode_batch(graph, [str(tmp / "u1.npy")], DecoderOptions(input_kind=kind, word_times=True),
                             str(tmp / "hyp.txt"), str(tmp / "hyp.ctm"), progress=False,
                             lattice_out=f"{lattice}:{tmp / 'lat.ark'}", alignments_out=f"ark:{tmp / 'ali.ark'}")
                for lat in read_lattices(f"{lattice}:{tmp / 'lat.ark'}"):
                    ops.nbest(lat, 3)
                    ops.word_posteriors(lat)
                    mbr_decode(lat)
            decode_batch(graph, [str(tmp / "u1.npy")], DecoderOptions(input_kind=kind, word_times=False),
                         str(tmp / "hyp.txt"), progress=False)
            aligner = Aligner(graph, DecoderOptions(beam=10.0, input_kind=kind))
            aligner.align(x, ["cat", "and"], "warm-up")
            aligner.forward(x, ["cat", "and"], "warm-up")
            dec = aligner.decoder
            forward_backward(dec.search_graph, dec.loglikes(x), beam=16.0)
            _streams(graph, kind, x)
            # an on-the-fly graph: the lexicon graph and G's arrays, composed by the search (with hotwords too)
            compile_graph(tmp / "lexicon.txt", tmp / "lm.arpa", tmp / "otf", CompileOptions(topology=topology,
                                                                                          on_the_fly=True))
            _streams(tmp / "otf", kind, x)
        # a context-dependent graph (C o LG, as with a Kaldi tree or a context table)
        phones = ("k", "ae", "t", "h", "n", "d", "SIL")
        (tmp / "ctx.txt").write_text("".join(f"- {p} - {s} {3 * i + s}\n" for i, p in enumerate(phones)
                                             for s in range(3)), encoding="utf-8")
        compile_graph(tmp / "lexicon.txt", tmp / "lm.arpa", tmp / "cd", CompileOptions(context_table=str(tmp / "ctx.txt")))


def _streams(graph, kind, x) -> None:
    """Streams (chunks, partials, endpoints, certain records, segment lattices), with and
    without hotwords and, on CTC graphs, blank skipping."""
    from hclg.lattice.generation import LatticeDecoder
    from hclg.search.options import DecoderOptions

    for skip in (None, 0.9) if kind == "log-posteriors" else (None,):
        dec = LatticeDecoder(graph, DecoderOptions(input_kind=kind, blank_skip_threshold=skip))
        for bias in (None, [("cat and", 2.0)]):
            dec.decode(x, bias=bias)
            s = dec.stream("warm-up", bias=bias)
            for i in range(0, len(x), 7):
                s.accept(x[i:i + 7])
                s.partial()
                s.is_endpoint()
            s._compact()  # (the records of 60 frames stay below the compaction threshold)
            s.finalize()
            if skip is None:
                s = dec.stream("warm-up", keep_loglikes=True, bias=bias)
                s.accept(x)
                dec.finalize_lattice(s)
