"""Reading and writing lattices.

Specifiers, as Kaldi's (``ark,t:`` text, ``ark:`` binary) plus two of hclg's own:

- ``ark,t:PATH``: Kaldi CompactLattice text archive. Each lattice is its key on a line,
  then ``src dst word graph,acoustic,l1_l2_...`` arc lines and ``state graph,acoustic,labels``
  final lines, then an empty line. Word ids are those of the graph's ``words.txt``;
  labels are transition ids (HMM graphs) or token labels (CTC graphs); acoustic costs
  are unscaled, as Kaldi's decoders write them. ``lattice-copy ark,t:PATH ark:-`` reads it.
- ``ark:PATH``: Kaldi binary archive (``key \\0B`` then an OpenFst ``compactlattice44``
  vector FST), what ``latgen-faster`` writes by default.
- ``npz:DIR``: one ``DIR/UTT.npz`` per utterance, hclg's compact form: the
  :class:`~hclg.decoder.lattice.Lattice` arrays as they are, loaded without pickles.
- ``fst:DIR``: one ``DIR/UTT.fst`` per utterance, an OpenFst tropical acceptor over word
  ids whose weights are total costs at the lattice's acoustic scale (for pynini users;
  the frame labels are not kept).

``-`` as PATH is stdout/stdin for archives. Reading detects text or binary by content.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np

from hclg.decoder.lattice import INF, Lattice, build_lattice
from hclg.errors import DecodeError, InputFormatError


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


def _from_parts(utt, arcs, finals, n, acoustic_scale, frame_seconds) -> Lattice:
    """A Lattice from (src, dst, word, graph, acoustic, labels) arcs and {state: (graph,
    acoustic, labels)} finals, costs stored as given; states renumbered in topological
    order from 0 (those not reachable from 0 dropped), arcs sorted.

    Raises:
        DecodeError: the arcs make a cycle.
    """
    A = len(arcs)
    off = np.zeros(A + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(x[5]) for x in arcs]) if A else []
    fg = np.full(n, INF)
    fa = np.zeros(n)
    fl = [()] * n
    for s, (g, a, lab) in finals.items():
        fg[s], fa[s], fl[s] = g, a, lab
    foff = np.zeros(n + 1, dtype=np.int64)
    foff[1:] = np.cumsum([len(x) for x in fl])
    col = lambda i, t: np.array([x[i] for x in arcs], dtype=t)
    return build_lattice(utt, n, col(0, np.int64), col(1, np.int64), col(2, np.int32), col(3, np.float64),
                         col(4, np.float64), off, [v for x in arcs for v in x[5]], fg, fa, foff,
                         [v for x in fl for v in x], (0.0, 0.0, ()), acoustic_scale, frame_seconds, INF,
                         scaled=False)


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
            yield _from_parts(utt, arcs, finals, n, acoustic_scale, frame_seconds)
            utt = None
            continue
        try:
            if len(f) == 4:
                s, d, w = int(f[0]), int(f[1]), int(f[2])
                g, a, lab = _parse_weight(f[3], (path, lineno))
                arcs.append((s, d, w, g, a, lab))
                n = max(n, s + 1, d + 1)
            elif len(f) in (1, 2):
                s = int(f[0])
                finals[s] = _parse_weight(f[1], (path, lineno)) if len(f) == 2 else (0.0, 0.0, ())
                n = max(n, s + 1)
            else:
                raise ValueError
        except ValueError:
            raise InputFormatError(path, lineno, f"expected 'src dst word weight' or 'state [weight]' (a CompactLattice), got {line.strip()!r}") from None
    if utt is not None:
        yield _from_parts(utt, arcs, finals, n, acoustic_scale, frame_seconds)


# ---- Kaldi binary (OpenFst vector FST of CompactLatticeArc) ----

_FST_MAGIC = 2125659606
_ARC_TYPE = "compactlattice44"
_PROPS = 0x3  # kExpanded | kMutable, as a VectorFst writes; readers recompute the rest


def _wstr(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<i", len(b)) + b


def _cweight(g: float, a: float, labels) -> bytes:
    labels = np.asarray(labels, dtype="<i4")
    return struct.pack("<ffi", g, a, len(labels)) + labels.tobytes()


def vector_fst_bytes(arc_type: str, num_states: int, num_arcs: int, final_weight, arcs_of) -> bytes:
    """An OpenFst binary VectorFst (header, then per state its final weight, arc count and
    arcs), start state 0. ``final_weight(s)`` gives a state's weight bytes; ``arcs_of(s)``
    its arcs as (ilabel, olabel, weight bytes, nextstate)."""
    out = [struct.pack("<i", _FST_MAGIC), _wstr("vector"), _wstr(arc_type),
           struct.pack("<iiQqqq", 2, 0, _PROPS, 0 if num_states else -1, num_states, num_arcs)]
    for s in range(num_states):
        out.append(final_weight(s))
        arcs = arcs_of(s)
        out.append(struct.pack("<q", len(arcs)))
        for il, ol, w, d in arcs:
            out.append(struct.pack("<ii", il, ol) + w + struct.pack("<i", d))
    return b"".join(out)


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

    def string(self) -> str:
        (n,) = self.take("<i")
        s = self.b[self.o: self.o + n].decode("latin-1")
        self.o += n
        return s


def read_kaldi_binary(data: bytes, path: str = "-", acoustic_scale: float = 0.1,
                      frame_seconds: float = 0.01, ends: list | None = None) -> Iterator[Lattice]:
    """Reads a Kaldi binary archive of CompactLattices; ``ends``, if given, collects the
    byte offset where each lattice ends."""
    r = _Reader(data, path)
    while r.o < len(data):
        sp = data.find(b" ", r.o)
        if sp < 0 or data[sp + 1: sp + 3] != b"\0B":
            raise InputFormatError(path, None, f"expected 'key \\0B' at byte {r.o} of a binary archive")
        utt = data[r.o: sp].decode("utf-8").strip()
        r.o = sp + 3
        (magic,) = r.take("<i")
        if magic != _FST_MAGIC:
            raise InputFormatError(path, None, f"utterance {utt!r}: not an OpenFst binary (magic {magic})")
        _fst_type, arc_type = r.string(), r.string()
        if arc_type != _ARC_TYPE:
            raise InputFormatError(path, None, f"utterance {utt!r}: arc type {arc_type!r}, expected {_ARC_TYPE} (a CompactLattice)")
        _ver, _flags, _props, start, ns, _na = r.take("<iiQqqq")
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
                arcs.append((s, d, il, float(g), float(a), lab))
        if start not in (0, -1):
            raise InputFormatError(path, None, f"utterance {utt!r}: start state {start}; hclg expects 0")
        if ends is not None:
            ends.append(r.o)
        yield _from_parts(utt, arcs, finals, ns, acoustic_scale, frame_seconds)


# ---- hclg's npz and OpenFst ----

def to_npz(lat: Lattice, path) -> None:
    np.savez(path, src=lat.src, dst=lat.dst, word=lat.word, graph=lat.graph, acoustic=lat.acoustic,
             align_off=lat.align_off, align=lat.align, final_graph=lat.final_graph,
             final_acoustic=lat.final_acoustic, final_align_off=lat.final_align_off, final_align=lat.final_align,
             acoustic_scale=np.float64(lat.acoustic_scale), frame_seconds=np.float64(lat.frame_seconds),
             utt=np.str_(lat.utt))


def from_npz(path) -> Lattice:
    try:
        with np.load(path, allow_pickle=False) as z:
            return Lattice(str(z["utt"]), z["src"], z["dst"], z["word"], z["graph"], z["acoustic"], z["align_off"],
                           z["align"], z["final_graph"], z["final_acoustic"], z["final_align_off"], z["final_align"],
                           float(z["acoustic_scale"]), float(z["frame_seconds"]))
    except (KeyError, ValueError, OSError) as e:
        raise InputFormatError(str(path), None, f"not an hclg lattice (.npz): {e}") from None


def to_openfst(lat: Lattice, acoustic_scale: float | None = None, lm_scale: float = 1.0):
    """The lattice as a pywrapfst tropical acceptor over word ids (those of the graph's
    words.txt; weights: total costs)."""
    import pywrapfst as fst

    c, f = lat.arc_costs(acoustic_scale, lm_scale)
    out = fst.VectorFst()
    one = fst.Weight.one(out.weight_type())
    for _ in range(lat.num_states):
        out.add_state()
    if lat.num_states:
        out.set_start(0)
    for k in range(lat.num_arcs):
        out.add_arc(int(lat.src[k]), fst.Arc(int(lat.word[k]), int(lat.word[k]), fst.Weight(out.weight_type(), float(c[k])), int(lat.dst[k])))
    for s in range(lat.num_states):
        if np.isfinite(f[s]):
            out.set_final(s, fst.Weight(out.weight_type(), float(f[s])) if f[s] != 0 else one)
    return out


# ---- streams ----

class LatticeWriter:
    """Writes lattices to a specifier as they come (flushed each time).

    Args:
        spec: ``ark,t:PATH``, ``ark:PATH``, ``npz:DIR`` or ``fst:DIR``.
        append: continue an existing output (resume); a torn last entry of an archive
            is cut off first.
    """

    def __init__(self, spec: str, append: bool = False):
        self.kind, self.path = parse_spec(spec)
        self.fh = None
        if self.kind in ("text", "ark"):
            if self.path == "-":
                self.fh = sys.stdout.buffer
            else:
                if append and self.kind == "text":
                    _cut_torn_text(Path(self.path))
                elif append:
                    _cut_torn_binary(Path(self.path))
                self.fh = open(self.path, "ab" if append else "wb")
        else:
            Path(self.path).mkdir(parents=True, exist_ok=True)

    def write(self, lat: Lattice) -> None:
        if self.kind == "text":
            self.fh.write(to_kaldi_text(lat).encode("utf-8"))
            self.fh.flush()
        elif self.kind == "ark":
            self.fh.write(lat.utt.encode("utf-8") + b" \0B" + to_kaldi_binary(lat))
            self.fh.flush()
        elif self.kind == "npz":
            tmp = Path(self.path) / f".{lat.utt}.tmp.npz"
            to_npz(lat, tmp)
            os.replace(tmp, Path(self.path) / f"{lat.utt}.npz")
        else:
            tmp = Path(self.path) / f".{lat.utt}.tmp.fst"
            to_openfst(lat).write(str(tmp))
            os.replace(tmp, Path(self.path) / f"{lat.utt}.fst")

    def close(self) -> None:
        if self.fh is not None and self.fh is not sys.stdout.buffer:
            self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _cut_torn_text(path: Path) -> None:
    """Truncates a text archive after its last complete lattice (ended by a blank line)."""
    if not path.exists():
        return
    data = path.read_bytes()
    cut = data.rfind(b"\n\n") + 2 if b"\n\n" in data else 0
    if cut != len(data):
        with open(path, "r+b") as fh:
            fh.truncate(cut)


def _cut_torn_binary(path: Path) -> None:
    """Truncates a binary archive after its last complete lattice."""
    if not path.exists():
        return
    data = path.read_bytes()
    ends = [0]
    try:
        for _ in read_kaldi_binary(data, str(path), ends=ends):
            pass
    except InputFormatError:
        pass
    if ends[-1] != len(data):
        with open(path, "r+b") as fh:
            fh.truncate(ends[-1])


def read_lattices(spec: str, acoustic_scale: float = 0.1, frame_seconds: float = 0.01) -> Iterator[Lattice]:
    """Lattices from a specifier (``ark:``/``ark,t:`` Kaldi archives, text or binary by
    content; ``npz:DIR``, a directory of .npz, or one .npz file). Kaldi archives do not
    record the acoustic scale or frame length: ``acoustic_scale`` and ``frame_seconds``
    are what they are read with; npz lattices carry their own."""
    kind, path = parse_spec(spec)
    if kind in ("text", "ark"):
        data = sys.stdin.buffer.read() if path == "-" else _read(path)
        sp = data.find(b" ")
        nl = data.find(b"\n")
        binary = sp >= 0 and data[sp + 1: sp + 3] == b"\0B" and (nl < 0 or sp < nl)
        if binary:
            yield from read_kaldi_binary(data, path, acoustic_scale, frame_seconds)
        else:
            yield from read_kaldi_text(io.StringIO(data.decode("utf-8")), path, acoustic_scale, frame_seconds)
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


def draw(lat: Lattice, words=None, fmt: str = "dot", acoustic_scale: float | None = None) -> bytes:
    """The lattice as Graphviz DOT, or rendered (``svg``, ``png``) by Graphviz's ``dot``.
    Arcs show the word, graph and acoustic cost; states their frame.

    Raises:
        DecodeError: ``svg``/``png`` asked for and Graphviz's ``dot`` is not installed.
    """
    sym = words.symbols if words is not None else None
    t = lat.state_times()
    lines = ["digraph lattice {", "  rankdir=LR;", f'  label="{lat.utt}";',
             '  node [shape=circle, fontsize=10]; edge [fontsize=10];']
    for s in range(lat.num_states):
        shape = "doublecircle" if np.isfinite(lat.final_graph[s]) else "circle"
        lines.append(f'  {s} [label="{s}\\nt={t[s]}", shape={shape}];')
    for k in range(lat.num_arcs):
        w = int(lat.word[k])
        name = (sym[w] if sym and w < len(sym) else str(w)) if w else "<eps>"
        name = name.replace('"', '\\"')
        lines.append(f'  {lat.src[k]} -> {lat.dst[k]} [label="{name}\\n{lat.graph[k]:.2f},{lat.acoustic[k]:.2f}"];')
    lines.append("}")
    dot = ("\n".join(lines) + "\n").encode()
    if fmt == "dot":
        return dot
    try:
        return subprocess.run(["dot", f"-T{fmt}"], input=dot, capture_output=True, check=True).stdout
    except FileNotFoundError:
        raise DecodeError("drawing as svg/png needs Graphviz's `dot` program (e.g. apt install graphviz); "
                          "--format dot writes the DOT text without it") from None
