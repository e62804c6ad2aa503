"""The forward algorithm and forward-backward over a graph (the E-step quantities):
log P(frames | graph) = log of the sum over all paths of exp(-graph cost) times the
frames' likelihoods, and the posterior of each column on each frame. Exact and dense
(float64, every state on every frame), for transcript graphs and other small graphs; a
full decoding graph wants the beam search instead.

The graph is the search's (:class:`hclg.graph.arc_records.SearchGraph`): emitting arcs
consume a frame and read a column, epsilon arcs do not; epsilon arcs are summed within a
frame in a topological order of the states along them (an epsilon cycle is refused).
Inside: log-probabilities (-cost), since sums of probabilities are what is computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from hclg.errors import DecodeError
from hclg.graph.arc_records import (
    E_COLUMN,
    E_NEXT,
    E_REC,
    E_WEIGHT,
    N_NEXT,
    N_REC,
    N_WEIGHT,
)
from hclg.transcript.log_semiring import NEG_INF, log_add


@njit(cache=True)
def epsilon_order(S, off, n_arc):
    """The states in a topological order of the epsilon arcs (Kahn); a shorter array if
    the epsilon arcs have a cycle."""
    indeg = np.zeros(S, np.int64)
    for s in range(S):
        for k in range(off[2 * s + 1], off[2 * s + 3]):
            indeg[n_arc[N_REC * k + N_NEXT]] += 1
    order = np.empty(S, np.int64)
    head = tail = 0
    for s in range(S):
        if indeg[s] == 0:
            order[tail] = s
            tail += 1
    while head < tail:
        s = order[head]
        head += 1
        for k in range(off[2 * s + 1], off[2 * s + 3]):
            d = n_arc[N_REC * k + N_NEXT]
            indeg[d] -= 1
            if indeg[d] == 0:
                order[tail] = d
                tail += 1
    return order[:tail]


@njit(cache=True)
def _forward_backward(start, final, off, e_arc, e_arcw, n_arc, n_arcw, ll, order):
    """(log-likelihood, float64 [T, C] column posteriors): alpha[t] is after frame t's
    epsilon closure (alpha[0]: before any frame); beta[t] likewise, from the end."""
    S = final.shape[0]
    T, C = ll.shape
    alpha = np.full((T + 1, S), NEG_INF)
    alpha[0, start] = 0.0
    for t in range(T + 1):
        if t > 0:
            for s in range(S):
                a = alpha[t - 1, s]
                if a == NEG_INF:
                    continue
                for k in range(off[2 * s], off[2 * s + 2]):
                    d = e_arc[E_REC * k + E_NEXT]
                    x = a - e_arcw[E_REC * k + E_WEIGHT] + ll[t - 1, e_arc[E_REC * k + E_COLUMN]]
                    alpha[t, d] = log_add(alpha[t, d], x)
        for i in range(order.shape[0]):
            s = order[i]
            a = alpha[t, s]
            if a == NEG_INF:
                continue
            for k in range(off[2 * s + 1], off[2 * s + 3]):
                d = n_arc[N_REC * k + N_NEXT]
                alpha[t, d] = log_add(alpha[t, d], a - n_arcw[N_REC * k + N_WEIGHT])
    beta = np.full((T + 1, S), NEG_INF)
    for s in range(S):
        if final[s] < np.inf:
            beta[T, s] = -final[s]
    post = np.zeros((T, C))
    for t in range(T, -1, -1):
        if t < T:
            for s in range(S):
                for k in range(off[2 * s], off[2 * s + 2]):
                    d = e_arc[E_REC * k + E_NEXT]
                    b = beta[t + 1, d]
                    if b != NEG_INF:
                        beta[t, s] = log_add(beta[t, s], b - e_arcw[E_REC * k + E_WEIGHT]
                                              + ll[t, e_arc[E_REC * k + E_COLUMN]])
        for i in range(order.shape[0] - 1, -1, -1):  # epsilon arcs: later states first
            s = order[i]
            for k in range(off[2 * s + 1], off[2 * s + 3]):
                b = beta[t, n_arc[N_REC * k + N_NEXT]]
                if b != NEG_INF:
                    beta[t, s] = log_add(beta[t, s], b - n_arcw[N_REC * k + N_WEIGHT])
    total = beta[0, start]
    if total == NEG_INF:
        return total, post
    for t in range(T):
        for s in range(S):
            a = alpha[t, s]
            if a == NEG_INF:
                continue
            for k in range(off[2 * s], off[2 * s + 2]):
                d = e_arc[E_REC * k + E_NEXT]
                b = beta[t + 1, d]
                if b != NEG_INF:
                    c = e_arc[E_REC * k + E_COLUMN]
                    post[t, c] += np.exp(a - e_arcw[E_REC * k + E_WEIGHT] + ll[t, c] + b - total)
    return total, post


@dataclass(frozen=True)
class ForwardResult:
    """What :func:`forward_backward` returns.

    Attributes:
        log_likelihood: log of the sum over the graph's paths of exp(-graph cost) times
            the frames' (scaled) likelihoods; -inf if no path fits the frames.
        posteriors: float64 [T, C]: the posterior probability that frame t reads column c
            (each row sums to 1 when a path exists).
    """

    log_likelihood: float
    posteriors: np.ndarray


def forward_backward(graph, loglikes, beam: float | None = None, order=None) -> ForwardResult:
    """The forward algorithm and forward-backward over ``graph`` for ``loglikes``.

    Args:
        graph: a SearchGraph (``DecoderArrays.search_graph()``: a transcript graph of
            :meth:`hclg.transcript.align.Aligner.search_graph`, or a whole decoding graph).
        loglikes: float [T, C] scaled log-likelihoods (a Decoder's ``loglikes``).
        beam: None: exact, every state on every frame (transcript and other small
            graphs); a number: only the states within ``beam`` of each frame's best are
            expanded (:mod:`hclg.transcript.pruned_forward`; for large graphs), which gives
            a lower bound of the log-likelihood.
        order: the graph's epsilon-topological order (:func:`epsilon_order`), if known:
            it costs one pass over the graph, which a caller scoring many utterances on one
            graph need not repeat.

    Raises:
        DecodeError: an epsilon cycle, or a graph too big for the exact tables.
    """
    ll = np.ascontiguousarray(loglikes, dtype=np.float64)
    S = int(graph.final.shape[0])
    if beam is None and (ll.shape[0] + 1) * S > 200_000_000:
        raise DecodeError(f"exact forward-backward keeps every state on every frame: {S} states x {ll.shape[0]} "
                          "frames is too many; give a beam")
    if order is None:
        order = epsilon_order(S, graph.off, graph.n_arc)
    if len(order) < S:
        raise DecodeError("the graph has a cycle of epsilon arcs: the forward algorithm needs an order along them")
    args = (int(graph.start), np.asarray(graph.final), graph.off, graph.e_arc, graph.e_arcw, graph.n_arc, graph.n_arcw,
            ll, order)
    if beam is None:
        total, post = _forward_backward(*args)
    else:
        from hclg.transcript.pruned_forward import pruned_forward_backward

        rank = np.empty(S, np.int64)
        rank[order] = np.arange(S)
        total, post = pruned_forward_backward(*args, rank, float(beam))
    return ForwardResult(float(total), post)
