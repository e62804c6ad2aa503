"""A real Kaldi system opened as it is (tests/data/kaldi_mono_system: Kaldi's own
HCLG.fst, final.mdl, features and decode log; tests/data/kaldi_mono_lattices: the lattices
Kaldi's gmm-latgen-faster wrote for the same utterances).

The independent answers: Kaldi's decode log (1-best words and "Log-like per frame"),
Kaldi's lattices (the frame alignment, transition id by transition id, of the best path),
word times derived from that alignment as Kaldi's SplitToPhones + lattice-align-words do
(written here from Kaldi's rules, not with hclg's code), and kaldi-decoder's
FasterDecoder on the same HCLG.fst.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from helpers import ROOT
from oracles.kaldi_gmm import recipe_test_loglikes
from oracles.kaldi_rules import (
    KALDI_OPTIONS,
    assert_decodes_as_kaldi,
    assert_same_graph,
    kaldi_split_to_phones,
    kaldi_word_times,
    lattice_best_paths,
    read_decode_log,
    read_word_boundary,
)

from hclg.graph.kaldi_graph import import_kaldi_graph
from hclg.graph.kaldi_model import read_transition_model
from hclg.graph.symbols import SymbolTable
from hclg.search.decoder import Decoder

SYSTEM = ROOT / "tests" / "data" / "kaldi_mono_system"
LATS = ROOT / "tests" / "data" / "kaldi_mono_lattices" / "lat.1.gz"


@pytest.fixture(scope="module")
def kaldi_system(tmp_path_factory):
    out = import_kaldi_graph(SYSTEM / "graph", SYSTEM / "final.mdl", tmp_path_factory.mktemp("k") / "graph")
    return out, recipe_test_loglikes(SYSTEM / "final.mdl"), read_decode_log(SYSTEM / "decode.1.log")


def kaldi_best_paths(lmwt: float = 12.0, word_penalty: float = 0.0, with_cost: bool = False):
    return lattice_best_paths(LATS, lmwt, word_penalty, with_cost)


def word_boundary() -> dict[int, str]:
    return read_word_boundary(SYSTEM / "graph" / "phones" / "word_boundary.int")


def test_transition_model_is_read_as_kaldi_numbers_it():
    tm = read_transition_model(SYSTEM / "final.mdl")
    t = tm.transition_table()
    # graph/num_pdfs and disambig_tid.int (613, 614 = first ids past the model's) of the recipe
    assert tm.num_pdfs == 64 and t.num_transitions == 612
    # silence (phones 1-10): 5 emitting states, state 0 -> 0,1,2,3; its self-loop is tid 1
    assert t.self_loop_of[1] == 1 and list(t.to_state[1:5]) == [0, 1, 2, 3]
    assert np.allclose(np.exp(t.log_prob[1:5]).sum(), 1.0, atol=1e-5)


def test_kaldi_graph_decodes_to_kaldis_words_costs_and_alignments(kaldi_system):
    graph, ll, log = kaldi_system
    assert_decodes_as_kaldi(graph, ll, log, kaldi_best_paths())


def test_word_times_on_a_kaldi_graph_are_kaldis(kaldi_system):
    graph, ll, _ = kaldi_system
    dec = Decoder(graph, KALDI_OPTIONS)
    tm = read_transition_model(SYSTEM / "final.mdl")
    wb = word_boundary()
    best = kaldi_best_paths()
    checked = 0
    for utt in sorted(ll):
        r = dec.decode(ll[utt], utt)
        words, ali = best[utt]
        want = kaldi_word_times(ali, words, tm, wb)
        assert list(zip(r.start_frames, r.end_frames)) == want, utt
        checked += len(want)
    assert checked > 300


def test_same_1best_as_kaldi_decoders_faster_decoder_on_kaldis_const_fst(kaldi_system):
    import kaldi_decoder
    import kaldifst
    from oracles.kaldi_recipes import expand_columns, kaldi_faster_decode

    graph, ll, _ = kaldi_system
    dec = Decoder(graph, KALDI_OPTIONS)
    kfst = kaldifst.StdConstFst.read(str(SYSTEM / "graph" / "HCLG.fst"))  # Kaldi's own file: a ConstFst
    # min_active as hclg's (and LatticeFasterDecoder's) 200: FasterDecoder's own default is 20,
    # with which its beam loses R040_s1_53's best path (2538.98 against 2538.07)
    kdec = kaldi_decoder.FasterDecoder(kfst, kaldi_decoder.FasterDecoderOptions(beam=13.0, max_active=7000,
                                                                                min_active=200))
    for utt in sorted(ll):
        r = dec.decode(ll[utt], utt)
        words, cost, final = kaldi_faster_decode(kdec, expand_columns(dec.loglikes(ll[utt]), dec.graph.ilabel_to_column))
        assert final and not r.partial, utt
        assert list(r.word_ids) == words, utt
        assert r.cost == pytest.approx(cost, rel=1e-6), utt  # Kaldi adds in float32


def test_cli_imports_a_kaldi_graph_and_decodes_kaldi_likelihoods(kaldi_system, tmp_path):
    import kaldi_native_io
    from click.testing import CliRunner

    from hclg.cli import main

    _, ll, log = kaldi_system
    utts = sorted(ll)[:5]
    with kaldi_native_io.FloatMatrixWriter(f"ark:{tmp_path / 'loglikes.ark'}") as w:
        for u in utts:
            w.write(u, ll[u])
    r = CliRunner().invoke(main, ["import-kaldi", str(SYSTEM / "graph"), str(SYSTEM / "final.mdl"), str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["decode", str(tmp_path / "g"), f"ark:{tmp_path / 'loglikes.ark'}", "-o",
                                  str(tmp_path / "hyp.txt"), "--ctm", str(tmp_path / "hyp.ctm"), "--input-kind",
                                  "log-likelihoods", "--acoustic-scale", "0.083333", "--beam", "13", "--max-active", "7000"])
    assert r.exit_code == 0, r.output
    hyp = dict(line.split(" ", 1) for line in (tmp_path / "hyp.txt").read_text().splitlines())
    assert {u: hyp[u].split() for u in utts} == {u: log[u]["words"] for u in utts}
    # the CTM's first word: R040_s1_01's "the" from frame 0 to 38 (see test_word_times_on_a_kaldi_graph_are_kaldis)
    assert (tmp_path / "hyp.ctm").read_text().splitlines()[0] == "R040_s1_01 1 0.000 0.390 the"
    # a graph directory that is not Kaldi's says what it expected
    r = CliRunner().invoke(main, ["import-kaldi", str(tmp_path), str(SYSTEM / "final.mdl"), str(tmp_path / "g2")])
    assert r.exit_code != 0 and "expected a Kaldi graph directory" in r.output
    r = CliRunner().invoke(main, ["import-kaldi", str(SYSTEM / "graph"), str(SYSTEM / "graph" / "words.txt"),
                                  str(tmp_path / "g3")])
    assert r.exit_code != 0 and "words.txt" in r.output and "Traceback" not in r.output


def test_hclgs_h_and_self_loops_on_kaldis_lg_give_kaldis_alignments(kaldi_system, tmp_path):
    """H from Kaldi's transition model and the self-loops added by hclg (Kaldi's
    add-self-loops --reorder=true), on Kaldi's own L_disambig.fst and G.fst (composed and
    determinized by Kaldi's fstext code, as mkgraph.sh): the same alignment, transition id
    by transition id, as Kaldi's own HCLG.fst on every utterance."""
    import pywrapfst as fst
    from oracles.kaldi_recipes import kaldi_halg, kaldi_lg, to_pywrapfst

    import hclg.fst as hfst
    from hclg.graph.graph_dir import write_graph_dir
    from hclg.graph.h_transducer import add_self_loops, make_h_transducer
    from hclg.graph.symbols import SymbolTable

    kaldi_graph, ll, _ = kaldi_system
    table = read_transition_model(SYSTEM / "final.mdl").transition_table()
    phones = SymbolTable.read(SYSTEM / "graph" / "phones.txt")
    Ha, dis_labels = make_h_transducer(table, len(phones), tuple(i for i, p in enumerate(phones.symbols)
                                                                 if p.startswith("#")), 1.0)
    LG = kaldi_lg(fst.Fst.read(str(SYSTEM / "lang" / "L_disambig.fst")), fst.Fst.read(str(SYSTEM / "lang" / "G.fst")))
    HaLG = hfst.relabel_to_epsilon(to_pywrapfst(kaldi_halg(Ha, to_pywrapfst(LG))), dis_labels, "input", "rm")
    HCLG = add_self_loops(HaLG, table, 0.1)  # mkgraph.sh's --self-loop-scale
    i2c = table.pdf.copy()
    i2c[0] = -1
    ours = write_graph_dir(tmp_path / "g", HCLG, SymbolTable.read(SYSTEM / "graph" / "words.txt"), phones, i2c,
                           {"topology": "hmm", "self_loops": "reorder"}, (), table.as_arrays())
    a, b = Decoder(ours, KALDI_OPTIONS), Decoder(kaldi_graph, KALDI_OPTIONS)
    for utt in sorted(ll):
        ra, rb = a.decode(ll[utt], utt), b.decode(ll[utt], utt)
        assert ra.alignment == rb.alignment and ra.words == rb.words, utt
        assert ra.cost == pytest.approx(rb.cost, abs=0.01), utt  # arc weights rounded apart: < 1e-5 a frame


def test_lattice_ctm_on_kaldis_own_lattices_has_kaldis_word_times(kaldi_system, tmp_path):
    """`hclg lattice ctm` on the lattices Kaldi wrote, with the imported graph: each word's
    start and duration are those Kaldi's rules give on the lattice's best path (these
    were 0.12 s early on average when the phone boundaries were read in hclg's old order)."""
    from click.testing import CliRunner

    from hclg.cli import main

    graph, _, _ = kaldi_system
    tm = read_transition_model(SYSTEM / "final.mdl")
    wb = word_boundary()
    r = CliRunner().invoke(main, ["lattice", "ctm", "--graph", str(graph), "--acoustic-scale", str(1 / 12),
                                  "-o", str(tmp_path / "out.ctm"), f"ark:{LATS}"])
    assert r.exit_code == 0, r.output
    ctm: dict[str, list] = {}
    for line in (tmp_path / "out.ctm").read_text().splitlines():
        utt, _, start, dur, word, _conf = line.split()
        ctm.setdefault(utt, []).append((word, round(float(start) * 100), round(float(dur) * 100)))
    wsym = SymbolTable.read(SYSTEM / "graph" / "words.txt").symbols
    same = 0
    for utt, (words, ali) in kaldi_best_paths().items():
        want = [(wsym[w], s, e - s + 1) for w, (s, e) in zip(words, kaldi_word_times(ali, words, tm, wb))]
        if [w for w, _, _ in ctm[utt]] == [w for w, _, _ in want]:  # the MBR words are the best path's
            assert ctm[utt] == want, utt
            same += 1
    assert same >= 50


@pytest.mark.parametrize("penalty", [-1.0, 2.0, 5.0])
def test_word_insertion_penalty_at_decode_time_is_kaldis_lattice_add_penalty(kaldi_system, penalty):
    """Decoding with --word-insertion-penalty P finds the best path that Kaldi's scoring
    (lattice-add-penalty --word-ins-penalty=P, then the best path at LMWT 12) finds in
    Kaldi's own lattices, unless that lattice (beam 6) lacks the decoder's better path."""
    graph, ll, _ = kaldi_system
    dec = Decoder(graph, dataclasses.replace(KALDI_OPTIONS, word_insertion_penalty=penalty, alignment=False))
    plain = Decoder(graph, dataclasses.replace(KALDI_OPTIONS, alignment=False))
    best = kaldi_best_paths(word_penalty=penalty, with_cost=True)
    same = fewer = 0
    for utt in sorted(ll):
        r, r0 = dec.decode(ll[utt], utt), plain.decode(ll[utt], utt)
        words, _ali, cost = best[utt]
        if list(r.word_ids) == words:
            same += 1
        else:  # outside the lattice: the decoder's path must then be the cheaper one
            assert r.cost < cost + 1e-3, utt
        fewer += len(r.words) <= len(r0.words) if penalty > 0 else len(r.words) >= len(r0.words)
    assert same >= 50 and fewer == len(ll)
    if penalty == 5.0:  # it does change hypotheses
        assert any(dec.decode(ll[u], u).words != plain.decode(ll[u], u).words for u in sorted(ll))


@pytest.mark.parametrize("spec,lattices", [("ark", False), ("ark,t", False), ("ark", True)])
def test_cli_writes_kaldis_alignments(kaldi_system, tmp_path, spec, lattices):
    """--alignments: an archive Kaldi's own reader (kaldi-native-io) reads, holding the
    transition ids of the best path of Kaldi's lattices; --resume after a torn last entry
    cuts it and writes the rest once."""
    import kaldi_native_io
    from click.testing import CliRunner

    from hclg.cli import main

    graph, ll, _ = kaldi_system
    utts = sorted(ll)[:6]
    with kaldi_native_io.FloatMatrixWriter(f"ark:{tmp_path / 'loglikes.ark'}") as w:
        for u in utts:
            w.write(u, ll[u])
    args = ["decode", str(graph), f"ark:{tmp_path / 'loglikes.ark'}", "--input-kind", "log-likelihoods",
            "--acoustic-scale", "0.083333", "--beam", "13", "--max-active", "7000", "-o", str(tmp_path / "hyp.txt"),
            "--alignments", f"{spec}:{tmp_path / 'ali.ark'}"] + (["--lattice", f"ark:{tmp_path / 'lat.ark'}"] if lattices else [])
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    best = kaldi_best_paths()
    got = {k: list(v) for k, v in kaldi_native_io.SequentialInt32VectorReader(f"{spec}:{tmp_path / 'ali.ark'}")}
    assert got == {u: best[u][1] for u in utts}
    # an interrupted run: three text lines done, the fourth alignment torn
    whole = (tmp_path / "ali.ark").read_bytes()
    lines = (tmp_path / "hyp.txt").read_text().splitlines(keepends=True)
    (tmp_path / "hyp.txt").write_text("".join(lines[:3]))
    cut = whole.find(utts[3].encode()) + len(utts[3]) + 9
    (tmp_path / "ali.ark").write_bytes(whole[:cut])
    r = CliRunner().invoke(main, args + ["--resume"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "ali.ark").read_bytes() == whole


@pytest.mark.parametrize("max_active,min_active", [(100, 50), (20, 10)])
def test_binding_max_active_gives_kaldis_faster_decoder_1best(kaldi_system, max_active, min_active):
    """A --max-active that binds (it cuts the search's work) on a real Kaldi graph: the
    same words and costs as Kaldi's FasterDecoder on all 55 utterances. (On AN4's graph a
    few utterances still differ, see the README: the order tokens are visited in.)"""
    import kaldi_decoder
    import kaldifst
    from oracles.kaldi_recipes import expand_columns, kaldi_faster_decode

    graph, ll, _ = kaldi_system
    wide = Decoder(graph, dataclasses.replace(KALDI_OPTIONS, alignment=False))
    dec = Decoder(graph, dataclasses.replace(KALDI_OPTIONS, alignment=False, max_active=max_active, min_active=min_active))
    kfst = kaldifst.StdConstFst.read(str(SYSTEM / "graph" / "HCLG.fst"))
    kdec = kaldi_decoder.FasterDecoder(kfst, kaldi_decoder.FasterDecoderOptions(beam=13.0, max_active=max_active,
                                                                                min_active=min_active))
    work = [0, 0]
    for utt in sorted(ll):
        r = dec.decode(ll[utt], utt)
        work[0] += r.arcs_expanded
        work[1] += wide.decode(ll[utt], utt).arcs_expanded
        words, cost, _ = kaldi_faster_decode(kdec, expand_columns(dec.loglikes(ll[utt]), dec.graph.ilabel_to_column))
        assert list(r.word_ids) == words and r.cost == pytest.approx(cost, rel=1e-6), utt
    assert work[0] < 0.8 * work[1]  # it binds


@pytest.mark.parametrize("grammar", ["lm.arpa", "G.fst"])
def test_compile_with_kaldis_model_gives_kaldis_graph(kaldi_system, tmp_path, grammar):
    """`hclg compile --kaldi-model final.mdl --phones phones.txt` from the recipe's own
    lexicon.txt and lm.arpa (as Kaldi's prepare_lang + mkgraph.sh made HCLG.fst from them):
    the same words and frame alignments as Kaldi's HCLG.fst on all 55 utterances, costs
    within Kaldi's weight rounding, the same sum over all paths, and a graph no larger than
    Kaldi's. (The model's phones
    that the lexicon never uses, e.g. plain 'spn', must stay out of H: they once became
    free insertions, and 7 utterances differed.)"""
    from click.testing import CliRunner

    from hclg.cli import main

    kaldi_graph, ll, _ = kaldi_system
    args = ["compile", "-l", str(SYSTEM / "lang" / "lexicon.txt"), "-g", str(SYSTEM / "lang" / grammar),
            "--phones", str(SYSTEM / "graph" / "phones.txt"), "--kaldi-model", str(SYSTEM / "final.mdl"),
            "--position-dependent-phones", "--sil-phone", "sil", "--unk", "<UNK>", str(tmp_path / "g")]
    if grammar == "G.fst":
        r = CliRunner().invoke(main, args)
        assert r.exit_code != 0 and "--grammar-words" in r.output  # Kaldi's G.fst has no symbol table
        args[1:1] = ["--grammar-words", str(SYSTEM / "graph" / "words.txt")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    # the same weighted language too: the sum over every path of each graph (forward
    # algorithm) is the same to within Kaldi's weight quantisation (seen: 0.009 at most)
    assert_same_graph(tmp_path / "g", kaldi_graph, ll)


def test_lattice_sweep_on_kaldis_lattices_gives_kaldis_wer_files(kaldi_system):
    """`hclg lattice sweep` over Kaldi's own lat.1.gz with the imported graph: the %WER at
    each LM weight is the one in Kaldi's scoring wer_N file (local/score.sh, word
    insertion penalty 0), and no warning about the acoustic scale a sweep does not use."""
    from click.testing import CliRunner

    from hclg.cli import main

    graph, _, _ = kaldi_system
    kaldi = LATS.parent
    r = CliRunner().invoke(main, ["lattice", "sweep", "--graph", str(graph), "--ref", str(kaldi / "test_filt.txt"),
                                  "--lm-weights", "7:17", "--word-penalties", "0", f"ark:{LATS}"])
    assert r.exit_code == 0, r.output
    assert "WARNING" not in r.output
    mine = {int(f[0]): f[1] for f in (line.split() for line in r.output.splitlines()) if f and f[0].isdigit()}
    for n in (7, 10, 13, 17):
        wer = re.search(r"%WER (\S+)", (kaldi / f"wer_{n}").read_text()).group(1)
        assert mine[n] == wer, n


def test_word_times_from_word_boundary_int_without_align_lexicon(kaldi_system, tmp_path):
    """A Kaldi graph directory without phones/align_lexicon.* (mkgraph.sh copies only
    word_boundary.*): word times from the word-position phones, as lattice-align-words,
    are still Kaldi's on every utterance."""
    import shutil

    _, ll, _ = kaldi_system
    g = tmp_path / "kaldi_graph"
    shutil.copytree(SYSTEM / "graph", g)
    for name in ("align_lexicon.txt", "align_lexicon.int"):
        (g / "phones" / name).unlink()
    dec = Decoder(import_kaldi_graph(g, SYSTEM / "final.mdl", tmp_path / "hclg_graph"), KALDI_OPTIONS)
    assert dec.graph.align_lexicon() == {}
    tm = read_transition_model(SYSTEM / "final.mdl")
    for utt, (words, ali) in kaldi_best_paths().items():
        r = dec.decode(ll[utt], utt)
        assert list(zip(r.start_frames, r.end_frames)) == kaldi_word_times(ali, words, tm, word_boundary()), utt


def test_phone_ctm_is_kaldis_split_to_phones(kaldi_system, tmp_path):
    """--phone-ctm: each phone of the 1-best with its times, as Kaldi's ali-to-phones
    --ctm-output gives them from the alignment of Kaldi's lattices."""
    import kaldi_native_io
    from click.testing import CliRunner

    from hclg.cli import main

    graph, ll, _ = kaldi_system
    utts = sorted(ll)[:8]
    with kaldi_native_io.FloatMatrixWriter(f"ark:{tmp_path / 'loglikes.ark'}") as w:
        for u in utts:
            w.write(u, ll[u])
    r = CliRunner().invoke(main, ["decode", str(graph), f"ark:{tmp_path / 'loglikes.ark'}", "--input-kind",
                                  "log-likelihoods", "--acoustic-scale", "0.083333", "--beam", "13", "-o",
                                  str(tmp_path / "hyp.txt"), "--phone-ctm", str(tmp_path / "phones.ctm")])
    assert r.exit_code == 0, r.output
    table = read_transition_model(SYSTEM / "final.mdl").transition_table()
    names = SymbolTable.read(SYSTEM / "graph" / "phones.txt").symbols
    best = kaldi_best_paths()
    want = [f"{u} 1 {a * 0.01:.3f} {(b - a + 1) * 0.01:.3f} {names[p]}"
            for u in utts for p, a, b in kaldi_split_to_phones(best[u][1], table)]
    assert (tmp_path / "phones.ctm").read_text().splitlines() == want


def test_import_refuses_what_is_not_this_models_graph(tmp_path):
    """A graph with input labels past the model's transition ids (disambiguation symbols
    left in, or another model's graph), output labels past words.txt, or no phones.txt:
    each a message naming the file, nothing written."""
    import shutil

    import pywrapfst as fst

    from hclg.errors import GraphFormatError

    def graph_with(arc_text, name):
        g = tmp_path / name
        shutil.copytree(SYSTEM / "graph", g)
        c = fst.Compiler()
        print(arc_text, file=c)
        c.compile().write(str(g / "HCLG.fst"))
        return g

    g = graph_with("0 1 613 0\n1", "disambig")  # 613: disambig_tid.int's first id
    with pytest.raises(GraphFormatError, match="input label 613 but .* has 612 transition ids"):
        import_kaldi_graph(g, SYSTEM / "final.mdl", tmp_path / "out1")
    g = graph_with("0 1 5 999\n1", "words")
    with pytest.raises(GraphFormatError, match="output label 999 is not in words.txt"):
        import_kaldi_graph(g, SYSTEM / "final.mdl", tmp_path / "out2")
    (g / "phones.txt").unlink()
    with pytest.raises(GraphFormatError, match="no phones.txt"):
        import_kaldi_graph(g, SYSTEM / "final.mdl", tmp_path / "out3")
    assert not any((tmp_path / f"out{k}").exists() for k in (1, 2, 3))
