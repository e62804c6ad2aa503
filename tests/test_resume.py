"""An interrupted decode loses nothing and duplicates nothing when resumed (issue 13): a
kill injected at each write point of an utterance (before its lattice, between its
lattice, CTM, JSON and text line), then --resume, gives exactly the outputs of one
uninterrupted run."""

import pytest

from helpers import EXAMPLE
from hclg.batch import decode_batch
from hclg.lattice.archives import LatticeWriter
from hclg.search.decoder import Result
from hclg.search.options import DecoderOptions

OPTS = DecoderOptions(input_kind="log-likelihoods", lattice_beam=5.0)
INPUTS = [f"ark:{EXAMPLE}/loglikes_demo.ark"]
VICTIM = "cen4-marh-b"  # the third utterance


def outputs(d, lat_spec):
    d.mkdir()
    decode_batch_args = dict(text_out=str(d / "h.txt"), ctm_out=str(d / "h.ctm"), json_out=str(d / "h.jsonl"),
                             lattice_out=f"{lat_spec}:{d}/lat")
    return decode_batch_args


def read_all(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def interrupt_at(monkeypatch, point):
    """Raises KeyboardInterrupt at ``point`` of the victim's writes."""
    def boom(name, real):
        def f(self, *a, **k):
            if getattr(self, "utt", None) == VICTIM or (a and getattr(a[0], "utt", None) == VICTIM):
                raise KeyboardInterrupt(name)
            return real(self, *a, **k)
        return f

    if point == "lattice":
        monkeypatch.setattr(LatticeWriter, "write", boom("lattice", LatticeWriter.write))
    elif point == "ctm":
        monkeypatch.setattr(Result, "ctm_lines", boom("ctm", Result.ctm_lines))
    elif point == "json":
        monkeypatch.setattr(Result, "as_dict", boom("json", Result.as_dict))
    else:
        real = Result.text.fget
        monkeypatch.setattr(Result, "text", property(boom("text", real)))


@pytest.mark.parametrize("lat_spec", ["ark,t", "ark"])
@pytest.mark.parametrize("point", ["lattice", "ctm", "json", "text"])
def test_resume_after_a_kill_at_each_write_point(tmp_path, monkeypatch, an4_graph, lat_spec, point):
    ref = tmp_path / "ref"
    s = decode_batch(an4_graph, INPUTS, OPTS, **outputs(ref, lat_spec), progress=False)
    assert s.decoded == 6
    run = tmp_path / "run"
    args = outputs(run, lat_spec)
    with monkeypatch.context() as m:
        interrupt_at(m, point)
        with pytest.raises(KeyboardInterrupt):
            decode_batch(an4_graph, INPUTS, OPTS, **args, progress=False)
    s = decode_batch(an4_graph, INPUTS, OPTS, **args, resume=True, progress=False)
    assert s.skipped == 2 and s.decoded == 4
    assert read_all(run) == read_all(ref)


def test_resume_needs_a_text_output_file_and_a_bad_lattice_spec_truncates_nothing(tmp_path, an4_graph):
    with pytest.raises(ValueError, match="--resume needs the text output in a file"):
        decode_batch(an4_graph, INPUTS, OPTS, text_out="-", resume=True, lattice_out=f"ark,t:{tmp_path}/l")
    out = tmp_path / "h.txt"
    out.write_text("kept\n")
    with pytest.raises(ValueError, match="unknown lattice specifier"):
        decode_batch(an4_graph, INPUTS, OPTS, text_out=str(out), lattice_out=f"ark;t:{tmp_path}/l")
    assert out.read_text() == "kept\n"


def test_file_names_with_spaces_are_not_utterance_ids(tmp_path, an4_graph):
    """An utterance 'a b' (a.npy named so) was written as 'a b …' and read back as 'a' on
    every resume: decoded again and again (issue 13)."""
    import numpy as np

    d = tmp_path / "in"
    d.mkdir()
    np.save(d / "u1.npy", np.zeros((5, 102), np.float32))
    np.save(d / "two words.npy", np.zeros((5, 102), np.float32))
    out = tmp_path / "h.txt"
    s = decode_batch(an4_graph, [str(d)], OPTS, str(out), progress=False)
    assert (s.decoded, s.failed) == (1, 1)
    s = decode_batch(an4_graph, [str(d)], OPTS, str(out), resume=True, progress=False)
    assert (s.decoded, s.skipped) == (0, 1)
    assert [line.split()[0] for line in out.read_text().splitlines()] == ["u1"]
