"""The open-addressing hash table of numba kernels: int64 keys (-1: empty slot), linear
probing, a power-of-two number of slots, values in a parallel array.

Two tables keep their own probing because their keys are variable-length sequences
compared in place (DeterminizeStar's subsets in :mod:`hclg.fst.determinize_star_subsets`,
G's n-gram histories in :mod:`hclg.graph.grammar`); they share :func:`mix64`."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

#: Fibonacci hashing's multiplier (2**64 / golden ratio, as a signed int64).
GOLDEN = -7046029254386353131


@njit(cache=True, inline="always")
def mix64(key):
    """The key times the golden-ratio constant: its high bits are well mixed."""
    return key * np.int64(GOLDEN)


@njit(cache=True, inline="always")
def slot_of(keys, key):
    """Open addressing (linear probing): the slot holding key, or the empty slot (-1) where
    it would go. len(keys) is a power of two."""
    mask = keys.shape[0] - 1
    i = mix64(key) >> 20 & mask
    while keys[i] != -1 and keys[i] != key:
        i = (i + 1) & mask
    return i


@njit(cache=True)
def rehash(keys, vals):
    nk = np.full(2 * keys.shape[0], -1, np.int64)
    nv = np.empty(2 * keys.shape[0], np.int32)
    for i in range(keys.shape[0]):
        if keys[i] != -1:
            j = slot_of(nk, keys[i])
            nk[j] = keys[i]
            nv[j] = vals[i]
    return nk, nv


class IntMap(NamedTuple):
    """An int64 -> int32 map on :func:`slot_of`'s table, holding at most half its slots."""

    keys: np.ndarray  # int64 [power of two]: the key in each slot, -1 where empty
    vals: np.ndarray  # int32: the value in each slot
    size: np.ndarray  # int64 [1]: keys stored


@njit(cache=True)
def new_int_map(slots):
    """An empty IntMap of ``slots`` slots (a power of two)."""
    return IntMap(np.full(slots, -1, np.int64), np.empty(slots, np.int32), np.zeros(1, np.int64))


@njit(cache=True, inline="always")
def map_set(m, slot, key, val):
    """Stores ``key -> val`` in ``slot`` (from :func:`slot_of`: the key's slot or the empty
    one where it goes). Returns the map, rehashed into twice the slots when half full."""
    if m.keys[slot] != key:
        m.keys[slot] = key
        m.size[0] += 1
    m.vals[slot] = val
    if 2 * m.size[0] > m.keys.shape[0]:
        keys, vals = rehash(m.keys, m.vals)
        return IntMap(keys, vals, m.size)
    return m


@njit(cache=True)
def map_with_room(m, more):
    """The map, rehashed as needed so that ``more`` keys can be added with plain stores
    (no :func:`map_set` rehash: a kernel adding keys in a loop then rebuilds no structure
    there, and numba counts no references per key)."""
    keys, vals = m.keys, m.vals
    if 2 * (m.size[0] + more) <= keys.shape[0]:
        return m
    while 2 * (m.size[0] + more) > keys.shape[0]:
        keys, vals = rehash(keys, vals)
    return IntMap(keys, vals, m.size)


@njit(cache=True, inline="always")
def map_store(m, slot, key, val):
    """:func:`map_set` into a map with room (:func:`map_with_room`): nothing returned."""
    if m.keys[slot] != key:
        m.keys[slot] = key
        m.size[0] += 1
    m.vals[slot] = val
