"""Kaldi's lattice archives: CompactLattices as text (``ark,t:``) and binary (``ark:``).

- Text: each lattice is its key on a line, then ``src dst word graph,acoustic,l1_l2_...``
  arc lines and ``state graph,acoustic,labels`` final lines, then an empty line. Word ids
  are those of the graph's ``words.txt``; labels are transition ids (HMM graphs) or token
  labels (CTC graphs); acoustic costs are unscaled, as Kaldi's decoders write them.
  ``lattice-copy ark,t:PATH ark:-`` reads it.
- Binary: ``key `` then, at once, an OpenFst ``compactlattice44`` vector FST
  (:mod:`hclg.fst.openfst_file`), what ``latgen-faster`` writes by default (Kaldi's
  CompactLatticeHolder writes no ``\\0B`` binary-mode header); archives with ``key \\0B``
  before each FST are read too. Gzipped archives (``lat.1.gz``) are read as they are.
"""

from __future__ import annotations

import struct
from typing import Iterator

import numpy as np

from hclg.errors import InputFormatError
from hclg.fst.openfst_file import MAGIC, parse_header, vector_fst_bytes
from hclg.lattice.lattice import Lattice, lattice_from_parts


# ---- Kaldi text ----

def _fmt(x: float) -> str:
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


def _weight(g: float, a: float, labels) -> str:
    return f"{_fmt(g)},{_fmt(a)}," + "_".join(str(int(x)) for x in labels)


def to_kaldi_text(lat: Lattice) -> str:
    """One CompactLattice in Kaldi's text archive form (key line, arcs, finals, blank line)."""
    out = [lat.utt]
    for k in range(lat.num_arcs):
        out.append(f"{lat.src[k]}\t{lat.dst[k]}\t{lat.word[k]}\t{_weight(lat.graph[k], lat.acoustic[k], lat.arc_align(k))}")
    for s in range(lat.num_states):
        if np.isfinite(lat.final_graph[s]):
            out.append(f"{s}\t{_weight(lat.final_graph[s], lat.final_acoustic[s], lat.final_labels(s))}")
    return "\n".join(out) + "\n\n"


def _parse_weight(text: str, where: str):
    parts = text.split(",")
    if len(parts) != 3:
        raise InputFormatError(where[0], where[1], f"expected a CompactLattice weight 'graph,acoustic,labels', got {text!r}")
    try:
        labels = tuple(int(x) for x in parts[2].split("_")) if parts[2] else ()
        return float(parts[0]), float(parts[1]), labels
    except ValueError:
        raise InputFormatError(where[0], where[1], f"bad CompactLattice weight {text!r}") from None


def read_kaldi_text(fh, path: str = "-", acoustic_scale: float = 0.1, frame_seconds: float = 0.01) -> Iterator[Lattice]:
    """Reads a Kaldi CompactLattice text archive. Errors name the file and line."""
    utt = None
    arcs, finals, n, lineno = [], {}, 0, 0
    for lineno, line in enumerate(fh, 1):
        f = line.split()
        if utt is None:
            if not f:
                continue
            if len(f) != 1:
                raise InputFormatError(path, lineno, f"expected an utterance id alone on its line, got {line.strip()!r}")
            utt, arcs, finals, n = f[0], [], {}, 0
            continue
        if not f:
            yield lattice_from_parts(utt, arcs, finals, n, acoustic_scale, frame_seconds)
            utt = None
            continue
        try:
            if len(f) == 4:
                s, d, w = int(f[0]), int(f[1]), int(f[2])
                if min(s, d, w) < 0:
                    raise InputFormatError(path, lineno, f"state ids must be >= 0 and word ids too, got {line.strip()!r}")
                g, a, lab = _parse_weight(f[3], (path, lineno))
                arcs.append((s, d, w, g, a, lab))
                n = max(n, s + 1, d + 1)
            elif len(f) in (1, 2):
                s = int(f[0])
                if s < 0:
                    raise InputFormatError(path, lineno, f"state ids must be >= 0, got {line.strip()!r}")
                finals[s] = _parse_weight(f[1], (path, lineno)) if len(f) == 2 else (0.0, 0.0, ())
                n = max(n, s + 1)
            else:
                raise ValueError
        except ValueError:
            raise InputFormatError(path, lineno, f"expected 'src dst word weight' or 'state [weight]' (a CompactLattice), got {line.strip()!r}") from None
    if utt is not None:
        yield lattice_from_parts(utt, arcs, finals, n, acoustic_scale, frame_seconds)


# ---- Kaldi binary (OpenFst vector FST of CompactLatticeArc) ----

_ARC_TYPE = "compactlattice44"


def _cweight(g: float, a: float, labels) -> bytes:
    labels = np.asarray(labels, dtype="<i4")
    return struct.pack("<ffi", g, a, len(labels)) + labels.tobytes()


def to_kaldi_binary(lat: Lattice) -> bytes:
    """The lattice as OpenFst writes a VectorFst<CompactLatticeArc> (Kaldi's binary form)."""
    outs = lat.out_arcs()

    def final_weight(s):
        if np.isfinite(lat.final_graph[s]):
            return _cweight(lat.final_graph[s], lat.final_acoustic[s], lat.final_labels(s))
        return struct.pack("<ffi", np.inf, np.inf, 0)

    def arcs_of(s):
        return [(int(lat.word[k]), int(lat.word[k]), _cweight(lat.graph[k], lat.acoustic[k], lat.arc_align(k)),
                 int(lat.dst[k])) for k in outs[s]]

    return vector_fst_bytes(_ARC_TYPE, lat.num_states, lat.num_arcs, final_weight, arcs_of)


class _Reader:
    def __init__(self, data: bytes, path: str):
        self.b, self.o, self.path = data, 0, path

    def take(self, fmt: str):
        n = struct.calcsize(fmt)
        if self.o + n > len(self.b):
            raise InputFormatError(self.path, None, "truncated binary lattice archive")
        v = struct.unpack_from(fmt, self.b, self.o)
        self.o += n
        return v

    def labels(self, n: int) -> tuple:
        if n < 0 or self.o + 4 * n > len(self.b):
            raise InputFormatError(self.path, None, "truncated or corrupt binary lattice archive")
        v = np.frombuffer(self.b, dtype="<i4", count=n, offset=self.o)
        self.o += 4 * n
        return tuple(v.tolist())


#: the first bytes of an OpenFst binary, as they follow a key in Kaldi's binary lattice archives
FST_MAGIC_BYTES = MAGIC.to_bytes(4, "little", signed=True)


def binary_entry_body(data: bytes, sp: int) -> int:
    """Where the FST of a binary archive entry whose key ends at the space ``sp`` starts, or
    -1 if none does. Kaldi writes ``key `` and the FST at once (CompactLatticeHolder writes
    no binary-mode header); ``key \\0B`` before the FST (what hclg 0.1 wrote, and Kaldi's
    form for other objects) is read too."""
    if sp < 0:
        return -1
    if data[sp + 1: sp + 5] == FST_MAGIC_BYTES:
        return sp + 1
    if data[sp + 1: sp + 3] == b"\0B" and data[sp + 3: sp + 7] == FST_MAGIC_BYTES:
        return sp + 3
    return -1


def read_kaldi_binary(data: bytes, path: str = "-", acoustic_scale: float = 0.1,
                      frame_seconds: float = 0.01, ends: list | None = None) -> Iterator[Lattice]:
    """Reads a Kaldi binary archive of CompactLattices; ``ends``, if given, collects the
    byte offset where each lattice ends."""
    r = _Reader(data, path)
    while r.o < len(data):
        sp = data.find(b" ", r.o)
        fst_at = binary_entry_body(data, sp)
        if fst_at < 0:
            raise InputFormatError(path, None, f"expected 'key ' and an OpenFst lattice at byte {r.o} of a binary archive")
        try:
            utt = data[r.o: sp].decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InputFormatError(path, None, f"the key at byte {r.o} is not UTF-8: corrupt archive") from None
        r.o = fst_at
        h = parse_header(data, r.o, f"utterance {utt!r}", lambda m: InputFormatError(path, None, m))
        r.o += h.size
        if h.arc_type != _ARC_TYPE:
            raise InputFormatError(path, None, f"utterance {utt!r}: arc type {h.arc_type!r}, expected {_ARC_TYPE} (a CompactLattice)")
        start, ns = h.start, h.num_states
        if ns < 0 or ns > len(data) or (ns and not 0 <= start < ns):
            raise InputFormatError(path, None, f"utterance {utt!r}: header says {ns} states, start {start}: corrupt "
                                               "archive")
        arcs, finals = [], {}
        for s in range(ns):
            g, a, n = r.take("<ffi")
            lab = r.labels(n)
            if np.isfinite(g):
                finals[s] = (float(g), float(a), lab)
            (na,) = r.take("<q")
            for _ in range(na):
                il, _ol = r.take("<ii")
                g, a, n = r.take("<ffi")
                lab = r.labels(n)
                (d,) = r.take("<i")
                if not 0 <= d < ns or il < 0:
                    raise InputFormatError(path, None, f"utterance {utt!r}: arc to state {d} of a lattice with {ns} "
                                                       f"states, or word {il} < 0: corrupt archive")
                arcs.append((s, d, il, float(g), float(a), lab))
        if start not in (0, -1):
            raise InputFormatError(path, None, f"utterance {utt!r}: start state {start}; hclg expects 0")
        if ends is not None:
            ends.append(r.o)
        yield lattice_from_parts(utt, arcs, finals, ns, acoustic_scale, frame_seconds)


# ---- hclg's npz and OpenFst ----


# ---- streams ----


