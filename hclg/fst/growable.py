"""Growable numpy arrays for numba kernels: a kernel asks for room before it writes, and gets
the same array or a longer copy (amortized O(1) appends)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def grown(a, need):
    """a, or a copy at least ``need`` long (doubling)."""
    if a.shape[0] >= need:
        return a
    b = np.empty(max(need, 2 * a.shape[0]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def grown_by_half(a, need):
    """a, or a copy about 1.5 times longer when ``need`` exceeds its length."""
    if a.shape[0] >= need:
        return a
    b = np.empty(max(need, a.shape[0] + (a.shape[0] >> 1) + 16), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b
