import numpy as np
import pytest
import pywrapfst as fst
from helpers import ROOT, best, phone_instances, random_inputs

from hclg.errors import GraphBuildError
from hclg.graph.compile import CompileOptions, compile_graph
from hclg.graph.context import read_context_table
from hclg.graph.graph_dir import load_graph
from hclg.search.decoder import Decoder
from hclg.search.options import DecoderOptions

PHONES = ["ae", "n", "d", "k", "t", "h", "sil"]


def table_text():
    lines = [f"- {p} - {s} {10 * i + s}" for i, p in enumerate(PHONES) for s in range(3)]
    # triphones with their own pdfs; 'sil' is the boundary context
    special = {("k", "ae", "t"): 100, ("h", "ae", "t"): 110, ("sil", "k", "ae"): 120, ("ae", "t", "sil"): 130,
               ("t", "ae", "n"): 140, ("ae", "t", "-"): 150}
    for (l, c, r), base in special.items():
        lines += [f"{l} {c} {r} {s} {base + s}" for s in range(3)]
    return "\n".join(lines) + "\n", special


@pytest.fixture(scope="module")
def cd_graph(tmp_path_factory):
    d = tmp_path_factory.mktemp("cd")
    (d / "lexicon.txt").write_text("and ae n d\ncat k ae t\nhat h ae t\nat ae t\n")
    (d / "g.txt").write_text("cat and hat\nhat\nat cat\ncat at hat and cat\n")
    text, _ = table_text()
    (d / "ctx.txt").write_text(text)
    (d / "phones.txt").write_text("\n".join(PHONES) + "\n")
    path = compile_graph(d / "lexicon.txt", d / "g.txt", d / "graph",
                         CompileOptions(sil_phone="sil", context_table=str(d / "ctx.txt")), phones=d / "phones.txt").path
    return d, path


def test_every_phone_reads_the_pdfs_of_its_context(cd_graph):
    d, path = cd_graph
    g = load_graph(path)
    tr = g.transitions()
    table = read_context_table(d / "ctx.txt")
    hclg = fst.Fst.read(str(path / "HCLG.fst"))
    names = g.units.symbols
    checked = 0
    for x in random_inputs(hclg, 40, seed=2):
        inst = [(names[p], pdfs) for p, pdfs in phone_instances(x, tr)]
        for k, (ph, pdfs) in enumerate(inst):
            left = inst[k - 1][0] if k > 0 else "sil"
            right = inst[k + 1][0] if k + 1 < len(inst) else "sil"
            want = {s: table.lookup(left, ph, right, s)[0] for s in pdfs}
            assert pdfs == want, (left, ph, right)
            checked += 1
        _, words = best(hclg, x)
        assert words  # a path of the graph outputs words
    assert checked > 100


def test_context_dependent_graph_decodes(cd_graph):
    _, path = cd_graph
    g = load_graph(path)
    tr = g.transitions()
    hclg = fst.Fst.read(str(path / "HCLG.fst"))
    dec = Decoder(path, DecoderOptions(input_kind="log-likelihoods", acoustic_scale=1.0))
    for x in random_inputs(hclg, 10, seed=9):
        cols = tr["pdf"][np.array(x)]
        ll = np.full((len(x), g.num_columns), -20.0, np.float32)
        ll[np.arange(len(x)), cols] = 0.0
        cost, words = best(hclg, x)
        r = dec.decode(ll)
        assert list(r.word_ids) == words


def test_mdef_is_read_and_missing_pdfs_are_errors(tmp_path):
    (tmp_path / "mdef").write_text("""0.3
2 n_base
1 n_tri
#base lft  rt p attrib tmat      ... state id's ...
  AA   -   - -    n/a    0    0    1    2    N
   B   -   - -    n/a    1    3    4    5    N
  AA   B   B i    n/a    0    6    7    8    N
  AA   B   B b    n/a    0    9   10   11    N
""")
    t = read_context_table(tmp_path / "mdef")
    assert t.lookup("B", "AA", "B", 1) == (7, 7)  # the word-internal row
    assert t.lookup("SIL", "AA", "B", 2) == (2, 2)  # back-off to the context-independent row
    (tmp_path / "lex.txt").write_text("x AA B\n")
    (tmp_path / "g.txt").write_text("x\n")
    (tmp_path / "ctx.txt").write_text("- AA - 0 1\n")
    with pytest.raises(GraphBuildError, match=r"no pdf for .*AA.* state 1"):
        compile_graph(tmp_path / "lex.txt", tmp_path / "g.txt", tmp_path / "gr",
                      CompileOptions(sil_prob=0.0, context_table=str(tmp_path / "ctx.txt")))


def test_clg_equals_kaldi_compose_context(tmp_path):
    """C o LG (built only where LG leads) against kaldifst.compose_context (Kaldi's
    fstcomposecontext, N=3, P=1), with both sides' input labels mapped to their context
    windows."""
    import kaldifst
    from oracles.kaldi_recipes import to_kaldi, to_pywrapfst

    from hclg import fst as hfst
    from hclg.graph.context import context_compose
    from hclg.graph.grammar import phrases_to_fst
    from hclg.graph.lexicon import make_lexicon_fst, read_lexicon

    (tmp_path / "l.txt").write_text("and ae n d\ncat k ae t\nhat h ae t\nat ae t\na ae\n")
    L = make_lexicon_fst(read_lexicon(tmp_path / "l.txt"), sil_prob=0.5, sil_phone="sil")
    G = phrases_to_fst([["cat", "and", "hat"], ["hat"], ["at", "cat", "a"], ["a"]], L.words)
    LG = hfst.minimize_encoded(hfst.determinize_log(hfst.compose(L.fst, G, "LG"), "det", ""), "min")
    kclg, ilabels = kaldifst.compose_context(list(L.disambig_phones), 3, 1, to_kaldi(LG))
    K = to_pywrapfst(kclg)
    ours, windows = context_compose(LG, L.phones.symbols, L.disambig_phones)
    A, B, _, _ = assert_same_clg(ours, windows, L.disambig_phones, K, ilabels)
    assert abs(A.num_states() - B.num_states()) <= 2


def test_left_biphone_clg_equals_kaldi_compose_context(tmp_path):
    """Left-biphone C o LG (Kaldi's chain models: --context-width=2 --central-position=1)
    against kaldifst.compose_context with N=2, P=1: the same language over the same
    (left, phone) windows, no phone delayed and no #-1 on the way (Kaldi's C reads it only
    where a phone is delayed). It failed before: hclg built C for triphones only."""
    import kaldifst
    from oracles.kaldi_recipes import to_kaldi, to_pywrapfst

    from hclg import fst as hfst
    from hclg.graph.context import context_compose
    from hclg.graph.grammar import phrases_to_fst
    from hclg.graph.lexicon import make_lexicon_fst, read_lexicon

    (tmp_path / "l.txt").write_text("and ae n d\ncat k ae t\nhat h ae t\nat ae t\na ae\n")
    L = make_lexicon_fst(read_lexicon(tmp_path / "l.txt"), sil_prob=0.5, sil_phone="sil")
    G = phrases_to_fst([["cat", "and", "hat"], ["hat"], ["at", "cat", "a"], ["a"], []], L.words)
    LG = hfst.minimize_encoded(hfst.determinize_log(hfst.compose(L.fst, G, "LG"), "det", ""), "min")
    kclg, ilabels = kaldifst.compose_context(list(L.disambig_phones), 2, 1, to_kaldi(LG))
    ours, windows = context_compose(LG, L.phones.symbols, L.disambig_phones, width=2)
    assert all(len(w) == 2 for w in windows)
    A, B, _, _ = assert_same_clg(ours, windows, L.disambig_phones, to_pywrapfst(kclg), ilabels)
    assert A.num_states() == B.num_states()


def test_clg_equals_kaldis_own_fstcomposecontext_output():
    """C o LG on Kaldi's own LG (data/lang/tmp/LG.fst of the real recipe in
    tests/data/kaldi_mono_system) against the CLG_3_1.fst and ilabels_3_1 that Kaldi's
    fstcomposecontext wrote from it for the triphone system: the same language over the
    same context windows. (LG's path without phones, the empty utterance, reads Kaldi's
    #-1 there, not epsilon: that once differed.)"""
    from hclg.graph.context import context_compose
    from hclg.graph.kaldi_io import KaldiObjectReader
    from hclg.graph.symbols import SymbolTable

    lang = ROOT / "tests" / "data" / "kaldi_mono_system" / "lang"
    r = KaldiObjectReader(lang / "tmp" / "ilabels_3_1")  # Kaldi's WriteILabelInfo: count, then vectors
    ilabels = [r.int_vector().tolist() for _ in range(r.int32())]
    LG = fst.Fst.read(str(lang / "tmp" / "LG.fst"))
    kaldi = fst.Fst.read(str(lang / "tmp" / "CLG_3_1.fst"))
    disambig = tuple(int(x) for x in (lang / "phones" / "disambig.int").read_text().split())
    ours, windows = context_compose(LG, SymbolTable.read(lang / "phones.txt").symbols, disambig)
    A, B, a, b = assert_same_clg(ours, windows, disambig, kaldi, ilabels)
    assert a.num_arcs == b.num_arcs and A.num_states() <= B.num_states()


def assert_same_clg(ours, windows, disambig, kaldi, ilabels):
    """``ours`` (context_compose's C o LG and windows) and Kaldi's CLG with its ilabel info
    ([] epsilon, [0] #-1, [-d] disambiguation d, else the window) read the same language
    over the same context windows (both sides' input labels mapped to them)."""
    from hclg import fst as hfst

    W, D = len(windows), len(disambig)

    def key_ours(i):
        if i == 0:
            return ()
        if i <= W:
            return tuple(windows[i - 1])
        return ("#-1",) if i == W + 1 + D else ("dis", disambig[i - W - 1])

    def key_kaldi(i):
        v = list(ilabels[i])
        if not v:
            return ()
        if len(v) == 1:
            return ("#-1",) if v[0] == 0 else ("dis", -v[0])
        return tuple(v)

    names = {}
    ids = lambda k: names.setdefault(k, len(names) + 1) if k != () else 0  # noqa: E731
    a, b = hfst.fst_to_arrays(ours), hfst.fst_to_arrays(kaldi)
    assert {key_ours(int(i)) for i in a.ilabel} == {key_kaldi(int(i)) for i in b.ilabel}
    A = hfst.arrays_to_fst(a.num_states, a.start, a.sources(), [ids(key_ours(int(i))) for i in a.ilabel], a.olabel,
                           a.weight, a.nextstate, a.final)
    B = hfst.arrays_to_fst(b.num_states, b.start, b.sources(), [ids(key_kaldi(int(i))) for i in b.ilabel], b.olabel,
                           b.weight, b.nextstate, b.final)
    enc = fst.EncodeMapper("standard", encode_labels=True)  # one mapper: same pairs, same codes
    acc = lambda f: fst.determinize(f.copy().encode(enc).rmepsilon())  # noqa: E731
    assert fst.equivalent(acc(A), acc(B), delta=1e-4)
    return A, B, a, b
