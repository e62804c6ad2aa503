"""Selection (the k-th smallest value) for numba kernels."""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def kth_smallest(a, n, k):
    """The k-th smallest (from 0) of ``a[:n]``, the value ``np.partition(a[:n], k)[k]``
    gives, found in place (``a[:n]`` is reordered): Hoare's quickselect with a
    median-of-three pivot, as Wirth's. numba's own ``np.partition`` gives the same value
    but takes about 3 s to compile.

    Args:
        a: float array, at least n long; no NaN.
        n: how many values.
        k: 0 <= k < n.
    """
    lo = 0
    hi = n - 1
    while hi > lo:
        mid = (lo + hi) >> 1
        if a[mid] < a[lo]:
            a[mid], a[lo] = a[lo], a[mid]
        if a[hi] < a[lo]:
            a[hi], a[lo] = a[lo], a[hi]
        if a[hi] < a[mid]:
            a[hi], a[mid] = a[mid], a[hi]
        pivot = a[mid]
        i = lo
        j = hi
        while i <= j:  # a[lo] <= pivot <= a[hi] stop both scans inside [lo, hi]
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        # now a[lo..j] <= pivot <= a[i..hi], and what lies between j and i equals pivot
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]
