"""The CTC half of `make demo` (issue 19, part 1): the AN4 CTC model's held-out posteriors
shipped in examples/an4, its TLG compiled with the model's tokens and frame rate, decoded
with the blank penalty tuned on the held-out utterances (benchmarks/real.py --only tune)."""

import numpy as np
import pytest
from click.testing import CliRunner

import kaldi_decoder
import kaldifst
from helpers import EXAMPLE
from oracles.kaldi_recipes import expand_columns, kaldi_faster_decode
from hclg.cli import main
from hclg.scoring import read_text
from hclg.search.decoder import Decoder
from hclg.search.matrix_readers import iter_matrices
from hclg.search.options import DecoderOptions


def run(*args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("ctc_demo")
    run("compile", "--topology", "ctc", "--lexicon", EXAMPLE / "ctc_lexicon.txt", "--tokens",
        EXAMPLE / "ctc_tokens.txt", "--lm", EXAMPLE / "lm_train_3gram.arpa", "--frame-subsampling-factor", 3, d / "g")
    run("decode", "--blank-penalty", 2, "-o", d / "hyp.txt", "--ctm", d / "hyp.ctm", "--lattice",
        f"ark,t:{d}/lat.txt", "--lattice-beam", 6, d / "g", f"ark:{EXAMPLE}/ctc_logprobs_demo.ark")
    return d


def test_demo_hypotheses_are_kaldis_faster_decoder_1best(demo):
    """Each shipped utterance's words are Kaldi's FasterDecoder's on the same TLG and the same
    likelihoods (the blank column 2 costlier), at the CTC defaults (beam 16, 7000, 20)."""
    hyp = read_text(demo / "hyp.txt")
    dec = Decoder(demo / "g", DecoderOptions(blank_penalty=2.0))
    kfst = kaldifst.StdVectorFst.read(str(demo / "g" / "HCLG.fst"))
    kdec = kaldi_decoder.FasterDecoder(kfst, kaldi_decoder.FasterDecoderOptions(beam=16.0, max_active=7000,
                                                                                min_active=20))
    words = dec.graph.words
    n = 0
    for utt, m in iter_matrices(f"ark:{EXAMPLE}/ctc_logprobs_demo.ark"):
        m = np.array(m, dtype=np.float32)
        m[:, 0] -= 2.0  # the blank penalty, by hand
        ids, _cost, final = kaldi_faster_decode(kdec, expand_columns(m, dec.graph.ilabel_to_column))
        assert final and hyp[utt] == [words.symbols[i] for i in ids], utt
        n += 1
    assert n == 12 and len(hyp) == 12


def test_demo_wer_and_times_in_the_models_30ms_frames(demo):
    out = run("wer", EXAMPLE / "text_ctc_demo", demo / "hyp.txt")
    assert "%WER 10.13 [ 8 / 79" in out  # 12 held-out utterances; the tuned blank penalty
    assert run("info", demo / "g").split("frame_subsampling_factor")[1].split()[0] == "3"
    # CTM times are in the model's 30 ms frames, kept with the graph: each CTM row is its
    # word's frames x 0.03 s (a decode told 1 frame per frame gives the same frames)
    dec = Decoder(demo / "g", DecoderOptions(blank_penalty=2.0))
    told = Decoder(demo / "g", DecoderOptions(blank_penalty=2.0, frame_subsampling_factor=1))
    assert (dec.frame_seconds, told.frame_seconds) == (pytest.approx(0.03), pytest.approx(0.01))
    ctm = [line.split() for line in (demo / "hyp.ctm").read_text().splitlines()]
    expected = []
    for utt, m in iter_matrices(f"ark:{EXAMPLE}/ctc_logprobs_demo.ark"):
        r, t = dec.decode(np.array(m), utt), told.decode(np.array(m), utt)
        assert (r.words, r.start_frames, r.end_frames) == (t.words, t.start_frames, t.end_frames)
        expected += [[utt, "1", f"{0.03 * s:.3f}", f"{0.03 * (e - s + 1):.3f}", w]
                     for w, s, e in zip(r.words, r.start_frames, r.end_frames)]
    assert ctm == expected and len(ctm) == 77


def test_demo_lattice_nbest_starts_with_the_1best(demo):
    out = run("lattice", "nbest", "-n", 3, "--graph", demo / "g", f"ark,t:{demo}/lat.txt")
    firsts = {line.split("\t")[0][:-2]: line.split("\t")[-1].split() for line in out.splitlines()
              if "\t" in line and line.split("\t")[0].endswith("-1")}
    assert firsts == read_text(demo / "hyp.txt")
