"""Per-request biasing (hotwords). Independent answers: phrase occurrences counted by
brute force over word sequences; and exact Viterbi (OpenFst: the frame lattice composed
with the graph and with the biasing automaton written out as an FST, shortest path)."""

from __future__ import annotations

import numpy as np
import pytest
import pywrapfst as fst
from helpers import frame_lattice, shortest

from hclg.errors import DecodeError, InputFormatError
from hclg.graph.symbols import SymbolTable
from hclg.search.bias import bias_step, compile_bias, read_hotwords
from hclg.search.decoder import Decoder
from hclg.search.options import DecoderOptions

VOCAB = ["<eps>", "a", "b", "c", "d"]


def occurrences_boost(seq, phrases):
    """Sum of the boosts of every occurrence (overlaps included) of every phrase in seq."""
    total = 0.0
    for p, boost in phrases:
        p = p.split()
        total += boost * sum(seq[i:i + len(p)] == p for i in range(len(seq) - len(p) + 1))
    return total


def run(bias, words, seq):
    s, cost = 0, 0.0
    for w in seq:
        s, c = bias_step(bias, s, words.id(w))
        cost += c
    return cost + bias.phi[s]


def test_a_path_gains_exactly_the_boosts_of_the_phrases_it_says():
    """Every word sequence's total cost (steps + final give-back) is minus the boosts of
    all its phrase occurrences, overlapping and nested phrases included; a half-matched
    phrase nets nothing."""
    words = SymbolTable(tuple(VOCAB))
    rng = np.random.default_rng(5)
    for _ in range(60):
        phrases = []
        for _ in range(rng.integers(1, 6)):
            p = " ".join(VOCAB[k] for k in rng.integers(1, 5, rng.integers(1, 4)))
            phrases.append((p, float(rng.integers(1, 9)) / 2))
        bias = compile_bias(phrases, words)
        for _ in range(40):
            seq = [VOCAB[k] for k in rng.integers(1, 5, rng.integers(0, 9))]
            assert run(bias, words, seq) == pytest.approx(-occurrences_boost(seq, phrases), abs=1e-9), (phrases, seq)


def test_least_step_cost_bounds_every_step_on_the_word():
    """``least`` (what the search drops a word arc by without stepping the automaton) is
    below every step's cost on the word from every state, by brute force over random
    phrase sets (overlapping and nested phrases); 0 for a word of no phrase, and for a
    word only ever first in a phrase, the cost of its step from state 0 (a word further
    in a phrase gets a looser bound: the credit held before it is not taken off)."""
    words = SymbolTable(tuple(VOCAB + ["e"]))
    rng = np.random.default_rng(9)
    for _ in range(60):
        phrases = [(" ".join(VOCAB[k] for k in rng.integers(1, 5, rng.integers(1, 4))), float(rng.integers(1, 9)) / 2)
                   for _ in range(rng.integers(1, 6))]
        bias = compile_bias(phrases, words)
        for w in range(1, len(words)):
            costs = [bias_step(bias, s, w)[1] for s in range(bias.num_states)]
            assert bias.least[w] <= min(costs)
            if all(words.symbols[w] not in p.split()[1:] for p, _ in phrases):  # only ever a phrase's first
                assert bias.least[w] == pytest.approx(min(costs[0], 0.0), abs=1e-9)
        assert bias.least[words.id("e")] == 0.0


def test_partial_matches_are_credited_early_and_given_back():
    words = SymbolTable(tuple(VOCAB))
    bias = compile_bias([("a b c", 3.0)], words)
    s1, c1 = bias_step(bias, 0, words.id("a"))
    s2, c2 = bias_step(bias, s1, words.id("b"))
    assert c1 == pytest.approx(-1.0) and c2 == pytest.approx(-1.0)  # a third of the boost a word
    s3, c3 = bias_step(bias, s2, words.id("d"))  # the match fails: the credit goes back
    assert s3 == 0 and c3 == pytest.approx(2.0)


def test_a_phrase_said_goes_on_in_the_context_of_none_started():
    """A phrase's end with no longer phrase through it, failing to a state without credit,
    is that state: after 'a' or 'c d' the automaton is back in state 0 (as a path that
    never started a phrase), at the cost of the boosts; after 'b c' it is not, since 'c'
    may still start 'c d' (its credit held). It failed before: each phrase said was a
    context of its own, so a search kept a token per phrase said at every graph state."""
    words = SymbolTable(tuple(VOCAB))
    bias = compile_bias([("a", 3.0), ("b c", 2.0), ("c d", 1.0)], words)
    a, b, c, d = (words.id(w) for w in "abcd")
    assert bias_step(bias, 0, a) == (0, pytest.approx(-3.0))
    s, cost = bias_step(bias, 0, c)
    assert s != 0 and bias_step(bias, s, d) == (0, pytest.approx(-1.0 - cost))  # credit 0.5, then the rest
    s, _ = bias_step(bias, bias_step(bias, 0, b)[0], c)
    assert s != 0 and bias_step(bias, s, d) == (0, pytest.approx(-1.0))  # 'c d' completed from there


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_one_word_hotwords_keep_the_tokens_of_the_plain_search(tiny_graphs, kind):
    """With no pruning, one-word phrases move no token to a context of its own: the biased
    search expands exactly the plain search's tokens (it expanded more before: a token per
    phrase said at each state)."""
    dec = Decoder(tiny_graphs[0] if kind == "hmm" else tiny_graphs[1],
                  DecoderOptions(beam=1e4, min_active=0, input_kind="log-likelihoods", acoustic_scale=1.0))
    bias = dec.compile_bias([("hat", 1.5), ("cat", 2.0), ("and", 0.5)])
    rng = np.random.default_rng(3)
    for T in (10, 20, 30):
        ll = rng.normal(0, 2, size=(T, dec.graph.num_columns)).astype(np.float32)
        assert dec.decode(ll, bias=bias).tokens_expanded == dec.decode(ll).tokens_expanded


def to_fst(bias, n_words):
    """The automaton as a word transducer (every state reads every word; final cost phi)."""
    c = fst.Compiler()
    lines = []
    for s in range(bias.num_states):
        for w in range(1, n_words):
            d, cost = bias_step(bias, s, w)
            lines.append(f"{s} {d} {w} {w} {float(cost)!r}")
        lines.append(f"{s} {float(bias.phi[s])!r}")
    print("\n".join(lines), file=c)
    return c.compile()


def exhaustive_best_biased(graph_path, i2c, ll, bias_fst):
    g = fst.Fst.read(str(graph_path / "HCLG.fst"))
    g.arcsort("ilabel")
    fg = fst.compose(frame_lattice(i2c, ll), g)
    fg.arcsort("olabel")
    return shortest(fst.compose(fg, bias_fst)) or (float("inf"), None)


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_biased_decode_is_exact_viterbi_over_graph_and_bias(tiny_graphs, kind):
    path = tiny_graphs[0] if kind == "hmm" else tiny_graphs[1]
    dec = Decoder(path, DecoderOptions(beam=1e4, min_active=0, input_kind="log-likelihoods", acoustic_scale=1.0))
    phrases = [("cat and", 4.0), ("hat", 1.5), ("and hat", 2.5), ("at cat", 6.0)]
    bias = dec.compile_bias(phrases)
    bfst = to_fst(bias, len(dec.graph.words))
    rng = np.random.default_rng(1)
    checked = changed = 0
    for T in [5, 9, 12, 15, 20, 25, 30] * 3:
        ll = rng.normal(0, 2, size=(T, dec.graph.num_columns)).astype(np.float32)
        r = dec.decode(ll, bias=bias)
        cost, words = exhaustive_best_biased(path, dec.graph.ilabel_to_column, ll, bfst)
        assert r.partial == (not np.isfinite(cost))
        if not r.partial:
            assert r.cost == pytest.approx(cost, abs=1e-3)
            assert list(r.word_ids) == words
            plain = dec.decode(ll)
            changed += plain.words != r.words
            checked += 1
    assert checked >= 10 and changed >= 1  # the boosts do change some answers


def test_no_phrases_change_nothing_and_boost_is_exact_on_real_scores(an4_graph):
    import kaldi_native_io
    from helpers import EXAMPLE

    dec = Decoder(an4_graph, DecoderOptions(input_kind="log-likelihoods"))
    for utt, m in kaldi_native_io.SequentialFloatMatrixReader(f"ark:{EXAMPLE / 'loglikes_demo.ark'}"):
        m = np.array(m)
        plain = dec.decode(m, utt)
        none = dec.decode(m, utt, bias=[])
        assert (none.words, none.cost, none.start_frames) == (plain.words, plain.cost, plain.start_frames)
        said = dec.decode(m, utt, bias=[(" ".join(plain.words[:2]), 5.0)])  # a phrase the best path says
        assert said.words == plain.words and said.cost == pytest.approx(plain.cost - 5.0, abs=1e-4)
        assert said.graph_cost == pytest.approx(plain.graph_cost - 5.0, abs=1e-4)


@pytest.mark.parametrize("beam", [13.0, 8.0])
def test_a_phrase_no_path_says_leaves_the_search_as_it_was(an4_graph, beam):
    """A phrase of a word the graph never outputs (one past its words.txt): the biased
    search (a (state, automaton state) pair a token) expands exactly the tokens and arcs
    of the unbiased one, 1-best and lattice search alike. Before the next frame's first
    cutoff took a word arc's context cost (the best token's own step), the biased search
    left word arcs out of it, and its looser cutoff kept more tokens alive."""
    import kaldi_native_io
    from helpers import EXAMPLE

    from hclg.lattice.generation import LatticeDecoder

    dec = LatticeDecoder(an4_graph, DecoderOptions(input_kind="log-likelihoods", beam=beam, lattice_beam=6))
    hot = compile_bias([("NEVER", 3.0)], SymbolTable((*dec.graph.words.symbols, "NEVER")))
    assert hot.num_states == 2  # a real automaton: the search runs paired
    n = 0
    for utt, m in kaldi_native_io.SequentialFloatMatrixReader(f"ark:{EXAMPLE / 'loglikes_demo.ark'}"):
        m = np.array(m)
        plain, biased = dec.decode(m, utt), dec.decode(m, utt, bias=hot)
        assert (biased.words, biased.cost, biased.start_frames) == (plain.words, plain.cost, plain.start_frames)
        assert (biased.tokens_expanded, biased.arcs_expanded) == (plain.tokens_expanded, plain.arcs_expanded)
        lat_plain, lat_biased = dec.decode_lattice(m, utt)[0], dec.decode_lattice(m, utt, bias=hot)[0]
        assert lat_biased.arcs_expanded == lat_plain.arcs_expanded and lat_biased.words == lat_plain.words
        n += 1
    assert n == 6


def test_stream_takes_hotwords_too(an4_graph):
    import kaldi_native_io
    from helpers import EXAMPLE

    dec = Decoder(an4_graph, DecoderOptions(input_kind="log-likelihoods"))
    hot = [("ENTER SEVENTY", 8.0), ("L E X", 4.0)]
    for utt, m in kaldi_native_io.SequentialFloatMatrixReader(f"ark:{EXAMPLE / 'loglikes_demo.ark'}"):
        m = np.array(m)
        whole = dec.decode(m, utt, bias=hot)
        s = dec.stream(utt, bias=hot)
        for i in range(0, len(m), 13):
            s.accept(m[i:i + 13])
        r = s.finalize()
        assert r.words == whole.words and r.cost == pytest.approx(whole.cost, abs=1e-4)


def test_bad_hotwords_are_refused_clearly(an4_graph, tmp_path):
    dec = Decoder(an4_graph, DecoderOptions(input_kind="log-likelihoods"))
    with pytest.raises(DecodeError, match="'ZANZIBAR' not in the graph's words.txt"):
        dec.compile_bias(["GO ZANZIBAR"])
    for boost in (-1.0, 0.0, float("nan"), 1e300):  # 1e300 overflowed the search: every utterance failed
        with pytest.raises(DecodeError, match="the boost must be a number above 0 and at most 1000"):
            dec.compile_bias([("GO", boost)])
    for odd in ("<eps>", "<s>", "</s>", "#0"):  # in words.txt, but said by no path (before: boosted, silently)
        with pytest.raises(DecodeError, match=f"hotword 'GO {odd}': '{odd}' is no word a path says"):
            dec.compile_bias([f"GO {odd}"])
    (tmp_path / "h.txt").write_text("# names\nENTER SEVENTY 8\nL E X\n\nGO 1e400\n")
    with pytest.raises(InputFormatError, match=r"h.txt:5: the boost must be a number above 0 and at most 1000"):
        read_hotwords(tmp_path / "h.txt")
    (tmp_path / "h.txt").write_text("# names\nENTER SEVENTY 8\nL E X\n")
    h = str(tmp_path / "h.txt")
    assert read_hotwords(h) == [("ENTER SEVENTY", 8.0, f"{h}:2"), ("L E X", None, f"{h}:3")]


def test_a_hotwords_file_names_the_line_of_a_word_the_graph_lacks(an4_graph, tmp_path):
    """Before, the message named the phrase only (hclg decode --hotwords with a long file)."""
    from click.testing import CliRunner
    from helpers import EXAMPLE

    from hclg.cli import main

    hot = tmp_path / "hot.txt"
    hot.write_bytes(b"\xef\xbb\xbfENTER 2\n# names\nL E X\nGO ZANZIBAR 4\n")  # with a byte-order mark, as Notepad
    r = CliRunner().invoke(main, ["decode", str(an4_graph), f"ark:{EXAMPLE / 'loglikes_demo.ark'}", "--input-kind",
                                  "log-likelihoods", "-o", str(tmp_path / "o.txt"), "--hotwords", str(hot)])
    assert r.exit_code != 0 and "Traceback" not in r.output
    assert f"{hot}:4: hotword 'GO ZANZIBAR': 'ZANZIBAR' is not in the graph's words.txt" in r.output, r.output
    assert "is a static graph, which takes no words at decode time" in r.output  # (not: give its tokens)
    assert not (tmp_path / "o.txt").exists()
    dec = Decoder(an4_graph, DecoderOptions(input_kind="log-likelihoods"))
    phrases = read_hotwords(hot)
    assert phrases[0] == ("ENTER", 2.0, f"{hot}:1")  # the mark is not glued to the first word
    with pytest.raises(DecodeError, match=f"{hot}:4: hotword 'GO ZANZIBAR'"):
        dec.compile_bias(phrases)  # (a static graph: refused by the automaton's compiler too)
    assert dec.compile_bias(phrases[:2]).num_states == dec.compile_bias(["ENTER", "L E X"]).num_states


def test_cli_decode_and_stream_take_a_hotwords_file(an4_graph, tmp_path):
    from click.testing import CliRunner
    from helpers import EXAMPLE

    from hclg.cli import main

    (tmp_path / "hot.txt").write_text("ENTER SEVENTY 8\n")
    ark = f"ark:{EXAMPLE / 'loglikes_demo.ark'}"
    base = ["decode", str(an4_graph), ark, "--input-kind", "log-likelihoods"]
    r = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "plain.txt")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "hot.txt.out"), "--hotwords", str(tmp_path / "hot.txt")])
    assert r.exit_code == 0, r.output
    plain = dict(line.split(" ", 1) for line in (tmp_path / "plain.txt").read_text().splitlines())
    hot = dict(line.split(" ", 1) for line in (tmp_path / "hot.txt.out").read_text().splitlines())
    assert plain["an436-mjgm-b"] == "F ENTER SEVEN" and hot["an436-mjgm-b"] == "F ENTER SEVENTY"
    assert {u for u in plain if plain[u] != hot[u]} == {"an436-mjgm-b"}  # the others keep their words
    # the lattices carry the boosts: their best paths are the biased 1-best
    r = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "x.txt"), "--hotwords", str(tmp_path / "hot.txt"),
                                  "--lattice", f"ark,t:{tmp_path / 'lat.txt'}"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "x.txt").read_text() == (tmp_path / "hot.txt.out").read_text()
    r = CliRunner().invoke(main, ["lattice", "best", "--graph", str(an4_graph), "-o", str(tmp_path / "best.txt"),
                                  f"ark,t:{tmp_path / 'lat.txt'}"])
    assert r.exit_code == 0, r.output
    assert dict(line.split(" ", 1) for line in (tmp_path / "best.txt").read_text().splitlines()) == hot
    r = CliRunner().invoke(main, ["stream", str(an4_graph), ark, "--input-kind", "log-likelihoods", "--hotwords",
                                  str(tmp_path / "hot.txt"), "-o", str(tmp_path / "s.jsonl"), "--no-endpoint"])
    assert r.exit_code == 0, r.output
    assert '"text": "F ENTER SEVENTY"' in (tmp_path / "s.jsonl").read_text()


def letter_runs(words):
    """The spelled names of a sentence: runs of 3 or more single letters."""
    out, cur = [], []
    for w in [*words, ""]:
        if len(w) == 1 and w.isalpha():
            cur.append(w)
        else:
            if len(cur) >= 3:
                out.append(" ".join(cur))
            cur = []
    return out


def test_hotwords_raise_recall_of_spelled_names_on_real_ctc_output(an4_ctc_lang):
    """The AN4 phone CTC model's real posteriors, its 50 held-out utterances (3-gram TLG):
    the names spelled letter by letter in their references (24 distinct, 27 occurrences,
    as a user's contact list) as hotwords at boost 8. Measured: names found verbatim 22/27
    without, 25/27 with; WER of the utterances with a name 16/194 -> 11/194; the other 23
    utterances keep every word (8/97 errors before and after)."""
    import kaldi_native_io
    import kaldialign
    from helpers import SHARED_AN4

    dev = (SHARED_AN4 / "ctc_dev_utts.txt").read_text().split()
    mats = {k: np.array(m) for k, m in kaldi_native_io.SequentialFloatMatrixReader(
        f"ark:{SHARED_AN4 / 'ctc_train_logprobs.ark'}") if k in set(dev)}
    ref = {u: an4_ctc_lang.text[u] for u in dev}
    names = sorted({p for u in dev for p in letter_runs(ref[u])})
    dec = Decoder(an4_ctc_lang.graph)
    plain = {u: list(dec.decode(m, u).words) for u, m in mats.items()}
    bias = dec.compile_bias([(p, 8.0) for p in names])
    hot = {u: list(dec.decode(m, u, bias=bias).words) for u, m in mats.items()}

    def found(hyps):
        return sum(f" {p} " in f" {' '.join(hyps[u])} " for u in dev for p in letter_runs(ref[u]))

    def errors(hyps, utts):
        return sum(sum(a != b for a, b in kaldialign.align(ref[u], hyps[u], "*")) for u in utts)

    named = [u for u in dev if letter_runs(ref[u])]
    others = [u for u in dev if not letter_runs(ref[u])]
    assert (len(names), len(named), len(others)) == (24, 27, 23)
    assert (found(plain), found(hot)) == (22, 25)
    assert (errors(plain, named), errors(hot, named)) == (16, 11)
    assert all(hot[u] == plain[u] for u in others) and errors(plain, others) == 8
