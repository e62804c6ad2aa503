"""Local epsilon removal (Kaldi's fstrmepslocal, its main case) against OpenFst: the same
weighted relation (tropical), checked by determinizing both, on random acyclic
transducers full of epsilon arcs; never larger."""

import numpy as np
import pytest
import pywrapfst as fst

from hclg.fst import arrays_to_fst, fst_to_arrays, remove_eps_local


def random_fst(rng, n_states):
    """An acyclic transducer (arcs go forward) with many epsilon/epsilon arcs."""
    src, il, ol, w, dst = [], [], [], [], []
    for s in range(n_states - 1):
        for _ in range(rng.integers(1, 4)):
            d = int(rng.integers(s + 1, min(n_states, s + 4)))
            eps = rng.random() < 0.4
            src.append(s)
            il.append(0 if eps else int(rng.integers(1, 4)))
            ol.append(0 if eps else int(rng.integers(0, 3)))
            w.append(float(rng.integers(0, 8)) / 4)
            dst.append(d)
    final = np.full(n_states, np.inf, np.float32)
    final[-1] = 0.0
    final[rng.integers(0, n_states, 2)] = 0.5
    f = arrays_to_fst(n_states, 0, np.array(src), np.array(il), np.array(ol), np.array(w, np.float32), np.array(dst),
                      final)
    f.connect()
    return f


@pytest.mark.parametrize("seed", range(30))
def test_same_relation_never_larger(seed):
    rng = np.random.default_rng(seed)
    f = random_fst(rng, int(rng.integers(3, 12)))
    g = remove_eps_local(f, "test")
    enc = fst.EncodeMapper("standard", encode_labels=True)
    acc = lambda x: fst.determinize(x.copy().rmepsilon().encode(enc))  # noqa: E731
    assert fst.equivalent(acc(f), acc(g), delta=1e-4)
    assert g.num_states() <= f.num_states()
    assert fst_to_arrays(g).num_arcs <= fst_to_arrays(f).num_arcs


def test_chain_of_epsilons_collapses_and_keeps_final_costs():
    """0 -eps/0.5-> 1 -eps/0.25-> 2 -a:b/1-> 3, state 2 final at 2: all of 1 and 2 move
    onto 0 (by hand: 0 -a:b/1.75-> 3, final cost of 0 = 2.75)."""
    f = arrays_to_fst(4, 0, np.array([0, 1, 2]), np.array([0, 0, 1]), np.array([0, 0, 2]),
                      np.array([0.5, 0.25, 1.0], np.float32), np.array([1, 2, 3]),
                      np.array([np.inf, np.inf, 2.0, 0.0], np.float32))
    g = fst_to_arrays(remove_eps_local(f, "test"))
    assert g.num_states == 2 and g.num_arcs == 1
    assert (int(g.ilabel[0]), int(g.olabel[0])) == (1, 2) and g.weight[0] == pytest.approx(1.75)
    assert g.final[g.start] == pytest.approx(2.75)
