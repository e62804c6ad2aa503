"""Where a graph directory is written: a place checked first (no input inside it, no
stranger's files overwritten), the new directory put in place whole by renames, and the
inputs' checksums for its manifest."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from hclg.errors import GraphFormatError


def check_output_dir(out: Path, inputs) -> None:
    """Refuses a graph directory that holds an input, or that exists, is not empty and is
    not a graph directory (compiling would write among someone else's files)."""
    if out.exists() and not out.is_dir():
        raise GraphFormatError(f"{out}: exists and is not a directory")
    root = out.resolve()
    for x in inputs:
        if isinstance(x, (str, Path)) and Path(x).exists() and root in Path(x).resolve().parents:
            raise GraphFormatError(f"{x}: this input lies inside the graph directory {out}; compiling would "
                                   "overwrite it: write the graph elsewhere")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise GraphFormatError(f"{out}: exists, is not empty and is not an hclg graph directory (no manifest.json); "
                               "refusing to write into it")


def replace_dir(new: Path, dest: Path) -> None:
    """Puts directory ``new`` in the place of ``dest`` by renames, so that ``dest`` is
    always either the old graph or the new one, whole (the old one is kept beside as
    ``.NAME.old-PID`` for the instant between the two renames, then removed)."""
    if not dest.exists():
        os.replace(new, dest)
        return
    old = dest.parent / f".{dest.name}.old-{os.getpid()}"
    os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
