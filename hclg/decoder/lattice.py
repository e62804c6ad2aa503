"""Word lattices: determinization of the search's raw lattice, and what users do with them.

A :class:`Lattice` is Kaldi's CompactLattice: an acyclic acceptor over words whose arcs carry
a graph cost, an acoustic cost and the input labels (transition ids for HMM graphs, token
labels for CTC graphs) of the frames they cover; final weights may carry labels too. As in
Kaldi's lattices, acoustic costs are stored *unscaled* (the search's scaled cost divided by
its acoustic scale); every function that scores paths takes ``acoustic_scale`` (default:
the lattice's own, the one the search used) and ``lm_scale`` (on graph costs, default 1).
States are topologically sorted; state 0 is the start.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from hclg.errors import DecodeError

INF = math.inf
log = logging.getLogger("hclg")


@dataclass(frozen=True, eq=False)
class Lattice:
    """A determinized word lattice (Kaldi's CompactLattice), states topologically sorted.

    Attributes:
        utt: utterance id.
        src, dst: int32 [A]; arc source and destination states.
        word: int32 [A]; word id (words.txt of the graph), 0 for an epsilon arc.
        graph: float64 [A]; graph cost (LM, lexicon, transitions).
        acoustic: float64 [A]; acoustic cost, unscaled (Kaldi's convention).
        align_off: int64 [A+1]; arc k covers the frames whose input labels are
            ``align[align_off[k]:align_off[k+1]]``.
        align: int32; input labels, one per frame.
        final_graph, final_acoustic: float64 [S]; final weight (+inf graph: not final).
        final_align_off: int64 [S+1], final_align: int32; labels of frames on final weights.
        acoustic_scale: the scale the search used (the default for scoring).
        frame_seconds: seconds per frame (frame shift x subsampling).
    """

    utt: str
    src: np.ndarray
    dst: np.ndarray
    word: np.ndarray
    graph: np.ndarray
    acoustic: np.ndarray
    align_off: np.ndarray
    align: np.ndarray
    final_graph: np.ndarray
    final_acoustic: np.ndarray
    final_align_off: np.ndarray
    final_align: np.ndarray
    acoustic_scale: float = 1.0
    frame_seconds: float = 0.01
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_states(self) -> int:
        return int(self.final_graph.shape[0])

    @property
    def num_arcs(self) -> int:
        return int(self.src.shape[0])

    def arc_align(self, k: int) -> np.ndarray:
        return self.align[self.align_off[k]: self.align_off[k + 1]]

    def final_labels(self, s: int) -> np.ndarray:
        return self.final_align[self.final_align_off[s]: self.final_align_off[s + 1]]

    # ---- scoring ----
    def arc_costs(self, acoustic_scale: float | None = None, lm_scale: float = 1.0,
                  word_penalty: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(arc costs [A], final costs [S]) under the given scales: lm_scale * graph +
        acoustic_scale * acoustic (+ word_penalty per non-epsilon word)."""
        ac = self.acoustic_scale if acoustic_scale is None else acoustic_scale
        c = lm_scale * self.graph + ac * self.acoustic + word_penalty * (self.word != 0)
        with np.errstate(invalid="ignore"):
            f = np.where(np.isfinite(self.final_graph), lm_scale * self.final_graph + ac * self.final_acoustic, INF)
        return c, f

    def out_arcs(self) -> list[np.ndarray]:
        """Arc indices leaving each state."""
        if "out" not in self._cache:
            order = np.argsort(self.src, kind="stable")
            bounds = np.searchsorted(self.src[order], np.arange(self.num_states + 1))
            self._cache["out"] = [order[bounds[s]: bounds[s + 1]] for s in range(self.num_states)]
        return self._cache["out"]

    def state_times(self) -> np.ndarray:
        """int64 [S]: the frame at which each state is reached (Kaldi's
        CompactLatticeStateTimes)."""
        if "times" not in self._cache:
            t = np.full(self.num_states, -1, dtype=np.int64)
            if self.num_states:
                t[0] = 0
            lens = np.diff(self.align_off)
            for k in np.argsort(self.src, kind="stable"):
                s, d = self.src[k], self.dst[k]
                if t[s] >= 0:
                    t[d] = t[s] + lens[k]
            self._cache["times"] = t
        return self._cache["times"]

    @property
    def num_frames(self) -> int:
        """Frames covered by the lattice's paths."""
        t = self.state_times()
        fin = np.nonzero(np.isfinite(self.final_graph))[0]
        if len(fin) == 0:
            return 0
        return int(max(t[s] + self.final_align_off[s + 1] - self.final_align_off[s] for s in fin))

    def forward(self, arc_cost: np.ndarray, log: bool = False) -> np.ndarray:
        """Forward costs alpha [S] (tropical, or log semiring when ``log``)."""
        a = np.full(self.num_states, INF)
        if self.num_states:
            a[0] = 0.0
        out = self.out_arcs()
        for s in range(self.num_states):
            if not a[s] < INF:
                continue
            for k in out[s]:
                d = self.dst[k]
                a[d] = _plus(a[d], a[s] + arc_cost[k], log)
        return a

    def backward(self, arc_cost: np.ndarray, final_cost: np.ndarray, log: bool = False) -> np.ndarray:
        """Backward costs beta [S] (cost to the end, final cost included)."""
        b = np.array(final_cost, dtype=np.float64)
        out = self.out_arcs()
        for s in range(self.num_states - 1, -1, -1):
            v = b[s]
            for k in out[s]:
                v = _plus(v, arc_cost[k] + b[self.dst[k]], log)
            b[s] = v
        return b

    def __repr__(self) -> str:
        return f"Lattice({self.utt!r}, {self.num_states} states, {self.num_arcs} arcs, {self.num_frames} frames)"

    def _repr_svg_(self):  # notebooks
        from hclg.decoder.lattice_io import draw
        try:
            return draw(self, fmt="svg").decode()
        except DecodeError:
            return None


def _plus(x: float, y: float, log: bool) -> float:
    if not log:
        return x if x < y else y
    if x == INF:
        return y
    if y == INF:
        return x
    m = x if x < y else y
    return m - math.log1p(math.exp(-abs(x - y)))


# --------------------------------------------------------------------------------------
# Determinization (Kaldi's DeterminizeLatticePruned semantics)
# --------------------------------------------------------------------------------------

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


def build_lattice(utt, n, src, dst, word, g, a, aoff, alab, fg, fa, foff, flab, start_weight,
                  acoustic_scale, frame_seconds, beam, scaled: bool = True) -> Lattice:
    """Makes a Lattice from determinized arrays (``n`` states; arcs with label offsets
    ``aoff``/``alab``; final weights per state, ``fg`` = +inf where not final): the start
    weight ``(g, a, labels)`` is pushed onto the start state's arcs and final weight, the
    lattice is pruned to ``beam`` (as Kaldi prunes after determinizing), trimmed and
    topologically sorted. With ``scaled``, the acoustic costs given are the search's and are
    divided by ``acoustic_scale`` (stored unscaled); otherwise they are stored as given.

    Raises:
        DecodeError: the parts have a cycle.
    """
    from hclg.decoder.determinize_kernel import finish_lattice

    sg, sa, sl = start_weight
    out = finish_lattice(int(n), np.asarray(src, np.int64), np.asarray(dst, np.int64), np.asarray(word, np.int32),
                         np.asarray(g, np.float64), np.asarray(a, np.float64), np.asarray(aoff, np.int64),
                         np.asarray(alab, np.int32), np.asarray(fg, np.float64), np.asarray(fa, np.float64),
                         np.asarray(foff, np.int64), np.asarray(flab, np.int32), float(sg), float(sa),
                         np.asarray(sl, np.int32), float(beam))
    ok, r_src, r_dst, r_word, r_g, r_a, r_off, r_lab, q_fg, q_fa, q_off, q_lab = out
    if not ok:
        raise DecodeError(f"utterance {utt!r}: lattice has a cycle")
    div = acoustic_scale if scaled else 1.0
    return Lattice(utt, r_src, r_dst, r_word, r_g, r_a / div, r_off, r_lab, q_fg, q_fa / div,
                   q_off, q_lab, float(acoustic_scale), float(frame_seconds))


def determinize(raw: RawLattice, utt: str, beam: float, acoustic_scale: float, frame_seconds: float,
                max_mem: int = 50_000_000) -> Lattice:
    """Raw lattice -> word Lattice within ``beam`` (numba kernel:
    :func:`hclg.decoder.determinize_kernel.determinize_kernel`). When its memory passes
    ``max_mem`` bytes (Kaldi's max-mem and default) the beam is halved and it tries again,
    down to the best path alone (a warning says so); a non-empty raw lattice never gives an
    empty lattice."""
    from hclg.decoder.determinize_kernel import determinize_kernel, expand_strings, topological_numbering

    n = raw.num_states
    new = topological_numbering(raw.frame_start, raw.src, raw.dst, raw.ilabel)
    if n and new[0] != 0:
        raise DecodeError(f"utterance {utt!r}: raw lattice start state has incoming epsilon links")
    src, dst = new[raw.src], new[raw.dst].astype(np.int32)
    order = np.argsort(src, kind="stable")
    r_off = np.searchsorted(src[order], np.arange(n + 1)).astype(np.int64)
    beta = np.empty(n)
    beta[new] = raw.best_total + raw.extra - raw.cost
    final = np.empty(n)
    final[new] = raw.final
    args = (n, r_off, dst[order], raw.ilabel[order], raw.olabel[order], raw.graph[order].astype(np.float64),
            raw.acoustic[order].astype(np.float64), beta, final)
    b = beam
    while True:
        out = determinize_kernel(*args, b, raw.best_total, max_mem if b > 0 else 2**62)
        if out[0]:
            break
        b = b / 2 if b > 0.5 else 0.0
    if b < beam:
        log.warning("utterance %r: lattice determinization passed %d bytes; lattice beam %.3g instead of %.3g",
                    utt, max_mem, b, beam)
    (_ok, a_src, a_dst, a_word, a_g, a_a, a_str, f_state, f_g, f_a, f_str, sg, sa, sstr, sp, sl, sd) = out
    if len(f_state) == 0:
        raise DecodeError(f"utterance {utt!r}: empty lattice")
    aoff, alab = expand_strings(a_str, sp, sl, sd)
    n = 1 + max(int(a_src.max(initial=0)), int(a_dst.max(initial=0)), int(f_state.max(initial=0)))
    fg = np.full(n, INF)
    fa = np.zeros(n)
    fg[f_state], fa[f_state] = f_g, f_a
    fids = np.zeros(n, np.int32)
    fids[f_state] = f_str
    foff, flab = expand_strings(fids, sp, sl, sd)
    soff, slab = expand_strings(np.array([sstr], np.int32), sp, sl, sd)
    return build_lattice(utt, n, a_src, a_dst, a_word, a_g, a_a, aoff, alab, fg, fa, foff, flab,
                         (float(sg), float(sa), slab), acoustic_scale, frame_seconds, b)
