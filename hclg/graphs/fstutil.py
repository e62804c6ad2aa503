"""OpenFst helpers: numpy <-> FST in bulk, checked composition, determinization, minimization.

pywrapfst (shipped with pynini) is the OpenFst API used throughout. Building or reading
millions of arcs one Python call at a time is slow, so FSTs cross the boundary in bulk
through OpenFst's own VectorFst binary file: a header, then per state its final weight,
its arc count (int64) and its 16-byte arcs (ilabel, olabel, weight, nextstate). OpenFst
writes and reads that file; numba parses and writes it, one pass, no per-arc Python.
"""

from __future__ import annotations

import contextvars
import logging
import os
import struct
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pywrapfst as fst
from numba import njit

from hclg import constants
from hclg.errors import GraphBuildError

log = logging.getLogger("hclg")

#: (step, states, arcs, seconds) of each logged step, for whoever set a list here
#: (compile_graph does, for its manifest); context-local, not global state.
STEP_RECORD: contextvars.ContextVar[list | None] = contextvars.ContextVar("hclg_step_record", default=None)

_MAGIC = 2125659606
_K_EXPANDED = 0x1
_K_MUTABLE = 0x2
_K_ILABEL_SORTED = 0x10000000
_HAS_ISYMBOLS = 0x1
_HAS_OSYMBOLS = 0x2


@dataclass(frozen=True)
class FstArrays:
    """An FST as flat arrays, arcs grouped by source state.

    Attributes:
        start: start state, or -1 for an empty FST.
        final: float32 [num_states]; final cost, +inf where the state is not final.
        offsets: int64 [num_states + 1]; arcs of state s are offsets[s]:offsets[s+1].
        ilabel, olabel: int32 [num_arcs].
        weight: float32 [num_arcs]; arc costs.
        nextstate: int32 [num_arcs].
    """

    start: int
    final: np.ndarray
    offsets: np.ndarray
    ilabel: np.ndarray
    olabel: np.ndarray
    weight: np.ndarray
    nextstate: np.ndarray

    @property
    def num_states(self) -> int:
        return int(self.final.shape[0])

    @property
    def num_arcs(self) -> int:
        return int(self.ilabel.shape[0])

    def sources(self) -> np.ndarray:
        """int32 [num_arcs]: the source state of each arc."""
        return np.repeat(np.arange(self.num_states, dtype=np.int32), np.diff(self.offsets))


def _read_string(b: bytes, off: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<i", b, off)
    return b[off + 4 : off + 4 + n].decode(), off + 4 + n


def _read_header(b: bytes, where: str) -> tuple:
    """OpenFst's file header: (fst type, arc type, flags, start, states, arcs, its length)."""
    (magic,) = struct.unpack_from("<i", b, 0)
    if magic != _MAGIC:
        raise GraphBuildError(f"{where}: not an OpenFst binary FST")
    kind, off = _read_string(b, 4)
    arc_type, off = _read_string(b, off)
    _version, flags = struct.unpack_from("<ii", b, off)
    off += 8
    _props, start, ns, na = struct.unpack_from("<Qqqq", b, off)
    return kind, arc_type, flags, start, ns, na, off + 32


@njit(cache=True)
def _group_by_source(num_states, src):
    """(offsets int64 [S+1], order int64 [A]): arcs grouped by source, stable."""
    offsets = np.zeros(num_states + 1, np.int64)
    for a in range(src.shape[0]):
        offsets[src[a] + 1] += 1
    for s in range(num_states):
        offsets[s + 1] += offsets[s]
    fill = offsets[:-1].copy()
    order = np.empty(src.shape[0], np.int64)
    for a in range(src.shape[0]):
        order[fill[src[a]]] = a
        fill[src[a]] += 1
    return offsets, order


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
    props = _K_EXPANDED | _K_MUTABLE | (_K_ILABEL_SORTED if ilabel_sorted else 0)
    header = struct.pack("<i", _MAGIC)
    for name in ("vector", "standard"):
        header += struct.pack("<i", len(name)) + name.encode()
    header += struct.pack("<ii", 2, 0)
    header += struct.pack("<Qqqq", props, a.start if ns else -1, ns, int(a.offsets[-1]))
    body = _vector_body(a.offsets, np.empty(0, np.int64) if order is None else order, a.ilabel, a.olabel,
                        a.weight, a.nextstate, a.final)
    with open(path, "wb") as fh:
        fh.write(header)
        body.tofile(fh)


def read_arrays_as_fst(a: FstArrays, order: np.ndarray | None = None, ilabel_sorted: bool = False) -> fst.VectorFst:
    """A VectorFst of arrays (through a temporary VectorFst file: one copy in memory)."""
    fd, path = tempfile.mkstemp(suffix=".fst", prefix="hclg-")
    os.close(fd)
    try:
        write_vector_fst(path, a, order, ilabel_sorted)
        return fst.Fst.read(path)
    finally:
        os.unlink(path)


def arrays_to_fst(
    num_states: int,
    start: int,
    src: np.ndarray,
    ilabel: np.ndarray,
    olabel: np.ndarray,
    weight: np.ndarray,
    dst: np.ndarray,
    final: np.ndarray,
) -> fst.VectorFst:
    """Builds a tropical VectorFst from arc arrays in one OpenFst read.

    Args:
        num_states: number of states; states are 0..num_states-1.
        start: the start state.
        src, ilabel, olabel, dst: int [num_arcs]; arcs in any order (each state keeps
            its arcs in the order given).
        weight: float [num_arcs]; arc costs.
        final: float [num_states]; final costs, +inf where not final.

    Returns:
        A mutable pywrapfst VectorFst.
    """
    i32 = lambda x: np.ascontiguousarray(x, dtype=np.int32)  # noqa: E731
    src, dst = i32(src), i32(dst)
    na = src.shape[0]
    if na and (src.min() < 0 or src.max() >= num_states):
        raise GraphBuildError("arc source state out of range")
    if na and (dst.min() < 0 or dst.max() >= num_states):
        raise GraphBuildError("arc destination state out of range")
    offsets, order = _group_by_source(num_states, src)
    a = FstArrays(start, np.ascontiguousarray(final, dtype=np.float32), offsets, i32(ilabel), i32(olabel),
                  np.ascontiguousarray(weight, dtype=np.float32), dst)
    return read_arrays_as_fst(a, order)


def size(f: fst.Fst) -> tuple[int, int]:
    """(states, arcs) of an FST."""
    n = f.num_states()
    return n, sum(map(f.num_arcs, range(n)))


def log_step(step: str, f: fst.Fst, t0: float, hint: str = "") -> fst.Fst:
    """Logs the size of a step's result and raises at once if it is empty.

    Args:
        step: name of the step ("LG = L o G").
        f: its result (an FST or FstArrays).
        t0: time.perf_counter() when the step began.
        hint: the likely cause, said when the result is empty.

    Returns:
        f, unchanged.
    """
    if isinstance(f, FstArrays):
        if f.start < 0 or f.num_states == 0:
            raise GraphBuildError(f"Composition failure: step {step!r} produced an empty FST. {hint}".strip())
        n, a = f.num_states, f.num_arcs
    else:
        if f.start() == fst.NO_STATE_ID or f.num_states() == 0:
            raise GraphBuildError(f"Composition failure: step {step!r} produced an empty FST. {hint}".strip())
        n, a = size(f)
    dt = time.perf_counter() - t0
    log.info("%-34s %10d states %11d arcs %8.2fs", step, n, a, dt)
    rec = STEP_RECORD.get()
    if rec is not None:
        rec.append((step, n, a, round(dt, 3)))
    return f


def compose(a: fst.Fst, b: fst.Fst, step: str, hint: str = "") -> fst.VectorFst:
    """a o b, trimmed; raises GraphBuildError naming ``step`` if the result is empty."""
    t0 = time.perf_counter()
    a = a.copy().arcsort("olabel")
    c = fst.compose(a, b, connect=True)
    return log_step(step, c, t0, hint)


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def _release_free_heap() -> None:
    """Returns freed heap pages to the OS (glibc's malloc_trim), where glibc is there."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


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
    kind, arc_type, flags, start, ns, _na, off = _read_header(head, str(path))
    if kind != "vector" or arc_type != "standard" or flags & (_HAS_ISYMBOLS | _HAS_OSYMBOLS):
        raise GraphBuildError(f"{path}: expected a tropical VectorFst without symbol tables, "
                              f"got {kind!r}/{arc_type!r} (flags {flags})")
    body = np.fromfile(path, dtype=np.int32, offset=off)
    offsets, ilabel, olabel, nextstate, weight, final = _parse_vector_body(body, body.view(np.float32), int(ns))
    del body
    return FstArrays(int(start), final, offsets, ilabel, olabel, weight, nextstate)


def fst_to_arrays(f: fst.Fst, consume: bool = False) -> FstArrays:
    """Copies any tropical FST into contiguous arrays (states keep their numbers) through
    its VectorFst file, so that no second in-memory copy of the FST is made.

    Args:
        f: a pywrapfst/pynini FST with standard arcs.
        consume: delete f's states (and its symbol tables) once it is written, so the FST
            and the arrays never sit in memory together.

    Returns:
        FstArrays with contiguous, writable arrays.
    """
    if f.arc_type() != "standard":
        raise GraphBuildError(f"expected a tropical ('standard') FST, got arc type {f.arc_type()!r}")
    if f.fst_type() != "vector" or (not consume and (f.input_symbols() is not None or f.output_symbols() is not None)):
        f = fst.convert(f, "vector") if f.fst_type() != "vector" else f.copy()
    f.set_input_symbols(None)
    f.set_output_symbols(None)
    fd, path = tempfile.mkstemp(suffix=".fst", prefix="hclg-")
    os.close(fd)
    try:
        f.write(path)
        if consume:
            f.delete_states()
            _release_free_heap()
        return read_vector_fst_file(path)
    finally:
        os.unlink(path)


def determinize_log(f: fst.Fst, step: str, hint: str, max_mem: int | None = None,
                    consume: bool = False) -> fst.VectorFst:
    """Removes epsilons and determinizes in the log semiring, as Kaldi's
    ``fstdeterminizestar --use-log=true`` (:mod:`hclg.graphs.determinize`).

    An input that is already input-deterministic and free of epsilons (e.g. Ha o LG for
    a monophone system) is returned as it is: determinizing it changes nothing.

    Args:
        f: a functional tropical FST.
        step: name of the step, for the log and for errors.
        hint: the likely cause, said if the input cannot be determinized.
        max_mem: bytes the determinization may use for its subsets, strings and arcs
            before it stops with an error (non-determinizable input grows without
            bound); default a fraction of available memory
            (constants.DETERMINIZE_MAX_MEM_FRACTION).
        consume: empty ``f`` (delete its states) as soon as it has been read.

    Returns:
        An equivalent deterministic tropical FST.
    """
    from hclg.graphs import determinize as det

    t0 = time.perf_counter()
    props = f.properties(fst.I_DETERMINISTIC | fst.EPSILONS | fst.I_EPSILONS, True)
    if (props & fst.I_DETERMINISTIC) and not (props & (fst.EPSILONS | fst.I_EPSILONS)):
        log.info("%s: already deterministic, skipped", step)
        return log_step(step + " (already deterministic)", f, t0)
    if max_mem is None:
        max_mem = int(_available_memory() * constants.DETERMINIZE_MAX_MEM_FRACTION)
    a = fst_to_arrays(f, consume=consume)
    if a.start < 0:
        raise GraphBuildError(f"Composition failure: step {step!r} got an empty FST. {hint}".strip())
    status, n, t_src, t_il, t_str, t_next, t_w, s_par, s_lab, s_dep, bad = det.determinize_star_kernel(
        a.offsets, a.ilabel, a.olabel, a.weight, a.nextstate, a.final, a.start,
        constants.DETERMINIZE_DELTA, max_mem)
    del a
    if status == det.OUT_OF_MEMORY:
        raise GraphBuildError(f"step {step!r} ran out of its memory cap ({max_mem / 2**30:.2f} GiB allowed, "
                              f"{n} states made). Likely cause: {hint}")
    if status == det.NOT_FUNCTIONAL:
        raise GraphBuildError(f"step {step!r}: the FST is not functional (input state {bad} is reached by one "
                              f"input string with two output strings), so it cannot be determinized. "
                              f"Likely cause: {hint}")
    if status == det.EPSILON_LOOP:
        raise GraphBuildError(f"step {step!r}: the epsilon closure through input state {bad} does not converge "
                              f"(an epsilon cycle of negative cost?). Likely cause: {hint}")
    ns, src, il, ol, dst, w, fin = det.strings_to_arcs(n, t_src, t_il, t_str, t_next, t_w, s_par, s_lab, s_dep)
    del t_src, t_il, t_str, t_next, t_w, s_par, s_lab, s_dep
    out = arrays_to_fst(ns, 0, src, il, ol, w, dst, fin)
    return log_step(step, out, t0)


def minimize_encoded(f: fst.Fst, step: str, consume: bool = False) -> fst.VectorFst:
    """Minimizes with labels and weights encoded, so no weight is pushed: as Kaldi's
    ``fstminimizeencoded`` (quantize weights by delta, encode, minimize, decode).

    With ``consume``, ``f`` is emptied once its quantized copy is made, so that the
    minimization does not run beside it."""
    t0 = time.perf_counter()
    g = fst.arcmap(f, delta=constants.MINIMIZE_DELTA, map_type="quantize")
    if consume:
        f.delete_states()
        _release_free_heap()
    enc = fst.EncodeMapper(g.arc_type(), encode_labels=True, encode_weights=True)
    g.encode(enc)
    g.minimize(delta=constants.MINIMIZE_DELTA)
    g.decode(enc)
    return log_step(step, g, t0)


def relabel_to_epsilon(f: fst.Fst, labels, side: str, step: str) -> fst.VectorFst:
    """Replaces ``labels`` by epsilon on one side, as Kaldi's ``fstrmsymbols``."""
    t0 = time.perf_counter()
    pairs = [(int(x), 0) for x in labels]
    g = f.copy()
    if pairs:
        if side == "input":
            g.relabel_pairs(ipairs=pairs)
        else:
            g.relabel_pairs(opairs=pairs)
    return log_step(step, g, t0)
