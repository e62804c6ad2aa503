"""FSTs as flat numpy arrays (arcs grouped by source state), the form hclg's numba
passes read and write."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True)
class FstArrays:
    """An FST as flat arrays, arcs grouped by source state.

    Attributes:
        start: start state, or -1 for an empty FST.
        final: float32 [num_states]; final cost, +inf where the state is not final.
        offsets: int64 [num_states + 1]; arcs of state s are offsets[s]:offsets[s+1].
        ilabel, olabel: int32 [num_arcs].
        weight: float32 [num_arcs]; arc costs.
        nextstate: int32 [num_arcs].
    """

    start: int
    final: np.ndarray
    offsets: np.ndarray
    ilabel: np.ndarray
    olabel: np.ndarray
    weight: np.ndarray
    nextstate: np.ndarray

    @property
    def num_states(self) -> int:
        return int(self.final.shape[0])

    @property
    def num_arcs(self) -> int:
        return int(self.ilabel.shape[0])

    def sources(self) -> np.ndarray:
        """int32 [num_arcs]: the source state of each arc."""
        return np.repeat(np.arange(self.num_states, dtype=np.int32), np.diff(self.offsets))

    def kept(self, keep: np.ndarray, roots=()) -> tuple[FstArrays, np.ndarray]:
        """(the FST with only the arcs ``keep`` (bool [num_arcs]) marks and only the states
        they reach from the start or from ``roots``, numbered in their old order; int64
        [num_states]: each old state's new number, -1 where it went)."""
        nxt = self.nextstate[keep]
        kept_before = np.concatenate([[0], np.cumsum(keep)])  # kept arcs before each arc
        lo_of, hi_of = kept_before[self.offsets[:-1]], kept_before[self.offsets[1:]]
        live = np.zeros(self.num_states, bool)
        frontier = np.unique(np.array([self.start, *roots], np.int64))
        live[frontier] = True
        while len(frontier):  # breadth first
            lo, hi = lo_of[frontier], hi_of[frontier]
            idx = np.repeat(lo - np.cumsum(np.concatenate([[0], hi - lo]))[:-1], hi - lo) + np.arange(int((hi - lo).sum()))
            t = np.unique(nxt[idx])
            frontier = t[~live[t]]
            live[frontier] = True
        new_id = np.where(live, np.cumsum(live) - 1, -1)
        src = self.sources()[keep]
        arc = live[src]
        counts = np.bincount(new_id[src[arc]], minlength=int(live.sum()))
        offsets = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        out = FstArrays(int(new_id[self.start]), self.final[live], offsets, self.ilabel[keep][arc],
                        self.olabel[keep][arc], self.weight[keep][arc], new_id[nxt[arc]].astype(np.int32))
        return out, new_id


@njit(cache=True)
def group_by_source(num_states, src):
    """(offsets int64 [S+1], order int64 [A]): arcs grouped by source, stable."""
    offsets = np.zeros(num_states + 1, np.int64)
    for a in range(src.shape[0]):
        offsets[src[a] + 1] += 1
    for s in range(num_states):
        offsets[s + 1] += offsets[s]
    fill = offsets[:-1].copy()
    order = np.empty(src.shape[0], np.int64)
    for a in range(src.shape[0]):
        order[fill[src[a]]] = a
        fill[src[a]] += 1
    return offsets, order


