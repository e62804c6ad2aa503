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
from hclg.fst.hash_table import map_store, map_with_room, new_int_map, slot_of


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


@njit(cache=True)
def trie_with_room(trie, more):
    """The trie, grown as needed so that ``more`` nodes can be added by :func:`trie_add`
    (which then grows nothing: a kernel that adds nodes in a loop rebuilds no structure
    there, and numba counts no references per node)."""
    ch = trie.children
    if trie.size[0] + more <= trie.parent.shape[0] and 2 * (ch.size[0] + more) <= ch.keys.shape[0]:
        return trie
    m = max(2 * trie.parent.shape[0], trie.size[0] + more)
    return StringTrie(grown(trie.parent, m), grown(trie.label, m), grown(trie.depth, m), map_with_room(ch, more),
                      trie.size)


@njit(cache=True, inline="always")
def trie_add(trie, ss, il):
    """The node of string ``ss`` + label ``il``, made if new, in a trie with room
    (:func:`trie_with_room`)."""
    key = (np.int64(ss) << 32) | np.int64(il)
    ch = trie.children
    slt = slot_of(ch.keys, key)
    if ch.keys[slt] == key:
        return np.int64(ch.vals[slt])
    ns = trie.size[0]
    trie.size[0] = ns + 1
    trie.parent[ns] = ss
    trie.label[ns] = il
    trie.depth[ns] = trie.depth[ss] + 1
    map_store(ch, slt, key, ns)
    return np.int64(ns)


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
