"""Frame alignments written as Kaldi writes them (``--alignment-wspecifier`` of Kaldi's
decoders): an archive of int32 vectors, one transition id (HMM graphs) or token label
(CTC graphs) per frame, so that ``ali-to-phones``, ``ali-to-pdf`` and phone CTMs work
downstream.

Kaldi's BasicVectorHolder<int32>: binary entries (``ark:PATH``) are ``key `` ``\\0B``, the
count and then each value as Kaldi's WriteBasicType (a size byte 4 and the little-endian
int32); text entries (``ark,t:PATH``) are ``key 1 2 3 `` and a newline.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np

from hclg.errors import InputFormatError


def parse_alignment_spec(spec: str) -> tuple[bool, str]:
    """(binary, path) of an alignment wspecifier ``ark:PATH`` or ``ark,t:PATH``."""
    m = re.match(r"^ark((?:,[a-z]+)*):(.+)$", spec)
    if not m:
        raise ValueError(f"alignment output {spec!r}: expected ark:PATH (Kaldi binary) or ark,t:PATH (text)")
    flags = set(m.group(1).split(",")) - {""}
    return "t" not in flags, m.group(2)


def entry_bytes(utt: str, alignment, binary: bool) -> bytes:
    """One archive entry."""
    if any(c.isspace() for c in utt) or not utt:
        raise ValueError(f"utterance id {utt!r} cannot be a Kaldi archive key")
    a = np.asarray(alignment, dtype="<i4")
    if binary:
        body = np.empty((len(a), 5), np.uint8)
        body[:, 0] = 4
        body[:, 1:] = a.view(np.uint8).reshape(-1, 4)
        return utt.encode("utf-8") + b" \0B\x04" + struct.pack("<i", len(a)) + body.tobytes()
    return (utt + " " + "".join(f"{x} " for x in a.tolist()) + "\n").encode("utf-8")


def _entry_ends(data: bytes, binary: bool, path) -> tuple[list[str], list[int]]:
    """Keys and end offsets of the whole entries of an archive (a torn last one left out)."""
    keys, ends, pos = [], [0], 0
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        key = data[pos:sp].decode("utf-8", "replace")
        if binary:
            head = data[sp + 1:sp + 8]
            if len(head) < 7 or head[:3] != b"\0B\x04":
                if len(head) == 7:
                    raise InputFormatError(path, None, f"entry {key!r} is not a binary int32 vector")
                break
            n = struct.unpack("<i", head[3:7])[0]
            end = sp + 8 + 5 * n
            if n < 0 or end > len(data):
                break
        else:
            nl = data.find(b"\n", sp)
            if nl < 0:
                break
            end = nl + 1
        keys.append(key)
        ends.append(end)
        pos = end
    return keys, ends


def done_utterances(spec: str) -> set[str]:
    """The keys of the whole entries of an alignment archive (none if it does not exist):
    what a resumed run has done, when the archive is written last for each utterance."""
    binary, path = parse_alignment_spec(spec)
    path = Path(path)
    if not path.exists():
        return set()
    return set(_entry_ends(path.read_bytes(), binary, path)[0])


class AlignmentWriter:
    """Writes alignments to a Kaldi archive, one entry per call, flushed.

    Args:
        spec: ``ark:PATH`` or ``ark,t:PATH``.
        append: append (``--resume``) instead of truncating.
        keep: with ``append``, the utterances that are done: the archive is cut before
            its first entry that is not one of them, and after its last whole entry.
    """

    def __init__(self, spec: str, append: bool = False, keep: set | None = None):
        self.binary, path = parse_alignment_spec(spec)
        self.path = Path(path)
        if append and self.path.exists():
            data = self.path.read_bytes()
            keys, ends = _entry_ends(data, self.binary, self.path)
            cut = ends[len(keys)]
            for i, key in enumerate(keys):
                if keep is not None and key not in keep:
                    cut = ends[i]
                    break
            if cut != len(data):
                with open(self.path, "r+b") as fh:
                    fh.truncate(cut)
        self.fh = open(self.path, "ab" if append else "wb")

    def write(self, utt: str, alignment) -> None:
        self.fh.write(entry_bytes(utt, alignment, self.binary))
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
