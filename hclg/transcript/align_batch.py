"""Forced alignment of a corpus to files (``hclg align``): Kaldi alignments, word and phone
CTM, and per-word scores. An utterance without a transcript, with an unknown word, or
with no alignment within the retry beam is reported and the others are aligned."""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from hclg.errors import HclgError
from hclg.scoring import read_text
from hclg.search.alignments import (
    AlignmentWriter,
    done_utterances,
    parse_alignment_spec,
)
from hclg.search.matrix_readers import iter_matrices
from hclg.search.options import DecoderOptions
from hclg.search.resume import keep_done_lines
from hclg.transcript.align import Aligner

log = logging.getLogger("hclg")


@dataclass(frozen=True)
class AlignSummary:
    """What :func:`align_batch` did: utterances aligned, failed, aligned only with the
    retry beam, frames, seconds, and utterances skipped as done (``resume``)."""

    aligned: int
    failed: int
    retried: int
    frames: int
    seconds: float
    skipped: int = 0


def _open(path, resume: bool):
    return open(path, "a" if resume else "w", encoding="utf-8") if path else None


def _check_outputs(text, inputs, outputs) -> None:
    """Refuses an output that is the transcripts or an input file (it would be overwritten)."""
    sources = {Path(text).resolve()} | {Path(spec.split(":", 1)[-1]).resolve() for spec in inputs}
    for out in outputs:
        if out and Path(out).resolve() in sources:
            raise ValueError(f"{out}: is also an input; writing it would destroy it")


_worker: Aligner | None = None  # set once in each worker process (by fork), read by _align_one


def _init_worker(aligner: Aligner) -> None:
    global _worker  # noqa: PLW0603 - one aligner per worker process, set once
    _worker = aligner


def _align(aligner: Aligner, item):
    """(utt, Alignment or None, error message or None) of one (utt, matrix, words)."""
    utt, mat, words = item
    try:
        return utt, aligner.align(mat, words, utt), None
    except HclgError as e:
        return utt, None, str(e)


def _align_one(item):
    return _align(_worker, item)


def _align_failed(item, message):
    return item[0], None, message


def align_batch(graph, text, inputs, options: DecoderOptions = DecoderOptions(beam=10.0), retry_beam: float = 40.0,
                alignments_out: str | None = None, ctm_out=None, phone_ctm_out=None, scores_out=None,
                log_priors: np.ndarray | None = None, jobs: int = 1, resume: bool = False,
                phone_scores_out=None, transition_scale: float | None = None,
                self_loop_scale: float | None = None, cluster=None, shard_size: int = 8) -> AlignSummary:
    """Aligns every utterance of ``inputs`` to its transcript in ``text``.

    Args:
        graph: graph directory (its lexicon and topology; see :class:`Aligner`).
        text: Kaldi ``text`` file (``utt w1 w2 ...``) with the transcripts.
        inputs: input specs, as ``hclg decode``'s.
        options: DecoderOptions (``beam``: the alignment beam, Kaldi's 10).
        retry_beam: the second try's beam (Kaldi's 40).
        alignments_out: Kaldi alignment archive (``ark:`` or ``ark,t:``), or None.
        ctm_out, phone_ctm_out: word and phone CTM files, or None.
        scores_out: ``utt word start end avg_loglike`` lines (frames, inclusive), or None.
        phone_scores_out: ``utt phone start end avg_loglike gop`` lines, or None.
        transition_scale, self_loop_scale: as :class:`Aligner`'s.
        log_priors: as the Decoder's.
        jobs: aligning processes (forked: each has the aligner already made); the
            outputs are in input order, the same as with one.
        resume: skip the utterances already in the alignment archive and append to the
            outputs, cut back first to those utterances. The archive is each utterance's
            last output, the record of what is done, so ``resume`` needs it.
        cluster, shard_size: align on a Dask cluster, as :func:`hclg.batch.decode_batch`
            decodes (the same outputs, byte for byte). Not with ``jobs``.

    Returns:
        AlignSummary.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if cluster is not None and jobs > 1:
        raise ValueError("--jobs runs processes here, --cluster on a Dask cluster: give one of them")
    if resume and not alignments_out:
        raise ValueError("--resume needs --alignments: that archive is the record of what is done")
    line_outputs = (ctm_out, phone_ctm_out, scores_out, phone_scores_out)
    _check_outputs(text, inputs, line_outputs + ((parse_alignment_spec(alignments_out)[1],) if alignments_out else ()))
    transcripts = read_text(text)
    aligner = Aligner(graph, options, retry_beam, log_priors, transition_scale, self_loop_scale)
    done = done_utterances(alignments_out) if resume else set()
    if resume:
        for path in line_outputs:
            if path:
                keep_done_lines(path, done)
    ali_w = AlignmentWriter(alignments_out, append=resume, keep=done if resume else None) if alignments_out else None
    ctm_fh, phone_fh, score_fh, phone_score_fh = (_open(p, resume) for p in line_outputs)
    counts = {"aligned": 0, "failed": 0, "retried": 0, "frames": 0, "skipped": 0}
    t0 = time.perf_counter()

    def items():
        for spec in inputs:
            for utt, mat in iter_matrices(spec):
                if isinstance(mat, Exception):  # an unreadable matrix: that utterance fails
                    counts["failed"] += 1
                    log.error("%s", mat)
                elif utt in done:
                    counts["skipped"] += 1
                elif utt not in transcripts:
                    counts["failed"] += 1
                    log.error("utterance %r: no transcript in %s", utt, text)
                else:
                    yield utt, mat, transcripts[utt]

    def write(utt, a, err):
        if err is not None:
            counts["failed"] += 1
            log.error("%s", err)
            return
        res = a.result
        for fh, lines in ((ctm_fh, res.ctm_lines()), (phone_fh, res.phone_ctm_lines()),
                          (score_fh, [f"{utt} {w} {s} {e} {x:.4f}" for w, s, e, x in
                                      zip(res.words, res.start_frames, res.end_frames, a.word_loglikes)]),
                          (phone_score_fh, [f"{utt} {p} {s} {e} {x:.4f} {g:.4f}" for (p, s, e), x, g in
                                            zip(res.phones, a.phone_loglikes, a.phone_gop)])):
            if fh:
                fh.write("".join(line + "\n" for line in lines))
                fh.flush()
        if ali_w is not None:  # last: the record that the utterance is done
            ali_w.write(utt, res.alignment)
        counts["aligned"] += 1
        counts["retried"] += a.retried
        counts["frames"] += res.frames

    try:
        if cluster is not None:
            from hclg.cluster import run_on_cluster

            graph = str(Path(graph).resolve())  # the workers open it by this path
            make = partial(Aligner, graph, options, retry_beam, log_priors, transition_scale, self_loop_scale)
            for out in run_on_cluster(cluster, items(), graph, make, _align, _align_failed, shard_size):
                write(*out)
        elif jobs == 1:
            for item in items():
                write(*_align(aligner, item))
        else:
            with mp.get_context("fork").Pool(jobs, initializer=_init_worker, initargs=(aligner,)) as pool:
                for out in pool.imap(_align_one, items(), chunksize=4):
                    write(*out)
    finally:
        for fh in (ctm_fh, phone_fh, score_fh, phone_score_fh, ali_w):
            if fh is not None:
                fh.close()
    return AlignSummary(counts["aligned"], counts["failed"], counts["retried"], counts["frames"],
                        time.perf_counter() - t0, counts["skipped"])


__all__ = ["AlignSummary", "align_batch"]
