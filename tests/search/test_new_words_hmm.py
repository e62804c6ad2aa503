"""Hotwords outside the lexicon, added to an on-the-fly HMM graph for a request
(hclg.graph.new_words_hmm). Independent answer: the graph compiled by the normal recipe
with the words in its lexicon and as unigrams of the LM at the cost the added words get:
the same 1-best, cost, word times and lattice at a wide beam. On real material: AN4's GMM
scores with two of its words left out of the lexicon."""

import types

import numpy as np
import pytest
from test_new_words import LEXICON, NEW, arpa

from hclg.graph.compile import compile_graph
from hclg.graph.compile_options import CompileOptions
from hclg.graph.graph_dir import graph_info, load_graph
from hclg.lattice import ops
from hclg.lattice.generation import LatticeDecoder
from hclg.search.decoder import Decoder
from hclg.search.options import DecoderOptions

PHONES = ["sil", "ae", "n", "d", "ax", "k", "t", "h", "z"]
# NEW's words: a phone twice in a row, a one-phone word, a phone no lexicon word has (z),
# two pronunciations, shared first phones, a word that is another's start (tt, ttk)


@pytest.fixture(scope="module", params=[{}, {"position_dependent_phones": True},
                                        {"hmm_topology": "chain", "sil_loop_prob": 0.3}, {"sil_prob": 0.0}],
                ids=["phones", "word-position-phones", "chain-hmm-silence-loops", "no-silence"])
def graphs(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("new_words_hmm")
    (d / "phones.txt").write_text("".join(p + "\n" for p in PHONES))
    lexicon = LEXICON + "!SIL sil\n"  # a word of the silence phone, as Kaldi's lexicons have
    (d / "lex.txt").write_text(lexicon)
    (d / "lex_all.txt").write_text(lexicon + "".join(f"{w} {p}\n" for w, ps in NEW.items() for p in ps))
    (d / "lm.arpa").write_text(arpa())
    (d / "lm_all.arpa").write_text(arpa(NEW))
    o = CompileOptions(sil_phone="sil", on_the_fly=True, **request.param)
    return {name: compile_graph(d / lex, d / lm, d / name, o, phones=d / "phones.txt").path
            for name, lex, lm in (("cut", "lex.txt", "lm.arpa"), ("all", "lex_all.txt", "lm_all.arpa"))}


def test_new_words_on_hmm_graphs_decode_as_if_the_lexicon_had_them(graphs):
    """Words follow words, silence and the start, and are followed by them; their
    phones' HMMs carry their self-loops as Kaldi's add-self-loops --reorder puts them.
    Costs agree to 1/2048 a frame: the compiled graph's weights are quantized to 1/1024
    before its encoded minimization (as Kaldi's), the added words' are not."""
    opts = DecoderOptions(input_kind="log-likelihoods", beam=40, max_active=100000, min_active=0, word_times=True,
                          lattice_beam=6)
    phrases = [(w, 2.0) for w in NEW]
    added = LatticeDecoder(graphs["cut"], opts).with_bias(phrases, NEW)
    compiled = LatticeDecoder(graphs["all"], opts).with_bias(phrases)
    g = load_graph(graphs["cut"])
    assert graph_info(graphs["cut"])["takes_new_words"] and len(g.word_start_costs()) == len(g.word_starts())
    rng = np.random.default_rng(0)
    said = set()
    for k in range(120):
        x = rng.normal(size=(int(rng.integers(6, 40)), g.num_columns)) * 3
        a, b = added.decode(x), compiled.decode(x)
        assert (a.words, a.start_frames, a.end_frames) == (b.words, b.start_frames, b.end_frames)
        tol = len(x) / 2048
        assert a.cost == pytest.approx(b.cost, abs=tol)
        if k < 30:
            la, lb = added.decode_lattice(x)[1], compiled.decode_lattice(x)[1]
            assert ops.best_path(la).word_names == ops.best_path(lb).word_names == a.words
            ca, cb = ({p.word_names: p.cost for p in ops.nbest(lat, 5)} for lat in (la, lb))
            for seq in ca.keys() & cb.keys():
                assert ca[seq] == pytest.approx(cb[seq], abs=tol)
            for c, other in ((ca, cb), (cb, ca)):  # the others only where they tie with the fifth
                assert all(c[seq] > max(other.values()) - tol for seq in c.keys() - other.keys())
        said |= set(a.words) & set(NEW)
    assert said == set(NEW)  # every added word won somewhere


def test_hmm_new_words_need_phones_with_hmms(graphs):
    dec = Decoder(graphs["cut"], DecoderOptions(input_kind="log-likelihoods"))
    with pytest.raises(Exception, match=r"hotword 'zz': its phones .* are not the graph's \('q.*' not a phone\)"):
        dec.with_bias(["zz"], {"zz": ["z q"]})
    with pytest.raises(Exception, match=r"'#0.*' not a phone"):
        dec.with_bias(["zz"], {"zz": ["z #0"]})


@pytest.fixture(scope="module")
def an4_gmm_otf(tmp_path_factory):
    """On-the-fly graphs of AN4's GMM system with its unigram LM, with and without FIFTY
    and RUBOUT in the lexicon, and the 130 test utterances' scores."""
    from helpers import SHARED_AN4

    if not SHARED_AN4.exists():
        pytest.skip("needs ../shared/an4")
    import kaldi_native_io

    a = SHARED_AN4
    d = tmp_path_factory.mktemp("an4_gmm_new_words")
    oov = ("FIFTY", "RUBOUT")
    lines = [ln for ln in (a / "lexicon.dic").read_text().splitlines() if ln.split()]
    (d / "cut.dic").write_text("".join(ln + "\n" for ln in lines if ln.split()[0].split("(")[0] not in oov))
    o = CompileOptions(hmm_topology=str(a / "transitions.txt"), pdf_map=str(a / "pdf_map.txt"), on_the_fly=True,
                       fillers=str(a / "fillers.dic"))
    full = compile_graph(a / "lexicon.dic", a / "lm_unigram.arpa", d / "full", o, phones=a / "phones.txt").path
    cut = compile_graph(d / "cut.dic", a / "lm_unigram.arpa", d / "cut", o, phones=a / "phones.txt").path
    prons: dict = {}
    for ln in lines:
        prons.setdefault(ln.split()[0].split("(")[0], []).append(" ".join(ln.split()[1:]))
    ref = {ln.split()[0]: ln.split()[1:] for ln in (a / "text_test").read_text().splitlines()}
    mats = {k: np.array(m) for k, m in kaldi_native_io.SequentialFloatMatrixReader(f"ark:{a / 'loglikes_test.ark'}")}
    return types.SimpleNamespace(cut=cut, full=full, oov=oov, prons={w: prons[w] for w in oov}, ref=ref, mats=mats)


def test_words_left_out_of_an4s_gmm_lexicon_come_back_as_hotwords(an4_gmm_otf):
    """AN4's real GMM scores, 130 test utterances, unigram LM, beam 13: FIFTY and RUBOUT
    (15 occurrences) left out of the lexicon are never found; given as hotwords with their
    pronunciations (default boost), 13 are, and every utterance's words and word times are
    those of the graph with them in its lexicon given the same hotwords. Measured: errors
    305/773 -> 293/773 (the compiled graph: 293 with the boost, 294 without)."""
    import kaldialign

    t = an4_gmm_otf
    opts = DecoderOptions(input_kind="log-likelihoods", beam=13.0, max_active=7000, word_times=True)
    cut, full = Decoder(t.cut, opts), Decoder(t.full, opts)
    plain = {u: cut.decode(m, u) for u, m in t.mats.items()}
    hot_dec, ref_dec = cut.with_bias(list(t.oov), t.prons), full.with_bias(list(t.oov))
    hot = {u: hot_dec.decode(m, u) for u, m in t.mats.items()}
    compiled = {u: ref_dec.decode(m, u) for u, m in t.mats.items()}

    def found(h):
        return sum(min(t.ref[u].count(w), list(h[u].words).count(w)) for u in t.ref for w in t.oov)

    def errors(h):
        return sum(sum(a != b for a, b in kaldialign.align(t.ref[u], list(h[u].words), "*")) for u in t.ref)

    assert sum(r.count(w) for r in t.ref.values() for w in t.oov) == 15
    assert (found(plain), found(hot), found(compiled)) == (0, 13, 13)
    assert (errors(plain), errors(hot)) == (305, 293)
    for u in t.ref:
        a, b = hot[u], compiled[u]
        assert (a.words, a.start_frames, a.end_frames) == (b.words, b.start_frames, b.end_frames)


def test_cli_decode_and_stream_add_words_to_an_hmm_graph(graphs, tmp_path):
    """``hclg decode`` and ``hclg stream`` with ``--hotword-lexicon`` on an HMM graph give
    the Python decoder's words and the compiled graph's word times."""
    import json

    import kaldi_native_io
    from click.testing import CliRunner

    from hclg.cli import main

    g = load_graph(graphs["cut"])
    rng = np.random.default_rng(5)
    mats = {f"u{k}": (rng.normal(size=(int(rng.integers(6, 40)), g.num_columns)) * 3).astype(np.float32)
            for k in range(15)}
    ark = str(tmp_path / "x.ark")
    with kaldi_native_io.FloatMatrixWriter(f"ark:{ark}") as w:
        for k, x in mats.items():
            w.write(k, x)
    (tmp_path / "hot.txt").write_text("".join(f"{w} 2\n" for w in NEW))
    (tmp_path / "hot_lex.txt").write_text("".join(f"{w} {p}\n" for w, ps in NEW.items() for p in ps))
    common = ["--hotwords", str(tmp_path / "hot.txt"), "--hotword-lexicon", str(tmp_path / "hot_lex.txt"),
              "--beam", "40", "--input-kind", "log-likelihoods"]
    r = CliRunner().invoke(main, ["decode", str(graphs["cut"]), f"ark:{ark}", *common, "-o", str(tmp_path / "hyp.txt"),
                                  "--ctm", str(tmp_path / "hyp.ctm")])
    assert r.exit_code == 0, r.output
    opts = DecoderOptions(input_kind="log-likelihoods", beam=40, word_times=True)
    ref = Decoder(graphs["all"], opts).with_bias([(w, 2.0) for w in NEW])
    want = {u: ref.decode(x, u) for u, x in mats.items()}
    hyps = dict((ln.split(" ", 1) + [""])[:2] for ln in (tmp_path / "hyp.txt").read_text().splitlines())
    assert hyps == {u: " ".join(res.words) for u, res in want.items()}
    assert any(set(res.words) & set(NEW) for res in want.values())
    ctm = [ln.split() for ln in (tmp_path / "hyp.ctm").read_text().splitlines()]
    starts = [(u, w, round(float(t) / 0.01)) for u, _, t, _, w, *_ in ctm]
    assert starts == [(u, w, s) for u, res in want.items() for w, s in zip(res.words, res.start_frames)]
    r = CliRunner().invoke(main, ["stream", str(graphs["cut"]), f"ark:{ark}", *common, "--no-partials",
                                  "--no-endpoint", "-o", str(tmp_path / "s.jsonl")])
    assert r.exit_code == 0, r.output
    finals = {j["utt"]: j["text"] for j in map(json.loads, (tmp_path / "s.jsonl").read_text().splitlines())
              if j.get("final")}
    assert finals == hyps


def test_a_word_added_to_a_real_kaldi_monophone_system(tmp_path):
    """A real Kaldi monophone system (tests/data/kaldi_mono_system: its final.mdl, lexicon,
    LM and the GMM scores of its 55 test utterances), compiled on the fly with the model's
    H and without 'shimmered' in the lexicon: the word is never found; added for the request
    with its pronunciation (default boost), every utterance's words and word times are those
    of the graph with the word in its lexicon given the same hotword (measured: 54 of 55
    utterances then say it)."""
    from helpers import ROOT
    from oracles.kaldi_gmm import recipe_test_loglikes

    system = ROOT / "tests" / "data" / "kaldi_mono_system"
    lines = (system / "lang" / "lexicon.txt").read_text().splitlines()
    (tmp_path / "cut.txt").write_text("".join(ln + "\n" for ln in lines if ln.split()[0] != "shimmered"))
    o = CompileOptions(kaldi_model=str(system / "final.mdl"), position_dependent_phones=True, sil_phone="sil",
                       on_the_fly=True)
    phones, lm = system / "graph" / "phones.txt", system / "lang" / "lm.arpa"
    full = compile_graph(system / "lang" / "lexicon.txt", lm, tmp_path / "full", o, phones=phones).path
    cut = compile_graph(tmp_path / "cut.txt", lm, tmp_path / "cut", o, phones=phones).path
    opts = DecoderOptions(input_kind="log-likelihoods", acoustic_scale=0.083333, beam=13.0, max_active=7000,
                          word_times=True)
    plain = Decoder(cut, opts)
    added = plain.with_bias(["shimmered"], {"shimmered": ["SH IH M ER D"]})
    compiled = Decoder(full, opts).with_bias(["shimmered"])
    said = 0
    for utt, m in recipe_test_loglikes(system / "final.mdl").items():
        a, b = added.decode(m, utt), compiled.decode(m, utt)
        assert (a.words, a.start_frames, a.end_frames) == (b.words, b.start_frames, b.end_frames)
        assert "shimmered" not in plain.decode(m, utt).words
        said += "shimmered" in a.words
    assert said == 54


def test_a_word_added_to_a_kaldi_lang_directory_graph(tmp_path):
    """The same Kaldi system's data/lang (its L_disambig.fst, whose start state's epsilons
    lead to the loop and silence states) compiled on the fly takes a word its lexicon
    lacks ('shimmer') as the graph compiled from its lexicon.txt does: the same words and
    word times on all 55 utterances."""
    from helpers import ROOT
    from oracles.kaldi_gmm import recipe_test_loglikes

    system = ROOT / "tests" / "data" / "kaldi_mono_system"
    o = CompileOptions(kaldi_model=str(system / "final.mdl"), position_dependent_phones=True, sil_phone="sil",
                       on_the_fly=True)
    lm = system / "lang" / "lm.arpa"
    from_lang = compile_graph(system / "lang", lm, tmp_path / "lang", o).path
    from_lexicon = compile_graph(system / "lang" / "lexicon.txt", lm, tmp_path / "lex", o,
                                 phones=system / "graph" / "phones.txt").path
    assert graph_info(from_lang)["takes_new_words"]
    opts = DecoderOptions(input_kind="log-likelihoods", acoustic_scale=0.083333, beam=13.0, max_active=7000,
                          word_times=True)
    word = {"shimmer": ["SH IH M ER"]}
    a, b = (Decoder(g, opts).with_bias([("shimmer", 8.0)], word) for g in (from_lang, from_lexicon))
    said = 0
    for utt, m in recipe_test_loglikes(system / "final.mdl").items():
        x, y = a.decode(m, utt), b.decode(m, utt)
        assert (x.words, x.start_frames, x.end_frames) == (y.words, y.start_frames, y.end_frames)
        said += "shimmer" in x.words
    assert said > 0
