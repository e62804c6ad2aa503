"""FSTs between numpy arrays and pywrapfst (the OpenFst API pynini ships), in bulk through
OpenFst's own VectorFst file (:mod:`hclg.fst.openfst_file`), never one arc per Python call."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pywrapfst as fst

from hclg.errors import GraphBuildError
from hclg.fst.arrays import FstArrays, group_by_source
from hclg.fst.memory import release_free_heap
from hclg.fst.openfst_file import read_vector_fst_file, write_vector_fst


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
    offsets, order = group_by_source(num_states, src)
    a = FstArrays(start, np.ascontiguousarray(final, dtype=np.float32), offsets, i32(ilabel), i32(olabel),
                  np.ascontiguousarray(weight, dtype=np.float32), dst)
    return read_arrays_as_fst(a, order)


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
            release_free_heap()
        return read_vector_fst_file(path)
    finally:
        os.unlink(path)
