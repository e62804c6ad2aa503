"""Word lattices: the :class:`Lattice` type (Kaldi's CompactLattice) and how one is assembled.

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
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hclg.errors import DecodeError
from hclg.lattice.assemble import finish_lattice
from hclg.graph.symbols import SymbolTable
from hclg.lattice.draw import draw

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
        words: the word table of the graph it was decoded with, when known.
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
    words: SymbolTable | None = field(default=None, repr=False, compare=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def with_words(self, words: SymbolTable | None) -> "Lattice":
        """The same lattice carrying the word table ``words`` (the graph's words.txt), so
        that paths, n-best lists and drawings can name their words."""
        return dataclasses.replace(self, words=words)

    def word_names(self, word_ids) -> tuple[str, ...]:
        """The words of ``word_ids`` from the lattice's word table (ids as text without one).

        Raises:
            DecodeError: an id the word table does not have (a lattice of another graph?).
        """
        if self.words is None:
            return tuple(str(w) for w in word_ids)
        sym = self.words.symbols
        for w in word_ids:
            if not 0 <= w < len(sym):
                raise DecodeError(f"utterance {self.utt!r}: word id {w} is not in the word table ({len(sym)} "
                                  "symbols): a lattice of another graph?")
        return tuple(sym[w] for w in word_ids)

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

    def draw(self, path, fmt: str | None = None) -> Path:
        """Draws the lattice into ``path`` (format from its suffix: .dot, .svg, .png; svg and
        png need Graphviz's ``dot`` program). Returns the path."""
        path = Path(path)
        path.write_bytes(draw(self, fmt=fmt or path.suffix.lstrip(".") or "dot"))
        return path

    def _repr_svg_(self):  # notebooks: the lattice drawn inline
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


def lattice_from_parts(utt, arcs, finals, n, acoustic_scale, frame_seconds) -> Lattice:
    """A Lattice from (src, dst, word, graph, acoustic, labels) arcs and {state: (graph,
    acoustic, labels)} finals, costs stored as given; states renumbered in topological
    order from 0 (those not reachable from 0 dropped), arcs sorted.

    Raises:
        DecodeError: the arcs make a cycle.
    """
    A = len(arcs)
    if any(not (0 <= x[0] < n and 0 <= x[1] < n) for x in arcs) or any(not 0 <= s < n for s in finals):
        raise DecodeError(f"utterance {utt!r}: an arc or final weight names a state outside 0..{n - 1}")
    off = np.zeros(A + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(x[5]) for x in arcs]) if A else []
    fg = np.full(n, INF)
    fa = np.zeros(n)
    fl = [()] * n
    for s, (g, a, lab) in finals.items():
        fg[s], fa[s], fl[s] = g, a, lab
    foff = np.zeros(n + 1, dtype=np.int64)
    foff[1:] = np.cumsum([len(x) for x in fl])
    col = lambda i, t: np.array([x[i] for x in arcs], dtype=t)
    return build_lattice(utt, n, col(0, np.int64), col(1, np.int64), col(2, np.int32), col(3, np.float64),
                         col(4, np.float64), off, [v for x in arcs for v in x[5]], fg, fa, foff,
                         [v for x in fl for v in x], (0.0, 0.0, ()), acoustic_scale, frame_seconds, INF,
                         scaled=False)
