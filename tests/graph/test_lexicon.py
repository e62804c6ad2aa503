import math

import pytest
from helpers import best

from hclg.errors import InputFormatError
from hclg.graph.lexicon import add_disambig, make_lexicon_fst, read_lexicon, read_phones, Lexicon, Pronunciation


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_formats_are_detected_and_read(tmp_path):
    k = read_lexicon(write(tmp_path, "k.txt", "cat k ae t\nhat h ae t\n"))
    assert [(e.word, e.phones, e.prob) for e in k.entries] == [("cat", ("k", "ae", "t"), 1.0), ("hat", ("h", "ae", "t"), 1.0)]
    assert k.phones == ("k", "ae", "t", "h")
    p = read_lexicon(write(tmp_path, "p.txt", "a 0.7 ah\na 0.3 ey\n"))
    assert [(e.word, e.prob, e.phones) for e in p.entries] == [("a", 0.7, ("ah",)), ("a", 0.3, ("ey",))]
    c = read_lexicon(write(tmp_path, "c.dic", ";;; comment\n# another\nA  AH\nA(2)  EY\nAND AE N D\n"))
    assert [(e.word, e.phones) for e in c.entries] == [("A", ("AH",)), ("A", ("EY",)), ("AND", ("AE", "N", "D"))]


def test_bad_lines_name_file_and_line(tmp_path):
    with pytest.raises(InputFormatError, match=r"k.txt:2: word 'hat' has no pronunciation"):
        read_lexicon(write(tmp_path, "k.txt", "cat k ae t\nhat\n"))
    with pytest.raises(InputFormatError, match=r"p.txt:1: .*probability must be in \(0, 1\]"):
        read_lexicon(write(tmp_path, "p.txt", "a 1.5 ah\n"), fmt="lexiconp")
    with pytest.raises(InputFormatError, match=r"x.txt:2: phone 'zz' of word 'hat' is not in the phone set"):
        read_lexicon(write(tmp_path, "x.txt", "cat k ae t\nhat zz ae t\n"), phones=("k", "ae", "t", "h"))
    with pytest.raises(InputFormatError, match="no entries"):
        read_lexicon(write(tmp_path, "e.txt", "\n\n"))


def test_read_phones_kaldi_table_skips_eps_and_disambig(tmp_path):
    p = write(tmp_path, "phones.txt", "<eps> 0\nSIL 1\nAA 2\n#0 3\n#1 4\n")
    assert read_phones(p) == ("SIL", "AA")


def test_disambiguation_as_add_lex_disambig():
    # Hand-checked against Kaldi's add_lex_disambig.pl: 'x' is a prefix of 'x y';
    # 'x y' is a homophone pair; 'z' needs nothing.
    lex = Lexicon(
        (Pronunciation("a", ("x",)), Pronunciation("ab", ("x", "y")), Pronunciation("b", ("x", "y")), Pronunciation("c", ("z",))),
        ("x", "y", "z"),
    )
    prons, m = add_disambig(lex)
    assert prons == [("x", "#1"), ("x", "y", "#1"), ("x", "y", "#2"), ("z",)]
    assert m == 2


def test_lexicon_fst_paths_and_silence_costs(tiny_lexicon):
    lex = read_lexicon(tiny_lexicon)
    L = make_lexicon_fst(lex, sil_prob=0.5, sil_phone="sil")
    ph, w = L.phones, L.words
    seq = lambda *p: [ph.id(x) for x in p]  # noqa: E731
    cost, out = best(L.fst, seq("k", "ae", "t", "h", "ae", "t"))
    assert [w.symbols[o] for o in out] == ["cat", "hat"]
    assert cost == pytest.approx(3 * math.log(2), abs=1e-5)  # no silence at start, after cat, after hat
    cost, out = best(L.fst, seq("sil", "k", "ae", "t", "sil"))
    assert [w.symbols[o] for o in out] == ["cat"]
    assert cost == pytest.approx(2 * math.log(2), abs=1e-5)
    assert best(L.fst, seq("k", "ae")) is None
    # G's backoff symbol passes through the loop state.
    cost, out = best(L.fst, seq("#0", "k", "ae", "t"))
    assert [w.symbols[o] for o in out] == ["#0", "cat"]
    assert w.symbols[-3:] == ("#0", "<s>", "</s>")
    assert ph.symbols[-1] == "#1"  # no homophones: ndisambig = 0 + 1


def test_position_dependent_phones_and_word_boundary(tiny_lexicon):
    L = make_lexicon_fst(read_lexicon(tiny_lexicon), sil_prob=0.5, sil_phone="sil", position_dependent_phones=True)
    ph = L.phones
    _, out = best(L.fst, [ph.id(x) for x in ("k_B", "ae_I", "t_E", "sil")])
    assert [L.words.symbols[o] for o in out] == ["cat"]
    wb = dict(zip(ph.symbols, L.word_boundary))
    assert (wb["k_B"], wb["ae_I"], wb["t_E"], wb["sil"], wb["sil_S"]) == ("begin", "internal", "end", "nonword", "singleton")
