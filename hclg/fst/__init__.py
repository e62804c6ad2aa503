"""FST machinery with no speech knowledge: FSTs as arrays and across OpenFst's binary
format, DeterminizeStar in the log semiring, encoded minimization, local epsilon removal, checked composition,
step logging and the memory guard, and the numba building blocks the kernels share
(growable arrays, hash table, string trie, heap, selection, prefetch).

This layer imports nothing of hclg but :mod:`hclg.errors`.
"""

from hclg.fst.arrays import FstArrays, group_by_source
from hclg.fst.convert import arrays_to_fst, fst_to_arrays, read_arrays_as_fst
from hclg.fst.determinize_star import determinize_log
from hclg.fst.openfst_file import read_vector_fst_file, write_vector_fst
from hclg.fst.optimize import compose, minimize_encoded, relabel_to_epsilon
from hclg.fst.remove_eps_local import remove_eps_local
from hclg.fst.steps import STEP_RECORD, log_step, size

__all__ = [
    "FstArrays", "STEP_RECORD", "arrays_to_fst", "compose", "determinize_log", "fst_to_arrays", "group_by_source",
    "log_step", "minimize_encoded", "read_arrays_as_fst", "read_vector_fst_file", "relabel_to_epsilon",
    "remove_eps_local", "size",
    "write_vector_fst",
]
