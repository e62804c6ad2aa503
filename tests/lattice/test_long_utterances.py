"""Lattice memory on long utterances (issue 13): the lattice search keeps every frame's
tokens, about 9 KB a frame on AN4's graph at beam 16, so its memory grows with the
utterance. Past --max-lattice-mem it starts again with half the lattice beam (twice, as
Kaldi's determinization does past its --max-mem), then that utterance fails with a
message and the batch goes on."""

import logging

import kaldi_native_io
import numpy as np
import pytest
from click.testing import CliRunner
from helpers import EXAMPLE

from hclg.cli import main
from hclg.errors import DecodeError
from hclg.lattice.generation import LatticeDecoder
from hclg.search.matrix_readers import iter_matrices
from hclg.search.options import DecoderOptions


def long_utterance():
    """The six demo utterances three times over: 3732 frames of real GMM scores."""
    return np.concatenate([m.copy() for _, m in iter_matrices(f"ark:{EXAMPLE / 'loglikes_demo.ark'}")] * 3)


def test_lattice_search_memory_is_bounded(an4_graph, caplog):
    ll = long_utterance()
    opts = dict(input_kind="log-likelihoods")
    whole, lat = LatticeDecoder(an4_graph, DecoderOptions(**opts)).decode_lattice(ll, "long")
    with caplog.at_level(logging.WARNING, logger="hclg"):
        r, small = LatticeDecoder(an4_graph, DecoderOptions(**opts, max_lattice_mem=30_000_000)).decode_lattice(ll, "long")
    assert "lattice search passed 30 MB" in caplog.text and "lattice beam 5 instead of 10" in caplog.text
    assert r.words == whole.words and small.num_arcs < lat.num_arcs  # the same best path, a thinner lattice
    with pytest.raises(DecodeError, match=r"utterance 'long': the lattice search passed 1 MB at frame \d+ of 3732, "
                                          r"also with lattice beam 2.5"):
        LatticeDecoder(an4_graph, DecoderOptions(**opts, max_lattice_mem=1_000_000)).decode_lattice(ll, "long")


def test_a_too_long_utterance_fails_alone_in_a_batch(an4_graph, tmp_path):
    ark = tmp_path / "in.ark"
    with kaldi_native_io.FloatMatrixWriter(f"ark:{ark}") as w:
        for utt, m in iter_matrices(f"ark:{EXAMPLE / 'loglikes_demo.ark'}"):
            w.write(utt, m.copy())
        w.write("zz-long", long_utterance())
    r = CliRunner().invoke(main, ["decode", str(an4_graph), f"ark:{ark}", "--input-kind", "log-likelihoods", "-o",
                                  str(tmp_path / "hyp.txt"), "--lattice", f"ark:{tmp_path / 'lat.ark'}",
                                  "--max-lattice-mem", "3000000"])
    assert r.exit_code == 1
    assert "utterance 'zz-long': the lattice search passed 3 MB" in r.output and "Traceback" not in r.output
    assert "decoded 6, failed 1" in r.output
    assert len((tmp_path / "hyp.txt").read_text().splitlines()) == 6
