"""OpenFst's binary file format: the one reader and writer of FST headers and VectorFst
bodies in hclg (graphs, and Kaldi's binary lattices, whose arcs differ but whose header and
layout do not).

A binary FST file is a header (magic number, FST type, arc type, version, flags,
properties, start state, state and arc counts) and, for a ``vector`` FST, per state its
final weight, its arc count (int64) and its arcs (ilabel, olabel, weight, nextstate).
Building or reading millions of arcs one pywrapfst call at a time is slow, so FSTs cross
between numpy and OpenFst in bulk through this file: numba parses and writes the body in
one pass, OpenFst reads and writes the same file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from numba import njit

from hclg.errors import GraphBuildError
from hclg.fst.arrays import FstArrays

#: OpenFst's kFstMagicNumber.
MAGIC = 2125659606
#: header properties: kExpanded | kMutable, as a VectorFst writes (readers recompute the rest)
K_EXPANDED = 0x1
K_MUTABLE = 0x2
K_ILABEL_SORTED = 0x10000000
#: header flags: symbol tables follow the header
HAS_ISYMBOLS = 0x1
HAS_OSYMBOLS = 0x2
#: the file version a VectorFst writes
VECTOR_VERSION = 2


@dataclass(frozen=True)
class FstHeader:
    """An OpenFst file header.

    Attributes:
        fst_type: "vector", "const", ...
        arc_type: "standard" (tropical), "compactlattice44" (Kaldi's CompactLattice), ...
        flags: HAS_ISYMBOLS | HAS_OSYMBOLS when symbol tables follow.
        start, num_states, num_arcs: as written (start -1: empty).
        size: the header's length in bytes: the body starts there.
    """

    fst_type: str
    arc_type: str
    flags: int
    start: int
    num_states: int
    num_arcs: int
    size: int


def _string_bytes(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<i", len(b)) + b


def header_bytes(fst_type: str, arc_type: str, start: int, num_states: int, num_arcs: int,
                 properties: int = K_EXPANDED | K_MUTABLE) -> bytes:
    """An OpenFst file header (no symbol tables), as ``Fst::Write`` makes it."""
    return (struct.pack("<i", MAGIC) + _string_bytes(fst_type) + _string_bytes(arc_type)
            + struct.pack("<iiQqqq", VECTOR_VERSION, 0, properties, start, num_states, num_arcs))


def parse_header(b: bytes, offset: int = 0, where: str = "-", error=GraphBuildError) -> FstHeader:
    """Reads the OpenFst header at ``b[offset:]``.

    Args:
        b: the bytes.
        offset: where the header starts.
        where: the file (and entry), for errors.
        error: a callable that makes the exception raised on a bad header from a message.

    Raises:
        ``error(...)``: not an OpenFst binary, or the header is cut short.
    """
    def take(fmt, off):
        n = struct.calcsize(fmt)
        if off + n > len(b):
            raise error(f"{where}: truncated OpenFst header")
        return struct.unpack_from(fmt, b, off), off + n

    def string(off):
        (n,), off = take("<i", off)
        if n < 0 or off + n > len(b):
            raise error(f"{where}: truncated or corrupt OpenFst header")
        return b[off: off + n].decode("latin-1"), off + n

    (magic,), off = take("<i", offset)
    if magic != MAGIC:
        raise error(f"{where}: not an OpenFst binary FST (magic {magic})")
    fst_type, off = string(off)
    arc_type, off = string(off)
    (_version, flags, _props, start, ns, na), off = take("<iiQqqq", off)
    return FstHeader(fst_type, arc_type, flags, start, ns, na, off - offset)


def vector_fst_bytes(arc_type: str, num_states: int, num_arcs: int, final_weight, arcs_of) -> bytes:
    """A VectorFst file of any arc type, start state 0, built state by state in Python (for
    small FSTs such as lattices; graphs use :func:`write_vector_fst`).

    Args:
        arc_type: the arc type name written in the header.
        num_states, num_arcs: the counts.
        final_weight: ``final_weight(s)``: state s's final weight, as bytes.
        arcs_of: ``arcs_of(s)``: its arcs as (ilabel, olabel, weight bytes, nextstate).
    """
    out = [header_bytes("vector", arc_type, 0 if num_states else -1, num_states, num_arcs)]
    for s in range(num_states):
        out.append(final_weight(s))
        arcs = arcs_of(s)
        out.append(struct.pack("<q", len(arcs)))
        for il, ol, w, d in arcs:
            out.append(struct.pack("<ii", il, ol) + w + struct.pack("<i", d))
    return b"".join(out)


@njit(cache=True)
def _vector_body(offsets, order, ilabel, olabel, weight, nextstate, final):
    """The body of a VectorFst file as int32: per state its final weight, its int64 arc
    count and its 16-byte arcs. Arc j of the grouping is arc order[j] (order empty: j)."""
    S = final.shape[0]
    A = offsets[S]
    body = np.empty(3 * S + 4 * A, np.int32)
    fb = body.view(np.float32)
    use_order = order.shape[0] > 0
    p = 0
    for s in range(S):
        n = offsets[s + 1] - offsets[s]
        fb[p] = final[s]
        body[p + 1] = np.int32(n & 0xFFFFFFFF)
        body[p + 2] = np.int32(n >> 32)
        p += 3
        for j in range(offsets[s], offsets[s + 1]):
            a = order[j] if use_order else j
            body[p] = ilabel[a]
            body[p + 1] = olabel[a]
            fb[p + 2] = weight[a]
            body[p + 3] = nextstate[a]
            p += 4
    return body


def write_vector_fst(path, a: FstArrays, order: np.ndarray | None = None, ilabel_sorted: bool = False) -> None:
    """Writes arrays as an OpenFst VectorFst file (tropical), as ``Fst.write`` would.

    Args:
        path: the file.
        a: the FST; arcs grouped by state (``a.offsets``).
        order: int64 [A]: arc j of the grouping is arc order[j]; None: the arrays' order.
        ilabel_sorted: the arcs of each state are sorted by input label (recorded in the
            header, so that OpenFst does not sort them again).
    """
    ns = a.num_states
    props = K_EXPANDED | K_MUTABLE | (K_ILABEL_SORTED if ilabel_sorted else 0)
    header = header_bytes("vector", "standard", a.start if ns else -1, ns, int(a.offsets[-1]), props)
    body = _vector_body(a.offsets, np.empty(0, np.int64) if order is None else order, a.ilabel, a.olabel,
                        a.weight, a.nextstate, a.final)
    with open(path, "wb") as fh:
        fh.write(header)
        body.tofile(fh)


@njit(cache=True)
def _parse_vector_body(body, fbody, num_states):
    """The arcs of a VectorFst file body (per state: final weight, int64 arc count, then
    16-byte arcs), as CSR arrays.

    Args:
        body: int32 view of the body; fbody: the same bytes as float32.
        num_states: states in the file.

    Returns:
        (offsets int64 [S+1], ilabel, olabel, nextstate int32 [A], weight float32 [A],
        final float32 [S]).
    """
    p = 0
    na = 0
    for _ in range(num_states):
        n = (np.int64(body[p + 1]) & 0xFFFFFFFF) | (np.int64(body[p + 2]) << 32)
        na += n
        p += 3 + 4 * n
    offsets = np.empty(num_states + 1, np.int64)
    ilabel = np.empty(na, np.int32)
    olabel = np.empty(na, np.int32)
    nextstate = np.empty(na, np.int32)
    weight = np.empty(na, np.float32)
    final = np.empty(num_states, np.float32)
    p = 0
    k = 0
    for s in range(num_states):
        final[s] = fbody[p]
        n = (np.int64(body[p + 1]) & 0xFFFFFFFF) | (np.int64(body[p + 2]) << 32)
        offsets[s] = k
        p += 3
        for _ in range(n):
            ilabel[k] = body[p]
            olabel[k] = body[p + 1]
            weight[k] = fbody[p + 2]
            nextstate[k] = body[p + 3]
            p += 4
            k += 1
    offsets[num_states] = k
    return offsets, ilabel, olabel, nextstate, weight, final


def read_vector_fst_file(path) -> FstArrays:
    """Reads a VectorFst file (tropical, no symbol tables) into contiguous arrays.

    Args:
        path: an OpenFst binary file of type ``vector``, as ``Fst.write`` makes.

    Returns:
        FstArrays with contiguous, writable arrays.
    """
    with open(path, "rb") as fh:
        head = fh.read(4096)
    h = parse_header(head, 0, str(path))
    if h.fst_type != "vector" or h.arc_type != "standard" or h.flags & (HAS_ISYMBOLS | HAS_OSYMBOLS):
        raise GraphBuildError(f"{path}: expected a tropical VectorFst without symbol tables, "
                              f"got {h.fst_type!r}/{h.arc_type!r} (flags {h.flags})")
    body = np.fromfile(path, dtype=np.int32, offset=h.size)
    offsets, ilabel, olabel, nextstate, weight, final = _parse_vector_body(body, body.view(np.float32), int(h.num_states))
    del body
    return FstArrays(int(h.start), final, offsets, ilabel, olabel, weight, nextstate)
