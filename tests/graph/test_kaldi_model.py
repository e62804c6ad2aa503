"""Kaldi's TransitionModel in its text form and current <Tuples> layout (a chain model's
topology: forward and self-loop pdfs apart), written by hand in the layout of Kaldi's
TransitionModel::Write; the transition ids and pdfs are worked out here by hand from
Kaldi's ComputeDerived rules. (The binary <Triples> form is read from a real model in
tests/search/test_kaldi_graph.py.)"""

import math

import numpy as np

import pytest

from helpers import ROOT

from hclg.errors import InputFormatError
from hclg.graph.kaldi_model import read_transition_model

CHAIN_TEXT = """<TransitionModel>
<Topology>
<TopologyEntry>
<ForPhones>
1 2
</ForPhones>
<State> 0 <ForwardPdfClass> 0 <SelfLoopPdfClass> 1 <Transition> 0 0.5 <Transition> 1 0.5 </State>
<State> 1 </State>
</TopologyEntry>
</Topology>
<Tuples> 2
1 0 0 3
2 0 2 1
</Tuples>
<LogProbs>
 [ 0 -0.2876821 -1.386294 -0.6931472 -0.6931472 ]
</LogProbs>
</TransitionModel>
"""


def test_text_tuples_chain_model(tmp_path):
    p = tmp_path / "final.mdl"
    p.write_text(CHAIN_TEXT)
    tm = read_transition_model(p)
    t = tm.transition_table()
    # transition state 1 (phone 1): ids 1 (0->0, the self-loop) and 2 (0->1); state 2: ids 3, 4
    assert t.num_transitions == 4 and tm.num_pdfs == 4 and tm.is_chain
    assert list(t.phone[1:]) == [1, 1, 2, 2]
    assert list(t.pdf[1:]) == [3, 0, 1, 2]  # a self-loop reads the self-loop pdf, the forward one the forward pdf
    assert list(t.is_final[1:]) == [False, True, False, True]
    assert list(t.self_loop_of) == [0, 1, 3]
    assert t.self_loop_log_prob[2] == pytest.approx(-0.2876821) and math.exp(t.log_prob[2]) == pytest.approx(0.25)


def test_a_model_whose_log_probs_do_not_fit_its_topology_is_refused(tmp_path):
    p = tmp_path / "final.mdl"
    p.write_text(CHAIN_TEXT.replace(" -0.6931472 -0.6931472 ]", " ]"))
    with pytest.raises(InputFormatError, match="gives 4 transition ids but <LogProbs> has 2 values"):
        read_transition_model(p)
    p.write_text(CHAIN_TEXT.replace("2 0 2 1\n", "7 0 2 1\n"))
    with pytest.raises(InputFormatError, match=r"transition state \(7, 0\) is not in the topology"):
        read_transition_model(p)


def test_a_chain_graph_is_decoded_at_acoustic_scale_one(tmp_path):
    """A Kaldi graph directory of a chain model imports with the chain topology recorded,
    so that its scores are read at acoustic scale 1.0, as Kaldi's chain decoding."""
    import pywrapfst as fst

    from hclg.graph.kaldi_graph import import_kaldi_graph
    from hclg.search.decoder import Decoder
    from hclg.search.options import DecoderOptions

    (tmp_path / "final.mdl").write_text(CHAIN_TEXT)
    g = tmp_path / "graph"
    g.mkdir()
    (g / "words.txt").write_text("<eps> 0\na 1\nb 2\n")
    (g / "phones.txt").write_text("<eps> 0\np1 1\np2 2\n")
    c = fst.Compiler()
    # "a" = phone 1: forward id 2 on its first frame, then its self-loop id 1; "b" = phone 2 (ids 4, 3)
    print("0 1 2 1 0.5\n1 1 1 0 0.1\n0 2 4 2 0.7\n2 2 3 0 0.1\n1\n2", file=c)
    c.compile().write(str(g / "HCLG.fst"))
    dec = Decoder(import_kaldi_graph(g, tmp_path / "final.mdl", tmp_path / "hg"),
                  DecoderOptions(input_kind="log-likelihoods", alignment=True))
    assert dec.acoustic_scale == 1.0 and dec.frame_seconds == pytest.approx(0.03)  # chain: 3 frames an output
    ll = np.log(np.array([[0.1, 0.1, 0.7, 0.1], [0.1, 0.6, 0.2, 0.1], [0.1, 0.6, 0.2, 0.1]], np.float32))
    r = dec.decode(ll)  # b: pdf 2 then pdf 1 twice, at scale 1
    assert r.words == ("b",) and r.alignment == (4, 3, 3)
    assert r.cost == pytest.approx(0.7 + 0.2 - math.log(0.7) - 2 * math.log(0.6), abs=1e-5)


@pytest.mark.parametrize("binary", [False, True])
def test_priors_of_an_nnet3_model_are_read_without_the_network(tmp_path, binary):
    """`--priors final.mdl`: the vector AmNnetSimple::Write puts after <Priors>, at the end
    (here after a stand-in network section: no real nnet3 model is among the fixtures)."""
    import struct

    from hclg.search.likelihoods import read_priors

    priors = np.array([0.5, 0.3, 0.2, 0.0], np.float32)
    if binary:
        net = b"<Nnet3> input-node name=input dim=40 </Nnet3> "
        body = (b"<LeftContext> \x04" + struct.pack("<i", 2) + b"<RightContext> \x04" + struct.pack("<i", 2)
                + b"<Priors> FV \x04" + struct.pack("<i", 4) + priors.tobytes())
        real = (ROOT / "tests" / "data" / "kaldi_mono_system" / "final.mdl").read_bytes()
        tm = real[: real.index(b"</TransitionModel> ") + len(b"</TransitionModel> ")]
        (tmp_path / "final.mdl").write_bytes(tm + net + body)
    else:
        (tmp_path / "final.mdl").write_text(CHAIN_TEXT + "<Nnet3>\ninput-node name=input dim=40\n</Nnet3>\n"
                                            "<LeftContext> 2 <RightContext> 2 <Priors>  [ 0.5 0.3 0.2 0 ]\n")
    lp = read_priors(tmp_path / "final.mdl")
    assert np.allclose(np.exp(lp[:3]), [0.5, 0.3, 0.2]) and lp[3] < -40
    (tmp_path / "gmm.mdl").write_text(CHAIN_TEXT)
    with pytest.raises(InputFormatError, match="no priors in this model file"):
        read_priors(tmp_path / "gmm.mdl")
