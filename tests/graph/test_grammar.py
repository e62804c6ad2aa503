import gzip
import math

import kaldilm
import pytest
import pywrapfst as fst
from helpers import best

from hclg.errors import GraphBuildError, InputFormatError
from hclg.graph.grammar import arpa_to_fst, phrases_to_fst
from hclg.graph.lexicon import make_lexicon_fst, read_lexicon, read_phones
from hclg.graph.symbols import SymbolTable

ARPA = """
\\data\\
ngram 1=6
ngram 2=5
ngram 3=3

\\1-grams:
-1.0 </s>
-99 <s> -0.5
-0.7 cat -0.3
-0.8 hat -0.2
-0.9 and -0.25
-1.2 dog -0.1

\\2-grams:
-0.3 <s> cat -0.1
-0.4 cat and -0.2
-0.5 and hat
-0.6 hat </s>
-0.2 dog cat

\\3-grams:
-0.1 <s> cat and
-0.2 cat and hat
-0.3 and hat </s>

\\end\\
"""

WORDS = SymbolTable(("<eps>", "and", "cat", "hat", "#0", "<s>", "</s>"))


def kaldi_g(arpa_path, words, tmp_path):
    wpath = tmp_path / "words.txt"
    words.write(wpath)
    out = tmp_path / "G.kaldi.fst"
    kaldilm.arpa2fst(str(arpa_path), str(out), disambig_symbol="#0", read_symbol_table=str(wpath), max_arpa_warnings=0)
    return fst.Fst.read(str(out))


def test_g_equals_kaldi_arpa2fst_with_oov_dropped(tmp_path, caplog):
    p = tmp_path / "lm.arpa"
    p.write_text(ARPA)
    G, stats = arpa_to_fst(p, WORDS)
    assert fst.equal(G, kaldi_g(p, WORDS, tmp_path), delta=1e-5)
    assert stats.oov_words == ("dog",) and stats.dropped == 2
    assert "dropped 2 n-grams with 1 words that have no pronunciation (first: dog)" in caplog.text
    # p(cat and hat </s>): trigram 'cat and hat' from <s> cat and, then 'and hat </s>'.
    c, out = best(G, [WORDS.id("cat"), WORDS.id("and"), WORDS.id("hat")])
    ln10 = math.log(10)
    assert out == [WORDS.id(w) for w in ("cat", "and", "hat")]
    assert c == pytest.approx((0.3 + 0.1 + 0.2 + 0.3) * ln10, abs=1e-4)


@pytest.mark.parametrize("lm", ["lm_unigram.arpa", "lm_train_3gram.arpa"])
def test_g_equals_kaldi_on_an4(an4_example, lm, tmp_path):
    lex = read_lexicon(an4_example / "lexicon.dic", phones=read_phones(an4_example / "phones.txt"))
    words = make_lexicon_fst(lex).words
    G, _ = arpa_to_fst(an4_example / lm, words)
    K = kaldi_g(an4_example / lm, words, tmp_path)
    assert (G.num_states(), sum(G.num_arcs(s) for s in G.states())) == (K.num_states(), sum(K.num_arcs(s) for s in K.states()))
    assert fst.equal(G, K, delta=1e-4)


def test_gzip_and_unk_mapping(tmp_path):
    p = tmp_path / "lm.arpa.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(ARPA)
    words = SymbolTable(("<eps>", "<unk>", "and", "cat", "hat", "#0", "<s>", "</s>"))
    G, stats = arpa_to_fst(p, words, unk="<unk>")
    assert stats.dropped == 0 and stats.mapped_to_unk == 2
    # <s> backs off (#0) to the unigram state, then reads 'dog cat' as '<unk> cat'.
    b = words.id("#0")
    _, out = best(G, [b, words.id("<unk>"), words.id("cat"), b, b])
    assert out == [words.id("<unk>"), words.id("cat")]


@pytest.mark.parametrize(
    "text, match",
    [
        (ARPA.replace("ngram 2=5", "ngram 2=6"), r":22: the header says ngram 2=6, but the section has 5 lines"),
        (ARPA.replace("-0.5 and hat\n", "-0.5 and\n"), r":18: expected 'log10prob w1 .. w2 \[backoff\]'"),
        (ARPA.replace("-0.7 cat -0.3", "x cat -0.3"), r":10: bad log10 probability 'x'"),
        (ARPA.split("\\3-grams:")[0] + "\\3-grams:\n-0.1 <s> cat and\n", r"truncated ARPA"),
        ("hello\n", r"no \\data\\ line: not an ARPA file"),
    ],
)
def test_malformed_arpa_names_file_and_line(tmp_path, text, match):
    p = tmp_path / "bad.arpa"
    p.write_text(text)
    with pytest.raises(InputFormatError, match=match):
        arpa_to_fst(p, WORDS)


def test_empty_vocabulary_after_oov_is_an_error(tmp_path):
    p = tmp_path / "lm.arpa"
    p.write_text(ARPA)
    words = SymbolTable(("<eps>", "zebra", "#0", "<s>", "</s>"))
    with pytest.raises(GraphBuildError, match="no n-gram is left"):
        arpa_to_fst(p, words)


def test_phrase_grammar_accepts_exactly_the_phrases():
    G = phrases_to_fst([["cat", "and", "hat"], ["hat"]], WORDS)
    ids = lambda *w: [WORDS.id(x) for x in w]  # noqa: E731
    assert best(G, ids("cat", "and", "hat"))[0] == pytest.approx(math.log(2))
    assert best(G, ids("hat"))[0] == pytest.approx(math.log(2))
    assert best(G, ids("cat")) is None
    with pytest.raises(GraphBuildError, match="'dog', which has no pronunciation"):
        phrases_to_fst([["dog"]], WORDS)
