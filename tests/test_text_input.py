"""Every reader of the text files users write takes a byte-order mark (Windows editors
start UTF-8 files with one) and refuses a line that is not UTF-8 naming the file and line
(hclg.text_input). Before, the mark was glued to the first word of symbol tables, HMM
tables, hotwords, phrase grammars and Kaldi text, or made an ARPA file "not an ARPA file", and a stray byte
in an ARPA file, a tokens file or an HMM table was a bare codec error with neither."""

import gzip

import pytest

from hclg.errors import InputFormatError

ARPA = "\\data\\\nngram 1=3\n\n\\1-grams:\n-0.5 <s>\n-0.3 a\n-0.4 </s>\n\n\\end\\\n"


def _reader(name):
    """(reader, a file it reads) by name; the reader's result must compare by value."""
    from hclg.graph.arpa import iter_arpa
    from hclg.graph.context import read_context_table
    from hclg.graph.ctc_topology import read_token_list
    from hclg.graph.grammar import read_phrases
    from hclg.graph.hmm_topology import read_pdf_map, read_transition_table
    from hclg.graph.lexicon import read_lexicon
    from hclg.graph.symbols import SymbolTable
    from hclg.scoring import read_text
    from hclg.search.bias import read_hotwords

    def hotwords(p):  # (each phrase keeps its file:line, the same either way)
        return [(h.text, h.boost, h.where) for h in read_hotwords(p)]

    def arpa(p):
        return [x[:1] + x[2:] for x in iter_arpa(p)]  # (line numbers aside: none move here)

    return {
        "lexicon": (lambda p: [(e.word, e.phones) for e in read_lexicon(p).entries], "cat k ae t\nhat h ae t\n"),
        "arpa": (arpa, ARPA),
        "pdf_map": (read_pdf_map, "AA 0 0\nAA 1 1\n"),
        "transitions": (lambda p: {k: (h.num_states, h.transitions) for k, h in read_transition_table(p).items()},
                        "AA 0 0 0.5\nAA 0 1 0.5\n"),
        "tokens": (read_token_list, "<blk> 0\na 1\nb 2\n"),
        "words": (SymbolTable.read, "<eps> 0\na 1\nb 2\n"),
        "hotwords": (hotwords, "a b 2\nc d\n"),
        "text": (read_text, "u1 a b\nu2 c\n"),
        "context": (lambda p: read_context_table(p).entries, "- AA - 0 5\nBB AA - 0 6\n"),
        "phrases": (read_phrases, "call home\ncall the office\n"),
    }[name]


NAMES = ["lexicon", "arpa", "pdf_map", "transitions", "tokens", "words", "hotwords", "text", "context", "phrases"]


@pytest.mark.parametrize("name", NAMES)
def test_a_byte_order_mark_is_dropped(tmp_path, name):
    read, text = _reader(name)
    plain, marked = tmp_path / "plain" / name, tmp_path / "marked" / name
    for p, data in ((plain, text.encode()), (marked, b"\xef\xbb\xbf" + text.encode())):
        p.parent.mkdir()
        p.write_bytes(data)
    got, want = read(marked), read(plain)
    if name == "hotwords":  # the same lines of another file
        got = [(t, b, w.replace("marked", "plain")) for t, b, w in got]
    assert got == want


@pytest.mark.parametrize("name", NAMES)
def test_a_line_that_is_not_utf8_names_file_and_line(tmp_path, name):
    read, text = _reader(name)
    lines = text.encode().splitlines(keepends=True)
    p = tmp_path / name
    p.write_bytes(lines[0] + lines[1].replace(b" ", b" \xe9", 1) + b"".join(lines[2:]))
    with pytest.raises(InputFormatError, match=rf"{name}:2: not UTF-8 text \(byte 0xe9 at column "):
        read(p)


def test_gzipped_files_are_told_by_their_bytes_and_a_cut_one_is_an_error(tmp_path):
    from hclg.graph.arpa import iter_arpa

    z = gzip.compress(ARPA.encode())
    (tmp_path / "lm.txt").write_bytes(z)  # no .gz in its name
    assert [x[2] for x in iter_arpa(tmp_path / "lm.txt") if x[0] != "header"] == [["<s>"], ["a"], ["</s>"]]
    (tmp_path / "cut.gz").write_bytes(z[: len(z) // 2])
    with pytest.raises(InputFormatError, match="cut.gz:[0-9]+: the gzipped file is cut short or corrupt"):
        list(iter_arpa(tmp_path / "cut.gz"))
