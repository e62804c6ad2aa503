"""Property-based fuzzing of the readers of users' files (issue 13): whatever the bytes, a
reader returns or raises one of hclg's own errors (which name the file and line), never
another exception, never a crash."""

import gzip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import ROOT
from hclg.errors import HclgError

TOKENS = st.sampled_from(["cat", "k", "ae", "t", "<eps>", "#0", "<s>", "</s>", "SIL", "-0.5", "0.3", "1", "nan",
                          "inf", "-99", "\\data\\", "\\1-grams:", "\\2-grams:", "\\end\\", "ngram", "1=2", "2=1",
                          "#", ";;;", "CAT(2)", "0.5", "-1e40", "é", "\ufeff", "\x00"])
LINES = st.lists(st.lists(TOKENS, max_size=6).map(" ".join), max_size=12).map(lambda ls: "\n".join(ls) + "\n")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def only_hclg_errors(fn, *args):
    try:
        fn(*args)
    except HclgError:
        pass


@FUZZ
@given(text=LINES, raw=st.binary(max_size=64))
def test_lexicon_reader(tmp_path, text, raw):
    from hclg.graph.lexicon import read_lexicon, read_phones

    p = tmp_path / "lex.txt"
    p.write_bytes(text.encode("utf-8", "surrogatepass") + raw)
    for fmt in ("auto", "kaldi", "lexiconp", "cmudict"):
        only_hclg_errors(read_lexicon, p, fmt)
    only_hclg_errors(read_phones, p)


@FUZZ
@given(text=LINES, raw=st.binary(max_size=64))
def test_arpa_reader(tmp_path, text, raw):
    from hclg.graph.arpa import iter_arpa

    p = tmp_path / "lm.arpa"
    p.write_bytes(("\\data\\\nngram 1=2\n\n\\1-grams:\n" + text).encode("utf-8", "surrogatepass") + raw)
    only_hclg_errors(lambda: list(iter_arpa(p)))
    p.write_bytes(raw + text.encode("utf-8", "surrogatepass"))
    only_hclg_errors(lambda: list(iter_arpa(p)))


@FUZZ
@given(text=LINES, raw=st.binary(max_size=64))
def test_other_text_readers(tmp_path, text, raw):
    """Tokens, symbol tables, hotwords, Kaldi text, context tables (stray bytes before,
    after, or as a gzip header)."""
    from hclg.graph.context import read_context_table
    from hclg.graph.ctc_topology import read_token_list
    from hclg.graph.symbols import SymbolTable
    from hclg.scoring import read_text
    from hclg.search.bias import read_hotwords

    p = tmp_path / "t.txt"
    for data in (text.encode("utf-8", "surrogatepass") + raw, raw + text.encode("utf-8", "surrogatepass"),
                 b"\x1f\x8b" + raw):
        p.write_bytes(data)
        for read in (read_token_list, SymbolTable.read, read_hotwords, read_text, read_context_table):
            only_hclg_errors(read, p)


@FUZZ
@given(rows=st.lists(st.tuples(st.sampled_from(["AA", "BB", "#", "é"]), st.integers(-2, 5), st.integers(-2, 5),
                               st.sampled_from(["0.5", "1", "0", "-1", "x", "nan"])), max_size=10))
def test_hmm_table_readers(tmp_path, rows):
    from hclg.graph.hmm_topology import read_pdf_map, read_transition_table

    p = tmp_path / "t.txt"
    p.write_text("".join(f"{a} {b} {c} {d}\n" for a, b, c, d in rows))
    only_hclg_errors(read_transition_table, p)
    only_hclg_errors(read_pdf_map, p)
    p.write_bytes(p.read_bytes() + b"AA 0 \xff 1\n")
    only_hclg_errors(read_transition_table, p)
    only_hclg_errors(read_pdf_map, p)


@FUZZ
@given(text=st.lists(st.lists(st.sampled_from(["u1", "0", "1", "2", "-1", "3", "1,2,1_2", "0,0,", "x,y,z",
                                               "1,2", "5", "999"]), max_size=4).map("\t".join),
                     max_size=8).map(lambda ls: "\n".join(ls) + "\n\n"))
def test_kaldi_text_lattice_reader(tmp_path, text):
    from hclg.lattice.archives import read_lattices

    p = tmp_path / "l.txt"
    p.write_text(text)
    only_hclg_errors(lambda: list(read_lattices(f"ark,t:{p}")))


KALDI = gzip.decompress((ROOT / "tests" / "data" / "kaldi_mono_lattices" / "lat.1.gz").read_bytes())


@FUZZ
@given(pos=st.integers(0, 4000), value=st.binary(min_size=1, max_size=4))
def test_kaldi_binary_lattice_reader_with_changed_bytes(tmp_path, pos, value):
    from hclg.lattice.archives import read_lattices

    data = bytearray(KALDI[:6000])
    data[pos: pos + len(value)] = value
    p = tmp_path / "l.ark"
    p.write_bytes(bytes(data))
    only_hclg_errors(lambda: [lat.num_states for lat in read_lattices(f"ark:{p}")])
