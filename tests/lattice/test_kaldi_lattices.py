"""Lattices Kaldi itself wrote (tests/data/kaldi_mono_lattices: gmm-latgen-faster's binary,
gzipped archive and lattice-best-path's answers on it): hclg reads them, finds Kaldi's best
paths and costs, and writes binary archives in Kaldi's own form."""

import gzip
import re

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import ROOT
from hclg.cli import main
from hclg.fst.openfst_file import MAGIC
from hclg.lattice import ops
from hclg.lattice.archives import LatticeWriter, read_lattices

KALDI = ROOT / "tests" / "data" / "kaldi_mono_lattices"
SPEC = f"ark:{KALDI}/lat.1.gz"


def kaldi_tra(lmwt):
    """utt -> word ids of Kaldi's ``lattice-best-path --lm-scale=lmwt``."""
    out = {}
    for line in open(KALDI / f"{lmwt}.tra"):
        f = line.split()
        out[f[0]] = [int(x) for x in f[1:]]
    return out


def test_reads_kaldis_gzipped_binary_archive_and_finds_its_best_paths():
    lats = list(read_lattices(SPEC, acoustic_scale=1.0))
    assert len(lats) == 55 and len({lat.utt for lat in lats}) == 55
    for lmwt in (7, 10, 13, 17):
        want = kaldi_tra(lmwt)
        got = {lat.utt: list(ops.best_path(lat, acoustic_scale=1.0, lm_scale=lmwt).words) for lat in lats}
        assert got == want, lmwt
    # and the costs lattice-best-path printed (6 significant digits): lm_scale x graph + acoustic
    costs = {m.group(1): (float(m.group(2)), float(m.group(3)))
             for m in re.finditer(r"utterance (\S+), best cost (\S+) \+ (\S+) =", (KALDI / "best_path.10.log").read_text())}
    assert len(costs) == 55
    for lat in lats:
        p = ops.best_path(lat, acoustic_scale=1.0, lm_scale=10)
        g, a = costs[lat.utt]
        assert 10 * p.graph_cost == pytest.approx(g, rel=2e-6, abs=1e-3)
        assert p.acoustic_cost == pytest.approx(a, rel=2e-6, abs=1e-3)


def test_writes_binary_archives_in_kaldis_form(tmp_path):
    lats = list(read_lattices(SPEC, acoustic_scale=1.0))
    out = tmp_path / "lat.ark"
    with LatticeWriter(f"ark:{out}") as w:
        for lat in lats:
            w.write(lat)
    data = out.read_bytes()
    first = lats[0].utt.encode() + b" "
    assert data.startswith(first + MAGIC.to_bytes(4, "little", signed=True))  # no "\0B": Kaldi's form
    kaldi = gzip.decompress((KALDI / "lat.1.gz").read_bytes())
    # entry by entry the same framing as Kaldi's, and as many bytes (states and arcs may
    # come in another order: hclg keeps its lattices topologically sorted)
    assert len(data) == len(kaldi)
    assert [m.start() for m in re.finditer(re.escape(MAGIC.to_bytes(4, "little", signed=True)), data)] == \
        [m.start() for m in re.finditer(re.escape(MAGIC.to_bytes(4, "little", signed=True)), kaldi)]
    back = list(read_lattices(f"ark:{out}", acoustic_scale=1.0))
    assert [b.utt for b in back] == [lat.utt for lat in lats]
    for a, b in zip(lats, back):  # lossless, up to the numbering of states
        assert (a.num_states, a.num_arcs) == (b.num_states, b.num_arcs)
        pa, pb = ops.nbest(a, 10**6, 1.0, 10), ops.nbest(b, 10**6, 1.0, 10)
        assert [(p.words, p.graph_cost, p.acoustic_cost) for p in pa] == [(p.words, p.graph_cost, p.acoustic_cost) for p in pb]
        for x, y in zip(pa, pb):
            np.testing.assert_array_equal(x.labels(a), y.labels(b))


def test_lattice_best_on_kaldis_archive_prints_kaldis_best_paths():
    r = CliRunner().invoke(main, ["lattice", "best", "--acoustic-scale", "0.1", SPEC])
    assert r.exit_code == 0, r.output
    got = {f[0]: [int(x) for x in f[1:]] for f in (line.split() for line in r.output.splitlines()) if f and f[0].startswith("R0")}
    assert got == kaldi_tra(10)


def test_sweep_penalties_are_in_kaldis_units():
    """score.sh: lattice-scale --inv-acoustic-scale=LMWT | lattice-add-penalty
    --word-ins-penalty=WIP | lattice-best-path, i.e. cost = graph + acoustic / LMWT + WIP per
    word. Two paths, hand-checked at LMWT 10: "a" costs 10 + 100/10 + WIP = 20 + WIP, "b c"
    9 + 80/10 + 2 WIP = 17 + 2 WIP, so Kaldi prefers "a" once WIP > 3 (a penalty not scaled
    by the LM weight would need WIP > 30)."""
    from hclg.graph.symbols import SymbolTable
    from hclg.lattice.lattice import lattice_from_parts

    words = SymbolTable(("<eps>", "a", "b", "c"))
    # 0 -a-> 2 (final); 0 -b-> 1 -c-> 2
    arcs = [(0, 2, 1, 10.0, 100.0, (1, 1)), (0, 1, 2, 9.0, 40.0, (1,)), (1, 2, 3, 0.0, 40.0, (1,))]
    lat = lattice_from_parts("u", arcs, {2: (0.0, 0.0, ())}, 3, 0.1, 0.01)
    refs = {"u": ["a"]}
    for wip, kaldi_best in ((0.0, ["b", "c"]), (2.5, ["b", "c"]), (3.5, ["a"]), (5.0, ["a"])):
        costs = {("a",): 10 + 100 / 10 + wip, ("b", "c"): 9 + 80 / 10 + 2 * wip}  # Kaldi's definition
        assert list(min(costs, key=costs.get)) == kaldi_best
        res = ops.sweep([lat], refs, words, [10.0], [wip])
        assert res.rows[0][2] == (0 if kaldi_best == ["a"] else 2), (wip, res.rows)
