"""Forced alignment of a corpus to files (``hclg align``): Kaldi alignments, word and phone
CTM, and per-word scores. An utterance without a transcript, with an unknown word, or
with no alignment within the retry beam is reported and the others are aligned."""

from __future__ import annotations

import logging
import multiprocessing as mp
import time
from dataclasses import dataclass

import numpy as np

from hclg.errors import HclgError
from hclg.scoring import read_text
from hclg.search.alignments import AlignmentWriter
from hclg.search.matrix_readers import iter_matrices
from hclg.search.options import DecoderOptions
from hclg.transcript.align import Aligner

log = logging.getLogger("hclg")


@dataclass(frozen=True)
class AlignSummary:
    """What :func:`align_batch` did: utterances aligned, failed, aligned only with the
    retry beam, frames, and seconds."""

    aligned: int
    failed: int
    retried: int
    frames: int
    seconds: float


def _open(path):
    return open(path, "w", encoding="utf-8") if path else None


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


def align_batch(graph, text, inputs, options: DecoderOptions = DecoderOptions(beam=10.0), retry_beam: float = 40.0,
                alignments_out: str | None = None, ctm_out=None, phone_ctm_out=None, scores_out=None,
                log_priors: np.ndarray | None = None, jobs: int = 1) -> AlignSummary:
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
        log_priors: as the Decoder's.
        jobs: aligning processes (forked: each has the aligner already made); the
            outputs are in input order, the same as with one.

    Returns:
        AlignSummary.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    transcripts = read_text(text)
    aligner = Aligner(graph, options, retry_beam, log_priors)
    ali_w = AlignmentWriter(alignments_out) if alignments_out else None
    ctm_fh, phone_fh, score_fh = _open(ctm_out), _open(phone_ctm_out), _open(scores_out)
    counts = {"aligned": 0, "failed": 0, "retried": 0, "frames": 0}
    t0 = time.perf_counter()

    def items():
        for spec in inputs:
            for utt, mat in iter_matrices(spec):
                if isinstance(mat, Exception):  # an unreadable matrix: that utterance fails
                    counts["failed"] += 1
                    log.error("%s", mat)
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
        if ali_w is not None:
            ali_w.write(utt, res.alignment)
        if ctm_fh:
            ctm_fh.write("".join(line + "\n" for line in res.ctm_lines()))
        if phone_fh:
            phone_fh.write("".join(line + "\n" for line in res.phone_ctm_lines()))
        if score_fh:
            score_fh.write("".join(f"{utt} {w} {s} {e} {x:.4f}\n" for w, s, e, x in
                                   zip(res.words, res.start_frames, res.end_frames, a.word_loglikes)))
        counts["aligned"] += 1
        counts["retried"] += a.retried
        counts["frames"] += res.frames

    try:
        if jobs == 1:
            for item in items():
                write(*_align(aligner, item))
        else:
            with mp.get_context("fork").Pool(jobs, initializer=_init_worker, initargs=(aligner,)) as pool:
                for out in pool.imap(_align_one, items(), chunksize=4):
                    write(*out)
    finally:
        for fh in (ctm_fh, phone_fh, score_fh, ali_w):
            if fh is not None:
                fh.close()
    return AlignSummary(counts["aligned"], counts["failed"], counts["retried"], counts["frames"],
                        time.perf_counter() - t0)


__all__ = ["AlignSummary", "align_batch"]
