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


def test_repeatable_optional_silence_and_fillers(tiny_lexicon, tmp_path):
    """--sil-loop-prob q: k silences between words cost -log(sil_prob) + (k-1)(-log q)
    - log(1-q) (Kaldi's L allows one: the second is refused); --fillers: each distinct
    filler pronunciation is one more alternative of the silence, output nothing."""
    lex = read_lexicon(tiny_lexicon)
    one = make_lexicon_fst(lex, sil_prob=0.5, sil_phone="sil")
    q = 0.25
    rep = make_lexicon_fst(lex, sil_prob=0.5, sil_phone="sil", sil_loop_prob=q)
    seq = lambda L, *p: [L.phones.id(x) for x in p]  # noqa: E731
    assert best(one.fst, seq(one, "k", "ae", "t", "sil", "sil", "h", "ae", "t")) is None
    for k in (1, 2, 4):
        cost, out = best(rep.fst, seq(rep, "k", "ae", "t", *["sil"] * k, "h", "ae", "t"))
        assert [rep.words.symbols[o] for o in out] == ["cat", "hat"]
        want = math.log(2) + math.log(2) + math.log(2) + (k - 1) * -math.log(q) - math.log(1 - q)
        assert cost == pytest.approx(want, abs=1e-4), k  # no sil at start, sil after cat, none after hat
    fill = write(tmp_path, "fillers.dic", "<s> sil\n</s> sil\n<sil> sil\n++NOISE++ n ae\n")
    from hclg.graph.lexicon import read_fillers
    prons = read_fillers(fill, ("sil", "n", "ae", "k", "t", "h", "d"))
    assert prons == (("sil",), ("n", "ae"))
    F = make_lexicon_fst(lex, sil_prob=0.5, sil_phone="sil", fillers=prons, sil_loop_prob=q)
    cost, out = best(F.fst, seq(F, "k", "ae", "t", "n", "ae", "sil", "h", "ae", "t"))
    assert [F.words.symbols[o] for o in out] == ["cat", "hat"]
    # the filler is one of two alternatives (log 2), then a silence follows it
    assert cost == pytest.approx(3 * math.log(2) + math.log(2) - math.log(q) + math.log(2) - math.log(1 - q), abs=1e-4)
    with pytest.raises(InputFormatError, match=r"fillers.dic:4: filler '\+\+NOISE\+\+': phone 'n' is not in the phone list"):
        read_fillers(fill, ("sil", "ae"))
