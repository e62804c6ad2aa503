"""A binary min-heap over a preallocated numpy array, for numba kernels."""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def heap_push(h, n, x):
    """Pushes x on the min-heap h[0:n] (room guaranteed by the caller); returns n + 1."""
    i = n
    h[i] = x
    while i > 0:
        p = (i - 1) >> 1
        if h[p] <= x:
            break
        h[i] = h[p]
        i = p
    h[i] = x
    return n + 1


@njit(cache=True)
def heap_pop(h, n):
    """Pops the minimum of h[0:n]; returns (it, n - 1)."""
    top = h[0]
    n -= 1
    x = h[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and h[c + 1] < h[c]:
            c += 1
        if h[c] >= x:
            break
        h[i] = h[c]
        i = c
    if n > 0:
        h[i] = x
    return top, n
