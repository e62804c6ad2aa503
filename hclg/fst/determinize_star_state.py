"""DeterminizeStar's state as named structures (numba named tuples), documented field by
field. :func:`hclg.fst.determinize_star_expand.expand_subset` unpacks each once and never
grows an array; the driver (:func:`hclg.fst.determinize_star.determinize_star_kernel`)
grows them when it asks for room."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class StarInput(NamedTuple):
    """The FST to determinize, arcs grouped by source state."""

    offsets: np.ndarray  # int64 [S+1]: the arcs of state s are offsets[s]:offsets[s+1]
    ilabel: np.ndarray  # int32 [A]
    olabel: np.ndarray  # int32 [A]
    weight: np.ndarray  # float32 [A]: arc costs
    nextstate: np.ndarray  # int32 [A]
    final: np.ndarray  # float32 [S]: final costs, +inf where not final


class StarTrie(NamedTuple):
    """Residual output strings as trie nodes (node 0 the empty string)."""

    parent: np.ndarray  # int32: the node one label shorter
    label: np.ndarray  # int32: the node's last label
    depth: np.ndarray  # int32: its length
    ch_keys: np.ndarray  # int64: hash table slots, (parent << 32) | label, -1 empty
    ch_vals: np.ndarray  # int32: the child node in each slot


class StarSubsets(NamedTuple):
    """The determinized states: subsets of (input state, residual string, residual weight)."""

    off: np.ndarray  # int64: subset q's elements are [off[q], off[q+1]), sorted by state
    state: np.ndarray  # int32: an element's input state
    string: np.ndarray  # int32: its residual string (a trie node)
    weight: np.ndarray  # float32: its residual weight
    table: np.ndarray  # int64: open addressing, a slot holds tag << 32 | subset id (-1 empty)
    stack: np.ndarray  # int32: subsets still to expand


class TempArcs(NamedTuple):
    """Result arcs (Kaldi's TempArc): string ids on the output side, made into label chains
    at the end (:func:`hclg.fst.determinize_star.strings_to_arcs`)."""

    src: np.ndarray  # int32: the subset it leaves
    ilabel: np.ndarray  # int32
    string: np.ndarray  # int32: its output string (a trie node)
    next: np.ndarray  # int32: the subset it reaches; -1: a final weight
    weight: np.ndarray  # float32


class ClosureWork(NamedTuple):
    """Work space of one subset's expansion (Kaldi's ecinfo_, id_to_index_, queue_) and of
    grouping its arcs by input label."""

    id_to_index: np.ndarray  # int32 [S]: an input state's place in the closure, -1 none
    ec_state: np.ndarray  # int32: closure element's state
    ec_str: np.ndarray  # int32: its string
    ec_w: np.ndarray  # float64: its weight
    ec_wtp: np.ndarray  # float64: weight still to propagate along epsilon arcs
    ec_inq: np.ndarray  # bool: in the queue
    ec_idx: np.ndarray  # int64: elements sorted by state
    queue: np.ndarray  # int32: elements to propagate
    x_key: np.ndarray  # int64: candidate arcs: ilabel << 32 | next state
    x_str: np.ndarray  # int32: a candidate's string
    x_w: np.ndarray  # float64: its weight
    x_idx: np.ndarray  # int64: candidates sorted by key
    m_w: np.ndarray  # float64: merged weights of one destination subset
    path: np.ndarray  # int32: a string's labels, when one is split


class StarOutput(NamedTuple):
    """What :func:`hclg.fst.determinize_star.determinize_star_kernel` returns."""

    status: int  # OK, OUT_OF_MEMORY, NOT_FUNCTIONAL or EPSILON_LOOP
    n_states: int  # subsets made: the states of the result
    arcs: object  # TempArcs, trimmed (empty unless OK)
    str_parent: np.ndarray  # int32: the trie, trimmed
    str_label: np.ndarray
    str_depth: np.ndarray
    bad: int  # the input state where a non-functional input or a runaway closure was found, else -1
