"""hclg's determinize-star (log semiring) against brute force and Kaldi's own code."""

import math

import kaldifst
import numpy as np
import pytest
from helpers import EXAMPLE, from_text

from oracles.kaldi_recipes import to_kaldi, to_pywrapfst
from hclg.errors import GraphBuildError
from hclg import fst as hfst
from hclg.graph.grammar import arpa_to_fst
from hclg.graph.lexicon import make_lexicon_fst, read_lexicon, read_phones


def log_add(a, b):
    if a == math.inf:
        return b
    if b == math.inf:
        return a
    m = min(a, b)
    return m - math.log1p(math.exp(-abs(a - b)))


def paths(f, limit=100_000):
    """Every successful path of an acyclic FST: {input string: [(output string, cost)]}."""
    if f.start() == -1:
        return {}
    out, stack = {}, [(f.start(), (), (), 0.0)]
    while stack:
        s, i, o, c = stack.pop()
        fw = float(f.final(s))
        if fw != math.inf:
            out.setdefault(i, []).append((o, c + fw))
        for a in f.arcs(s):
            stack.append((a.nextstate, i + ((a.ilabel,) if a.ilabel else ()), o + ((a.olabel,) if a.olabel else ()),
                          c + float(a.weight)))
            assert len(stack) < limit
    return out


def random_fst(rng, n_states=6, n_arcs=12):
    lines = []
    for _ in range(n_arcs):
        s = int(rng.integers(0, n_states - 1))
        d = int(rng.integers(s + 1, n_states))
        il = int(rng.integers(0, 4)) if rng.random() < 0.8 else 0
        ol = int(rng.integers(1, 4)) if rng.random() < 0.5 else 0
        lines.append(f"{s} {d} {il} {ol} {rng.uniform(0, 3):.3f}")
    lines += [f"{s} {rng.uniform(0, 2):.3f}" for s in range(n_states) if rng.random() < 0.4] + [str(n_states - 1)]
    return from_text("\n".join(lines)).connect()  # trimmed, as compositions are


def test_log_semiring_sums_equal_brute_force_on_random_functional_fsts():
    rng = np.random.default_rng(3)
    tested = 0
    for _ in range(400):
        f = random_fst(rng)
        ref = paths(f)
        if not ref or any(len({o for o, _ in v}) > 1 for v in ref.values()):
            continue  # empty, or not functional
        got = paths(hfst.determinize_log(f, "det", ""))
        assert set(got) == set(ref)
        for i, v in ref.items():
            assert len(got[i]) == 1, f"input {i} has {len(got[i])} paths after determinization"
            (o, c), = got[i]
            assert o == v[0][0]
            tot = math.inf
            for _, x in v:
                tot = log_add(tot, x)
            assert c == pytest.approx(tot, abs=2e-3)
        tested += 1
    assert tested >= 60


def test_result_is_kaldis_determinize_star_state_for_state():
    rng = np.random.default_rng(5)
    tested = 0
    for _ in range(200):
        f = random_fst(rng, 7, 14)
        ref = paths(f)
        if not ref or any(len({o for o, _ in v}) > 1 for v in ref.values()):
            continue
        k = to_kaldi(f)
        kaldifst.determinize_star(k, use_log=True)
        a = hfst.fst_to_arrays(hfst.determinize_log(f, "det", ""))
        b = hfst.fst_to_arrays(to_pywrapfst(k))
        assert (a.num_states, a.num_arcs) == (b.num_states, b.num_arcs)
        for x, y in ((a.offsets, b.offsets), (a.ilabel, b.ilabel), (a.olabel, b.olabel), (a.nextstate, b.nextstate)):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_allclose(a.weight, b.weight, atol=1e-4)
        np.testing.assert_allclose(a.final, b.final, atol=1e-4)
        tested += 1
    assert tested >= 30


def test_an4_lg_is_kaldis_determinize_star_state_for_state():
    lex = read_lexicon(EXAMPLE / "lexicon.dic", phones=read_phones(EXAMPLE / "phones.txt"))
    L = make_lexicon_fst(lex)
    G, _ = arpa_to_fst(EXAMPLE / "lm_train_3gram.arpa", L.words)
    LG = hfst.compose(L.fst, G, "LG")
    k = to_kaldi(LG)
    kaldifst.determinize_star(k, use_log=True)
    a = hfst.fst_to_arrays(hfst.determinize_log(LG, "det", ""))
    b = hfst.fst_to_arrays(to_pywrapfst(k))
    assert (a.num_states, a.num_arcs) == (b.num_states, b.num_arcs)
    np.testing.assert_array_equal(a.ilabel, b.ilabel)
    np.testing.assert_array_equal(a.olabel, b.olabel)
    np.testing.assert_array_equal(a.nextstate, b.nextstate)
    np.testing.assert_allclose(a.weight, b.weight, atol=1e-4)


def test_delayed_output_becomes_a_chain():
    # 'a b' -> 'x y', 'a c' -> 'z': no output can leave the first state; 'x y' is then
    # written as two arcs, the second with an epsilon input.
    f = from_text("0 1 1 0 0.5\n1 2 2 7\n2 3 0 8\n0 4 1 9 1.0\n4 3 3 0\n3\n")
    got = paths(hfst.determinize_log(f, "det", ""))
    assert {i: [(o, round(c, 5)) for o, c in v] for i, v in got.items()} == {(1, 2): [((7, 8), 0.5)], (1, 3): [((9,), 1.0)]}


def test_epsilon_loop_sums_to_the_geometric_series():
    # eps loop of cost 1 before 'a': -log(sum_k e^-k) = log(1 - e^-1)
    f = from_text("0 0 0 0 1.0\n0 1 1 1\n1\n")
    got = paths(hfst.determinize_log(f, "det", ""))
    (o, c), = got[(1,)]
    assert o == (1,) and c == pytest.approx(math.log(1 - math.exp(-1)), abs=2e-3)


def test_non_functional_input_is_an_error():
    f = from_text("0 1 1 1\n0 1 1 2\n1\n")
    with pytest.raises(GraphBuildError, match="not functional.*Likely cause: homophones"):
        hfst.determinize_log(f, "det", "homophones")


def test_memory_cap_stops_a_non_determinizable_fst():
    # Twins property fails: the two 'b' cycles carry different weights.
    f = from_text("0 1 1 1 1\n0 2 1 1 2\n1 1 2 2 1\n2 2 2 2 2\n1 3 3 3\n2 3 4 4\n3\n")
    with pytest.raises(GraphBuildError, match="ran out of its memory cap.*Likely cause: test hint"):
        hfst.determinize_log(f, "det", "test hint", max_mem=20 << 20)
