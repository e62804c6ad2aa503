"""``hclg wer`` is Kaldi's compute-wer: checked against compute-wer's own output on Kaldi's
scoring of real lattices (tests/data/kaldi_mono_lattices: wer_N from test_filt.txt and
N.tra), and its modes (strict, present, all) on hand-made cases."""

import pytest
from click.testing import CliRunner

from helpers import ROOT
from hclg.cli import main
from hclg.scoring import compute_wer

KALDI = ROOT / "tests" / "data" / "kaldi_mono_lattices"


def words_of(tra):
    sym = dict(line.split()[::-1] for line in open(KALDI / "words.txt"))
    out = []
    for line in open(tra):
        f = line.split()
        out.append(" ".join([f[0]] + [sym[x] for x in f[1:] if sym[x] != "<UNK>"]))  # as Kaldi's scoring
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("lmwt", [7, 10, 13, 17])
def test_same_output_as_kaldis_compute_wer_on_real_scoring(tmp_path, lmwt):
    hyp = tmp_path / "hyp.txt"
    hyp.write_text(words_of(KALDI / f"{lmwt}.tra"))
    r = CliRunner().invoke(main, ["wer", "--mode", "present", str(KALDI / "test_filt.txt"), str(hyp)])
    assert r.exit_code == 0, r.output
    kaldi = [line for line in (KALDI / f"wer_{lmwt}").read_text().splitlines() if not line.startswith("compute-wer")]
    assert r.output.splitlines() == kaldi


def test_modes_as_kaldi(tmp_path):
    ref, hyp = tmp_path / "ref", tmp_path / "hyp"
    ref.write_text("u1 a b c\nu2 d e\nu3 f\n")
    hyp.write_text("u1 a x c d\nu2 d e\n")
    r = CliRunner().invoke(main, ["wer", str(ref), str(hyp)])  # strict by default: u3 has no hypothesis
    assert r.exit_code == 1 and "no hypothesis for utterance 'u3'" in r.output and "%WER" not in r.output
    r = CliRunner().invoke(main, ["wer", "--mode", "present", str(ref), str(hyp)])
    assert r.output.splitlines() == ["%WER 40.00 [ 2 / 5, 1 ins, 0 del, 1 sub ] [PARTIAL]", "%SER 50.00 [ 1 / 2 ]",
                                     "Scored 2 sentences, 1 not present in hyp."]
    r = CliRunner().invoke(main, ["wer", "--mode", "all", str(ref), str(hyp)])
    assert r.output.splitlines() == ["%WER 50.00 [ 3 / 6, 1 ins, 1 del, 1 sub ] [PARTIAL]", "%SER 66.67 [ 2 / 3 ]",
                                     "Scored 3 sentences, 1 not present in hyp."]


def test_an_empty_hypothesis_file_is_not_a_perfect_score(tmp_path):
    ref, hyp = tmp_path / "ref", tmp_path / "hyp"
    ref.write_text("u1 a b c\n")
    hyp.write_text("")
    r = CliRunner().invoke(main, ["wer", str(ref), str(hyp)])
    assert r.exit_code == 1 and "no hypothesis for utterance 'u1'" in r.output
    r = CliRunner().invoke(main, ["wer", "--mode", "present", str(ref), str(hyp)])
    assert r.exit_code == 1 and "no utterance of the reference is in the hypothesis" in r.output
    res = compute_wer({"u1": ["a", "b", "c"]}, {}, mode="all")
    assert (res.errors, res.deletions, res.ref_words, res.wer) == (3, 3, 3, 100.0)
