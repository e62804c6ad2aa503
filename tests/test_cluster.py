"""Decoding on a Dask cluster (hclg.cluster): the outputs of a run in one process, byte for
byte and in input order, also when a worker is killed mid-run or the driver is killed and
the run resumed; a bad utterance fails alone. Real material: AN4's GMM scores (HMM graph)
and the AN4 CTC model's held-out posteriors."""

import os
import signal
import subprocess
import sys
import threading
import time

import kaldi_native_io
import numpy as np
import pytest
from helpers import EXAMPLE, SHARED_AN4

from hclg.batch import decode_batch
from hclg.search.options import DecoderOptions

distributed = pytest.importorskip("distributed")

HMM = DecoderOptions(input_kind="log-likelihoods", beam=13.0, lattice_beam=6.0)
CTC = DecoderOptions(input_kind="log-posteriors", beam=13.0, lattice_beam=6.0)


def subset_ark(src, dst, n, utts=None):
    """The first ``n`` utterances of ``src`` (those in ``utts``, if given) as a Kaldi archive."""
    with kaldi_native_io.FloatMatrixWriter(f"ark:{dst}") as w:
        k = 0
        for utt, m in kaldi_native_io.SequentialFloatMatrixReader(f"ark:{src}"):
            if utts is None or utt in utts:
                w.write(utt, np.array(m))
                k += 1
                if k == n:
                    break
    return f"ark:{dst}"


@pytest.fixture(scope="module")
def hmm_ark(tmp_path_factory):
    src = SHARED_AN4 / "loglikes_test.ark" if (SHARED_AN4 / "loglikes_test.ark").exists() else \
        EXAMPLE / "loglikes_demo.ark"
    return subset_ark(src, tmp_path_factory.mktemp("cl") / "hmm.ark", 40)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as lc, distributed.Client(lc) as c:
        yield c


def run(graph, inputs, opts, d, **kw):
    """decode_batch's outputs (text, CTM, lattices) in folder d, as bytes."""
    d.mkdir(exist_ok=True)
    s = decode_batch(graph, inputs, opts, str(d / "hyp.txt"), ctm_out=str(d / "hyp.ctm"), progress=False,
                     lattice_out=f"ark:{d / 'lat.ark'}", **kw)
    return s, [(d / n).read_bytes() for n in ("hyp.txt", "hyp.ctm", "lat.ark")]


def test_two_workers_write_what_one_process_writes_hmm_and_ctc(an4_graph, an4_ctc_lang, hmm_ark, client,
                                                                 tmp_path):
    s1, one = run(an4_graph, [hmm_ark], HMM, tmp_path / "one")
    s2, two = run(an4_graph, [hmm_ark], HMM, tmp_path / "two", cluster=client, shard_size=3)
    assert s1.decoded == s2.decoded == 40 and s2.failed == 0
    assert two == one  # text, CTM and binary lattices, byte for byte, in input order
    dev = set((SHARED_AN4 / "ctc_dev_utts.txt").read_text().split())
    ctc_ark = subset_ark(SHARED_AN4 / "ctc_train_logprobs.ark", tmp_path / "ctc.ark", 20, dev)
    s1, one = run(an4_ctc_lang.graph, [ctc_ark], CTC, tmp_path / "c1")
    s2, two = run(an4_ctc_lang.graph, [ctc_ark], CTC, tmp_path / "c2", cluster=client, shard_size=4)
    assert s1.decoded == s2.decoded == 20 and two == one


def test_a_worker_killed_mid_run_loses_and_repeats_nothing(an4_graph, hmm_ark, tmp_path):
    _, want = run(an4_graph, [hmm_ark], HMM, tmp_path / "one")
    out = tmp_path / "two"
    out.mkdir()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as lc, distributed.Client(lc) as c:
        pids = sorted(c.run(os.getpid).values())
        lines_at_kill = []

        def kill_one_worker():  # once a few utterances are written, as a node lost mid-run
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                n = len((out / "hyp.txt").read_text().splitlines()) if (out / "hyp.txt").exists() else 0
                if n >= 4:
                    os.kill(pids[0], signal.SIGKILL)
                    lines_at_kill.append(n)
                    return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_one_worker)
        killer.start()
        s, got = run(an4_graph, [hmm_ark], HMM, out, cluster=c, shard_size=2)
        killer.join()
    assert lines_at_kill and lines_at_kill[0] < 40  # killed before the end
    assert s.decoded == 40 and s.failed == 0 and got == want


def test_driver_killed_then_resumed_gives_the_same_files(an4_graph, hmm_ark, tmp_path):
    _, want = run(an4_graph, [hmm_ark], HMM, tmp_path / "one")
    d = tmp_path / "two"
    d.mkdir()
    cmd = [sys.executable, "-m", "hclg.cli", "decode", "--cluster", "local:2", "--shard-size", "2", "--input-kind",
           "log-likelihoods", "--beam", "13", "--lattice-beam", "6", "-o", str(d / "hyp.txt"), "--ctm",
           str(d / "hyp.ctm"), "--lattice", f"ark:{d / 'lat.ark'}", str(an4_graph), hmm_ark]
    p = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and p.poll() is None:
        if (d / "hyp.txt").exists() and len((d / "hyp.txt").read_text().splitlines()) >= 6:
            os.killpg(p.pid, signal.SIGKILL)  # the driver and its local cluster, mid-run
            break
        time.sleep(0.02)
    p.wait()
    done = len((d / "hyp.txt").read_text().splitlines())
    assert 6 <= done < 40
    r = subprocess.run([*cmd[:4], "--resume", *cmd[4:]], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert f"skipped {done}" in r.stderr
    assert [(d / n).read_bytes() for n in ("hyp.txt", "hyp.ctm", "lat.ark")] == want


def test_a_bad_utterance_fails_alone_and_is_named(an4_graph, hmm_ark, client, tmp_path, caplog):
    mats = [(u, np.array(m)) for u, m in kaldi_native_io.SequentialFloatMatrixReader(hmm_ark)][:6]
    mats[2][1][5, 3] = np.nan
    bad = tmp_path / "bad.ark"
    with kaldi_native_io.FloatMatrixWriter(f"ark:{bad}") as w:
        for u, m in mats:
            w.write(u, m)
    s = decode_batch(an4_graph, [f"ark:{bad}"], HMM, str(tmp_path / "hyp.txt"), progress=False, cluster=client,
                     shard_size=3)
    assert s.decoded == 5 and s.failed == 1
    assert [ln.split()[0] for ln in (tmp_path / "hyp.txt").read_text().splitlines()] == [
        u for i, (u, _) in enumerate(mats) if i != 2]
    assert f"utterance {mats[2][0]!r}: NaN" in caplog.text


def test_cluster_options_are_checked(an4_graph, hmm_ark, tmp_path):
    with pytest.raises(ValueError, match="--jobs runs processes here"):
        decode_batch(an4_graph, [hmm_ark], HMM, str(tmp_path / "h.txt"), jobs=2, cluster="local:2")
    from hclg.errors import HclgError

    with pytest.raises(HclgError, match="no Dask scheduler answered"):
        decode_batch(an4_graph, [hmm_ark], HMM, str(tmp_path / "h.txt"), cluster="tcp://127.0.0.1:9")


def test_a_worker_with_another_graph_is_refused_by_name(an4_graph, hmm_ark, client, tmp_path, caplog,
                                                         monkeypatch):
    """Each worker checks its graph's manifest against the driver's: here the driver's
    checksum is made different, as if the workers' path held another graph."""
    import hclg.cluster

    monkeypatch.setattr(hclg.cluster, "manifest_checksum", lambda graph: "0" * 64)
    s = decode_batch(an4_graph, [hmm_ark], HMM, str(tmp_path / "hyp.txt"), progress=False, cluster=client)
    assert s.decoded == 0 and s.failed == 40
    assert "is not the driver's graph (manifest.json differs)" in caplog.text


def test_align_on_the_cluster_writes_what_one_process_writes(an4_graph, hmm_ark, client, tmp_path):
    from hclg.transcript.align_batch import align_batch

    text = SHARED_AN4 / "text_test" if (SHARED_AN4 / "text_test").exists() else EXAMPLE / "text_demo"
    outs = {}
    for name, kw in (("one", {}), ("two", {"cluster": client, "shard_size": 3})):
        d = tmp_path / name
        d.mkdir()
        s = align_batch(an4_graph, text, [hmm_ark], DecoderOptions(input_kind="log-likelihoods", beam=10.0),
                        alignments_out=f"ark:{d / 'ali.ark'}", ctm_out=str(d / "w.ctm"),
                        phone_scores_out=str(d / "p.txt"), **kw)
        assert s.aligned >= 35 and s.failed == 40 - s.aligned
        outs[name] = [(d / n).read_bytes() for n in ("ali.ark", "w.ctm", "p.txt")]
    assert outs["two"] == outs["one"]
