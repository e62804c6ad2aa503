"""Reading and writing lattices.

Specifiers, as Kaldi's (``ark,t:`` text, ``ark:`` binary) plus two of hclg's own:

- ``ark,t:PATH``: Kaldi CompactLattice text archive. Each lattice is its key on a line,
  then ``src dst word graph,acoustic,l1_l2_...`` arc lines and ``state graph,acoustic,labels``
  final lines, then an empty line. Word ids are those of the graph's ``words.txt``;
  labels are transition ids (HMM graphs) or token labels (CTC graphs); acoustic costs
  are unscaled, as Kaldi's decoders write them. ``lattice-copy ark,t:PATH ark:-`` reads it.
- ``ark:PATH``: Kaldi binary archive (``key `` then an OpenFst ``compactlattice44`` vector
  FST, as Kaldi writes it), what ``latgen-faster`` writes by default; read gzipped too.
- ``npz:DIR``: one ``DIR/UTT.npz`` per utterance, hclg's compact form: the
  :class:`~hclg.lattice.lattice.Lattice` arrays as they are, loaded without pickles.
- ``fst:DIR``: one ``DIR/UTT.fst`` per utterance, an OpenFst tropical acceptor over word
  ids whose weights are total costs at the lattice's acoustic scale (for pynini users;
  the frame labels are not kept).

``-`` as PATH is stdout/stdin for archives. Reading detects text or binary by content.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
from pathlib import Path
from typing import Iterator

from hclg.errors import DecodeError, HclgError, InputFormatError
from hclg.lattice.kaldi_format import (
    binary_entry_body, read_kaldi_binary, read_kaldi_text, to_kaldi_binary, to_kaldi_text,
)
from hclg.lattice.lattice import Lattice
from hclg.lattice.npz_format import from_npz, to_npz
from hclg.lattice.openfst_format import to_openfst

GZIP_MAGIC = b"\x1f\x8b"


def parse_spec(spec: str) -> tuple[str, str]:
    """'ark,t:p' -> ('text', p); 'ark:p' -> ('ark', p); 'npz:d'; 'fst:d'. A bare path
    ending in .npz is one npz file; a bare directory is npz:DIR."""
    if ":" in spec and not os.path.exists(spec):
        kind, path = spec.split(":", 1)
        flags = kind.split(",")
        if flags[0] == "ark":
            return ("text" if "t" in flags[1:] else "ark"), path
        if flags[0] in ("npz", "fst"):
            return flags[0], path
        raise ValueError(f"unknown lattice specifier {spec!r}: use ark:PATH, ark,t:PATH, npz:DIR or fst:DIR")
    if spec.endswith(".npz") or os.path.isdir(spec):
        return "npz", spec
    raise ValueError(f"unknown lattice specifier {spec!r}: use ark:PATH, ark,t:PATH, npz:DIR or fst:DIR")


def file_stem(utt: str) -> str:
    """The utterance id as the name of its file in an output folder (``npz:DIR``,
    ``fst:DIR``, drawings).

    Raises:
        DecodeError: an id that could name a file outside the folder or a hidden one (a
            path separator, a leading '.', NUL) or that has white space (which no Kaldi key
            has).
    """
    if (not utt or utt.startswith(".") or any(c in utt for c in "/\\\0")
            or any(c.isspace() for c in utt)):
        raise DecodeError(f"utterance {utt!r} cannot name a file in an output folder (it is empty, starts with "
                          "'.', or holds '/', '\\', NUL or white space); rename it")
    return utt


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (an output that would overwrite an input)."""
    if a in ("-", "") or b in ("-", ""):
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_overwriting(input_specs, output_spec: str) -> None:
    """Raises ValueError when ``output_spec`` would write over one of the inputs (read
    lazily, an input opened after its output is truncated would be lost)."""
    out = parse_spec(output_spec)[1]
    for spec in input_specs:
        path = spec.split(":", 1)[1] if ":" in spec and not os.path.exists(spec) else spec
        if same_file(path, out):
            raise ValueError(f"{output_spec}: the output is also the input {spec}; write it elsewhere")


class LatticeWriter:
    """Writes lattices to a specifier as they come (flushed each time).

    Args:
        spec: ``ark,t:PATH``, ``ark:PATH``, ``npz:DIR`` or ``fst:DIR``.
        append: continue an existing output (resume); a torn last entry of an archive
            is cut off first.
        keep: with ``append``, the utterances that are done: the archive is also cut
            before its first entry that is not one of them (written by an interrupted
            run after its last finished utterance).
    """

    def __init__(self, spec: str, append: bool = False, keep: set | None = None):
        self.kind, self.path = parse_spec(spec)
        self.fh = None
        if self.kind in ("text", "ark"):
            if self.path == "-":
                self.fh = sys.stdout.buffer
            else:
                if append:
                    _cut_archive(Path(self.path), self.kind, keep)
                self.fh = open(self.path, "ab" if append else "wb")
        else:
            Path(self.path).mkdir(parents=True, exist_ok=True)

    def write(self, lat: Lattice) -> None:
        if self.kind == "text":
            self.fh.write(to_kaldi_text(lat).encode("utf-8"))
            self.fh.flush()
        elif self.kind == "ark":
            self.fh.write(lat.utt.encode("utf-8") + b" " + to_kaldi_binary(lat))  # Kaldi's form: no "\0B"
            self.fh.flush()
        elif self.kind == "npz":
            stem = file_stem(lat.utt)
            tmp = Path(self.path) / f".{stem}.tmp.npz"
            to_npz(lat, tmp)
            os.replace(tmp, Path(self.path) / f"{stem}.npz")
        else:
            stem = file_stem(lat.utt)
            tmp = Path(self.path) / f".{stem}.tmp.fst"
            to_openfst(lat).write(str(tmp))
            os.replace(tmp, Path(self.path) / f"{stem}.fst")

    def close(self) -> None:
        if self.fh is not None and self.fh is not sys.stdout.buffer:
            self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _cut_archive(path: Path, kind: str, keep: set | None) -> None:
    """Truncates an archive after its last complete lattice, and with ``keep`` before its
    first lattice whose key is not in ``keep``."""
    if not path.exists():
        return
    data = path.read_bytes()
    ends, keys = [0], []
    if kind == "text":
        pos = 0
        while True:
            e = data.find(b"\n\n", pos)
            if e < 0:
                break
            keys.append(data[pos:data.find(b"\n", pos)].decode("utf-8", "replace").strip())
            ends.append(e + 2)
            pos = e + 2
    else:
        try:
            for lat in read_kaldi_binary(data, str(path), ends=ends):
                keys.append(lat.utt)
        except HclgError:  # a torn or corrupt last entry: cut there
            pass
    cut = ends[len(keys)]
    if keep is not None:
        for i, key in enumerate(keys):
            if key not in keep:
                cut = ends[i]
                break
    if cut != len(data):
        with open(path, "r+b") as fh:
            fh.truncate(cut)


def read_lattices(spec: str, acoustic_scale: float = 0.1, frame_seconds: float = 0.01) -> Iterator[Lattice]:
    """Lattices from a specifier (``ark:``/``ark,t:`` Kaldi archives, text or binary by
    content; ``npz:DIR``, a directory of .npz, or one .npz file). Kaldi archives do not
    record the acoustic scale or frame length: ``acoustic_scale`` and ``frame_seconds``
    are what they are read with; npz lattices carry their own."""
    kind, path = parse_spec(spec)
    if kind in ("text", "ark"):
        data = sys.stdin.buffer.read() if path == "-" else _read(path)
        if data[:2] == GZIP_MAGIC:
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as e:
                raise InputFormatError(path, None, f"corrupt gzip file: {e}") from None
        sp = data.find(b" ")
        nl = data.find(b"\n")
        binary = binary_entry_body(data, sp) >= 0 and (nl < 0 or sp < nl)
        if binary:
            yield from read_kaldi_binary(data, path, acoustic_scale, frame_seconds)
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                line = data[: e.start].count(b"\n") + 1
                raise InputFormatError(path, line, "not UTF-8 (a binary archive that is not a lattice one?)") from None
            yield from read_kaldi_text(io.StringIO(text), path, acoustic_scale, frame_seconds)
    elif kind == "npz":
        p = Path(path)
        files = [p] if p.is_file() else sorted(p.glob("*.npz"))
        if not p.exists():
            raise InputFormatError(path, None, "no such file or directory")
        for f in files:
            if not f.name.startswith("."):
                yield from_npz(f)
    else:
        raise ValueError("fst: lattices are written for pynini users; read ark:, ark,t: or npz: lattices")


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise InputFormatError(path, None, f"cannot read: {e.strerror}") from None
