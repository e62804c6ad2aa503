"""Bad lexicons and ARPA LMs (issue 13): each a clear error naming the file and line."""

import pytest

from hclg.errors import InputFormatError
from hclg.graph.grammar import arpa_to_fst
from hclg.graph.lexicon import make_lexicon_fst, read_lexicon

ARPA = """\\data\\
ngram 1=4

\\1-grams:
{a} </s>
-99 <s>
-0.5 cat
{b} hat

\\end\\
"""


def lexicon(tmp_path, text, name="lex.txt", mode="w"):
    p = tmp_path / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("a,b,message", [
    ("nan", "-0.5", "line 5: log10 probability 'nan' is not a finite number"),
    ("-0.5", "inf", "line 8: log10 probability 'inf' is not a finite number"),
    ("-0.5", "0.3", "line 8: log10 probability 0.3 > 0: a probability above 1"),
])
def test_arpa_values_that_are_not_probabilities(tmp_path, a, b, message):
    words = read_lexicon(lexicon(tmp_path, "cat k ae t\nhat h ae t\n"))
    lm = tmp_path / "lm.arpa"
    lm.write_text(ARPA.format(a=a, b=b))
    with pytest.raises(InputFormatError, match=message.replace("line ", r"lm.arpa:")):
        arpa_to_fst(lm, make_lexicon_fst(words).words)


def test_arpa_with_the_word_eps_is_refused(tmp_path):
    words = read_lexicon(lexicon(tmp_path, "cat k ae t\nhat h ae t\n"))
    lm = tmp_path / "lm.arpa"
    lm.write_text(ARPA.format(a="-0.5", b="-0.5").replace("hat", "<eps>"))
    with pytest.raises(InputFormatError, match=r"lm.arpa:8: '<eps>' is reserved"):
        arpa_to_fst(lm, make_lexicon_fst(words).words)


@pytest.mark.parametrize("word", ["<eps>", "#0", "<s>", "</s>"])
def test_reserved_words_in_a_lexicon(tmp_path, word):
    # (a line starting with '#' is a comment in CMUdict, so '#0' is a word in a Kaldi lexicon)
    with pytest.raises(InputFormatError, match=rf"lex.txt:2: the word {word!r} is reserved"):
        read_lexicon(lexicon(tmp_path, f"cat k ae t\n{word} h ae t\n"), fmt="kaldi")


def test_a_phone_named_like_a_disambiguation_symbol(tmp_path):
    with pytest.raises(InputFormatError, match=r"lex.txt:1: phone '#' is reserved"):
        read_lexicon(lexicon(tmp_path, "cat k # t\n"))


def test_utf8_bom_does_not_eat_the_first_word(tmp_path):
    lex = read_lexicon(lexicon(tmp_path, "\ufeffcat k ae t\nhat h ae t\n"))
    assert [p.word for p in lex.entries] == ["cat", "hat"]


def test_non_utf8_lexicon_names_file_and_line(tmp_path):
    with pytest.raises(InputFormatError, match=r"lex.txt:2: not UTF-8"):
        read_lexicon(lexicon(tmp_path, b"cat k ae t\nh\xe9t h ae t\n"))


def test_hmm_tables_with_errors(tmp_path, caplog):
    from hclg.graph.hmm_topology import read_pdf_map, read_transition_table

    t = tmp_path / "trans.txt"
    t.write_text("AA 0 1 1.0\nAA 1 2 0.5\nAA 2 1 1.0\nAA 1 3 0.5\n")  # fine: 1 -> 3 exits
    read_transition_table(t)
    t.write_text("AA 0 1 1.0\nAA 1 2 1.0\nAA 2 1 1.0\nBB 0 1 1.0\nAA 0 3 0.0001\n")
    with pytest.raises(InputFormatError, match="phone AA: state 1 has no path to the exit state 3"):
        read_transition_table(t)
    t.write_text("AA 0 0 0.5\nAA 0 1 0.2\n")
    read_transition_table(t)
    assert "out of state 0 sum to 0.7, not 1" in caplog.text
    t.write_text("AA 0 0 0.5\nAA 0 1 0.5\nAA 0 1 0.5\n")
    with pytest.raises(InputFormatError, match=r"trans.txt:3: phone AA: transition 0->1 given twice"):
        read_transition_table(t)
    m = tmp_path / "pdf_map.txt"
    m.write_text("AA 0 5\nAA 1 6\nAA 0 7\n")
    with pytest.raises(InputFormatError, match=r"pdf_map.txt:3: phone AA state 0 is mapped twice \(line 1"):
        read_pdf_map(m)


def test_an_ngram_given_twice_is_refused(tmp_path):
    words = read_lexicon(lexicon(tmp_path, "cat k ae t\nhat h ae t\n"))
    lm = tmp_path / "lm.arpa"
    lm.write_text("\\data\\\nngram 1=5\n\n\\1-grams:\n-0.5 </s>\n-99 <s>\n-0.5 cat\n-0.5 hat\n-0.7 cat\n\n\\end\\\n")
    with pytest.raises(InputFormatError, match="lm.arpa: an n-gram ending in 'cat' is given twice"):
        arpa_to_fst(lm, make_lexicon_fst(words).words)
    lm.write_text("\\data\\\nngram 1=4\nngram 2=3\n\n\\1-grams:\n-0.5 </s>\n-99 <s> -0.3\n-0.5 cat -0.2\n-0.5 hat\n\n"
                  "\\2-grams:\n-0.1 <s> cat\n-0.2 cat </s>\n-0.3 cat </s>\n\n\\end\\\n")
    with pytest.raises(InputFormatError, match="ending in '</s>' is given twice"):
        arpa_to_fst(lm, make_lexicon_fst(words).words)


def test_an_ngram_given_twice_is_refused_also_when_oovs_are_read_as_unk(tmp_path):
    """The check used to be skipped as soon as one OOV was mapped to <unk>; two OOVs that
    <unk> makes equal are not duplicates of the file, and pass."""
    words = read_lexicon(lexicon(tmp_path, "cat k ae t\nhat h ae t\n<unk> sil\n"))
    table = make_lexicon_fst(words).words
    lm = tmp_path / "lm.arpa"
    lm.write_text("\\data\\\nngram 1=6\n\n\\1-grams:\n-0.5 </s>\n-99 <s>\n-0.5 cat\n-0.5 dog\n-0.5 emu\n-0.7 cat\n\n\\end\\\n")
    with pytest.raises(InputFormatError, match="lm.arpa: the 1-gram 'cat' is given twice"):
        arpa_to_fst(lm, table, unk="<unk>")
    lm.write_text("\\data\\\nngram 1=6\n\n\\1-grams:\n-0.5 </s>\n-99 <s>\n-0.5 cat\n-0.5 dog\n-0.5 emu\n-0.7 dog\n\n\\end\\\n")
    with pytest.raises(InputFormatError, match="lm.arpa: the 1-gram 'dog' is given twice"):
        arpa_to_fst(lm, table, unk="<unk>")
    lm.write_text("\\data\\\nngram 1=5\n\n\\1-grams:\n-0.5 </s>\n-99 <s>\n-0.5 cat\n-0.5 dog\n-0.5 emu\n\n\\end\\\n")
    _g, stats = arpa_to_fst(lm, table, unk="<unk>")
    assert stats.mapped_to_unk == 2
