"""The records of an utterance decoded as if its frames arrived in chunks (``hclg stream``,
:func:`hclg.batch.stream_batch`): a stream fed ``chunk_frames`` at a time, cut into
segments at endpoints (Kaldi's rules), with a record for each partial result that changes
and one for each segment's final result.

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

from collections.abc import Iterator

import numpy as np

from hclg.errors import DecodeError
from hclg.search.endpoint import EndpointOptions


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
