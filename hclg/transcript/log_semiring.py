"""Sums of probabilities kept as logs, for the forward-backward kernels."""

from __future__ import annotations

import numpy as np
from numba import njit

NEG_INF = -np.inf


@njit(cache=True, inline="always")
def log_add(a, b):
    """log(exp(a) + exp(b)), exact where one side is -inf."""
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    if a > b:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))
