"""OpenFst helpers: numpy <-> FST in bulk, checked composition, guarded determinization.

pywrapfst (shipped with pynini) is the OpenFst API used throughout. Building or reading
millions of arcs one Python call at a time is slow, so FSTs cross the boundary in bulk
through OpenFst's own ConstFst binary layout: a header, one 20-byte record per state
(final weight, first-arc position, arc count, input- and output-epsilon counts) and one
16-byte record per arc (ilabel, olabel, weight, nextstate). OpenFst writes and reads that
layout; numpy views it without copying.
"""

from __future__ import annotations

import contextvars
import faulthandler
import logging
import os
import resource
import struct
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pywrapfst as fst

from hclg import constants
from hclg.errors import GraphBuildError

log = logging.getLogger("hclg")

#: (step, states, arcs, seconds) of each logged step, for whoever set a list here
#: (compile_graph does, for its manifest); context-local, not global state.
STEP_RECORD: contextvars.ContextVar[list | None] = contextvars.ContextVar("hclg_step_record", default=None)

_MAGIC = 2125659606
_K_EXPANDED = 0x1
_HAS_ISYMBOLS = 0x1
_HAS_OSYMBOLS = 0x2
_IS_ALIGNED = 0x4
_FILE_ALIGN = 16
STATE_DTYPE = np.dtype([("final", "<f4"), ("pos", "<u4"), ("narcs", "<u4"), ("nieps", "<u4"), ("noeps", "<u4")])
ARC_DTYPE = np.dtype([("ilabel", "<i4"), ("olabel", "<i4"), ("weight", "<f4"), ("nextstate", "<i4")])


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


def fst_to_arrays(f: fst.Fst) -> FstArrays:
    """Copies any tropical FST into flat arrays (one OpenFst conversion, no per-arc Python).

    Args:
        f: a pywrapfst/pynini FST with standard (tropical) arcs.

    Returns:
        The FST's arrays; states keep their numbers.
    """
    if f.arc_type() != "standard":
        raise GraphBuildError(f"expected a tropical ('standard') FST, got arc type {f.arc_type()!r}")
    if f.fst_type() != "const":
        if f.input_symbols() is not None or f.output_symbols() is not None:
            f = f.copy()
            f.set_input_symbols(None)
            f.set_output_symbols(None)
        f = fst.convert(f, "const")
    b = f.write_to_string()
    del f
    (magic,) = struct.unpack_from("<i", b, 0)
    if magic != _MAGIC:
        raise GraphBuildError("OpenFst wrote an unexpected header")
    _, off = _read_string(b, 4)
    _, off = _read_string(b, off)
    _version, flags = struct.unpack_from("<ii", b, off)
    off += 8
    _props, start, ns, na = struct.unpack_from("<Qqqq", b, off)
    off += 32
    if flags & (_HAS_ISYMBOLS | _HAS_OSYMBOLS):
        raise GraphBuildError("symbol tables should have been removed before conversion")
    if flags & _IS_ALIGNED:
        off = -(-off // _FILE_ALIGN) * _FILE_ALIGN
    states = np.frombuffer(b, STATE_DTYPE, ns, off)
    off += ns * STATE_DTYPE.itemsize
    if flags & _IS_ALIGNED:
        off = -(-off // _FILE_ALIGN) * _FILE_ALIGN
    arcs = np.frombuffer(b, ARC_DTYPE, na, off)
    offsets = np.empty(ns + 1, dtype=np.int64)
    offsets[:-1] = states["pos"]
    offsets[-1] = na
    # views into OpenFst's buffer (read-only, strided): no per-field copies
    return FstArrays(
        start=int(start),
        final=states["final"],
        offsets=offsets,
        ilabel=arcs["ilabel"],
        olabel=arcs["olabel"],
        weight=arcs["weight"],
        nextstate=arcs["nextstate"],
    )


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
        src, ilabel, olabel, dst: int [num_arcs]; arcs in any order.
        weight: float [num_arcs]; arc costs.
        final: float [num_states]; final costs, +inf where not final.

    Returns:
        A mutable pywrapfst VectorFst.
    """
    src = np.asarray(src)
    na = src.shape[0]
    if na and (src.min() < 0 or src.max() >= num_states):
        raise GraphBuildError("arc source state out of range")
    dst = np.asarray(dst)
    if na and (dst.min() < 0 or dst.max() >= num_states):
        raise GraphBuildError("arc destination state out of range")
    order = np.argsort(src, kind="stable")
    counts = np.bincount(src, minlength=num_states)
    states = np.zeros(num_states, dtype=STATE_DTYPE)
    states["final"] = final
    pos = np.zeros(num_states, dtype=np.int64)
    np.cumsum(counts[:-1], out=pos[1:])
    states["pos"] = pos
    del pos
    states["narcs"] = counts
    il_sorted = np.asarray(ilabel)[order]
    ol_sorted = np.asarray(olabel)[order]
    s_sorted = src[order]
    states["nieps"] = np.bincount(s_sorted[il_sorted == 0], minlength=num_states)
    states["noeps"] = np.bincount(s_sorted[ol_sorted == 0], minlength=num_states)
    del s_sorted
    arcs = np.empty(na, dtype=ARC_DTYPE)
    arcs["ilabel"] = il_sorted
    del il_sorted
    arcs["olabel"] = ol_sorted
    del ol_sorted
    arcs["weight"] = np.asarray(weight)[order]
    arcs["nextstate"] = dst[order]
    del order
    header = struct.pack("<i", _MAGIC)
    for name in ("const", "standard"):
        header += struct.pack("<i", len(name)) + name.encode()
    header += struct.pack("<ii", 2, 0)
    header += struct.pack("<Qqqq", _K_EXPANDED, start if num_states else -1, num_states, na)
    # Through a file: OpenFst reads it in place of several in-memory copies of the arcs.
    fd, path = tempfile.mkstemp(suffix=".fst", prefix="hclg-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(header)
            states.tofile(fh)
            del states
            arcs.tofile(fh)
            del arcs
        const = fst.Fst.read(path)
    finally:
        os.unlink(path)
    return fst.convert(const, "vector")


def size(f: fst.Fst) -> tuple[int, int]:
    """(states, arcs) of an FST."""
    return f.num_states(), sum(f.num_arcs(s) for s in f.states())


def log_step(step: str, f: fst.Fst, t0: float, hint: str = "") -> fst.Fst:
    """Logs the size of a step's result and raises at once if it is empty.

    Args:
        step: name of the step ("LG = L o G").
        f: its result.
        t0: time.perf_counter() when the step began.
        hint: the likely cause, said when the result is empty.

    Returns:
        f, unchanged.
    """
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


def run_guarded(func, f: fst.Fst, step: str, hint: str, max_mem: int | None = None,
                consume: bool = False) -> fst.VectorFst:
    """Runs ``func(f)`` in a forked child whose address space is capped at ``max_mem`` bytes.

    Determinization of a non-determinizable FST grows without bound; the cap turns that
    into a clear GraphBuildError instead of a machine that runs out of memory.

    Args:
        func: takes and returns a pywrapfst FST (pure OpenFst work).
        f: its input.
        step: name of the step, for messages.
        hint: the likely cause if the cap is reached.
        max_mem: bytes the child may add to what it inherits; default a fraction of
            available memory (constants.DETERMINIZE_MAX_MEM_FRACTION).
        consume: empty ``f`` (delete its states) once the child is done, before the result
            is read, so that the two never sit in memory together.

    Returns:
        func's result.
    """
    if max_mem is None:
        max_mem = int(_available_memory() * constants.DETERMINIZE_MAX_MEM_FRACTION)
    fd, path = tempfile.mkstemp(suffix=".fst", prefix="hclg-")
    os.close(fd)
    err_fd, err_path = tempfile.mkstemp(suffix=".log", prefix="hclg-")
    _release_free_heap()  # the child starts with the parent's resident pages: keep them few
    try:
        pid = os.fork()
        if pid == 0:  # child: only OpenFst work, then exit without Python cleanup
            code = 1
            os.dup2(err_fd, 2)
            faulthandler.disable()  # a crash is reported through the exit status
            try:
                with open("/proc/self/status") as fh:
                    vm = next(int(x.split()[1]) * 1024 for x in fh if x.startswith("VmSize:"))
                resource.setrlimit(resource.RLIMIT_AS, (vm + max_mem, vm + max_mem))
                func(f).write(path)
                code = 0
            except MemoryError:
                code = 3
            except BaseException:  # noqa: BLE001 - reported by exit status
                code = 4
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            with open(err_path, errors="replace") as fh:
                said = [x.strip() for x in fh if "ERROR" in x or "Error" in x][-1:]
            why = "ran out of its memory cap" if code in (3, -6, 134) else f"failed (exit status {code})"
            raise GraphBuildError(
                f"step {step!r} {why} ({max_mem / 2**30:.1f} GiB allowed). Likely cause: {hint}"
                + (f" [{said[0]}]" if said else "")
            )
        if consume:
            f.delete_states()
        return fst.Fst.read(path)
    finally:
        os.close(err_fd)
        os.unlink(path)
        os.unlink(err_path)


def determinize_log(f: fst.Fst, step: str, hint: str, max_mem: int | None = None,
                    consume: bool = False) -> fst.VectorFst:
    """Removes epsilons and determinizes in the log semiring, as Kaldi's
    ``fstdeterminizestar --use-log=true``; guarded by :func:`run_guarded`.

    An input that is already input-deterministic and free of epsilons (e.g. Ha o LG for
    a monophone system) is returned as it is: determinizing it changes nothing.

    Args:
        f: a functional tropical FST.
        step, hint, max_mem, consume: as for run_guarded.

    Returns:
        An equivalent deterministic tropical FST.
    """
    t0 = time.perf_counter()
    props = f.properties(fst.I_DETERMINISTIC | fst.EPSILONS | fst.I_EPSILONS, True)
    if (props & fst.I_DETERMINISTIC) and not (props & (fst.EPSILONS | fst.I_EPSILONS)):
        log.info("%s: already deterministic, skipped", step)
        return log_step(step + " (already deterministic)", f, t0)

    # The log copy is made here and the tropical input freed (when consumed) before the
    # child starts, so that the child never holds both.
    g = fst.arcmap(f, map_type="to_log")
    if consume:
        f.delete_states()

    def work(x):
        if x.properties(fst.EPSILONS, True) & fst.EPSILONS:  # costly even when there are none
            x.rmepsilon()
        return fst.determinize(x, delta=constants.DETERMINIZE_DELTA)

    out = run_guarded(work, g, step, hint, max_mem, consume=True)
    return log_step(step, fst.arcmap(out, map_type="to_std"), t0)


def minimize_encoded(f: fst.Fst, step: str) -> fst.VectorFst:
    """Minimizes with labels and weights encoded, so no weight is pushed: as Kaldi's
    ``fstminimizeencoded`` (quantize weights by delta, encode, minimize, decode)."""
    t0 = time.perf_counter()
    g = fst.arcmap(f, delta=constants.MINIMIZE_DELTA, map_type="quantize")
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
