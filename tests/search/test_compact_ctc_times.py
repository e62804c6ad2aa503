"""Word and token times on k2's compact CTC topology, which also reads a token twice in a
row (``o o``, no blank between) as two tokens. Independent answer: hand-checked frames of
peaked posteriors, where the path is certain.

The standard topology tells a repeat from a new token by the label before it; on the
compact one both read the token's label, so hclg gives the compact topology's repeats
labels of their own (``ctc_repeat_labels`` in the manifest), as Kaldi's self-loops have
transition ids of their own."""

from __future__ import annotations

import numpy as np
import pytest

from hclg.graph.compile import CompileOptions, compile_graph
from hclg.graph.graph_dir import load_graph
from hclg.lattice.ctm import ctm
from hclg.lattice.generation import LatticeDecoder
from hclg.search.options import DecoderOptions
from hclg.transcript.align import Aligner

TOKENS = ["<blk>", "b", "o", "k", "s"]
LEXICON = "book b o o k\nso s o\nok o k\n"
ARPA = """\\data\\
ngram 1=5

\\1-grams:
-0.6 </s>
-99 <s>
-0.6 book
-0.6 so
-0.6 ok

\\end\\
"""


def peaked(frames: str) -> np.ndarray:
    """Log posteriors where each frame's token (by its letter, '_' the blank) is near 1."""
    cols = [0 if c == "_" else TOKENS.index(c) for c in frames]
    x = np.full((len(cols), len(TOKENS)), -9.0, np.float32)
    x[np.arange(len(cols)), cols] = -0.01
    return x


# frames, words, first frames, last frames (a CTC word ends on its last token's first frame), tokens
CASES = [
    ("book__", ["book"], [0], [3], "book"),  # o o inside a word
    ("sobook_", ["so", "book"], [0, 2], [1, 5], "sobook"),
    ("soo_k__", ["so", "ok"], [0, 2], [1, 4], "sook"),  # o o across words
    ("_bo_ok_", ["book"], [1], [5], "book"),  # a blank between: read by both topologies alike
]


@pytest.fixture(scope="module", params=[False, True], ids=["static", "on-the-fly"])
def compact_graph(tmp_path_factory, request):
    d = tmp_path_factory.mktemp("compact")
    (d / "lexicon.txt").write_text(LEXICON)
    (d / "lm.arpa").write_text(ARPA)
    (d / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(TOKENS)))
    o = CompileOptions(topology="ctc", ctc_topo="compact", on_the_fly=request.param)
    return compile_graph(d / "lexicon.txt", d / "lm.arpa", d / "graph", o, tokens=d / "tokens.txt").path


@pytest.mark.parametrize("frames,words,starts,ends,tokens", CASES)
def test_word_and_token_times_on_the_compact_topology(compact_graph, frames, words, starts, ends, tokens):
    """1-best, lattice CTM, stream and forced alignment give the path's own word times and
    tokens. Before the repeat labels they read ``o o`` as one token: 'book' then did not
    split into its tokens, and the times fell back to where the words were output."""
    g = load_graph(compact_graph)
    assert g.manifest["ctc_repeat_labels"] > len(g.units)
    o = DecoderOptions(input_kind="log-posteriors", word_times=True, alignment=True, beam=20, min_active=0)
    dec = LatticeDecoder(compact_graph, o)
    x = peaked(frames)
    r = dec.decode(x)
    assert (list(r.words), list(r.start_frames), list(r.end_frames)) == (words, starts, ends)
    assert [p for p, _, _ in r.phones] == list(tokens)
    lat = dec.decode_lattice(x)[1]
    shift = lat.frame_seconds
    assert [(w.word, round(w.start / shift), round((w.start + w.duration) / shift) - 1) for w in ctm(lat, dec)] == \
        list(zip(words, starts, ends))
    s = dec.stream()
    for i in range(0, len(x), 2):
        s.accept(x[i:i + 2])
    rs = s.finalize()
    assert (list(rs.words), list(rs.start_frames), list(rs.end_frames)) == (words, starts, ends)
    a = Aligner(compact_graph, o).align(x, words)
    assert (list(a.result.start_frames), list(a.result.end_frames)) == (starts, ends)
