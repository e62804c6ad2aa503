"""The state of the pruned lattice determinization (:mod:`hclg.lattice.determinize_kernel`)
as named structures (numba named tuples), documented field by field; each store grows
in one place."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from hclg.fst.growable import grown


class RawGraph(NamedTuple):
    """The raw lattice as the kernel reads it: states 0..n-1 (0 the start, topologically
    numbered), links grouped by source."""

    off: np.ndarray  # int64 [n+1]: the links of state s are off[s]:off[s+1]
    dst: np.ndarray  # int32 [L]: a link's destination
    ilabel: np.ndarray  # int32 [L]: its input label (frame label; 0 none)
    olabel: np.ndarray  # int32 [L]: its word (0 none)
    graph: np.ndarray  # float64 [L]: its graph cost
    acoustic: np.ndarray  # float64 [L]: its acoustic cost
    beta: np.ndarray  # float64 [n]: cost from each state to the end
    final: np.ndarray  # float64 [n]: final cost (+inf: not final)


class Elements(NamedTuple):
    """(raw state, string, graph cost, acoustic cost) per element: a closure's, or every
    subset's, one after another."""

    state: np.ndarray  # int32
    string: np.ndarray  # int32: a StringTrie node
    graph: np.ndarray  # float64
    acoustic: np.ndarray  # float64


class Subsets(NamedTuple):
    """The determinized states made so far."""

    off: np.ndarray  # int64 [>= n+1]: subset q's elements are elements[off[q]:off[q+1]]
    forward: np.ndarray  # float64: best cost from the start to the subset (Kaldi's forward cost)
    chain: np.ndarray  # int64: the previous subset with the same hash, -1 at the end
    done: np.ndarray  # bool: expanded
    elements: object  # Elements
    size: np.ndarray  # int64 [1]: subsets made


class Closure(NamedTuple):
    """Work space of one closure: its elements, which raw states it holds, a heap."""

    elements: object  # Elements: the closure's elements (slot i)
    stamp: np.ndarray  # int64 [n]: the closure a raw state's slot belongs to (-1: none)
    slot: np.ndarray  # int32 [n]: a raw state's slot in its closure
    heap: np.ndarray  # int64: raw states still to visit
    serial: np.ndarray  # int64 [1]: closures made (the current stamp)


class WordArcs(NamedTuple):
    """Arcs of the determinized lattice."""

    src: np.ndarray  # int32: the subset it leaves
    dst: np.ndarray  # int32: the subset it reaches
    word: np.ndarray  # int32: its word
    graph: np.ndarray  # float64: its graph cost
    acoustic: np.ndarray  # float64: its acoustic cost
    string: np.ndarray  # int32: its frame labels (a StringTrie node)
    size: np.ndarray  # int64 [1]: arcs in use


class Finals(NamedTuple):
    """Final weights of the determinized lattice."""

    state: np.ndarray  # int32: the subset
    graph: np.ndarray  # float64
    acoustic: np.ndarray  # float64
    string: np.ndarray  # int32: its frame labels (a StringTrie node)
    size: np.ndarray  # int64 [1]: finals in use


class Candidates(NamedTuple):
    """The word links out of the subset being expanded, grouped by word."""

    word: np.ndarray  # int32
    dst: np.ndarray  # int32: the raw state reached
    string: np.ndarray  # int32: the element's string + the link's label
    graph: np.ndarray  # float64: element's residual + link
    acoustic: np.ndarray  # float64


@njit(cache=True)
def new_elements(cap):
    return Elements(np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty(cap, np.float64),
                    np.empty(cap, np.float64))


@njit(cache=True, inline="always")
def grown_elements(el, need):
    return Elements(grown(el.state, need), grown(el.string, need), grown(el.graph, need), grown(el.acoustic, need))


@njit(cache=True, inline="always")
def grown_candidates(c, need):
    return Candidates(grown(c.word, need), grown(c.dst, need), grown(c.string, need), grown(c.graph, need),
                      grown(c.acoustic, need))


@njit(cache=True)
def new_word_arcs(cap):
    return WordArcs(np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty(cap, np.int32),
                    np.empty(cap, np.float64), np.empty(cap, np.float64), np.empty(cap, np.int32),
                    np.zeros(1, np.int64))


@njit(cache=True, inline="always")
def add_word_arc(arcs, src, dst, word, g, a, string):
    """Appends an arc; returns the arcs (grown when full)."""
    n = arcs.size[0]
    if n >= arcs.src.shape[0]:
        m = 2 * arcs.src.shape[0]
        arcs = WordArcs(grown(arcs.src, m), grown(arcs.dst, m), grown(arcs.word, m), grown(arcs.graph, m),
                        grown(arcs.acoustic, m), grown(arcs.string, m), arcs.size)
    arcs.src[n] = src
    arcs.dst[n] = dst
    arcs.word[n] = word
    arcs.graph[n] = g
    arcs.acoustic[n] = a
    arcs.string[n] = string
    arcs.size[0] = n + 1
    return arcs


@njit(cache=True)
def new_finals(cap):
    return Finals(np.empty(cap, np.int32), np.empty(cap, np.float64), np.empty(cap, np.float64),
                  np.empty(cap, np.int32), np.zeros(1, np.int64))


@njit(cache=True, inline="always")
def add_final(fin, state, g, a, string):
    """Appends a final weight; returns the finals (grown when full)."""
    n = fin.size[0]
    if n >= fin.state.shape[0]:
        m = 2 * fin.state.shape[0]
        fin = Finals(grown(fin.state, m), grown(fin.graph, m), grown(fin.acoustic, m), grown(fin.string, m), fin.size)
    fin.state[n] = state
    fin.graph[n] = g
    fin.acoustic[n] = a
    fin.string[n] = string
    fin.size[0] = n + 1
    return fin


class Determinized(NamedTuple):
    """What :func:`determinize_kernel` returns."""

    ok: bool  # False: the memory passed max_mem, and nothing else here is meaningful
    arcs: object  # WordArcs (trimmed)
    finals: object  # Finals (trimmed)
    start_graph: float  # the start's weight, to be pushed onto its arcs and final weight
    start_acoustic: float
    start_string: int
    str_parent: np.ndarray  # int32: the string trie (StringTrie's parent, label, depth), trimmed
    str_label: np.ndarray
    str_depth: np.ndarray
