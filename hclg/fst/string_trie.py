"""Strings of labels as nodes of a trie (numba): node 0 is the empty string; node k has
``str_parent[k]``, ``str_label[k]`` (its last label) and ``str_depth[k]`` (its length), and
a hash map (``ch_keys``, ``ch_vals``: :mod:`hclg.fst.hash_table`) finds the child of a node
by ``(node << 32) | label``. Appending a label is one lookup, and strings share their
prefixes; both determinizations keep their residual strings this way."""

from __future__ import annotations

import numpy as np
from numba import njit

from hclg.fst.growable import grown
from hclg.fst.hash_table import rehash, slot_of


@njit(cache=True)
def trie_child(ss, il, str_parent, str_label, str_depth, n_str, ch_keys, ch_vals, n_ch):
    """The trie node of string ``ss`` + label ``il``, made if new.

    Returns:
        (node, n_str, n_ch, str_parent, str_label, str_depth, ch_keys, ch_vals): the
        arrays, grown (or rehashed) when they were full.
    """
    key = (np.int64(ss) << 32) | np.int64(il)
    slt = slot_of(ch_keys, key)
    if ch_keys[slt] == key:
        return np.int64(ch_vals[slt]), n_str, n_ch, str_parent, str_label, str_depth, ch_keys, ch_vals
    ns = n_str
    n_str += 1
    if n_str > str_parent.shape[0]:
        m = 2 * str_parent.shape[0]
        str_parent = grown(str_parent, m)
        str_label = grown(str_label, m)
        str_depth = grown(str_depth, m)
    str_parent[ns] = ss
    str_label[ns] = il
    str_depth[ns] = str_depth[ss] + 1
    ch_keys[slt] = key
    ch_vals[slt] = ns
    n_ch += 1
    if 2 * n_ch > ch_keys.shape[0]:
        ch_keys, ch_vals = rehash(ch_keys, ch_vals)
    return np.int64(ns), n_str, n_ch, str_parent, str_label, str_depth, ch_keys, ch_vals


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
