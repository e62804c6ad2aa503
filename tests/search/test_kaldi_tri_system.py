"""A real context-dependent (triphone) Kaldi system (tests/data/kaldi_tri_system: Kaldi's
own tri1-style GMM model, decision tree, HCLG.fst, decode log and lattices; the features
are the monophone system's, the same 55 test utterances).

The independent answers: Kaldi's decode log (1-best words and "Log-like per frame"), the
best paths of Kaldi's lattices (transition id by transition id), word times from them by
Kaldi's rules (tests/oracles/kaldi_rules.py), Kaldi's scoring wer_N files, and kaldi-decoder's
FasterDecoder on the same HCLG.fst. The tree is checked against the transition model that
Kaldi built from it.
"""

from __future__ import annotations

import itertools
import re

import pytest
from helpers import ROOT
from oracles.kaldi_gmm import recipe_test_loglikes
from oracles.kaldi_rules import (
    KALDI_OPTIONS,
    assert_decodes_as_kaldi,
    assert_same_graph,
    lattice_best_paths,
    read_decode_log,
    read_word_boundary,
)

from hclg.graph.kaldi_graph import import_kaldi_graph
from hclg.graph.kaldi_model import read_transition_model
from hclg.graph.kaldi_tree import read_kaldi_tree
from hclg.search.decoder import Decoder

TRI = ROOT / "tests" / "data" / "kaldi_tri_system"
MONO = ROOT / "tests" / "data" / "kaldi_mono_system"


@pytest.fixture(scope="module")
def tri_system(tmp_path_factory):
    out = import_kaldi_graph(TRI / "graph", TRI / "final.mdl", tmp_path_factory.mktemp("tri") / "graph")
    return out, recipe_test_loglikes(TRI / "final.mdl"), read_decode_log(TRI / "decode.1.log")


@pytest.mark.parametrize("system", ["kaldi_tri_system", "kaldi_mono_system"])
def test_tree_gives_the_transition_states_kaldi_built_from_it(system):
    """Kaldi's TransitionModel holds one transition state per (phone, HMM state, pdfs) that
    its tree can give (GetPdfInfo): asking the tree for every phone window over the model's
    phones (0 at a boundary) must give exactly that set (470 for the triphone tree, 266
    for the monophone one)."""
    tree = read_kaldi_tree(ROOT / "tests" / "data" / system / "tree")
    model = read_transition_model(ROOT / "tests" / "data" / system / "final.mdl")
    phones = model.phones
    assert (tree.context_width, tree.central_position) == ((3, 1) if system == "kaldi_tri_system" else (1, 0))
    got = set()
    for c in phones:
        states = model.entries[model.phone_entry[c]][:-1]
        windows = [(l, c, r) for l, r in itertools.product([0, *phones], repeat=2)] if tree.context_width == 3 \
            else [(c,)]
        for w in windows:
            for s, (fwd, loop) in enumerate(tree.pdfs(w, states)):
                got.add((c, s, fwd, loop))
    assert got == set(model.tuples)
    assert len(got) == (470 if system == "kaldi_tri_system" else 266)


def test_text_tree_is_read_as_kaldis_event_map(tmp_path):
    """A tree in Kaldi's text form (ContextDependency::Write with binary=false), with a
    table, a split on the pdf class (key -1), a split on the right phone, and NULL
    entries; the answers checked by hand."""
    (tmp_path / "tree").write_text(
        "ContextDependency 3 1 ToPdf TE 1 4 ( NULL SE -1 [ 0 ]\n{ CE 0 SE 2 [ 3 ]\n{ CE 1 CE 2 } } CE 3 NULL ) \n"
        "EndContextDependency \n")
    t = read_kaldi_tree(tmp_path / "tree")
    assert (t.context_width, t.central_position) == (3, 1)
    assert t.pdf((2, 1, 3), 0) == 0 and t.pdf((0, 1, 3), 1) == 1 and t.pdf((2, 1, 0), 1) == 2
    assert t.pdf((1, 2, 1), 0) == 3 and t.pdf((1, 3, 1), 0) is None and t.pdf((1, 7, 1), 0) is None


def test_truncated_or_foreign_tree_is_refused_naming_the_file(tmp_path):
    from hclg.errors import InputFormatError

    data = (TRI / "tree").read_bytes()
    (tmp_path / "cut").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFormatError, match="cut"):
        read_kaldi_tree(tmp_path / "cut")
    with pytest.raises(InputFormatError, match="expected ContextDependency"):
        read_kaldi_tree(TRI / "final.mdl")


def test_imported_triphone_graph_decodes_to_kaldis_words_loglikes_and_alignments(tri_system):
    graph, ll, log = tri_system
    times = (read_transition_model(TRI / "final.mdl"), read_word_boundary(TRI / "graph" / "phones" / "word_boundary.int"))
    assert assert_decodes_as_kaldi(graph, ll, log, lattice_best_paths(TRI / "lat.1.gz"), times) > 300


def test_triphone_graph_same_1best_as_kaldi_decoders_faster_decoder(tri_system):
    import kaldi_decoder
    import kaldifst
    from oracles.kaldi_recipes import expand_columns, kaldi_faster_decode

    graph, ll, _ = tri_system
    dec = Decoder(graph, KALDI_OPTIONS)
    kfst = kaldifst.StdConstFst.read(str(TRI / "graph" / "HCLG.fst"))
    kdec = kaldi_decoder.FasterDecoder(kfst, kaldi_decoder.FasterDecoderOptions(beam=13.0, max_active=7000,
                                                                                min_active=200))
    for utt in sorted(ll):
        r = dec.decode(ll[utt], utt)
        words, cost, final = kaldi_faster_decode(kdec, expand_columns(dec.loglikes(ll[utt]), dec.graph.ilabel_to_column))
        assert final and list(r.word_ids) == words, utt
        # Kaldi adds its costs in float32 (about 2.5e-4 a step at these totals, over 300-500
        # frames); hclg in float64. Seen: 3.3e-3 at most (R040_s1_48, cost 2930.27)
        assert r.cost == pytest.approx(cost, rel=1e-5), utt


def test_compile_with_kaldis_triphone_model_and_tree_gives_kaldis_graph(tri_system, tmp_path):
    """`hclg compile --kaldi-model final.mdl --kaldi-tree tree` from the recipe's lexicon.txt
    and lm.arpa (as prepare_lang + mkgraph.sh made the triphone HCLG.fst): the same words
    and frame alignments as Kaldi's HCLG.fst on all 55 utterances, costs within Kaldi's
    weight rounding, the same sum over all paths, and a graph no larger than Kaldi's."""
    from click.testing import CliRunner

    from hclg.cli import main

    kaldi_graph, ll, _ = tri_system
    args = ["compile", "-l", str(MONO / "lang" / "lexicon.txt"), "-g", str(MONO / "lang" / "lm.arpa"),
            "--phones", str(TRI / "graph" / "phones.txt"), "--kaldi-model", str(TRI / "final.mdl"),
            "--position-dependent-phones", "--sil-phone", "sil", "--unk", "<UNK>", str(tmp_path / "g")]
    # without its tree a context-dependent model is refused (it would let a phone take any pdf)
    r = CliRunner().invoke(main, args)
    assert r.exit_code != 0 and "context-dependent" in r.output and "--kaldi-tree" in r.output
    r = CliRunner().invoke(main, [*args[:-1], "--kaldi-tree", str(MONO / "tree"), args[-1]])
    assert r.exit_code != 0 and "context-dependent" in r.output
    r = CliRunner().invoke(main, [*args[:-1], "--kaldi-tree", str(TRI / "tree"), args[-1]])
    assert r.exit_code == 0, r.output
    assert_same_graph(tmp_path / "g", kaldi_graph, ll)


def test_compile_refuses_a_tree_of_another_model(tmp_path):
    from click.testing import CliRunner

    from hclg.cli import main

    r = CliRunner().invoke(main, ["compile", "-l", str(MONO / "lang" / "lexicon.txt"), "-g",
                                  str(MONO / "lang" / "lm.arpa"), "--phones", str(TRI / "graph" / "phones.txt"),
                                  "--kaldi-model", str(MONO / "final.mdl"), "--kaldi-tree", str(TRI / "tree"),
                                  "--position-dependent-phones", "--sil-phone", "sil", "--unk", "<UNK>",
                                  str(tmp_path / "g")])
    assert r.exit_code != 0 and "is the tree this model's?" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "g").exists()


def test_lattice_sweep_on_kaldis_triphone_lattices_gives_kaldis_wer_files(tri_system):
    from click.testing import CliRunner

    from hclg.cli import main

    graph, _, _ = tri_system
    r = CliRunner().invoke(main, ["lattice", "sweep", "--graph", str(graph), "--ref",
                                  str(TRI / "scoring" / "test_filt.txt"), "--lm-weights", "7:17", "--word-penalties",
                                  "0", f"ark:{TRI / 'lat.1.gz'}"])
    assert r.exit_code == 0, r.output
    mine = {int(f[0]): f[1] for f in (line.split() for line in r.output.splitlines()) if f and f[0].isdigit()}
    for n in (7, 10, 13, 17):
        wer = re.search(r"%WER (\S+)", (TRI / "scoring" / f"wer_{n}").read_text()).group(1)
        assert mine[n] == wer, n


@pytest.mark.parametrize("system", ["kaldi_tri_system", "kaldi_mono_system"])
def test_mkgraph_on_kaldis_data_lang_gives_kaldis_graph(system, tmp_path):
    """`hclg mkgraph data/lang exp/<model> GRAPH`, as utils/mkgraph.sh, on the recipe's own
    data/lang (L_disambig.fst, G.fst, words.txt, phones.txt): the words and frame
    alignments of Kaldi's HCLG.fst on all 55 utterances, the same sum over all paths, and
    a graph no larger than Kaldi's (its order: disambiguation symbols to epsilon, local
    epsilon removal, then the encoded minimization; the monophone graph had 269 states
    against Kaldi's 268 before the local epsilon removal)."""
    from click.testing import CliRunner

    from hclg.cli import main

    model_dir = ROOT / "tests" / "data" / system
    kaldi_graph = import_kaldi_graph(model_dir / "graph", model_dir / "final.mdl", tmp_path / "kaldi")
    ll = recipe_test_loglikes(model_dir / "final.mdl")
    r = CliRunner().invoke(main, ["mkgraph", str(MONO / "lang"), str(model_dir), str(tmp_path / "g")])
    assert r.exit_code == 0, r.output
    assert_same_graph(tmp_path / "g", kaldi_graph, ll)
    # a model directory or lang directory that is not one says so
    r = CliRunner().invoke(main, ["mkgraph", str(MONO / "lang"), str(MONO / "lang"), str(tmp_path / "g2")])
    assert r.exit_code != 0 and "no final.mdl" in r.output
    r = CliRunner().invoke(main, ["mkgraph", str(model_dir / "graph"), str(model_dir), str(tmp_path / "g3")])
    assert r.exit_code != 0 and "no G.fst" in r.output
