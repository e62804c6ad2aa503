"""What a resumed run appends to: line outputs (CTM, JSON, scores) cut back to the
utterances that are done, as their record (the text output of ``decode``, the alignment
archive of ``align``) says."""

from __future__ import annotations

import os
from pathlib import Path


def first_field(line: str) -> str:
    """The utterance id of a line that starts with it (CTM, scores)."""
    return line.split(maxsplit=1)[0] if line.strip() else ""


def keep_done_lines(path, done: set, utt_of=first_field) -> None:
    """Drops the lines of utterances that are not done (written after the record, or torn)
    from an output that a resumed run appends to; replaced atomically, untouched if no
    line goes."""
    path = Path(path)
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.endswith("\n") and utt_of(line) in done]
    if len(kept) != len(lines):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, path)
