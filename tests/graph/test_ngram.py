"""G as arrays for on-the-fly composition. Independent answers: Kaldi's arpa2fst G (kaldilm)
walked with the n-gram model's backoff rule (take a word's arc where the state has one,
else the #0 arc), a hand-computed probability, and Kaldi's G's best path (its epsilon
backoff arcs allow more paths: never costlier)."""

import numpy as np
import pytest
import pywrapfst as fst
from test_grammar import ARPA, WORDS, kaldi_g

from hclg.errors import GraphBuildError
from hclg.graph.grammar import arpa_to_fst
from hclg.graph.lexicon import make_lexicon_fst, read_lexicon, read_phones
from hclg.graph.ngram import ngram_arrays, sentence_cost, word_loop


def kaldi_sentence_cost(K, word_ids):
    """Best path of Kaldi's G reading the sentence (its backoff arcs read #0: made epsilon)."""
    G = K.copy()
    G.project("output")  # words on both sides, backoff arcs epsilon
    G.arcsort("ilabel")
    c = fst.Compiler()
    print("\n".join([f"{i} {i + 1} {w} {w}" for i, w in enumerate(word_ids)] + [str(len(word_ids))]), file=c)
    d = fst.shortestdistance(fst.compose(c.compile(), G), reverse=True)
    return float(d[0]) if d else np.inf


def kaldi_backoff_walk(K, word_ids, backoff_label):
    """The ARPA model's cost of the sentence, read off Kaldi's G: in each state the word's
    arc if there is one, else the backoff arc (#0) and try again; the end likewise."""
    s, total = K.start(), 0.0
    for w in list(word_ids) + [None]:
        while True:
            arcs = {a.ilabel: a for a in K.arcs(s)}
            if w is None and float(K.final(s)) < np.inf:
                return total + float(K.final(s))
            if w is not None and w in arcs:
                total += float(arcs[w].weight)
                s = arcs[w].nextstate
                break
            if backoff_label not in arcs:
                return np.inf
            total += float(arcs[backoff_label].weight)
            s = arcs[backoff_label].nextstate


def check_all_sentences(arpa, words, tmp_path, sentences):
    G, _ = arpa_to_fst(arpa, words)
    lm = ngram_arrays(G, words.id("#0"))
    K = kaldi_g(arpa, words, tmp_path)
    lower = 0
    for s in sentences:
        ids = [words.id(w) for w in s]
        c = sentence_cost(lm, ids)
        assert c == pytest.approx(kaldi_backoff_walk(K, ids, words.id("#0")), abs=1e-4), s
        k = kaldi_sentence_cost(K, ids)
        assert k <= c + 1e-4
        lower += k < c - 1e-3
    return lower


def test_sentence_costs_equal_kaldi_g_with_backoff(tmp_path):
    p = tmp_path / "lm.arpa"
    p.write_text(ARPA)
    vocab = ["cat", "hat", "and"]
    rng = np.random.default_rng(0)
    sentences = [[]] + [list(rng.choice(vocab, size=n)) for n in rng.integers(1, 7, size=60)]
    check_all_sentences(p, WORDS, tmp_path, sentences)
    G, _ = arpa_to_fst(p, WORDS)  # by hand, as in test_grammar: p(cat and hat </s>)
    lm = ngram_arrays(G, WORDS.id("#0"))
    assert sentence_cost(lm, [WORDS.id("cat"), WORDS.id("and"), WORDS.id("hat")]) == pytest.approx(
        (0.3 + 0.1 + 0.2 + 0.3) * np.log(10), abs=1e-4)


def test_sentence_costs_equal_kaldi_g_on_an4_trigram(an4_example, tmp_path):
    lex = read_lexicon(an4_example / "lexicon.dic", phones=read_phones(an4_example / "phones.txt"))
    words = make_lexicon_fst(lex).words
    vocab = sorted(lex.words if hasattr(lex, "words") else {w for w, _ in lex.entries})
    rng = np.random.default_rng(1)
    text = [ln.split()[1:] for ln in (an4_example / "text_demo").read_text().splitlines()]
    # the demo's sentences (seen n-grams) and random ones (mostly backing off to unigrams)
    sentences = text + [list(rng.choice(vocab, size=n)) for n in rng.integers(1, 9, size=150)]
    lower = check_all_sentences(an4_example / "lm_train_3gram.arpa", words, tmp_path, sentences)
    assert lower > 10  # Kaldi's epsilon backoff does find cheaper paths than the model's rule


def test_nondeterministic_grammar_is_refused():
    c = fst.Compiler()
    print("0 1 3 3 1.0\n0 2 3 3 2.0\n1\n2", file=c)
    with pytest.raises(GraphBuildError, match="two arcs of word 3"):
        ngram_arrays(c.compile(), 99)
    c = fst.Compiler()
    print("0 1 0 0 1.0\n0 2 0 0 2.0\n1\n2", file=c)
    with pytest.raises(GraphBuildError, match="two epsilon"):
        ngram_arrays(c.compile(), 99)
    c = fst.Compiler()
    print("0 1 0 0 1.0\n1 0 0 0 1.0\n0 1 5 5 1.0\n1", file=c)
    with pytest.raises(GraphBuildError, match="cycle"):
        ngram_arrays(c.compile(), 99)


def test_word_loop_reads_each_word_once_per_arc_at_its_cost():
    g = word_loop(np.array([5, 3, 5, 9]), np.arange(10, dtype=np.float32) / 4)
    assert g.num_states() == 1 and sorted((a.ilabel, float(a.weight)) for a in g.arcs(0)) == [(3, 0.75), (5, 1.25),
                                                                                             (9, 2.25)]
    assert float(g.final(0)) == 0.0


@pytest.mark.parametrize("bow", ["-0.5", "0.4"], ids=["positive-backoff-costs", "a-negative-backoff-cost"])
def test_least_word_cost_bounds_every_read_of_the_word(tmp_path, bow):
    """``least`` (what the on-the-fly search drops a word arc by without stepping G) is
    below the cost of reading the word from every state, and reached by one of them, by
    brute force over all states and words; with a backoff cost below 0 (an ARPA backoff
    weight above 0, as pruned LMs have) the bound takes the cheapest run of backoffs."""
    from hclg.graph.ngram import ngram_step

    p = tmp_path / "lm.arpa"
    p.write_text(ARPA.replace("-99 <s> -0.5", f"-99 <s> {bow}"))
    G, _ = arpa_to_fst(p, WORDS)
    lm = ngram_arrays(G, WORDS.id("#0"))
    assert (np.min(lm.backoff_cost) < 0) == (bow == "0.4")
    for w in range(1, len(lm.least)):
        costs = [ngram_step(lm, g, w)[1] for g in range(lm.num_states)]
        assert lm.least[w] <= min(costs), WORDS.symbols[w]
        if bow == "-0.5" and np.isfinite(min(costs)):
            assert lm.least[w] == pytest.approx(min(costs), abs=1e-5)  # tight: no backoff costs below 0


def test_the_search_cache_of_g_steps_answers_as_g(tmp_path):
    """ngram_step_memo (the search's direct-mapped cache of G's steps) gives ngram_step's
    next state and cost for every (state, word) pair, words G cannot read included,
    asked in random order and again, through a cache of 8 slots (pairs evicting each
    other) and one of 16k; each search's cache is its own."""
    from hclg.graph.ngram import ngram_step, ngram_step_memo, with_memo

    p = tmp_path / "lm.arpa"
    p.write_text(ARPA)
    G, _ = arpa_to_fst(p, WORDS)
    lm = ngram_arrays(G, WORDS.id("#0"))
    pairs = [(g, w) for g in range(lm.num_states) for w in range(1, len(WORDS))]
    rng = np.random.default_rng(0)
    for size in (8, 1 << 14):
        memo = with_memo(lm, size)
        assert with_memo(lm, size).memo_key is not memo.memo_key
        for k in rng.permutation(3 * len(pairs)):
            g, w = pairs[k % len(pairs)]
            d, c = ngram_step(lm, g, w)
            assert ngram_step_memo(memo, g, w) == (d, c)
        for key, d, c in zip(memo.memo_key, memo.memo_next, memo.memo_cost):  # each slot holds its pair's step
            if key >= 0:
                assert (d, c) == ngram_step(lm, int(key) >> 32, int(key) & 0xFFFFFFFF)
    assert lm.memo_key.shape == (0,)  # the graph's arrays carry no cache
