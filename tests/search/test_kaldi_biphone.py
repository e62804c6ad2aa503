"""Left-biphone context (Kaldi's chain models: ``--context-width=2 --central-position=1``):
graphs compiled with such a tree, and words added to them at decode time, as Kaldi's
grammar FSTs allow only for left-biphone models.

No small public Kaldi system with a left-biphone tree is at hand, so the tree is derived
from the real triphone system's (tests/data/kaldi_tri_system): the right phone fixed to
``sil``. Its answers are pdfs of that model, so its final.mdl and the GMM scores of the
55 real test utterances go with it. The independent answers: the tree itself (each phone
of a path reads the pdfs the tree gives for it after the phone before), and the graph
compiled with the word in its lexicon and LM.
"""

from __future__ import annotations

import numpy as np
import pytest
import pywrapfst as fst
from helpers import ROOT, random_inputs
from oracles.kaldi_gmm import recipe_test_loglikes

from hclg.errors import DecodeError
from hclg.graph.compile import compile_graph
from hclg.graph.compile_options import CompileOptions
from hclg.graph.graph_dir import graph_info, load_graph
from hclg.graph.kaldi_model import read_transition_model
from hclg.graph.kaldi_tree import read_kaldi_tree
from hclg.graph.new_words import new_word_cost
from hclg.graph.symbols import SymbolTable
from hclg.lattice import ops
from hclg.lattice.generation import LatticeDecoder
from hclg.search.decoder import Decoder
from hclg.search.options import DecoderOptions

TRI = ROOT / "tests" / "data" / "kaldi_tri_system"
MONO = ROOT / "tests" / "data" / "kaldi_mono_system"
PHONES = MONO / "graph" / "phones.txt"
ADDED = {"shimmered": ["SH IH M ER D"], "shy": ["SH AY"], "ooh": ["UW"], "dome": ["D OW M"]}
# a word no lexicon word ends like (D_E, M_E), a one-phone word, words sharing a first phone


def _right_fixed(node, right):
    if node is None or node[0] == "CE":
        return node
    if node[0] == "TE":
        _, key, children = node
        if key == 2:
            return _right_fixed(children[right] if right < len(children) else None, right)
        return ("TE", key, tuple(_right_fixed(c, right) for c in children))
    _, key, yes_set, yes, no = node
    if key == 2:
        return _right_fixed(yes if right in yes_set else no, right)
    return ("SE", key, yes_set, _right_fixed(yes, right), _right_fixed(no, right))


def _text(node):
    if node is None:
        return "NULL"
    if node[0] == "CE":
        return f"CE {node[1]}"
    if node[0] == "TE":
        return f"TE {node[1]} {len(node[2])} ( " + " ".join(_text(c) for c in node[2]) + " )"
    return f"SE {node[1]} [ {' '.join(map(str, sorted(node[2])))} ]\n{{ {_text(node[3])} {_text(node[4])} }}"


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """The biphone tree (Kaldi's text form), and LMs: the recipe's without 'shimmered',
    and with it as a unigram at the cost an added word gets (no n-grams of its own), so
    that the compiled graph and the added word see the same LM."""
    d = tmp_path_factory.mktemp("biphone")
    tri = read_kaldi_tree(TRI / "tree")
    sil = SymbolTable.read(PHONES).id("sil")
    (d / "tree").write_text(f"ContextDependency 2 1 ToPdf {_text(_right_fixed(tri.root, sil))} EndContextDependency\n")
    lines = (MONO / "lang" / "lexicon.txt").read_text().splitlines()
    (d / "cut.txt").write_text("".join(ln + "\n" for ln in lines if ln.split()[0] != "shimmered"))
    (d / "all.txt").write_text("".join(ln + "\n" for ln in lines) + "".join(
        f"{w} {p}\n" for w, ps in ADDED.items() if w != "shimmered" for p in ps))
    arpa = [ln for ln in (MONO / "lang" / "lm.arpa").read_text().splitlines() if "shimmered" not in ln]
    n1, n2 = (sum(1 for ln in arpa if ln.count("\t") and len(ln.split("\t")[1].split()) == k) for k in (1, 2))
    cut = "\n".join(f"ngram 1={n1}" if ln.startswith("ngram 1=") else f"ngram 2={n2}" if ln.startswith("ngram 2=")
                    else ln for ln in arpa) + "\n"
    (d / "cut.arpa").write_text(cut)
    o = CompileOptions(kaldi_model=str(TRI / "final.mdl"), kaldi_tree=str(d / "tree"), position_dependent_phones=True,
                       sil_phone="sil", on_the_fly=True)
    cut_graph = compile_graph(d / "cut.txt", d / "cut.arpa", d / "cut", o, phones=PHONES).path
    g = load_graph(cut_graph)
    log10 = -new_word_cost(g) / np.log(10)
    extra = [f"{log10:.7f}\t{w}" for w in ADDED]
    full = cut.replace(f"ngram 1={n1}", f"ngram 1={n1 + len(extra)}").replace("\\2-grams:", "\n".join(extra)
                                                                               + "\n\n\\2-grams:")
    (d / "all.arpa").write_text(full)
    all_graph = compile_graph(d / "all.txt", d / "all.arpa", d / "all", o, phones=PHONES).path
    return d, cut_graph, all_graph


def test_every_phone_reads_the_pdfs_its_left_phone_gives(system, tmp_path):
    """A static HCLG of the left-biphone tree: on random paths, each phone's HMM states
    read the forward pdfs the tree gives for (phone before, phone), the
    first after 0 (the utterance start). It failed before: only (3, 1) and (1, 0) trees
    were taken."""
    d, _, _ = system
    o = CompileOptions(kaldi_model=str(TRI / "final.mdl"), kaldi_tree=str(d / "tree"), position_dependent_phones=True,
                       sil_phone="sil")
    path = compile_graph(MONO / "lang" / "lexicon.txt", MONO / "lang" / "lm.arpa", tmp_path / "g", o,
                         phones=PHONES).path
    g, tree, model = load_graph(path), read_kaldi_tree(d / "tree"), read_transition_model(TRI / "final.mdl")
    kaldi = SymbolTable.read(PHONES)
    tr = g.transitions()
    checked = 0
    for x in random_inputs(fst.Fst.read(str(path / "HCLG.fst")), 40, seed=3):
        inst, cur = [], {}
        for t in x:
            s = int(tr["hmm_state"][t])
            if tr["to_state"][t] != s:  # forward transitions (a self-loop may sit on a neighbour's, reordered)
                cur[s] = int(tr["pdf"][t])
            if tr["is_final"][t]:
                inst.append((kaldi.id(g.units.symbols[tr["phone"][t]]), cur))
                cur = {}
        assert not cur
        for k, (phone, pdfs) in enumerate(inst):
            states = model.entries[model.phone_entry[phone]][:-1]
            want = tree.pdfs((inst[k - 1][0] if k else 0, phone), states)
            assert 0 in pdfs and all(want[s][0] == pdf for s, pdf in pdfs.items()), (k, phone)  # silence skips
            checked += 1
    assert checked > 100


def test_words_added_to_a_biphone_graph_decode_as_if_the_lexicon_had_them(system):
    """On random scores at a wide beam: the words, word times, cost (to 1/2048 a frame:
    the compiled graph's weights are quantized before its minimization) and lattice
    5-best of the graph with the words added equal those of the graph compiled with them.
    Each added word's first phone takes the pdfs of every phone it may follow, and its
    last phone leads on as a word of the lexicon ending with that phone would, where no
    word of the lexicon ends with it. It failed before: a graph of a Kaldi tree took no
    words at decode time."""
    _, cut, full = system
    assert graph_info(cut)["takes_new_words"]
    opts = DecoderOptions(input_kind="log-likelihoods", beam=40, max_active=100000, min_active=0, word_times=True,
                          lattice_beam=6)
    phrases = [(w, 3.0) for w in ADDED]
    added = LatticeDecoder(cut, opts).with_bias(phrases, ADDED)
    compiled = LatticeDecoder(full, opts).with_bias(phrases)
    rng = np.random.default_rng(0)
    said = set()
    n = load_graph(cut).num_columns
    for k in range(80):
        x = rng.normal(size=(int(rng.integers(8, 60)), n)) * 3
        a, b = added.decode(x), compiled.decode(x)
        assert (a.words, a.start_frames, a.end_frames) == (b.words, b.start_frames, b.end_frames)
        assert a.cost == pytest.approx(b.cost, abs=len(x) / 2048)
        if k < 20:
            la, lb = added.decode_lattice(x)[1], compiled.decode_lattice(x)[1]
            ca, cb = ({p.word_names: p.cost for p in ops.nbest(lat, 5)} for lat in (la, lb))
            for seq in ca.keys() & cb.keys():
                assert ca[seq] == pytest.approx(cb[seq], abs=len(x) / 2048)
        said |= set(a.words) & set(ADDED)
    assert said == set(ADDED)


def test_a_word_added_to_a_biphone_graph_on_real_scores(system):
    """The 55 real test utterances (the GMM scores of the model the tree's pdfs belong to),
    Kaldi's decoding settings: 'shimmered' left out of the lexicon is never found; added
    for the request (with the other three words), every utterance's words, word times and
    cost are those of the graph compiled with them (measured: 54 of 55 then say it)."""
    _, cut, full = system
    opts = DecoderOptions(input_kind="log-likelihoods", acoustic_scale=0.083333, beam=13.0, max_active=7000,
                          word_times=True)
    plain = Decoder(cut, opts)
    added = plain.with_bias(list(ADDED), ADDED)
    compiled = Decoder(full, opts).with_bias(list(ADDED))
    said = 0
    for utt, m in recipe_test_loglikes(TRI / "final.mdl").items():
        a, b = added.decode(m, utt), compiled.decode(m, utt)
        assert (a.words, a.start_frames, a.end_frames) == (b.words, b.start_frames, b.end_frames), utt
        assert a.cost == pytest.approx(b.cost, abs=len(m) / 2048)
        assert "shimmered" not in plain.decode(m, utt).words
        said += "shimmered" in a.words
    assert said == 54


def test_triphone_graphs_still_refuse_new_words_saying_why(tmp_path):
    """A triphone tree's graph has no word-start states: the refusal names the
    left-biphone trees that do take words."""
    o = CompileOptions(kaldi_model=str(TRI / "final.mdl"), kaldi_tree=str(TRI / "tree"), position_dependent_phones=True,
                       sil_phone="sil", on_the_fly=True)
    path = compile_graph(MONO / "lang" / "lexicon.txt", MONO / "lang" / "lm.arpa", tmp_path / "g", o,
                         phones=PHONES).path
    assert not graph_info(path)["takes_new_words"]
    with pytest.raises(DecodeError, match="left-biphone"):
        Decoder(path, DecoderOptions(input_kind="log-likelihoods")).with_bias(["shy"], {"shy": ["SH AY"]})


def test_a_kaldi_lang_directory_with_a_biphone_tree_takes_new_words(system, tmp_path):
    """The recipe's data/lang (Kaldi's L_disambig.fst) with the biphone tree, on the fly,
    takes a word its lexicon lacks ('shimmer', boost 8) as the graph from its lexicon.txt
    does: the same words and word times on the 55 real utterances (measured: 53 say it)."""
    d, _, _ = system
    o = CompileOptions(kaldi_model=str(TRI / "final.mdl"), kaldi_tree=str(d / "tree"), position_dependent_phones=True,
                       sil_phone="sil", on_the_fly=True)
    lm = MONO / "lang" / "lm.arpa"
    graphs = (compile_graph(MONO / "lang", lm, tmp_path / "lang", o).path,
              compile_graph(MONO / "lang" / "lexicon.txt", lm, tmp_path / "lex", o, phones=PHONES).path)
    assert all(graph_info(g)["takes_new_words"] for g in graphs)
    opts = DecoderOptions(input_kind="log-likelihoods", acoustic_scale=0.083333, beam=13.0, max_active=7000,
                          word_times=True)
    a, b = (Decoder(g, opts).with_bias([("shimmer", 8.0)], {"shimmer": ["SH IH M ER"]}) for g in graphs)
    said = 0
    for utt, m in recipe_test_loglikes(TRI / "final.mdl").items():
        x, y = a.decode(m, utt), b.decode(m, utt)
        assert (x.words, x.start_frames, x.end_frames) == (y.words, y.start_frames, y.end_frames), utt
        said += "shimmer" in x.words
    assert said == 53
