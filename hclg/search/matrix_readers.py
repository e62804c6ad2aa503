"""Reading per-utterance matrices: Kaldi rspecifiers (kaldi-native-io), .npy, .npz, folders.

Each reader yields ``(utt_id, matrix)``, or ``(utt_id, exception)`` for something that
could not be read, so that one bad input never ends a batch.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from hclg.errors import DecodeError

_RSPEC = re.compile(r"^(ark|scp)(,[a-z]+)*:")


def _binary_entry_size(key: str, shape: tuple[int, int], kind: bytes) -> int:
    item = 4 if kind == b"FM" else 8
    return len(key.encode()) + 1 + 2 + 3 + 5 + 5 + shape[0] * shape[1] * item


@contextlib.contextmanager
def _cpp_stderr_captured(lines: list, collect: bool = False):
    """Catches what kaldi-native-io's C++ code prints on the process's stderr (its reasons
    for a failed read, with source paths) into ``lines``, so that hclg reports them in one
    message of its own; also silences the complaint of its reader objects that failed to
    construct (a spurious 'Exception ignored ... __del__')."""
    sys.stderr.flush()
    saved = os.dup(2)
    hook = sys.unraisablehook
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        sys.unraisablehook = lambda *_: None
        try:
            yield
        finally:
            if collect:
                gc.collect()  # a half-built reader complains now, not later
            sys.unraisablehook = hook
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines[:] = tmp.read().decode("utf-8", "replace").splitlines()


def _reason(lines: list) -> str:
    """The C++ library's last error ('[E] ...') or warning, without its source paths."""
    msgs = [ln[4:].strip() for ln in lines if ln.startswith(("[E]", "[W]"))]
    err = [ln[4:].strip() for ln in lines if ln.startswith("[E]")]
    return (err or msgs or ["not a Kaldi matrix archive"])[0]


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
    noise = []
    reader = None
    with _cpp_stderr_captured(noise, collect=True):
        try:
            reader = kio.SequentialFloatMatrixReader(spec)
        except Exception:  # noqa: BLE001, S110 - kaldi-native-io raises RuntimeError, its reasons on stderr
            pass  # (handled below, once the half-built reader is collected, quietly)
    if reader is None:
        yield (f"<{spec}>", DecodeError(f"cannot read {spec}: {_reason(noise)}"))
        return
    consumed = 0
    last = None
    it = iter(reader)
    while True:
        try:
            with _cpp_stderr_captured(noise):
                key, mat = next(it)
        except StopIteration:
            break
        except Exception:  # noqa: BLE001
            after = f"after utterance {last!r}" if last else "before the first utterance"
            yield (f"<{spec}>", DecodeError(f"{spec}: unreadable {after}: {_reason(noise)}"))
            return
        arr = np.array(mat, dtype=np.float32, copy=True)
        if kind is not None:
            consumed += _binary_entry_size(key, arr.shape, kind)
        last = key
        yield key, arr
    if kind is not None and consumed != os.path.getsize(path):
        after = f"after utterance {last!r}" if last else "before the first utterance"
        yield (f"<{spec}>", DecodeError(f"{path}: archive truncated or corrupt {after} "
                                        f"(read {consumed} of {os.path.getsize(path)} bytes)"))


def _is_utterance_id(name: str) -> bool:
    """Kaldi's rule for keys: not empty, no white space."""
    return bool(name) and not any(c.isspace() for c in name)


def count_utterances(spec: str) -> int | None:
    """How many utterances :func:`iter_matrices` will yield for ``spec``, where that is
    cheap to know (an scp's lines, a folder's or an .npz's arrays, an .npy); None for an
    archive (it would be read twice) or an input that cannot be read."""
    try:
        m = _RSPEC.match(spec)
        if m:
            kind, path = spec.split(":", 1)
            if not kind.startswith("scp") or path == "-":
                return None
            with open(path, encoding="utf-8") as fh:
                return sum(1 for line in fh if line.strip())
        p = Path(spec)
        if p.is_dir():
            return len(list(p.glob("*.npy")))
        if p.suffix == ".npy":
            return 1
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return len(z.files)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return None


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
            if not _is_utterance_id(p.stem):
                yield (f"<{spec}>", DecodeError(f"{spec}: the file name {p.stem!r} is not an utterance id (white "
                                                "space: the text output's first field would be cut there)"))
                return
            yield p.stem, np.load(p, allow_pickle=False)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                for k in z.files:
                    if not _is_utterance_id(k):  # a Kaldi key has no white space; a newline would forge output lines
                        yield (f"<{spec}>", DecodeError(f"{spec}: array name {k!r} is not an utterance id "
                                                        "(empty or with white space)"))
                        continue
                    yield k, z[k]
        else:
            yield (f"<{spec}>", DecodeError(f"{spec}: unknown input (expected ark:/scp: rspecifier, .npy, .npz or a folder)"))
    except (ValueError, OSError) as e:
        yield (f"<{spec}>", DecodeError(f"{spec}: cannot read: {e}"))
