"""The lattice search's product: a state-level lattice (Kaldi's raw lattice, before
determinization), as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RawLattice:
    """The search's state-level lattice: states are tokens (frame order, 0 the start),
    arcs are forward links. Costs are the search's (acoustic cost scaled).

    Attributes:
        frame_start: int64 [F+1]; tokens of frame f are frame_start[f]:frame_start[f+1].
        cost: float64 [N]; forward (best-path-to) cost of each token.
        extra: float64 [N]; best path through the token minus the best path.
        final: float64 [N]; final cost (+inf: not final).
        src, dst, ilabel, olabel: int32 [L]; graph, acoustic: float32 [L].
        best_total: the best path's total cost.
    """

    frame_start: np.ndarray
    cost: np.ndarray
    extra: np.ndarray
    final: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    ilabel: np.ndarray
    olabel: np.ndarray
    graph: np.ndarray
    acoustic: np.ndarray
    best_total: float

    @property
    def num_states(self) -> int:
        return int(self.cost.shape[0])

    @property
    def num_arcs(self) -> int:
        return int(self.src.shape[0])
