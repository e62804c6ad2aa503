import json
import math

import numpy as np
import pytest
import pywrapfst as fst
from helpers import from_text

from hclg import constants
from hclg.errors import GraphFormatError
from hclg import fst as hfst
from hclg.graph.compile import CompileOptions, compile_graph
from hclg.graph.graph_dir import decoder_arrays, graph_info, load_graph, stochasticity


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    d = tmp_path_factory.mktemp("g")
    (d / "lexicon.txt").write_text("and ae n d\ncat k ae t\nhat h ae t\n")
    (d / "phrases.txt").write_text("cat and hat\nhat\n")
    return compile_graph(d / "lexicon.txt", d / "phrases.txt", d / "graph", CompileOptions(sil_phone="sil")).path


def test_decoder_arrays_hold_exactly_the_graph(graph):
    g = load_graph(graph)
    a = g.arrays
    assert isinstance(a.e_arcs, np.memmap) and isinstance(a.n_arcs, np.memmap)
    f = fst.Fst.read(str(graph / "HCLG.fst"))
    ref = hfst.fst_to_arrays(f)
    arcs = set()
    for s in range(a.num_states):
        for k in range(a.e_offsets[s], a.e_offsets[s + 1]):
            arcs.add((s, int(a.e_ilabel[k]), int(a.e_olabel[k]), round(float(a.e_weight[k]), 5), int(a.e_next[k])))
            assert a.e_column[k] == g.ilabel_to_column[a.e_ilabel[k]] >= 0
        for k in range(a.n_offsets[s], a.n_offsets[s + 1]):
            arcs.add((s, 0, int(a.n_olabel[k]), round(float(a.n_weight[k]), 5), int(a.n_next[k])))
    src = ref.sources()
    want = {(int(s), int(i), int(o), round(float(w), 5), int(n)) for s, i, o, w, n in zip(src, ref.ilabel, ref.olabel, ref.weight, ref.nextstate)}
    assert arcs == want and len(want) == ref.num_arcs
    np.testing.assert_array_equal(a.final, ref.final)
    assert a.start == f.start()


def test_info_reports_sizes_and_stochasticity(graph):
    info = graph_info(graph)
    assert info["states"] == load_graph(graph).arrays.num_states
    assert info["words"] == 3 and info["topology"] == "hmm"
    # phrases cost log 2 each at the start: the start state sums to 2 * 1/2 * (sil mix) -> 0
    assert info["stochastic_max"] <= 0.7 and info["stochastic_min"] >= -1.0


def test_stochasticity_of_a_hand_fst():
    f = from_text(f"0 1 1 1 {math.log(2)}\n0 1 2 2 {math.log(2)}\n1 2 1 1 0\n1 {math.log(2)}\n2\n")
    lo, hi = stochasticity(decoder_arrays(f, np.array([-1, 0, 1])))
    # state 0: 1/2 + 1/2 = 1 -> 0; state 1: 1 + 1/2 -> -log 1.5; state 2: final 1 -> 0
    assert lo == pytest.approx(-math.log(1.5), abs=1e-6) and hi == pytest.approx(0.0, abs=1e-6)


def test_other_format_version_and_missing_files_are_clear(graph, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(graph, copy)
    m = json.loads((copy / "manifest.json").read_text())
    m["format_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(GraphFormatError, match=f"graph format version 99, but this hclg reads version {constants.GRAPH_FORMAT_VERSION}"):
        load_graph(copy)
    with pytest.raises(GraphFormatError, match="not a graph directory"):
        load_graph(tmp_path)
    m["format_version"] = constants.GRAPH_FORMAT_VERSION
    (copy / "manifest.json").write_text(json.dumps(m))
    (copy / "decoder" / "e_arcs.npy").unlink()
    with pytest.raises(GraphFormatError, match="missing e_arcs.npy"):
        load_graph(copy)


def test_left_disambiguation_symbol_is_refused():
    f = from_text("0 1 5 0 0\n1\n")
    with pytest.raises(GraphFormatError, match="input label 5 reads no posterior column"):
        decoder_arrays(f, np.array([-1, 0, 1, 2, 3, -1]))


def test_unit_table_is_units_txt_and_version_2_graphs_still_open(graph, tmp_path):
    """Format 3 names the unit table units.txt (tokens.txt, its name in format 2, reads as a
    model's token table, which it is not); a format-2 directory opens and decodes the same."""
    import shutil

    from hclg.search.decoder import Decoder
    from hclg.search.options import DecoderOptions

    assert (graph / "units.txt").exists() and not (graph / "tokens.txt").exists()
    assert json.loads((graph / "manifest.json").read_text())["format_version"] == 4
    old = tmp_path / "v2"
    shutil.copytree(graph, old)
    (old / "units.txt").rename(old / "tokens.txt")
    m = json.loads((old / "manifest.json").read_text())
    m["format_version"] = 2
    (old / "manifest.json").write_text(json.dumps(m))
    assert load_graph(old).units == load_graph(graph).units
    ll = np.random.default_rng(0).normal(0, 2, size=(30, load_graph(graph).num_columns)).astype(np.float32)
    opts = DecoderOptions(input_kind="log-likelihoods", word_times=True)
    a, b = Decoder(graph, opts).decode(ll), Decoder(old, opts).decode(ll)
    assert (a.words, a.cost, a.start_frames) == (b.words, b.cost, b.start_frames)


def test_compile_never_writes_into_its_inputs_folder_nor_a_foreign_one(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "lexicon.txt").write_text("cat k ae t\nhat h ae t\n")
    (d / "g.txt").write_text("cat\nhat\n")
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    with pytest.raises(GraphFormatError, match="lies inside the graph directory"):
        compile_graph(d / "lexicon.txt", d / "g.txt", d, CompileOptions(sil_phone="sil"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "tokens.txt").write_text("a model's own file\n")
    with pytest.raises(GraphFormatError, match="is not an hclg graph directory"):
        compile_graph(d / "lexicon.txt", d / "g.txt", other, CompileOptions(sil_phone="sil"))
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    assert (other / "tokens.txt").read_text() == "a model's own file\n" and len(list(other.iterdir())) == 1


def test_recompiling_is_atomic(tmp_path):
    (tmp_path / "lexicon.txt").write_text("cat k ae t\nhat h ae t\n")
    (tmp_path / "g.txt").write_text("cat\nhat\n")
    (tmp_path / "bad.arpa").write_text("\\data\\\nngram 1=1\n\n\\1-grams:\n-0.5 cat\n")  # truncated
    g = compile_graph(tmp_path / "lexicon.txt", tmp_path / "g.txt", tmp_path / "graph", CompileOptions(sil_phone="sil")).path
    manifest = (g / "manifest.json").read_text()
    arrays = {p.name: p.read_bytes() for p in (g / "decoder").iterdir()}
    from hclg.errors import InputFormatError

    with pytest.raises(InputFormatError):
        compile_graph(tmp_path / "lexicon.txt", tmp_path / "bad.arpa", g, CompileOptions(sil_phone="sil"))
    # interrupted while the new directory is being written (after HCLG.fst and some arrays)
    import hclg.graph.graph_dir as gd

    real_save = np.save

    def interrupted_save(path, arr, *a, **k):
        if str(path).endswith("e_arcs.npy"):
            raise KeyboardInterrupt
        return real_save(path, arr, *a, **k)

    (tmp_path / "g.txt").write_text("hat cat\n")
    gd.np.save = interrupted_save
    try:
        with pytest.raises(KeyboardInterrupt):
            compile_graph(tmp_path / "lexicon.txt", tmp_path / "g.txt", g, CompileOptions(sil_phone="sil"))
    finally:
        gd.np.save = real_save
    (tmp_path / "g.txt").write_text("cat\nhat\n")
    assert (g / "manifest.json").read_text() == manifest  # the old graph, whole
    assert {p.name: p.read_bytes() for p in (g / "decoder").iterdir()} == arrays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.arpa", "g.txt", "graph", "lexicon.txt"]  # no leftovers
    load_graph(g)
    # recompiling over it works and replaces it whole
    (tmp_path / "g.txt").write_text("cat hat\n")
    compile_graph(tmp_path / "lexicon.txt", tmp_path / "g.txt", g, CompileOptions(sil_phone="sil"))
    assert (g / "manifest.json").read_text() != manifest
    assert json.loads((g / "manifest.json").read_text())["inputs"]["grammar"]["path"] == str((tmp_path / "g.txt").resolve())


def test_arrays_of_another_graph_are_refused(tmp_path, graph):
    import shutil

    (tmp_path / "lexicon.txt").write_text("and ae n d\ncat k ae t\nhat h ae t\ndog d o g\n")
    (tmp_path / "g.txt").write_text("cat and dog\n")
    other = compile_graph(tmp_path / "lexicon.txt", tmp_path / "g.txt", tmp_path / "o", CompileOptions(sil_phone="sil")).path
    mixed = tmp_path / "mixed"
    shutil.copytree(graph, mixed)
    shutil.copy(other / "decoder" / "e_arcs.npy", mixed / "decoder" / "e_arcs.npy")
    with pytest.raises(GraphFormatError, match="do not match its manifest"):
        load_graph(mixed)


def test_a_graph_missing_a_file_or_with_a_cut_short_array_is_a_message(graph, tmp_path):
    import shutil

    from click.testing import CliRunner

    from hclg.cli import main

    g = tmp_path / "g1"
    shutil.copytree(graph, g)
    (g / "transitions.npz").unlink()
    with pytest.raises(GraphFormatError, match="missing transitions.npz"):
        load_graph(g)
    g = tmp_path / "g2"
    shutil.copytree(graph, g)
    data = (g / "decoder" / "e_arcs.npy").read_bytes()
    (g / "decoder" / "e_arcs.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(GraphFormatError, match="e_arcs.npy"):
        load_graph(g)
    r = CliRunner().invoke(main, ["info", str(g)])
    assert r.exit_code == 1 and "e_arcs.npy" in r.output and r.exception.__class__ is SystemExit
