"""Forced alignment over transcript graphs (issue 15): against Kaldi's own alignments on
a real Kaldi system, against the CTC Viterbi of the token sequence on real CTC output, and
against the 1-best decode's word boundaries on AN4."""

import re

import kaldi_native_io
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import ROOT, SHARED_AN4

from hclg.cli import main
from hclg.errors import DecodeError
from hclg.search.options import DecoderOptions
from hclg.transcript.align import Aligner

SYSTEM = ROOT / "tests" / "data" / "kaldi_mono_system"


@pytest.fixture(scope="module")
def kaldi(tmp_path_factory):
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "search"))
    from test_kaldi_graph import kaldi_best_paths, kaldi_word_times, word_boundary

    from hclg.graph.kaldi_graph import import_kaldi_graph
    from hclg.graph.kaldi_model import read_transition_model
    from oracles.kaldi_gmm import recipe_loglikes

    graph = import_kaldi_graph(SYSTEM / "graph", SYSTEM / "final.mdl", tmp_path_factory.mktemp("k") / "g")
    u2s = dict(line.split() for line in (SYSTEM / "features" / "utt2spk").read_text().splitlines())
    ll = recipe_loglikes(SYSTEM / "features" / "raw_mfcc_test.1.ark", SYSTEM / "features" / "cmvn_test.ark", u2s,
                         SYSTEM / "final.mdl")
    words = {m.group(1): m.group(2).split() for m in
             re.finditer(r"^(R\S+) (.*)$", (SYSTEM / "decode.1.log").read_text(), re.M)}
    tm = read_transition_model(SYSTEM / "final.mdl")
    times = {u: kaldi_word_times(ali, w, tm, word_boundary()) for u, (w, ali) in kaldi_best_paths().items()}
    return graph, ll, words, kaldi_best_paths(), times


def test_aligning_kaldis_1best_words_gives_kaldis_alignment(kaldi):
    """The words of Kaldi's decode, aligned with the transcript graph (no LM): Kaldi's
    own alignment of them, transition id for transition id, and its word times."""
    graph, ll, words, best, times = kaldi
    a = Aligner(graph, DecoderOptions(beam=10.0, acoustic_scale=0.083333, input_kind="log-likelihoods"))
    for utt in sorted(ll):
        r = a.align(ll[utt], words[utt], utt)
        assert list(r.result.alignment) == best[utt][1], utt
        assert list(zip(r.result.start_frames, r.result.end_frames)) == times[utt], utt
        assert len(r.word_loglikes) == len(words[utt]) and all(g <= 0 for g in r.phone_gop)
    with pytest.raises(DecodeError, match=r"utterance 'x': the word 'zebra' of the transcript has no pronunciation"):
        a.align(ll[utt], ["the", "zebra"], "x")
    with pytest.raises(DecodeError, match="no alignment of its 9 words to its 5 frames"):
        a.align(ll[utt][:5], words["R040_s1_02"], "short")


def test_cli_align_writes_kaldi_alignments_and_ctms(kaldi, tmp_path):
    graph, ll, words, best, times = kaldi
    utts = sorted(ll)[:5]
    with kaldi_native_io.FloatMatrixWriter(f"ark:{tmp_path / 'll.ark'}") as w:
        for u in utts + ["no-text"]:
            w.write(u, ll[utts[0]] if u == "no-text" else ll[u])
    (tmp_path / "text").write_text("".join(f"{u} {' '.join(words[u])}\n" for u in utts))
    r = CliRunner().invoke(main, ["align", str(graph), str(tmp_path / "text"), f"ark:{tmp_path / 'll.ark'}",
                                  "--input-kind", "log-likelihoods", "--acoustic-scale", "0.083333",
                                  "--alignments", f"ark:{tmp_path / 'ali.ark'}", "--ctm", str(tmp_path / "w.ctm"),
                                  "--phone-ctm", str(tmp_path / "p.ctm"), "--scores", str(tmp_path / "s.txt")])
    assert r.exit_code == 1 and "utterance 'no-text': no transcript" in r.output and "aligned 5, failed 1" in r.output
    got = {k: list(v) for k, v in kaldi_native_io.SequentialInt32VectorReader(f"ark:{tmp_path / 'ali.ark'}")}
    assert got == {u: best[u][1] for u in utts}
    ctm = [line.split() for line in (tmp_path / "w.ctm").read_text().splitlines()]
    assert [(c[0], round(float(c[2]) * 100), c[4]) for c in ctm] == \
        [(u, s, w) for u in utts for w, (s, _) in zip(words[u], times[u])]
    assert len((tmp_path / "s.txt").read_text().splitlines()) == len(ctm)
    outputs = [tmp_path / n for n in ("ali.ark", "w.ctm", "p.ctm", "s.txt")]
    one = [p.read_bytes() for p in outputs]
    r = CliRunner().invoke(main, ["align", "-j", "2", str(graph), str(tmp_path / "text"), f"ark:{tmp_path / 'll.ark'}",
                                  "--input-kind", "log-likelihoods", "--acoustic-scale", "0.083333",
                                  "--alignments", f"ark:{tmp_path / 'ali.ark'}", "--ctm", str(tmp_path / "w.ctm"),
                                  "--phone-ctm", str(tmp_path / "p.ctm"), "--scores", str(tmp_path / "s.txt")])
    assert r.exit_code == 1 and "aligned 5, failed 1" in r.output
    assert [p.read_bytes() for p in outputs] == one  # two processes: the same files, in input order


def test_ctc_alignment_of_a_transcript_is_the_viterbi_of_its_tokens(an4_ctc_lang):
    """On real CTC output (AN4, one pronunciation per word): the transcript graph's
    alignment is the best frame path of the token sequence (hclg.transcript.ctc_loss's
    separate Viterbi)."""
    from hclg.search.matrix_readers import iter_matrices
    from hclg.transcript.ctc_loss import ctc_forced_align
    from hclg.transcript.forward import forward_backward

    lang, text = an4_ctc_lang, an4_ctc_lang.text
    a = Aligner(lang.graph, DecoderOptions(beam=10.0))
    n = 0
    for utt, m in iter_matrices(f"ark:{SHARED_AN4 / 'ctc_train_logprobs.ark'}"):
        if n == 60:
            break
        m = np.array(m, dtype=np.float32)
        r = a.align(m, text[utt], utt)
        # the graph built directly sums over the same paths as T composed with the transcript's L
        scaled = a.decoder.loglikes(m, utt)
        assert forward_backward(a.search_graph(text[utt], utt).search_graph(), scaled).log_likelihood == \
            pytest.approx(forward_backward(a.composed_search_graph(text[utt], utt).search_graph(), scaled).log_likelihood,
                          abs=1e-9)
        path, _ = ctc_forced_align(m, lang.targets(utt))
        assert list(r.result.alignment) == list(path + 1), utt  # graph label k + 1 is column k
        assert r.result.words == tuple(text[utt])
        n += 1


@pytest.mark.skipif(not SHARED_AN4.exists(), reason="needs ../shared/an4")
def test_an4_alignment_boundaries_agree_with_correct_decodes(an4_graph):
    """AN4 test references aligned on the GMM scores: where the 1-best decode is right,
    its word boundaries and the alignment's (reported in frames: 10 ms)."""
    from hclg.search.decoder import Decoder
    from hclg.search.matrix_readers import iter_matrices

    text = dict((ln.split()[0], ln.split()[1:]) for ln in (SHARED_AN4 / "text_test").read_text().splitlines())
    opts = DecoderOptions(input_kind="log-likelihoods", word_times=True)
    dec, a = Decoder(an4_graph, opts), Aligner(an4_graph, DecoderOptions(beam=10.0, input_kind="log-likelihoods"))
    diffs, correct, failed = [], 0, 0
    for utt, m in iter_matrices(f"ark:{SHARED_AN4 / 'loglikes_test.ark'}"):
        m = np.array(m, dtype=np.float32)
        d = dec.decode(m, utt)
        try:
            r = a.align(m, text[utt], utt).result
        except DecodeError:  # a reference word with no pronunciation in the example lexicon
            failed += 1
            continue
        if list(d.words) == text[utt]:
            correct += 1
            diffs += [abs(x - y) for x, y in zip(d.start_frames + d.end_frames, r.start_frames + r.end_frames)]
    print(f"{correct} correct decodes, mean |boundary difference| {10 * np.mean(diffs):.2f} ms; {failed} not alignable")
    assert correct >= 20 and np.mean(diffs) <= 1.0  # seen: 26 utterances, 0.00 ms


def test_direct_transcript_graphs_equal_the_composed_ones(kaldi):
    """The transcript graphs built directly as arrays (HMM: each phone's template with
    Kaldi's self-loop order) hold the same paths and weights as H composed with the
    transcript's L and Kaldi's add-self-loops: the same forward log-likelihood (the sum
    over every path) and the same alignment, on the 55 real utterances."""
    from hclg.transcript.forward import forward_backward

    graph, ll, words, best, _ = kaldi
    a = Aligner(graph, DecoderOptions(beam=10.0, acoustic_scale=0.083333, input_kind="log-likelihoods"))
    for utt in sorted(ll):
        scaled = a.decoder.loglikes(ll[utt], utt)
        direct = forward_backward(a.search_graph(words[utt], utt).search_graph(), scaled).log_likelihood
        composed = forward_backward(a.composed_search_graph(words[utt], utt).search_graph(), scaled).log_likelihood
        assert direct == pytest.approx(composed, abs=1e-5), utt  # float32 weights rounded apart
        assert np.isfinite(direct)


@pytest.mark.parametrize("cut", ["torn archive entry", "torn ctm line"])
def test_align_resume_after_an_interruption_gives_the_uninterrupted_outputs(kaldi, tmp_path, cut):
    """Each utterance's CTM, phone CTM and score lines are written before its alignment,
    the record of what is done: after a kill at either point, --resume writes exactly the
    outputs of an uninterrupted run."""
    graph, ll, words, _, _ = kaldi
    utts = sorted(ll)[:5]
    with kaldi_native_io.FloatMatrixWriter(f"ark:{tmp_path / 'll.ark'}") as w:
        for u in utts:
            w.write(u, ll[u])
    (tmp_path / "text").write_text("".join(f"{u} {' '.join(words[u])}\n" for u in utts))
    names = ("ali.ark", "w.ctm", "p.ctm", "s.txt")
    args = ["align", str(graph), str(tmp_path / "text"), f"ark:{tmp_path / 'll.ark'}", "--input-kind",
            "log-likelihoods", "--acoustic-scale", "0.083333", "--alignments", f"ark:{tmp_path / 'ali.ark'}",
            "--ctm", str(tmp_path / "w.ctm"), "--phone-ctm", str(tmp_path / "p.ctm"), "--scores", str(tmp_path / "s.txt")]
    assert CliRunner().invoke(main, args).exit_code == 0
    whole = {n: (tmp_path / n).read_bytes() for n in names}

    def upto(data, utt, extra=0):  # the bytes before the first of utt's lines or entry, and `extra` more
        return data[: data.index(utt.encode()) + extra]

    if cut == "torn archive entry":  # killed while writing utts[2]'s alignment: its lines are all written
        (tmp_path / "ali.ark").write_bytes(upto(whole["ali.ark"], utts[2], len(utts[2]) + 20))
        for n in names[1:]:
            (tmp_path / n).write_bytes(upto(whole[n], utts[3]))
    else:  # killed while writing utts[3]'s CTM: three alignments done, a half CTM line
        (tmp_path / "ali.ark").write_bytes(upto(whole["ali.ark"], utts[3]))
        (tmp_path / "w.ctm").write_bytes(upto(whole["w.ctm"], utts[3], len(utts[3]) + 5))
        for n in names[2:]:
            (tmp_path / n).write_bytes(upto(whole[n], utts[3]))
    r = CliRunner().invoke(main, args + ["--resume"])
    assert r.exit_code == 0, r.output
    assert ("skipped 2" if cut == "torn archive entry" else "skipped 3") in r.output
    assert {n: (tmp_path / n).read_bytes() for n in names} == whole
    r = CliRunner().invoke(main, args[:-8] + ["--resume"])
    assert r.exit_code != 0 and "--resume needs --alignments" in r.output
    before = (tmp_path / "text").read_bytes()
    r = CliRunner().invoke(main, args[:4] + ["--ctm", str(tmp_path / "text")])
    assert r.exit_code != 0 and "is also an input" in r.output and (tmp_path / "text").read_bytes() == before


def test_phone_scores_and_kaldis_scale_options(kaldi, tmp_path):
    """--phone-scores: each phone's average log-likelihood and goodness of pronunciation,
    recomputed here from the alignment, the model's pdfs and the scores; the transition and
    self-loop scales of compile-train-graphs reach the transcript graph's weights."""
    from hclg.graph.kaldi_model import read_transition_model

    graph, ll, words, best, _ = kaldi
    utt = sorted(ll)[0]
    with kaldi_native_io.FloatMatrixWriter(f"ark:{tmp_path / 'll.ark'}") as w:
        w.write(utt, ll[utt])
    (tmp_path / "text").write_text(f"{utt} {' '.join(words[utt])}\n")
    r = CliRunner().invoke(main, ["align", str(graph), str(tmp_path / "text"), f"ark:{tmp_path / 'll.ark'}",
                                  "--input-kind", "log-likelihoods", "--acoustic-scale", "0.083333",
                                  "--phone-scores", str(tmp_path / "ps.txt")])
    assert r.exit_code == 0, r.output
    pdf = read_transition_model(SYSTEM / "final.mdl").transition_table().pdf
    x = ll[utt].astype(np.float64)
    cols = pdf[np.array(best[utt][1])]
    frame_ll = x[np.arange(len(cols)), cols]
    post = frame_ll - np.logaddexp.reduce(x, axis=1)
    rows = [line.split() for line in (tmp_path / "ps.txt").read_text().splitlines()]
    assert rows and int(rows[-1][3]) == len(x) - 1
    for _, _, s, e, avg, gop in rows:
        s, e = int(s), int(e)
        assert float(avg) == pytest.approx(frame_ll[s:e + 1].mean(), abs=1e-3)
        assert float(gop) == pytest.approx(post[s:e + 1].mean(), abs=1e-3)
    table = read_transition_model(SYSTEM / "final.mdl").transition_table()
    for sls in (0.1, 1.0):
        a = Aligner(graph, DecoderOptions(beam=10.0, acoustic_scale=0.083333, input_kind="log-likelihoods"),
                    self_loop_scale=sls)
        arrays = a.search_graph(words[utt], utt)
        loops = arrays.e_ilabel == table.self_loop_of[table.trans_state[arrays.e_ilabel]]
        lp = table.log_prob[arrays.e_ilabel[loops]]
        np.testing.assert_allclose(arrays.e_weight[loops], -sls * lp, rtol=1e-5)


def test_ctc_word_delimiter_is_the_optional_unit_between_words(tmp_path):
    """A CTC graph with a word delimiter (wav2vec2's '|'): the transcript graph allows it
    between words as the compiled L does, so frames that read it align to it."""
    from hclg.graph.compile import compile_graph
    from hclg.graph.compile_options import CompileOptions
    from hclg.transcript.forward import forward_backward

    (tmp_path / "lex.txt").write_text("cat c a t\nhat h a t\n")
    (tmp_path / "g.txt").write_text("cat hat\n")
    (tmp_path / "tokens.txt").write_text("<blk> 0\nc 1\na 2\nt 3\nh 4\n| 5\n")
    compile_graph(tmp_path / "lex.txt", tmp_path / "g.txt", tmp_path / "g",
                  CompileOptions(topology="ctc", word_delimiter="|"), tokens=tmp_path / "tokens.txt")
    spelled = [1, 0, 2, 3, 5, 5, 4, 2, 0, 3]  # c <b> a t | | h a <b> t
    lp = np.full((len(spelled), 6), np.log(0.02))
    lp[np.arange(len(spelled)), spelled] = np.log(0.9)
    a = Aligner(tmp_path / "g", DecoderOptions(beam=10.0))
    r = a.align(lp, ["cat", "hat"], "u")
    assert r.result.words == ("cat", "hat") and [k - 1 for k in r.result.alignment] == spelled
    scaled = a.decoder.loglikes(lp, "u")
    assert forward_backward(a.search_graph(["cat", "hat"]).search_graph(), scaled).log_likelihood == pytest.approx(
        forward_backward(a.composed_search_graph(["cat", "hat"]).search_graph(), scaled).log_likelihood, abs=1e-9)
