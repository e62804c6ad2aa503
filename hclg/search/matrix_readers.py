"""Reading per-utterance matrices: Kaldi rspecifiers (kaldi-native-io), .npy, .npz, folders.

Each reader yields ``(utt_id, matrix)``, or ``(utt_id, exception)`` for something that
could not be read, so that one bad input never ends a batch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np

from hclg.errors import DecodeError

_RSPEC = re.compile(r"^(ark|scp)(,[a-z]+)*:")


def _binary_entry_size(key: str, shape: tuple[int, int], kind: bytes) -> int:
    item = 4 if kind == b"FM" else 8
    return len(key.encode()) + 1 + 2 + 3 + 5 + 5 + shape[0] * shape[1] * item


def _kaldi_matrices(spec: str) -> Iterator[tuple[str, object]]:
    import kaldi_native_io as kio

    path = None
    m = re.match(r"^ark(,[a-z]+)*:(.+)$", spec)
    if m and m.group(2) != "-" and not m.group(2).rstrip().endswith("|") and os.path.isfile(m.group(2)):
        path = m.group(2)
    kind = None
    if path is not None:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        sp = head.find(b" ")
        if sp > 0 and head[sp + 1 : sp + 3] == b"\0B" and head[sp + 3 : sp + 5] in (b"FM", b"DM"):
            kind = head[sp + 3 : sp + 5]
    try:
        reader = kio.SequentialFloatMatrixReader(spec)
    except Exception as e:  # noqa: BLE001 - kaldi-native-io raises RuntimeError
        yield (f"<{spec}>", DecodeError(f"cannot open {spec}: {e}"))
        return
    consumed = 0
    last = None
    try:
        for key, mat in reader:
            arr = np.array(mat, dtype=np.float32, copy=True)
            if kind is not None:
                consumed += _binary_entry_size(key, arr.shape, kind)
            last = key
            yield key, arr
    except Exception as e:  # noqa: BLE001
        yield (f"<{spec}>", DecodeError(f"{spec}: unreadable after utterance {last!r}: {e}"))
        return
    if kind is not None and consumed != os.path.getsize(path):
        after = f"after utterance {last!r}" if last else "before the first utterance"
        yield (f"<{spec}>", DecodeError(f"{path}: archive truncated or corrupt {after} "
                                        f"(read {consumed} of {os.path.getsize(path)} bytes)"))


def iter_matrices(spec: str) -> Iterator[tuple[str, object]]:
    """Yields (utt_id, matrix or exception) from one input.

    Args:
        spec: a Kaldi rspecifier (``ark:f.ark``, ``scp:f.scp``, ``ark,t:f.txt``), ``-``
            (binary archive on stdin), a ``.npy`` file (one utterance, id = file stem),
            a ``.npz`` file (one utterance per array), or a folder of ``.npy`` files.
    """
    if spec == "-":
        spec = "ark:-"
    if _RSPEC.match(spec):
        yield from _kaldi_matrices(spec)
        return
    p = Path(spec)
    if p.is_dir():
        files = sorted(p.glob("*.npy"))
        if not files:
            yield (f"<{spec}>", DecodeError(f"{spec}: folder has no .npy files"))
        for f in files:
            yield from iter_matrices(str(f))
        return
    if not p.exists():
        yield (f"<{spec}>", DecodeError(f"{spec}: no such file (expected ark:/scp: rspecifier, .npy, .npz or a folder)"))
        return
    try:
        if p.suffix == ".npy":
            yield p.stem, np.load(p, allow_pickle=False)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                for k in z.files:
                    if not k or any(c.isspace() for c in k):  # a Kaldi key has none; a newline would forge output lines
                        yield (f"<{spec}>", DecodeError(f"{spec}: array name {k!r} is not an utterance id "
                                                        "(empty or with white space)"))
                        continue
                    yield k, z[k]
        else:
            yield (f"<{spec}>", DecodeError(f"{spec}: unknown input (expected ark:/scp: rspecifier, .npy, .npz or a folder)"))
    except (ValueError, OSError) as e:
        yield (f"<{spec}>", DecodeError(f"{spec}: cannot read: {e}"))
