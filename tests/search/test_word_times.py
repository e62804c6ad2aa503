"""Splitting a path's units into its words through the lexicon (align_words) against an
exhaustive search on small random cases, and its cost on an hour-long path."""


import numpy as np

from hclg.search.word_times import align_words


def brute(words, units, prons, nonword):
    """Every way to split ``units`` into the words (each a pronunciation, non-word units
    between them), in the order align_words prefers: word i takes its first
    pronunciation that leads to a split, as early as it can."""
    def go(i, j):
        if i == len(words):
            return [[]] if all(u in nonword for u in units[j:]) else []
        out = []
        for p in prons[words[i]]:
            if tuple(units[j:j + len(p)]) == p:
                out += [[(j, j + len(p) - 1)] + rest for rest in go(i + 1, j + len(p))]
        if j < len(units) and units[j] in nonword:
            out += go(i, j + 1)
        return out
    return go(0, 0)


def test_same_split_as_exhaustive_search_on_random_cases():
    rng = np.random.default_rng(3)
    lex = {"w1": [("a",), ("a", "b")], "w2": [("b",), ("b", "sil")], "w3": [("a", "a")], "w4": [("sil", "a")]}
    symbols = list(lex)
    checked = 0
    for _ in range(400):
        words = [symbols[k] for k in rng.integers(0, 4, rng.integers(1, 5))]
        units = []
        for w in words:  # a pronunciation of each word, silences between, sometimes a unit changed
            units += ["sil"] * int(rng.integers(0, 2)) + list(lex[w][rng.integers(0, len(lex[w]))])
        if rng.random() < 0.3:
            units[rng.integers(0, len(units))] = ("a", "b", "sil")[rng.integers(0, 3)]
        segs = [(u, 10 * j, 10 * j + 9) for j, u in enumerate(units)]
        got = align_words(list(range(len(words))), segs, words, lex, {"sil"})
        splits = brute(words, units, lex, {"sil"})
        if not splits:
            assert got is None
            continue
        first = splits[0]
        assert got == ([10 * a for a, _ in first], [10 * b + 9 for _, b in first])
        checked += 1
    assert checked > 20


def test_an_hour_long_path_is_split_in_linear_time():
    """30,000 words over 100,000 units (an hour): the whole-table DP took minutes."""
    prons = {"one": [("w", "ah", "n")], "two": [("t", "uw")]}
    words, units = [], []
    for k in range(30_000):
        w = ("one", "two")[k % 2]
        words.append(w)
        units += list(prons[w][0]) + ["sil"] * (k % 3 == 0)
    segs = [(u, j, j) for j, u in enumerate(units)]
    starts, ends = align_words(list(range(len(words))), segs, words, prons, {"sil"})
    assert len(starts) == 30_000 and starts[1] == 4 and ends[-1] == len(units) - 1 - (29_999 % 3 == 0)
