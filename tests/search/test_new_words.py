"""Hotwords outside the lexicon, added to an on-the-fly CTC graph for a request
(hclg.graph.new_words). Independent answer: the graph compiled by the normal recipe with
the words in its lexicon and as unigrams of the LM at the cost the added words get (G's
least likely word's, history forgotten): the same 1-best, cost and word times at a wide
beam. On real material: AN4's CTC model with two of its words left out of the lexicon."""

import dataclasses
import itertools
import json
import os
import types

import numpy as np
import pytest
from click.testing import CliRunner

from hclg.cli import main
from hclg.errors import DecodeError
from hclg.graph.compile import compile_graph
from hclg.graph.compile_options import CompileOptions
from hclg.graph.graph_dir import graph_info, load_graph
from hclg.lattice import ops
from hclg.lattice.generation import LatticeDecoder
from hclg.search.decoder import Decoder
from hclg.search.options import DecoderOptions

ARPA = """\\data\\
ngram 1={n}
ngram 2=3

\\1-grams:
-1.0 </s>
-99 <s> -0.5
-0.7 cat -0.3
-0.8 hat -0.2
-0.9 and -0.25
-1.5 at -0.1
{extra}
\\2-grams:
-0.3 <s> cat
-0.4 cat and
-0.5 and hat

\\end\\
"""
LEXICON = "and ae n d\nand ax n\ncat k ae t\nhat h ae t\nat ae t\n"
TOKENS = ["<blk>", "ae", "n", "d", "ax", "k", "t", "h", "z"]
# a repeated token (t t), one token, a last token no lexicon word ends in (ae, z), two
# pronunciations, shared first tokens, a word that is another's start (tt, ttk)
NEW = {"taka": ["t ae k ae", "t ax k ae"], "tt": ["t t"], "ttk": ["t t k"], "zz": ["z"], "kdn": ["k d n"]}


def arpa(words=()):
    # the added words' cost: the least likely word's (at, -1.5), no n-grams of their own
    return ARPA.format(n=6 + len(words), extra="".join(f"-1.5 {w}\n" for w in words))


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    d = tmp_path_factory.mktemp("new_words")
    (d / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(TOKENS)))
    (d / "lex.txt").write_text(LEXICON)
    (d / "lex_all.txt").write_text(LEXICON + "".join(f"{w} {p}\n" for w, ps in NEW.items() for p in ps))
    (d / "lm.arpa").write_text(arpa())
    (d / "lm_all.arpa").write_text(arpa(NEW))
    o = CompileOptions(topology="ctc", on_the_fly=True)
    out = {"dir": d}
    for name, lex, lm, opts in (("cut", "lex.txt", "lm.arpa", o), ("all", "lex_all.txt", "lm_all.arpa", o),
                                ("static", "lex.txt", "lm.arpa", CompileOptions(topology="ctc"))):
        out[name] = compile_graph(d / lex, d / lm, d / name, opts, tokens=d / "tokens.txt").path
    return out


PRONS: dict = {}
for _line in LEXICON.splitlines() + [f"{w} {p}" for w, ps in NEW.items() for p in ps]:
    PRONS.setdefault(_line.split()[0], []).append(_line.split()[1:])


def no_token_twice(words):
    """Whether no token comes twice in a row in ``words``' pronunciations, within or
    across words: where one does, k2's compact CTC topology reads the same frames as a
    repeat or as two tokens at one cost, so two word sequences can tie."""
    inside = any(p[i] == p[i + 1] for w in words for p in PRONS[w] for i in range(len(p) - 1))
    return not inside and not any({p[-1] for p in PRONS[a]} & {p[0] for p in PRONS[b]}
                                  for a, b in itertools.pairwise(words))


def rounded(x):
    """How far two graphs' costs of one path over frames ``x`` may differ: the recipe's
    minimization rounds each arc's weight to a multiple of 1/1024 (as Kaldi's
    fstminimizeencoded), by up to 1/2048 an arc, differently in each graph; the arcs
    that carry weight (G's unigrams, since the word loop has them) are at most one a frame."""
    return len(x) / 1024


def random_matrices(n, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = rng.normal(size=(int(rng.integers(3, 25)), len(TOKENS))) * 3
        yield x - np.log(np.exp(x).sum(1, keepdims=True))


def test_new_words_decode_as_if_the_lexicon_had_them(graphs):
    opts = DecoderOptions(beam=40, max_active=100000, min_active=0, word_times=True, lattice_beam=6)
    phrases = [(w, 2.0) for w in NEW]
    added = LatticeDecoder(graphs["cut"], opts).with_bias(phrases, NEW)
    compiled = LatticeDecoder(graphs["all"], opts).with_bias(phrases)
    assert load_graph(graphs["cut"]).word_starts() is not None and graph_info(graphs["cut"])["takes_new_words"]
    said = set()
    for x in random_matrices(150):
        a, b = added.decode(x), compiled.decode(x)
        assert (a.words, a.start_frames, a.end_frames) == (b.words, b.start_frames, b.end_frames)
        assert a.cost == pytest.approx(b.cost, abs=rounded(x))
        la, lb = added.decode_lattice(x)[1], compiled.decode_lattice(x)[1]
        assert ops.best_path(la).word_names == ops.best_path(lb).word_names == a.words
        said |= set(a.words) & set(NEW)
    assert said == set(NEW)  # every added word won somewhere


def test_new_words_on_the_compact_ctc_topology(graphs, tmp_path):
    """k2's compact topology (tokens read only from T's state 0, left by an epsilon, so
    ``t t`` also reads as two tokens without a blank): the words added decode as the graph
    compiled with them: the same cost (and lattice best path) always; the same words
    where no token comes twice in a row, within or across words (there the compact
    topology reads the same frames as a repeat or as two tokens at one cost, so 'tt kdn'
    and 'ttk kdn' can tie); the same word times wherever the words are the same, a token
    twice in a row included (the repeats read labels of their own). It failed before: the
    compact topology had no word-start states."""
    d = graphs["dir"]
    o = CompileOptions(topology="ctc", on_the_fly=True, ctc_topo="compact")
    cut, full = (compile_graph(d / lex, d / lm, tmp_path / name, o, tokens=d / "tokens.txt").path
                 for name, lex, lm in (("cut", "lex.txt", "lm.arpa"), ("all", "lex_all.txt", "lm_all.arpa")))
    assert graph_info(cut)["takes_new_words"]
    opts = DecoderOptions(beam=40, max_active=100000, min_active=0, word_times=True, lattice_beam=6)
    phrases = [(w, 2.0) for w in NEW]
    added, compiled = LatticeDecoder(cut, opts).with_bias(phrases, NEW), LatticeDecoder(full, opts).with_bias(phrases)
    said, timed, twice = set(), 0, 0
    for k, x in enumerate(random_matrices(150, seed=5)):
        a, b = added.decode(x), compiled.decode(x)
        assert a.cost == pytest.approx(b.cost, abs=rounded(x))
        if no_token_twice(a.words) and no_token_twice(b.words):
            assert a.words == b.words
        if a.words == b.words:
            assert (a.start_frames, a.end_frames) == (b.start_frames, b.end_frames)
            timed += 1
            twice += not no_token_twice(a.words)
        if k < 30:
            la, lb = added.decode_lattice(x)[1], compiled.decode_lattice(x)[1]
            assert ops.best_path(la).cost == pytest.approx(ops.best_path(lb).cost, abs=rounded(x))
        said |= set(a.words) & set(NEW)
    assert said == set(NEW) and timed > 30 and twice > 5


@pytest.mark.parametrize("topo", ["standard", "compact"])
def test_new_words_after_and_before_a_word_delimiter(graphs, tmp_path, topo):
    """A graph with an optional word delimiter between words (wav2vec2's '|', as optional
    silence) takes new words as the graph compiled with them: words, times and lattice;
    costs to 3e-4 a word (the compiled graph's no-delimiter cost is quantized to 1/1024
    before minimization, as Kaldi's). On the compact topology words where no token comes
    twice in a row (:func:`no_token_twice`), and times wherever the words are the same;
    it failed before there: the compact topology with a delimiter had no word-start
    states."""
    d = graphs["dir"]
    (tmp_path / "tokens.txt").write_text((d / "tokens.txt").read_text() + f"| {len(TOKENS)}\n")
    o = CompileOptions(topology="ctc", on_the_fly=True, word_delimiter="|", ctc_topo=topo)
    cut, full = (compile_graph(d / lex, d / lm, tmp_path / name, o, tokens=tmp_path / "tokens.txt").path
                 for name, lex, lm in (("cut", "lex.txt", "lm.arpa"), ("all", "lex_all.txt", "lm_all.arpa")))
    assert load_graph(cut).word_starts().shape[1] == 3
    opts = DecoderOptions(beam=40, max_active=100000, min_active=0, word_times=True, lattice_beam=6)
    phrases = [(w, 2.0) for w in NEW]
    added, compiled = LatticeDecoder(cut, opts).with_bias(phrases, NEW), LatticeDecoder(full, opts).with_bias(phrases)
    rng = np.random.default_rng(3)
    said, delimited, timed = set(), 0, 0
    for k in range(150):
        x = rng.normal(size=(int(rng.integers(3, 30)), len(TOKENS) + 1)) * 3
        x[:, -1] += rng.uniform(-2, 3)  # some utterances with the delimiter between words
        x -= np.log(np.exp(x).sum(1, keepdims=True))
        a, b = added.decode(x), compiled.decode(x)
        assert a.cost == pytest.approx(b.cost, abs=rounded(x))
        if topo == "standard" or (no_token_twice(a.words) and no_token_twice(b.words)):
            assert a.words == b.words
        if a.words == b.words:
            assert (a.start_frames, a.end_frames) == (b.start_frames, b.end_frames)
            timed += 1
        if k < 30:
            best = ops.best_path(added.decode_lattice(x)[1])
            assert best.cost == pytest.approx(a.cost, abs=1e-4) and (topo == "compact" or best.word_names == a.words)
        said |= set(a.words) & set(NEW)
        delimited += len(a.words) > 1 and bool(np.any(np.argmax(x, 1) == len(TOKENS)))
    assert said == set(NEW) and delimited > 10 and timed > 30


def test_a_call_can_add_spelled_words_and_the_graph_is_left_as_it_was(graphs, tmp_path):
    """A graph of spelled words (letters as tokens) spells a new word itself; a call's
    words do not stay in the decoder."""
    d = tmp_path
    letters = sorted(set("catheronz"))
    (d / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(["<blk>"] + letters)))
    words = ["cat", "hat", "at", "on", "the", "rat", "tea", "ten", "net"]
    (d / "lex.txt").write_text("".join(f"{w} {' '.join(w)}\n" for w in words))
    (d / "lex_all.txt").write_text("".join(f"{w} {' '.join(w)}\n" for w in words + ["zorro"]))
    costs = {w: -1 - 0.1 * k for k, w in enumerate(words)}  # the least likely: net, -1.8

    def unigrams(c):
        lines = "".join(f"{v:.1f} {w}\n" for w, v in c.items())
        return f"\\data\\\nngram 1={len(c) + 2}\n\n\\1-grams:\n-1.0 </s>\n-99 <s>\n{lines}\n\\end\\\n"

    (d / "lm.arpa").write_text(unigrams(costs))
    (d / "lm_all.arpa").write_text(unigrams({**costs, "zorro": -1.8}))
    o = CompileOptions(topology="ctc", on_the_fly=True)
    cut = compile_graph(d / "lex.txt", d / "lm.arpa", d / "cut", o, tokens=d / "tokens.txt").path
    full = compile_graph(d / "lex_all.txt", d / "lm_all.arpa", d / "all", o, tokens=d / "tokens.txt").path
    opts = DecoderOptions(beam=40, max_active=100000, min_active=0)
    dec, ref = LatticeDecoder(cut, opts), Decoder(full, opts)
    rng = np.random.default_rng(1)
    n_said = 0
    for _ in range(60):
        x = rng.normal(size=(int(rng.integers(4, 20)), len(letters) + 1)) * 3
        x -= np.log(np.exp(x).sum(1, keepdims=True))
        a, b = dec.decode(x, bias=["zorro"]), ref.decode(x, bias=["zorro"])
        assert a.words == b.words and a.cost == pytest.approx(b.cost, abs=rounded(x))
        # a lattice and a stream of one call add it too
        assert ops.best_path(dec.decode_lattice(x, bias=["zorro"])[1]).word_names == a.words
        st = dec.stream(bias=["zorro"])
        st.accept(x)
        assert st.finalize().words == a.words
        n_said += "zorro" in a.words
        assert "zorro" not in dec.graph.words and "zorro" not in dec.decode(x).words
    assert n_said > 5


def test_a_bpe_graph_spells_new_words_with_its_sentencepiece_model(tmp_path):
    """An on-the-fly graph of a BPE model's pieces, compiled with its sentencepiece model
    (``--bpe-model``, as icefall's lang_bpe has it), adds a word as the model splits it:
    the same words and costs as the graph with the word in its lexicon (the lexicon made
    by the same model, as icefall's prepare_lang_bpe makes it); a graph without the
    model says how to give the word's tokens."""
    spm = pytest.importorskip("sentencepiece")
    d = tmp_path
    words = ["CAT", "HAT", "THE", "THAT", "RAT", "TEA", "TEN", "NET", "ON", "ONE", "HEAT", "CHAT"]
    spm.SentencePieceTrainer.train(sentence_iterator=iter([" ".join(words)] * 20), model_prefix=str(d / "bpe"),
                                   vocab_size=24, model_type="bpe", character_coverage=1.0, bos_id=-1, eos_id=-1,
                                   unk_id=1, user_defined_symbols=["<blk>"], minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=str(d / "bpe.model"))
    (d / "tokens.txt").write_text("".join(f"{sp.id_to_piece(i)} {i}\n" for i in range(sp.get_piece_size())))
    new = ["NOTE", "CHEAT"]
    assert all(tuple(sp.encode(w, out_type=str)) != tuple(w) for w in new)  # pieces, not letters

    def lexicon(ws):
        return "".join(f"{w} {' '.join(sp.encode(w, out_type=str))}\n" for w in ws)

    def unigrams(c):
        lines = "".join(f"{v:.1f} {w}\n" for w, v in c.items())
        return f"\\data\\\nngram 1={len(c) + 2}\n\n\\1-grams:\n-1.0 </s>\n-99 <s>\n{lines}\n\\end\\\n"

    costs = {w: -1 - 0.1 * k for k, w in enumerate(words)}  # the least likely: CHAT, -2.1
    (d / "lex.txt").write_text(lexicon(words))
    (d / "lex_all.txt").write_text(lexicon(words + new))
    (d / "lm.arpa").write_text(unigrams(costs))
    (d / "lm_all.arpa").write_text(unigrams({**costs, **{w: -2.1 for w in new}}))
    o = CompileOptions(topology="ctc", on_the_fly=True)
    cut = compile_graph(d / "lex.txt", d / "lm.arpa", d / "cut", dataclasses.replace(o, bpe_model=str(d / "bpe.model")),
                        tokens=d / "tokens.txt").path
    full = compile_graph(d / "lex_all.txt", d / "lm_all.arpa", d / "all", o, tokens=d / "tokens.txt").path
    plain = compile_graph(d / "lex.txt", d / "lm.arpa", d / "plain", o, tokens=d / "tokens.txt").path
    assert graph_info(cut)["spells_with_bpe_model"] and not graph_info(plain)["spells_with_bpe_model"]
    opts = DecoderOptions(beam=40, max_active=100000, min_active=0)
    dec, ref = Decoder(cut, opts), Decoder(full, opts)
    rng = np.random.default_rng(2)
    said = set()
    for _ in range(80):
        x = rng.normal(size=(int(rng.integers(4, 25)), sp.get_piece_size())) * 3
        x -= np.log(np.exp(x).sum(1, keepdims=True))
        a, b = dec.decode(x, bias=new), ref.decode(x, bias=new)
        assert a.words == b.words and a.cost == pytest.approx(b.cost, abs=rounded(x))
        said |= set(a.words) & set(new)
    assert said == set(new)
    with pytest.raises(DecodeError, match="'NOTE' is not in the graph's words.txt; give its tokens"):
        Decoder(plain, opts).decode(x, bias=new)


def test_graphs_that_cannot_take_a_word_say_why(graphs, tmp_path):
    opts = DecoderOptions()
    with pytest.raises(DecodeError, match="'zz' is not in the graph's words.txt; give its tokens"):
        Decoder(graphs["cut"], opts).with_bias(["cat zz"])
    with pytest.raises(DecodeError, match="a static graph: words outside its lexicon can be added"):
        Decoder(graphs["static"], opts).with_bias(["zz"], NEW)
    d = graphs["dir"]
    phones = sorted({p for line in LEXICON.splitlines() for p in line.split()[1:]}) + ["z", "sil"]
    (tmp_path / "ctx.txt").write_text("".join(f"- {p} - {k} {3 * i + k}\n" for i, p in enumerate(phones) for k in range(3)))
    hmm = compile_graph(d / "lex.txt", d / "lm.arpa", tmp_path / "hmm", CompileOptions(
        sil_phone="sil", on_the_fly=True, context_table=str(tmp_path / "ctx.txt")))
    with pytest.raises(DecodeError, match=r"hotword 'zz': its phones 'z' are not the graph's \('z' not a phone\)"):
        Decoder(hmm.path, DecoderOptions(input_kind="log-likelihoods")).with_bias(["zz"], {"zz": ["z"]})
    # (a graph of a context table takes words since 2026-12-03: tests/search/test_context_table_new_words.py;
    # here the lexicon never says z, and the graph's phones are the lexicon's)
    with pytest.raises(DecodeError, match=r"hotword 'zz': its tokens 'z q' are not the graph's \('q' not a token\)"):
        Decoder(graphs["cut"], opts).with_bias(["zz"], {"zz": ["z q"]})
    with pytest.raises(DecodeError, match="'<blk>' not a token"):
        Decoder(graphs["cut"], opts).with_bias(["zz"], {"zz": ["z <blk>"]})


def test_cli_decode_and_stream_take_a_hotword_lexicon(graphs, tmp_path):
    import kaldi_native_io

    ark = str(tmp_path / "x.ark")
    with kaldi_native_io.FloatMatrixWriter(f"ark:{ark}") as w:
        for k, x in enumerate(random_matrices(20, seed=5)):
            w.write(f"u{k}", x.astype(np.float32))
    (tmp_path / "hot.txt").write_text("zz 2\ntaka\n")
    (tmp_path / "hot_lex.txt").write_text("".join(f"{w} {p}\n" for w, ps in NEW.items() for p in ps))
    args = ["decode", str(graphs["cut"]), f"ark:{ark}", "--hotwords", str(tmp_path / "hot.txt"), "--beam", "40"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 1 and "'zz' is not in the graph's words.txt" in r.output
    r = CliRunner().invoke(main, args + ["--hotword-lexicon", str(tmp_path / "hot_lex.txt"), "-o",
                                         str(tmp_path / "hyp.txt"), "--ctm", str(tmp_path / "hyp.ctm"),
                                         "--lattice", f"ark,t:{tmp_path / 'lat.txt'}"])
    assert r.exit_code == 0, r.output
    ids = load_graph(graphs["cut"]).words
    assert f"ids past {graphs['cut']}/words.txt ({len(ids)} symbols): zz {len(ids)}, taka {len(ids) + 1};" in r.output
    hyp = (tmp_path / "hyp.txt").read_text()
    ctm = (tmp_path / "hyp.ctm").read_text()
    assert " zz" in hyp and " zz\n" in ctm
    r = CliRunner().invoke(main, ["stream", str(graphs["cut"]), f"ark:{ark}", "--hotwords", str(tmp_path / "hot.txt"),
                                  "--hotword-lexicon", str(tmp_path / "hot_lex.txt"), "--beam", "40", "--no-partials",
                                  "--no-endpoint", "-o", str(tmp_path / "s.jsonl")])
    assert r.exit_code == 0, r.output
    finals = {j["utt"]: j["text"] for j in map(json.loads, (tmp_path / "s.jsonl").read_text().splitlines())
              if j.get("final")}
    hyps = dict((ln.split(" ", 1) + [""])[:2] for ln in hyp.splitlines())
    assert finals == hyps  # the stream says what the whole-utterance decode says
    # said, not silently ignored: a lexicon without hotwords, and a pronunciation of a word the graph has
    r = CliRunner().invoke(main, [*args[:3], "--hotword-lexicon", str(tmp_path / "hot_lex.txt"), "-o", os.devnull])
    assert r.exit_code == 0 and "(--hotword-lexicon) but no hotwords: a word is added for the phrases" in r.output
    (tmp_path / "hot_lex.txt").write_text("cat z a t\n" + (tmp_path / "hot_lex.txt").read_text())
    r = CliRunner().invoke(main, args + ["--hotword-lexicon", str(tmp_path / "hot_lex.txt"), "-o", os.devnull])
    assert r.exit_code == 0 and "already has cat: the pronunciations given for it are not used" in r.output, r.output


@pytest.fixture(scope="module", params=["standard", "compact"])
def an4_ctc_otf(tmp_path_factory, request):
    """On-the-fly trigram graphs of the AN4 CTC model's lexicon, with and without FIFTY
    and RUBOUT, and its 50 held-out utterances; of the standard CTC topology, and of k2's
    compact one (the same figures)."""
    from helpers import SHARED_AN4

    if not SHARED_AN4.exists():
        pytest.skip("needs ../shared/an4")
    import kaldi_native_io
    from test_icefall_interop import icefall_lang_phone

    d = tmp_path_factory.mktemp("an4_new_words")
    lang = icefall_lang_phone(d / "lang")
    lines = (lang / "lexicon.txt").read_text().splitlines()
    (d / "cut.txt").write_text("".join(ln + "\n" for ln in lines if ln.split()[0] not in ("FIFTY", "RUBOUT")))
    o = CompileOptions(topology="ctc", on_the_fly=True, ctc_topo=request.param)
    lm = SHARED_AN4 / "lm_train_3gram.arpa"
    full = compile_graph(lang / "lexicon.txt", lm, d / "full", o, tokens=lang / "tokens.txt").path
    cut = compile_graph(d / "cut.txt", lm, d / "cut", o, tokens=lang / "tokens.txt").path
    dev = (SHARED_AN4 / "ctc_dev_utts.txt").read_text().split()
    text = {ln.split()[0]: ln.split()[1:] for ln in (SHARED_AN4 / "text_train").read_text().splitlines()}
    mats = {k: np.array(m) for k, m in kaldi_native_io.SequentialFloatMatrixReader(
        f"ark:{SHARED_AN4 / 'ctc_train_logprobs.ark'}") if k in set(dev)}
    prons = {ln.split()[0]: [" ".join(ln.split()[1:])] for ln in lines}
    return types.SimpleNamespace(cut=cut, full=full, mats=mats, ref={u: text[u] for u in dev}, prons=prons)


def test_words_left_out_of_an4s_lexicon_come_back_as_hotwords(an4_ctc_otf):
    """The AN4 phone CTC model's real posteriors, its 50 held-out utterances: FIFTY and
    RUBOUT (12 occurrences in 11 utterances) left out of the lexicon of an on-the-fly
    trigram graph are never found; given as hotwords with their pronunciations (default
    boost), all 12 are, and the others' words do not change. Measured: errors 35/291 ->
    22/291, as many as the graph with them in its lexicon and LM makes (their chains once
    ended in a word-start state that could not go on with a blank: 25/291); the 39
    utterances without them keep every word (12 errors)."""
    import kaldialign

    t = an4_ctc_otf
    oov = ("FIFTY", "RUBOUT")
    cut, full = Decoder(t.cut), Decoder(t.full)
    plain = {u: list(cut.decode(m, u).words) for u, m in t.mats.items()}
    hot_dec = cut.with_bias(list(oov), {w: t.prons[w] for w in oov})
    hot = {u: list(hot_dec.decode(m, u).words) for u, m in t.mats.items()}
    ref_full = {u: list(full.decode(m, u).words) for u, m in t.mats.items()}

    def found(h):
        return sum(min(t.ref[u].count(w), h[u].count(w)) for u in t.ref for w in oov)

    def errors(h, utts):
        return sum(sum(a != b for a, b in kaldialign.align(t.ref[u], h[u], "*")) for u in utts)

    named = [u for u in t.ref if set(oov) & set(t.ref[u])]
    others = [u for u in t.ref if u not in named]
    assert (len(named), sum(t.ref[u].count(w) for u in named for w in oov)) == (11, 12)
    assert (found(plain), found(hot), found(ref_full)) == (0, 12, 12)
    assert (errors(plain, t.ref), errors(hot, t.ref), errors(ref_full, t.ref)) == (35, 22, 22)
    assert all(hot[u] == plain[u] for u in others) and errors(plain, others) == 12


def test_the_word_start_markers_leave_no_state_behind(tmp_path):
    """Homophones end with a disambiguation symbol (an epsilon once removed), so L's loop
    state after their last token is reached only through an epsilon move; the composition
    then made the marked state a separate state reached only by the marker. Every state
    of the written graph must be reachable, and every word start a state of it."""
    (tmp_path / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(TOKENS)))
    (tmp_path / "lex.txt").write_text("cat k ae t\nkat k ae t\nand ae n d\n")  # every word ending in t a homophone
    (tmp_path / "lm.arpa").write_text("\\data\\\nngram 1=5\n\n\\1-grams:\n-1.0 </s>\n-99 <s>\n-0.7 cat\n-0.8 kat\n"
                                      "-1.0 and\n\n\\end\\\n")
    g = load_graph(compile_graph(tmp_path / "lex.txt", tmp_path / "lm.arpa", tmp_path / "g",
                                 CompileOptions(topology="ctc", on_the_fly=True), tokens=tmp_path / "tokens.txt").path)
    a = g.arrays
    seen, todo = {a.start}, [a.start]
    while todo:
        s = todo.pop()
        nxt = list(a.e_next[a.e_offsets[s]:a.e_offsets[s + 1]]) + list(a.n_next[a.n_offsets[s]:a.n_offsets[s + 1]])
        todo += [t for t in map(int, nxt) if t not in seen]
        seen |= set(map(int, nxt))
    assert len(seen) == a.num_states
    assert set(g.word_starts()[:, 1].tolist()) <= seen
    # after the homophones, the graph's only word-start state for t reads no blank: a new
    # word ending in t must end in one that does (the graph compiled with it: the answer)
    (tmp_path / "lex_all.txt").write_text((tmp_path / "lex.txt").read_text() + "zt z t\n")
    (tmp_path / "lm_all.arpa").write_text((tmp_path / "lm.arpa").read_text().replace("ngram 1=5", "ngram 1=6")
                                          .replace("-1.0 and\n", "-1.0 and\n-1.0 zt\n"))
    full = compile_graph(tmp_path / "lex_all.txt", tmp_path / "lm_all.arpa", tmp_path / "all",
                         CompileOptions(topology="ctc", on_the_fly=True), tokens=tmp_path / "tokens.txt").path
    opts = DecoderOptions(beam=40, max_active=100000, min_active=0)
    added, compiled = Decoder(g, opts).with_bias(["zt"], {"zt": ["z t"]}), Decoder(full, opts).with_bias(["zt"])
    said = 0
    for x in random_matrices(100, seed=7):
        a, b = added.decode(x), compiled.decode(x)
        assert a.words == b.words and a.cost == pytest.approx(b.cost, abs=rounded(x))
        said += "zt" in a.words[:-1]
    assert said > 5  # zt and then more words
