"""Strings of labels as nodes of a trie (numba): node 0 is the empty string; node k has
``parent[k]``, ``label[k]`` (its last label) and ``depth[k]`` (its length), and a hash map
(:class:`~hclg.fst.hash_table.IntMap`) finds the child of a node by ``(node << 32) | label``.
Appending a label is one lookup, and strings share their prefixes; both determinizations
keep their residual strings this way (DeterminizeStar with its own room accounting)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from hclg.fst.growable import grown
from hclg.fst.hash_table import map_set, new_int_map, slot_of


class StringTrie(NamedTuple):
    """A trie of label strings; node k is the string of the labels on its path from 0."""

    parent: np.ndarray  # int32: the node one label shorter
    label: np.ndarray  # int32: the node's last label
    depth: np.ndarray  # int32: the string's length
    children: object  # IntMap: (node << 32) | label -> child node
    size: np.ndarray  # int64 [1]: nodes in use (node 0, the empty string, included)


@njit(cache=True)
def new_trie(nodes, slots):
    """A trie holding only the empty string, with room for ``nodes`` nodes and a child map
    of ``slots`` slots (a power of two)."""
    size = np.ones(1, np.int64)
    return StringTrie(np.zeros(nodes, np.int32), np.zeros(nodes, np.int32), np.zeros(nodes, np.int32),
                      new_int_map(slots), size)


@njit(cache=True, inline="always")
def trie_child(trie, ss, il):
    """The node of string ``ss`` + label ``il``, made if new.

    Returns:
        (node, trie): the trie grown (or its map rehashed) when it was full.
    """
    key = (np.int64(ss) << 32) | np.int64(il)
    ch = trie.children
    slt = slot_of(ch.keys, key)
    if ch.keys[slt] == key:
        return np.int64(ch.vals[slt]), trie
    ns = trie.size[0]
    trie.size[0] = ns + 1
    parent, label, depth = trie.parent, trie.label, trie.depth
    if ns + 1 > parent.shape[0]:
        m = 2 * parent.shape[0]
        parent, label, depth = grown(parent, m), grown(label, m), grown(depth, m)
    parent[ns] = ss
    label[ns] = il
    depth[ns] = depth[ss] + 1
    ch = map_set(ch, slt, key, ns)
    return np.int64(ns), StringTrie(parent, label, depth, ch, trie.size)


@njit(cache=True)
def trie_lca(a, b, str_parent, str_depth):
    """The longest common prefix of trie strings a and b (their lowest common ancestor)."""
    while str_depth[a] > str_depth[b]:
        a = str_parent[a]
    while str_depth[b] > str_depth[a]:
        b = str_parent[b]
    while a != b:
        a = str_parent[a]
        b = str_parent[b]
    return a
