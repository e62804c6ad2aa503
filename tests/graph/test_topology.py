import random

import numpy as np
import pytest
import pywrapfst as fst
from helpers import best, ctc_collapse, linear, random_inputs

from hclg.errors import InputFormatError
from hclg import fst as hfst
from hclg.graph.lexicon import make_lexicon_fst, read_lexicon
from hclg.graph.grammar import phrases_to_fst
from hclg.graph.ctc_topology import make_ctc_topo
from hclg.graph.h_transducer import add_self_loops, make_h_transducer
from hclg.graph.hmm_topology import CHAIN, KALDI_3STATE, make_transition_table, read_kaldi_topo, read_transition_table


@pytest.mark.parametrize("blank", [0, 2])
def test_standard_ctc_topo_reads_exactly_the_collapse(blank):
    T = make_ctc_topo(4, blank)
    rng = random.Random(0)
    for _ in range(200):
        x = [rng.randrange(4) + 1 for _ in range(rng.randrange(1, 9))]
        assert best(T, x)[1] == ctc_collapse(x, blank + 1)
        c = fst.compose(linear(x), T.copy().arcsort("ilabel"))
        # and no other output string: the output projection is that one string
        proj = c.copy().project("output").rmepsilon()
        assert fst.equivalent(fst.determinize(proj), linear(ctc_collapse(x, blank + 1)))


def test_compact_ctc_topo_accepts_the_collapse_with_fewer_arcs():
    T = make_ctc_topo(6, 0, compact=True)
    S = make_ctc_topo(6, 0)
    assert hfst.size(T)[1] < hfst.size(S)[1]
    rng = random.Random(1)
    for _ in range(100):
        x = [rng.randrange(6) + 1 for _ in range(rng.randrange(1, 9))]
        c = fst.compose(fst.compose(linear(x), T.copy().arcsort("ilabel")), linear(ctc_collapse(x, 1)).arcsort("ilabel"))
        assert c.num_states() > 0


def kaldi_topo_text():
    return """<Topology>
<TopologyEntry>
<ForPhones> 1 2 </ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.6 <Transition> 1 0.3 <Transition> 2 0.1 </State>
<State> 1 <PdfClass> 1 <Transition> 1 0.5 <Transition> 2 0.5 </State>
<State> 2 </State>
</TopologyEntry>
<TopologyEntry>
<ForPhones> sil </ForPhones>
<State> 0 <ForwardPdfClass> 0 <SelfLoopPdfClass> 1 <Transition> 0 0.5 <Transition> 1 0.5 </State>
<State> 1 </State>
</TopologyEntry>
</Topology>
"""


def test_read_kaldi_topo_and_table(tmp_path):
    p = tmp_path / "topo"
    p.write_text(kaldi_topo_text())
    h = read_kaldi_topo(p, ("a", "b", "sil"))
    assert h["a"] is h["b"] and h["a"].num_states == 3 and (0, 2, 0.1) in h["a"].transitions
    assert h["sil"].forward_pdf_class == (0,) and h["sil"].self_loop_pdf_class == (1,)
    t = tmp_path / "t.txt"
    t.write_text("# c\nAA 0 0 0.8\nAA 0 1 0.2\nAA 1 1 0.5\nAA 1 2 0.5\n")
    assert read_transition_table(t)["AA"].num_states == 3
    t.write_text("AA 0 0 0.8\nAA 0 x 0.2\n")
    with pytest.raises(InputFormatError, match=r"t.txt:2: expected integers"):
        read_transition_table(t)


@pytest.mark.parametrize("topo", ["kaldi-3state", "file", "chain"])
def test_hmm_graph_path_costs_are_hmm_log_probs(tiny_lexicon, tmp_path, topo):
    """With both scales 1, the best cost of a transition-id sequence is exactly
    -sum log p over its transitions (brute force from the table), self-loops included."""
    lex = read_lexicon(tiny_lexicon)
    L = make_lexicon_fst(lex, sil_prob=0.0)
    if topo == "file":
        p = tmp_path / "topo"
        p.write_text(kaldi_topo_text().replace("<ForPhones> 1 2 </ForPhones>", "<ForPhones> k ae t h n d </ForPhones>"))
        hmms = read_kaldi_topo(p, ())
    else:
        hmms = {p: {"kaldi-3state": KALDI_3STATE, "chain": CHAIN}[topo] for p in lex.phones}
    table = make_transition_table(L.phones.symbols, hmms, None)
    Ha, dis = make_h_transducer(table, len(L.phones), L.disambig_phones, 1.0)
    G = phrases_to_fst([["cat", "and", "hat"]], L.words)
    HLG = hfst.compose(Ha, hfst.compose(L.fst, G, "LG"), "HLG")
    HLG = hfst.relabel_to_epsilon(HLG, dis, "input", "rm")
    HCLG = add_self_loops(HLG, table, 1.0)
    n = 0
    for x in random_inputs(HCLG, 30, seed=3):
        cost, out = best(HCLG, x)
        assert [L.words.symbols[o] for o in out] == ["cat", "and", "hat"]
        assert cost == pytest.approx(-sum(table.log_prob[t] for t in x), abs=1e-3)
        # each phone instance ends with a transition to its final state
        assert sum(table.is_final[t] for t in x) == 9
        n += len(x)
    assert n > 30 * 9
    # pdfs: self-loop and forward of the chain topology read different columns
    if topo == "chain":
        loops = table.to_state == table.hmm_state
        assert set(table.pdf[loops]).isdisjoint(table.pdf[~loops & (np.arange(len(loops)) > 0)])
