import json

import pytest
import pywrapfst as fst
from helpers import best, from_text, random_inputs
from hypothesis import given, settings, strategies as st

from oracles.kaldi_recipes import kaldi_halg, kaldi_lg, kaldi_tlg, to_pywrapfst
from hclg.errors import GraphBuildError
from hclg import fst as hfst
from hclg.graph.compile import CompileOptions, compile_graph
from hclg.graph.grammar import arpa_to_fst
from hclg.graph.graph_dir import load_graph
from hclg.graph.lexicon import make_lexicon_fst, read_lexicon, read_phones
from hclg.graph.ctc_topology import make_ctc_topo
from hclg.graph.h_transducer import add_self_loops, make_h_transducer
from hclg.graph.hmm_topology import KALDI_3STATE, make_transition_table

BIGRAM = """\\data\\
ngram 1=5
ngram 2=4

\\1-grams:
-1.0 </s>
-99 <s> -0.3
-0.6 cat -0.2
-0.7 hat -0.25
-0.9 and -0.1

\\2-grams:
-0.2 <s> cat
-0.3 cat and
-0.4 and hat
-0.5 hat </s>

\\end\\
"""


def compare(A, B, inputs, tol=2e-3):
    """Same best cost and output on every input sequence."""
    for x in inputs:
        a, b = best(A, x), best(B, x)
        assert b is not None, x
        assert a[1] == b[1], x
        assert a[0] == pytest.approx(b[0], abs=tol), x


def size(f):
    return hfst.size(f)


@pytest.fixture(scope="module")
def tiny_parts(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    (d / "lexicon.txt").write_text("and ae n d\ncat k ae t\nhat h ae t\nthe dh ah\nthe dh iy\n")
    (d / "lm.arpa").write_text(BIGRAM)
    lex = read_lexicon(d / "lexicon.txt")
    L = make_lexicon_fst(lex, sil_prob=0.5, sil_phone="sil")
    G, _ = arpa_to_fst(d / "lm.arpa", L.words)
    table = make_transition_table(L.phones.symbols, {p: KALDI_3STATE for p in lex.phones + ("sil",)}, None)
    Ha, dis = make_h_transducer(table, len(L.phones), L.disambig_phones, 1.0)
    unopt = hfst.compose(Ha, hfst.compose(L.fst, G, "LG"), "HLG")
    unopt = add_self_loops(hfst.relabel_to_epsilon(unopt, dis, "input", "rm"), table, 0.1)
    return d, unopt


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_optimized_hclg_equals_unoptimized_composition(tiny_parts, tmp_path_factory, seed):
    d, unopt = tiny_parts
    out = d / "graph"
    if not (out / "HCLG.fst").exists():
        compile_graph(d / "lexicon.txt", d / "lm.arpa", out, CompileOptions(sil_phone="sil"))
    hclg = fst.Fst.read(str(out / "HCLG.fst"))
    # minimize-encoded quantizes weights to 1/1024 as Kaldi does: <= 0.0005 per arc
    compare(unopt, hclg, random_inputs(unopt, 5, seed=seed), tol=1e-2)
    compare(hclg, unopt, random_inputs(hclg, 5, seed=seed), tol=1e-2)


@pytest.fixture(scope="module")
def an4_parts(an4_example_dir=None):
    from helpers import EXAMPLE

    lex = read_lexicon(EXAMPLE / "lexicon.dic", phones=read_phones(EXAMPLE / "phones.txt"))
    L = make_lexicon_fst(lex)
    G, _ = arpa_to_fst(EXAMPLE / "lm_train_3gram.arpa", L.words)
    LG = hfst.compose(L.fst, G, "LG")
    LG = hfst.minimize_encoded(hfst.determinize_log(LG, "det", ""), "min")
    return lex, L, G, LG


def test_lg_matches_kaldi_recipe(an4_parts):
    _, L, G, LG = an4_parts
    K = to_pywrapfst(kaldi_lg(L.fst, G))
    (s1, a1), (s2, a2) = size(LG), size(K)
    assert abs(s1 - s2) <= 0.02 * s2 and abs(a1 - a2) <= 0.02 * a2
    compare(K, LG, random_inputs(K, 40, seed=7))
    compare(LG, K, random_inputs(LG, 40, seed=8))


def test_halg_matches_kaldi_recipe(an4_parts):
    lex, L, G, LG = an4_parts
    table = make_transition_table(L.phones.symbols, {p: KALDI_3STATE for p in L.phones.symbols[1:] if not p.startswith("#")}, None)
    Ha, dis = make_h_transducer(table, len(L.phones), L.disambig_phones, 1.0)
    ours = hfst.minimize_encoded(hfst.determinize_log(hfst.compose(Ha, LG, "HaLG"), "det", ""), "min")
    K = to_pywrapfst(kaldi_halg(Ha, LG))
    (s1, a1), (s2, a2) = size(ours), size(K)
    assert abs(s1 - s2) <= 0.03 * s2 and abs(a1 - a2) <= 0.03 * a2
    compare(K, ours, random_inputs(K, 30, seed=9))


def test_tlg_matches_kaldi_recipe(an4_parts):
    _, L, G, LG = an4_parts
    LGn = hfst.relabel_to_epsilon(LG, L.disambig_phones, "input", "rm")
    LGn.arcsort("ilabel")
    T = make_ctc_topo(len(L.phones.symbols) - 1 - len(L.disambig_phones), 0)
    ours = hfst.compose(T, LGn, "TLG")
    K = to_pywrapfst(kaldi_tlg(T, LGn))
    assert size(ours) == size(K)
    compare(K, ours, random_inputs(K, 30, seed=10))


def test_an4_graphs_build_from_example(an4_example, tmp_path):
    ex = an4_example
    r = compile_graph(ex / "lexicon.dic", ex / "lm_train_3gram.arpa", tmp_path / "hmm",
                      CompileOptions(hmm_topology=str(ex / "transitions.txt"), pdf_map=str(ex / "pdf_map.txt")),
                      phones=ex / "phones.txt")
    g = load_graph(r.path)
    assert g.num_columns == 102 and g.topology == "hmm"
    assert r.states > 1000 and [s[0] for s in r.steps][:3] == ["L (lexicon, disambig)", "G (arpa2fst)", "LG = L o G"]
    m = json.loads((r.path / "manifest.json").read_text())
    assert m["inputs"]["lexicon"]["sha256"] and m["options"]["self_loop_scale"] == 0.1
    c = compile_graph(ex / "lexicon.dic", ex / "lm_train_3gram.arpa", tmp_path / "ctc", CompileOptions(topology="ctc", ctc_topo="compact"))
    assert load_graph(c.path).num_columns == 34


def test_empty_composition_raises_at_once(tiny_lexicon, tmp_path):
    syms = fst.SymbolTable()
    for i, w in enumerate(["<eps>", "cat"]):
        syms.add_symbol(w, i)
    g = from_text("0 1 1 1\n")  # reads 'cat' but has no final state
    g.set_input_symbols(syms)
    g.set_output_symbols(syms)
    with pytest.raises(GraphBuildError, match=r"Composition failure: step 'LG = L o G' produced an empty FST"):
        compile_graph(tiny_lexicon, g, tmp_path / "g", CompileOptions(sil_prob=0.0))


def test_options_are_validated():
    with pytest.raises(ValueError, match="sil_prob must be in"):
        CompileOptions(sil_prob=1.5).validate()
    with pytest.raises(ValueError, match="topology must be"):
        CompileOptions(topology="gmm").validate()


def test_ctc_token_lists_as_models_write_them(tmp_path, caplog):
    """A <pad> blank (wav2vec2) is found and said; no token list is said loudly; a token
    list without any blank names the candidates (issue 13)."""
    import json

    lex = tmp_path / "lexicon.txt"
    lex.write_text("cat k a t\nhat h a t\n")
    g = tmp_path / "g.txt"
    g.write_text("cat hat\n")
    tok = tmp_path / "tokens.txt"
    tok.write_text("<pad>\n|\nk\na\nt\nh\n")
    out = compile_graph(lex, g, tmp_path / "ctc", CompileOptions(topology="ctc"), tokens=tok).path
    assert json.loads((out / "manifest.json").read_text())["options"]["blank"] == "<pad>"
    assert "using '<pad>' as the blank" in caplog.text and "--word-delimiter '|'" in caplog.text
    caplog.clear()
    compile_graph(lex, g, tmp_path / "ctc2", CompileOptions(topology="ctc"))
    assert "no token list (--tokens)" in caplog.text
    tok.write_text("k\na\nt\nh\n")
    with pytest.raises(GraphBuildError, match="no blank '<blk>'.*give the model's blank with --blank"):
        compile_graph(lex, g, tmp_path / "ctc3", CompileOptions(topology="ctc"), tokens=tok)
