"""The catalogue of bad inputs and misuses (issue 13), each asserting the exit status and
the message: a clear error naming the file, utterance or option, never a traceback, never a
file written outside its folder, never an input overwritten."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from helpers import ROOT
from hclg.cli import main

KALDI_LATS = f"ark:{ROOT}/tests/data/kaldi_mono_lattices/lat.1.gz"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("command", ["ctm", "oracle", "rescore", "sweep"])
def test_lattice_commands_that_need_the_graph_say_so(command):
    extra = {"oracle": ["--ref", os.devnull], "rescore": ["--lm", os.devnull, "-o", "ark:/dev/null"],
             "sweep": ["--ref", os.devnull]}.get(command, [])
    r = run("lattice", command, *extra, KALDI_LATS)
    assert r.exit_code == 2 and "Missing option '--graph'" in r.output, r.output
    assert "Traceback" not in r.output and not isinstance(r.exception, AttributeError)


def test_max_active_of_one_is_refused_as_kaldi_does():
    from hclg.search.options import DecoderOptions

    with pytest.raises(ValueError, match="max_active must be > 1"):
        DecoderOptions(max_active=1)
    assert DecoderOptions(max_active=2, min_active=0).max_active == 2


def test_posteriors_are_floored_at_kaldis_1e_20():
    from hclg.search.likelihoods import scaled_loglikes

    x = np.array([[0.0, 1.0], [0.5, 0.5]], np.float32)
    ll = scaled_loglikes(x, "posteriors", 1.0)
    assert ll[0, 0] == pytest.approx(np.log(1e-20), rel=1e-6)  # as Kaldi's DecodableAmNnet floors them
    assert ll[1, 1] == pytest.approx(np.log(0.5), rel=1e-6)


@pytest.mark.parametrize("utt", ["../escaped", "/tmp/abs", "a/b", "..", ".hidden"])
def test_utterance_ids_never_write_outside_the_folder(tmp_path, utt):
    from hclg.errors import HclgError
    from hclg.lattice.archives import LatticeWriter, read_lattices

    lat = next(read_lattices(KALDI_LATS, acoustic_scale=1.0))
    lat = type(lat)(**{**{f: getattr(lat, f) for f in ("src", "dst", "word", "graph", "acoustic", "align_off", "align",
                                                       "final_graph", "final_acoustic", "final_align_off",
                                                       "final_align")}, "utt": utt})
    out = tmp_path / "out"
    before = set(tmp_path.rglob("*")) | set(tmp_path.parent.glob("*"))
    for spec in (f"npz:{out}", f"fst:{out}"):
        with LatticeWriter(spec) as w, pytest.raises(HclgError, match="utterance .* cannot name a file"):
            w.write(lat)
    assert set(tmp_path.parent.glob("*")) <= before | {out} and not list(out.glob("*"))
    assert not os.path.exists("/tmp/abs.npz") or utt != "/tmp/abs"


def test_a_lattice_file_is_never_its_own_output(tmp_path):
    src = tmp_path / "lat.ark"
    shutil.copy(ROOT / "tests" / "data" / "kaldi_mono_lattices" / "lat.1.gz", src)
    size = src.stat().st_size
    for args in (["prune", "--beam", "2", "-o", f"ark:{src}"],):
        r = run("lattice", *args, f"ark:{src}")
        assert r.exit_code == 1 and "is also the input" in r.output, r.output
    assert src.stat().st_size == size


def test_npz_keys_with_white_space_are_refused(tmp_path, an4_graph):
    p = tmp_path / "u.npz"
    m = np.zeros((5, 102), np.float32)
    np.savez(p, **{"ok": m, "forged\nline": m})
    out = tmp_path / "hyp.txt"
    r = run("decode", "--input-kind", "log-likelihoods", "-o", out, an4_graph, p)
    assert r.exit_code == 1
    lines = out.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["ok"]


def test_nbest_into_a_closed_pipe_is_quiet():
    p = subprocess.Popen([sys.executable, "-m", "hclg.cli", "lattice", "nbest", "-n", "100", KALDI_LATS],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Broken pipe" not in err and "Traceback" not in err, err


def test_decode_never_writes_over_its_input_nor_outside_the_lattice_folder(tmp_path, an4_graph):
    ark = tmp_path / "in.ark"
    shutil.copy(ROOT / "examples" / "an4" / "loglikes_demo.ark", ark)
    size = ark.stat().st_size
    for extra in (["-o", ark], ["--lattice", f"ark:{ark}"], ["--ctm", ark]):
        r = run("decode", "--input-kind", "log-likelihoods", *extra, an4_graph, f"ark:{ark}")
        assert r.exit_code == 1 and "is also the input" in r.output, r.output
    assert ark.stat().st_size == size
    m = np.zeros((5, 102), np.float32)
    np.savez(tmp_path / "u.npz", **{"ok": m, "..%sescape" % os.sep: m})
    r = run("decode", "--input-kind", "log-likelihoods", "-o", tmp_path / "h.txt", "--lattice", f"npz:{tmp_path}/lats",
            an4_graph, tmp_path / "u.npz")
    assert r.exit_code == 1  # the other utterance is decoded and written
    assert sorted(p.name for p in (tmp_path / "lats").iterdir()) == ["ok.npz"]
    assert not (tmp_path / "escape.npz").exists()
    assert [line.split()[0] for line in (tmp_path / "h.txt").read_text().splitlines()] == ["ok"]


def test_reading_kaldi_archives_without_their_scale_warns():
    def stderr(*args):
        p = subprocess.run([sys.executable, "-m", "hclg.cli", "lattice", "best", *args, KALDI_LATS],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stderr

    err = stderr()
    assert "do not record the acoustic scale" in err and "scoring at 0.1" in err
    assert "do not record the acoustic scale" not in stderr("--acoustic-scale", "0.1")


def test_posteriors_decoded_as_log_posteriors_fail_loudly(tmp_path, tiny_graphs):
    ctc = tiny_graphs[1]
    import json as _json

    cols = _json.loads((ctc / "manifest.json").read_text())["counts"]["columns"]
    post = np.full((8, cols), 1.0 / cols, np.float32)
    np.save(tmp_path / "u1.npy", post)
    r = run("decode", "-o", tmp_path / "h.txt", ctc, tmp_path / "u1.npy")
    assert r.exit_code == 1 and "failed 1" in r.output
    r = run("decode", "--input-kind", "posteriors", "-o", tmp_path / "h.txt", ctc, tmp_path / "u1.npy")
    assert r.exit_code == 0, r.output


def test_corrupt_lattices_are_errors_not_crashes(tmp_path, an4_graph):
    import gzip as _gzip
    import struct

    from hclg.errors import InputFormatError
    from hclg.fst.openfst_file import parse_header
    from hclg.lattice.archives import read_lattices

    data = bytearray(_gzip.decompress((ROOT / "tests" / "data" / "kaldi_mono_lattices" / "lat.1.gz").read_bytes()))
    sp = data.index(b" ")
    h = parse_header(bytes(data), sp + 1)
    body = sp + 1 + h.size
    g_a_n = struct.unpack_from("<ffi", data, body)  # state 0's final weight, then its arc count and first arc
    first_arc = body + 12 + 4 * g_a_n[2] + 8
    n_labels = struct.unpack_from("<i", data, first_arc + 8 + 8)[0]
    dst_at = first_arc + 8 + 12 + 4 * n_labels
    struct.pack_into("<i", data, dst_at, 10**6)  # an arc past the last state
    bad = tmp_path / "bad.ark"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputFormatError, match="utterance 'R040_s1_01': arc to state 1000000 of a lattice with"):
        list(read_lattices(f"ark:{bad}"))
    r = run("lattice", "best", "--acoustic-scale", "0.1", f"ark:{bad}")
    assert r.exit_code == 1 and "arc to state 1000000" in r.output and "Traceback" not in r.output
    txt = tmp_path / "bad.txt"
    txt.write_text("u1\n0\t-3\t5\t1,2,1_2\n-3\t0,0,\n\n")
    with pytest.raises(InputFormatError, match=r"bad.txt:2: state ids must be >= 0"):
        list(read_lattices(f"ark,t:{txt}"))
    # word ids that the graph's words.txt does not have: that lattice fails, by name
    txt.write_text("u1\n0\t1\t999999\t1,2,1_2\n1\t0,0,\n\n")
    r = run("lattice", "nbest", "--graph", an4_graph, f"ark,t:{txt}")
    assert r.exit_code == 1 and "Traceback" not in r.output


def test_problems_known_before_decoding_are_reported_once(tmp_path, an4_graph):
    np.savez(tmp_path / "u.npz", **{f"u{i}": np.zeros((5, 40), np.float32) for i in range(30)})
    r = run("decode", "--input-kind", "log-likelihoods", "-o", tmp_path / "h.txt", an4_graph, tmp_path / "u.npz")
    assert r.exit_code == 1 and r.output.count("the inputs have 40 columns") == 1 and "reads 102" in r.output
    r = run("decode", "--input-kind", "log-likelihoods", "--blank-skip-threshold", "0.9", "-o", tmp_path / "h.txt",
            an4_graph, tmp_path / "u.npz")
    assert r.exit_code == 1 and "are for CTC graphs" in r.output and "is an HMM graph" in r.output


def test_text_output_takes_kaldi_wspecifiers_and_missing_folders_are_messages(tmp_path, an4_graph):
    ark = f"ark:{ROOT}/examples/an4/loglikes_demo.ark"
    r = run("decode", "--input-kind", "log-likelihoods", "-o", f"ark,t:{tmp_path}/h.txt", an4_graph, ark)
    assert r.exit_code == 0, r.output
    assert len((tmp_path / "h.txt").read_text().splitlines()) == 6
    r = run("decode", "--input-kind", "log-likelihoods", "-o", f"ark:{tmp_path}/h.txt", an4_graph, ark)
    assert r.exit_code == 1 and "give ark,t:PATH" in r.output
    r = run("decode", "--input-kind", "log-likelihoods", "-o", tmp_path / "no" / "h.txt", an4_graph, ark)
    assert r.exit_code == 1 and "the folder" in r.output and "does not exist" in r.output
    assert not isinstance(r.exception, FileNotFoundError)


def test_ctrl_c_is_one_line_and_status_130(tmp_path, an4_graph, monkeypatch):
    import hclg.batch

    def interrupted(*a, **k):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise SystemError("<built-in function viterbi> returned a result with an exception set") from e

    monkeypatch.setattr(hclg.batch, "decode_batch", interrupted)
    r = run("decode", "--input-kind", "log-likelihoods", "-o", tmp_path / "h.txt", an4_graph,
            f"ark:{ROOT}/examples/an4/loglikes_demo.ark")
    assert r.exit_code == 130 and "interrupted" in r.output and "--resume" in r.output
    assert "SystemError" not in r.output and "Traceback" not in r.output


def test_an_unreadable_kaldi_archive_is_one_message(tmp_path, an4_graph):
    bad = tmp_path / "bad.ark"
    bad.write_bytes(b"garbage that is not an archive\x00\x01")
    p = subprocess.run([sys.executable, "-m", "hclg.cli", "decode", "--input-kind", "log-likelihoods", "-o",
                        str(tmp_path / "h.txt"), str(an4_graph), f"ark:{bad}"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 1
    assert f"cannot read ark:{bad}: Failed to read matrix" in p.stderr
    assert "kaldi_native_io" not in p.stderr and "Traceback" not in p.stderr and "Exception ignored" not in p.stderr


def test_non_utf8_transcripts_name_file_and_line(tmp_path):
    bad = tmp_path / "text"
    bad.write_bytes(b"u1 a\nu2 \xff\n")
    for args in (["wer", bad, bad], ["align", ROOT / "examples" / "an4", bad, "ark:/dev/null"]):
        r = run(*args)
        assert r.exit_code != 0 and "text:2: not UTF-8 text (byte 0xff" in r.output, r.output
        assert "Traceback" not in r.output


def test_a_byte_order_mark_is_not_part_of_the_first_utterance_id(tmp_path):
    """Before: "no hypothesis for utterance '\\ufeffu1'" (every reader: tests/test_text_input.py)."""
    (tmp_path / "ref").write_bytes(b"\xef\xbb\xbfu1 a b\nu2 c\n")
    (tmp_path / "hyp").write_text("u1 a b\nu2 d\n")
    r = run("wer", tmp_path / "ref", tmp_path / "hyp")
    assert r.exit_code == 0 and "%WER 33.33 [ 1 / 3," in r.output, r.output
