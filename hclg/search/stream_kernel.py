"""Kernels of the streaming search (:mod:`hclg.search.stream`) over the 1-best search's
state (:class:`hclg.search.kernel_state.ViterbiState`): the traceback's certain prefix cut
off and its records compacted (bounded memory on streams of any length), the best token
(:func:`hclg.search.viterbi_kernel.best_slots`), and the trailing silence of the best path (Kaldi's
``TrailingSilenceLength``)."""

from __future__ import annotations

import numpy as np
from numba import njit

INF = np.inf


@njit(cache=True)
def compact_trace(links, n_links, tok_link, nc):
    """Cuts off the traceback's certain prefix and compacts the records still in use.

    A record is *certain* when every surviving token's path goes through it: no later
    frame can change it. The certain records form one chain from the oldest record; it
    is returned (oldest first) and dropped, the paths after it then start at -1. The
    records no token's path reaches are dropped too; the rest are renumbered in order
    (a record's ``prev`` is always older, so this is done in place).

    Args:
        links: TraceLinks (changed in place).
        n_links: records in use.
        tok_link: int32 [>= nc]: each token's newest record (changed in place).
        nc: the tokens.

    Returns:
        (records in use now, certain labels, certain frames).
    """
    prev, label, frame = links.prev, links.label, links.frame
    live = np.zeros(n_links, np.bool_)
    tokref = np.zeros(n_links, np.int32)
    at_root = False
    for i in range(nc):
        x = tok_link[i]
        if x < 0:
            at_root = True
            continue
        tokref[x] += 1
        while x >= 0 and not live[x]:
            live[x] = True
            x = prev[x]
    nchild = np.zeros(n_links, np.int32)
    child = np.full(n_links, -1, np.int32)
    roots = 0
    root = -1
    for k in range(n_links):
        if live[k]:
            p = prev[k]
            if p < 0:
                roots += 1
                root = k
            else:
                nchild[p] += 1
                child[p] = k
    last = -1
    if not at_root and roots == 1:
        last = root
        while tokref[last] == 0 and nchild[last] == 1:
            last = child[last]
    m = 0
    x = last
    while x >= 0:
        m += 1
        x = prev[x]
    c_label = np.empty(m, np.int32)
    c_frame = np.empty(m, np.int32)
    x = last
    for j in range(m - 1, -1, -1):
        c_label[j] = label[x]
        c_frame[j] = frame[x]
        live[x] = False
        x = prev[x]
    newid = np.full(n_links, -1, np.int32)
    n = 0
    for k in range(n_links):
        if live[k]:
            newid[k] = n
            p = prev[k]
            prev[n] = newid[p] if p >= 0 else -1  # a certain (dropped) prev: the path now starts here
            label[n] = label[k]
            frame[n] = frame[k]
            n += 1
    for i in range(nc):
        if tok_link[i] >= 0:
            tok_link[i] = newid[tok_link[i]]
    return n, c_label, c_frame


@njit(cache=True)
def trailing_silence(links, link, is_silence):
    """Where the trailing silence of a path starts, from its event records (a unit's first
    frame: HMM phone starts, CTC token and blank starts), as Kaldi's TrailingSilenceLength
    reads the best path backwards.

    Returns:
        (first frame of the silence at the path's end, or -1 if the path ends in
        non-silence; True if every record back to the path's start is silence (the run
        may go on before them)).
    """
    start = -1
    x = link
    while x >= 0:
        lab = links.label[x]
        if lab < 0:
            if not is_silence[-lab]:
                return start, False
            start = links.frame[x]
        x = links.prev[x]
    return start, True


@njit(cache=True)
def path_records(links, link):
    """(labels, frames) of a path's records, oldest first."""
    n = 0
    x = link
    while x >= 0:
        n += 1
        x = links.prev[x]
    labels = np.empty(n, np.int32)
    frames = np.empty(n, np.int32)
    x = link
    for j in range(n - 1, -1, -1):
        labels[j] = links.label[x]
        frames[j] = links.frame[x]
        x = links.prev[x]
    return labels, frames
