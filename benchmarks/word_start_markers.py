"""What the word-start markers of on-the-fly HMM graphs (:mod:`hclg.graph.word_start_marks`)
cost in graph size, through left-biphone or triphone C: C o LG of a CMU-dictionary lexicon
(the pocketsphinx wheel's, word-position phones, optional silence) with a word loop, without
markers, with the after-word markers, and with the marker-only paths to every phone (for
triphones every two phones) a word may end with too. Every window is its own HMM instance
here (no tree at hand at this size), so the windows count is an upper bound on H's new
instances.

Usage:
    python benchmarks/word_start_markers.py [--words 20000] [--width 2|3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from hclg import fst as hfst
from hclg.graph.compile_options import CompileOptions
from hclg.graph.context import compose_context
from hclg.graph.lexicon import make_lexicon_fst, read_lexicon
from hclg.graph.ngram import word_loop
from hclg.graph.word_start_marks import mark_lexicon, word_end_pairs

try:
    from benchmarks.compile import pocketsphinx_model
except ImportError:  # run as a script
    from compile import pocketsphinx_model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=20000, help="the first N words of the dictionary")
    ap.add_argument("--width", type=int, default=2, choices=(2, 3), help="C's context width: left biphone, triphone")
    args = ap.parse_args()
    prons: dict[str, list[str]] = {}
    with open(pocketsphinx_model() / "cmudict-en-us.dict", encoding="utf-8") as fh:
        for line in fh:
            p = line.split()
            prons.setdefault(p[0].split("(")[0], []).append(" ".join(p[1:]))
    words = sorted(prons)[: args.words]
    with tempfile.TemporaryDirectory() as tmp:
        lex = Path(tmp) / "lexicon.txt"
        lex.write_text("".join(f"{w} {p}\n" for w in words for p in prons[w]) + "!SIL SIL\n")
        o = CompileOptions(sil_phone="SIL", on_the_fly=True, position_dependent_phones=True)
        print(f"{len(words)} words; C o LG, {'left-biphone' if args.width == 2 else 'triphone'} C")
        for variant in ("no markers", "after-word markers", "and paths to word-final phones"):
            L = make_lexicon_fst(read_lexicon(lex), 0.5, "SIL", True)
            marks = None
            if variant != "no markers":
                final = word_end_pairs(L.phones.symbols, True)
                if args.width == 2:
                    final = tuple(sorted({b for _, b in final}))
                marks = mark_lexicon(L, 0.5, "SIL", final if variant.startswith("and") else ())
            G = word_loop([L.words.id(w) for w in [*words, "!SIL"]], np.zeros(len(L.words)))  # lexicon side (weights aside)
            LG = hfst.determinize_log(hfst.compose(L.fst, G, "LG", ""), "det", "", o.max_determinize_mem, consume=True)
            LG = hfst.minimize_encoded(LG, "min", consume=True)
            t0 = time.perf_counter()
            CLG, windows = compose_context(LG, L.phones.symbols, L.disambig_phones, lambda *window: window,
                                           args.width, marks.labels if marks else ())
            arcs = sum(CLG.num_arcs(s) for s in CLG.states())
            print(f"  {variant:32s} {CLG.num_states():8d} states {arcs:9d} arcs {len(windows):6d} windows "
                  f"({time.perf_counter() - t0:.2f} s)")


if __name__ == "__main__":
    main()
