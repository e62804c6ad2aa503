"""DeterminizeStar's table of subsets (numba): a subset is found again by its (state, string)
sequence and by the sum of its weights in wide bins (see :mod:`hclg.fst.determinize_star`)."""

from __future__ import annotations

import numpy as np
from numba import njit

from hclg.fst.hash_table import mix64


@njit(cache=True)
def subset_hash(el_state, el_str, lo, hi):
    h = np.uint64(0)
    factor = np.uint64(1)
    for i in range(lo, hi):
        h = h * factor + np.uint64(el_state[i]) + np.uint64(103333) * np.uint64(el_str[i])
        factor = factor * np.uint64(23531)
    return np.int64(h & np.uint64(0x7FFFFFFFFFFFFFFF))


#: subsets are hashed with the sum of their weights in bins of BIN_WIDTH * n * delta
#: (n elements): two subsets equal within delta fall in the same or a neighbouring bin,
#: and subsets that differ only in weight (a non-determinizable input) spread out instead
#: of piling up on one key.
BIN_WIDTH = 16.0


@njit(cache=True)
def weight_bin(el_w, lo, hi, delta):
    """(bin, position in the bin in [0, 1)) of the sum of el_w[lo:hi]."""
    s = 0.0
    for i in range(lo, hi):
        s += el_w[i]
    x = s / (BIN_WIDTH * (hi - lo) * delta)
    b = np.floor(x)
    return np.int64(b), x - b


@njit(cache=True, inline="always")
def subset_tag(key):
    """32 bits of a subset key's hash: its home slot is the tag's low bits, and table
    slots keep it, so a probe or a rehash reads no subset unless the tags match."""
    return (mix64(key) >> 32) & np.int64(0xFFFFFFFF)


@njit(cache=True)
def find_subset(table, sub_off, el_state, el_str, el_w, key, base, n, delta):
    """The subset stored under ``key`` equal to el_*[base:base+n] (weights within delta).

    ``table`` is open addressing with linear probing; a slot holds ``tag << 32 | id``
    (-1: empty).

    Returns:
        (subset id or -1, the empty slot where ``key`` would be stored).
    """
    mask = table.shape[0] - 1
    tag = subset_tag(key)
    slot = tag & mask
    while table[slot] != -1:
        v = table[slot]
        r = v & np.int64(0xFFFFFFFF)
        if (v >> 32) & np.int64(0xFFFFFFFF) == tag and sub_off[r + 1] - sub_off[r] == n:
            o = sub_off[r]
            same = True
            for i in range(n):
                if (el_state[o + i] != el_state[base + i] or el_str[o + i] != el_str[base + i]
                        or abs(np.float64(el_w[o + i]) - np.float64(el_w[base + i])) > delta):
                    same = False
                    break
            if same:
                return r, slot
        slot = (slot + 1) & mask
    return -1, slot


@njit(cache=True)
def rehash_subsets(table, need):
    """The subset table, at least twice ``need`` slots (slots keep their tags: no subset
    is read)."""
    size = table.shape[0]
    while 2 * need > size:
        size *= 2
    if size == table.shape[0]:
        return table
    nt = np.full(size, -1, np.int64)
    nmask = size - 1
    for i in range(table.shape[0]):
        v = table[i]
        if v != -1:
            sl = (v >> 32) & nmask
            while nt[sl] != -1:
                sl = (sl + 1) & nmask
            nt[sl] = v
    return nt
