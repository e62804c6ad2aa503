"""Decoding archives as if their frames arrived in chunks (``hclg stream``): each
utterance of the input is a stream, fed ``chunk_frames`` at a time, cut into segments at
endpoints (Kaldi's rules), with a JSON record for each partial result that changes and one
for each segment's final result.

Records (one JSON object a line; times in seconds from the utterance's start):

- ``{"utt", "segment", "partial": text, "certain": n, "final": false, "frames"}``: the best
  words so far after a chunk, when they changed; the first ``certain`` words never change.
- ``{"utt", "segment", "final": true, "text", "start", "end", "endpoint_rule", "words":
  [{"word", "start", "end"}], "cost", "partial"}``: a segment's result; ``endpoint_rule``
  is the rule that ended it (0: the input ended).
- ``{"utt", "done": true, "segments"}`` after an utterance's last segment (a resumed run
  skips the utterances that have it), or ``{"utt", "error"}`` if it failed (the others
  go on).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from hclg.errors import DecodeError, HclgError
from hclg.search.endpoint import EndpointOptions
from hclg.search.matrix_readers import iter_matrices
from hclg.search.resume import keep_done_lines


def stream_utterance(decoder, utt: str, matrix, chunk_frames: int, endpoint: EndpointOptions | None,
                     partials: bool = True, finalize=None) -> Iterator[dict]:
    """The records of one utterance decoded as a stream (see the module doc).

    Args:
        decoder: a Decoder.
        utt: the utterance id.
        matrix: [frames, columns] network output.
        chunk_frames: frames a chunk.
        endpoint: the endpoint rules; None: one segment, ended by the input.
        partials: also yield the partial records.
        finalize: ``(stream, segment) -> Result`` ends a segment (e.g. also writing its
            lattice; its streams then keep their frames); default ``stream.finalize()``.
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    x = np.asarray(matrix)
    if x.ndim != 2:
        raise DecodeError(f"utterance {utt!r}: expected a [frames, columns] matrix, got shape {x.shape}")
    sec = decoder.frame_seconds
    segment, offset, pos = 0, 0, 0
    keep = finalize is not None
    if finalize is None:
        def finalize(st, _segment):
            return st.finalize()
    stream = decoder.stream(utt, endpoint, keep_loglikes=keep)
    last_text = None
    while pos < len(x):
        stream.accept(x[pos:pos + chunk_frames])
        pos = min(pos + chunk_frames, len(x))
        rule = stream.endpoint_rule() if endpoint is not None else 0
        if partials and not rule:
            p = stream.partial()
            if p.text != last_text:
                last_text = p.text
                yield {"utt": utt, "segment": segment, "partial": p.text, "certain": p.certain, "final": False,
                       "frames": offset + p.frames}
        if rule:
            yield _final(finalize(stream, segment), utt, segment, offset, rule, sec)
            segment, offset, last_text = segment + 1, pos, None
            stream = decoder.stream(utt, endpoint, keep_loglikes=keep)
    if stream.frames:
        yield _final(finalize(stream, segment), utt, segment, offset, 0, sec)
        segment += 1
    yield {"utt": utt, "done": True, "segments": segment}


def _final(r, utt: str, segment: int, offset: int, rule: int, sec: float) -> dict:
    words = [{"word": w, "start": round((offset + a) * sec, 3), "end": round((offset + b + 1) * sec, 3)}
             for w, a, b in zip(r.words, r.start_frames, r.end_frames)]
    return {"utt": utt, "segment": segment, "final": True, "text": r.text, "start": round(offset * sec, 3),
            "end": round((offset + r.frames) * sec, 3), "endpoint_rule": rule, "words": words,
            "cost": round(r.cost, 4), "partial": r.partial}


def stream_archives(decoder, inputs: list[str], output: str, chunk_frames: int, endpoint: EndpointOptions | None,
                    partials: bool = True, resume: bool = False, finalize=None) -> tuple[int, int]:
    """Streams every utterance of ``inputs`` (rspecifiers, .npy/.npz, folders) and writes
    the records as JSON lines to ``output`` (a file, or ``-`` for stdout).

    A file output is appended to utterance by utterance (each one's records written
    together, then flushed), so an interrupted run keeps the utterances it finished;
    ``resume`` keeps those (the ones with a ``done`` record; other lines are dropped) and
    skips them. An input file is never written. ``finalize``: as :func:`stream_utterance`.

    Returns:
        (utterances done, utterances failed).
    """
    if output != "-":
        out_path = Path(output)
        for spec in inputs:
            p = Path(spec.split(":", 1)[-1]) if ":" in spec else Path(spec)
            if p.exists() and out_path.exists() and p.resolve() == out_path.resolve():
                raise HclgError(f"{output}: is also an input; refusing to overwrite it")
        done = _done_utterances(out_path) if resume else set()
        if resume:
            keep_done_lines(out_path, done, _utt_of_record)
        elif out_path.exists():
            out_path.unlink()
        fh = open(out_path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
    else:
        import sys

        done, fh = set(), sys.stdout
    ok = failed = 0
    try:
        for spec in inputs:
            for utt, mat in iter_matrices(spec):
                if utt in done:
                    continue
                try:
                    if isinstance(mat, Exception):
                        raise mat
                    lines = [json.dumps(r) for r in stream_utterance(decoder, utt, mat, chunk_frames, endpoint,
                                                                      partials, finalize)]
                    ok += 1
                except HclgError as e:
                    lines = [json.dumps({"utt": utt, "error": str(e)})]
                    failed += 1
                fh.write("".join(line + "\n" for line in lines))
                fh.flush()
                if output != "-":
                    os.fsync(fh.fileno())
    finally:
        if output != "-":
            fh.close()
    return ok, failed


def _utt_of_record(line: str) -> str:
    try:
        return json.loads(line).get("utt", "")
    except ValueError:
        return ""


def _done_utterances(path: Path) -> set:
    if not path.exists():
        return set()
    out = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("done"):
            out.add(r["utt"])
    return out
