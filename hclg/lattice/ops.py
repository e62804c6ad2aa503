"""What users do with word lattices: best path, n-best, posteriors, pruning, depth, oracle,
LM weight sweeps. Each function takes a :class:`~hclg.lattice.lattice.Lattice` and returns
frozen results; scores are costs (-log), with ``acoustic_scale`` (default: the lattice's
own) on acoustic costs and ``lm_scale`` on graph costs, as Kaldi's lattice tools.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from hclg.errors import DecodeError
from hclg.lattice.lattice import INF, Lattice, build_lattice
from hclg.scoring import edit_distance


@dataclass(frozen=True)
class Path:
    """One path of a lattice.

    Attributes:
        words: word ids (epsilons left out).
        arcs: the arc indices it takes.
        final_state: its last state.
        cost: total cost under the scales used.
        graph_cost: its graph cost (unscaled).
        acoustic_cost: its acoustic cost (unscaled, Kaldi's convention).
        word_names: the words as text, from the lattice's word table (ids as text
            when the lattice carries none).
    """

    words: tuple[int, ...]
    arcs: tuple[int, ...]
    final_state: int
    cost: float
    graph_cost: float
    acoustic_cost: float
    word_names: tuple[str, ...] = ()

    def labels(self, lat: Lattice) -> np.ndarray:
        """The path's input labels, one per frame (its alignment)."""
        parts = [lat.arc_align(k) for k in self.arcs] + [lat.final_labels(self.final_state)]
        return np.concatenate(parts) if parts else np.zeros(0, np.int32)

    def word_frames(self, lat: Lattice) -> list[int]:
        """Frame at which each word's arc starts."""
        t = lat.state_times()
        return [int(t[lat.src[k]]) for k in self.arcs if lat.word[k] != 0]


def _path(lat: Lattice, arcs: list[int], final_state: int, cost: float) -> Path:
    arcs = tuple(int(k) for k in arcs)
    ks = np.array(arcs, dtype=np.int64)
    g = float(lat.graph[ks].sum() + lat.final_graph[final_state])
    a = float(lat.acoustic[ks].sum() + lat.final_acoustic[final_state])
    words = tuple(int(lat.word[k]) for k in arcs if lat.word[k] != 0)
    return Path(words, arcs, int(final_state), float(cost), g, a, lat.word_names(words))


def best_path(lat: Lattice, acoustic_scale: float | None = None, lm_scale: float = 1.0,
              word_penalty: float = 0.0) -> Path:
    """The cheapest path (Kaldi's lattice-best-path).

    Raises:
        DecodeError: the lattice has no complete path.
    """
    c, f = lat.arc_costs(acoustic_scale, lm_scale, word_penalty)
    b = lat.backward(c, f)
    if lat.num_states == 0 or not b[0] < INF:
        raise DecodeError(f"utterance {lat.utt!r}: lattice has no complete path")
    out = lat.out_arcs()
    s, arcs = 0, []
    while True:
        best_k, best_v = -1, f[s]
        for k in out[s]:
            v = c[k] + b[lat.dst[k]]
            if v < best_v:
                best_k, best_v = k, v
        if best_k < 0:
            break
        arcs.append(best_k)
        s = int(lat.dst[best_k])
    return _path(lat, arcs, s, float(b[0]))


def nbest(lat: Lattice, n: int, acoustic_scale: float | None = None, lm_scale: float = 1.0,
          word_penalty: float = 0.0) -> list[Path]:
    """The ``n`` cheapest paths with distinct word sequences, cheapest first (a
    determinized lattice has one path per word sequence). Best-first search with the
    exact cost-to-end as heuristic, so paths come out in cost order."""
    if n < 1:
        raise ValueError("n must be >= 1")
    c, f = lat.arc_costs(acoustic_scale, lm_scale, word_penalty)
    b = lat.backward(c, f)
    out = lat.out_arcs()
    if lat.num_states == 0 or not b[0] < INF:
        return []
    heap = [(float(b[0]), 0, 0, ())]  # (cost estimate, tie, state, arcs) ; state -1: ended
    seen, res, tie = set(), [], 1
    while heap and len(res) < n:
        est, _, s, arcs = heapq.heappop(heap)
        if s < 0:
            p = _path(lat, arcs[:-1], arcs[-1], est)
            if p.words not in seen:
                seen.add(p.words)
                res.append(p)
            continue
        g = est - b[s]  # cost so far
        if f[s] < INF:
            heapq.heappush(heap, (g + f[s], tie, -1, arcs + (s,)))
            tie += 1
        for k in out[s]:
            d = int(lat.dst[k])
            if b[d] < INF:
                heapq.heappush(heap, (g + c[k] + b[d], tie, d, arcs + (int(k),)))
                tie += 1
    return res


@dataclass(frozen=True)
class Posteriors:
    """Forward-backward results (log semiring).

    Attributes:
        arc: float64 [A]; posterior of each arc.
        final: float64 [S]; posterior of ending in each state.
        total_cost: -log of the summed probability of all paths (scaled).
    """

    arc: np.ndarray
    final: np.ndarray
    total_cost: float


def posteriors(lat: Lattice, acoustic_scale: float | None = None, lm_scale: float = 1.0) -> Posteriors:
    """Arc posteriors by forward-backward in the log semiring (Kaldi's
    LatticeForwardBackward / lattice-to-post)."""
    c, f = lat.arc_costs(acoustic_scale, lm_scale)
    alpha = lat.forward(c, log=True)
    beta = lat.backward(c, f, log=True)
    total = float(beta[0]) if lat.num_states else INF
    if not total < INF:
        raise DecodeError(f"utterance {lat.utt!r}: lattice has no complete path")
    with np.errstate(over="ignore", invalid="ignore"):
        arc = np.exp(-(alpha[lat.src] + c + beta[lat.dst] - total)) if lat.num_arcs else np.zeros(0)
        fin = np.where(np.isfinite(f), np.exp(-(alpha + f - total)), 0.0)
    return Posteriors(arc, fin, total)


def frame_coverage(lat: Lattice, post: Posteriors) -> np.ndarray:
    """float64 [frames]: summed posterior of the arcs (and final weights) covering each
    frame; 1 everywhere for a consistent lattice."""
    t = lat.state_times()
    T = lat.num_frames
    acc = np.zeros(T + 1)
    lens = np.diff(lat.align_off)
    for k in range(lat.num_arcs):
        s = t[lat.src[k]]
        acc[s] += post.arc[k]
        acc[s + lens[k]] -= post.arc[k]
    flen = np.diff(lat.final_align_off)
    for s in np.nonzero(post.final > 0)[0]:
        acc[t[s]] += post.final[s]
        acc[t[s] + flen[s]] -= post.final[s]
    return np.cumsum(acc)[:T]


def word_posteriors(lat: Lattice, acoustic_scale: float | None = None, lm_scale: float = 1.0):
    """Per word arc: (word id, start frame, end frame inclusive, posterior), sorted by
    start frame. The frames are those of the arc's labels (Kaldi's arcs are not aligned
    to word boundaries either; see :func:`ctm` for times aligned through the lexicon)."""
    post = posteriors(lat, acoustic_scale, lm_scale)
    t = lat.state_times()
    lens = np.diff(lat.align_off)
    rows = [(int(lat.word[k]), int(t[lat.src[k]]), int(t[lat.src[k]] + max(lens[k], 1) - 1), float(post.arc[k]))
            for k in range(lat.num_arcs) if lat.word[k] != 0]
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows


def prune(lat: Lattice, beam: float, acoustic_scale: float | None = None, lm_scale: float = 1.0) -> Lattice:
    """Keeps the arcs on paths within ``beam`` of the best (Kaldi's lattice-prune)."""
    ac = lat.acoustic_scale if acoustic_scale is None else acoustic_scale
    if not beam >= 0 or not ac > 0 or not lm_scale > 0:
        raise ValueError("prune needs beam >= 0 and positive scales")
    # prune on the requested scores, then put the lattice's own costs back
    fg = np.where(np.isfinite(lat.final_graph), lm_scale * lat.final_graph, INF)
    pruned = build_lattice(lat.utt, lat.num_states, lat.src, lat.dst, lat.word, lm_scale * lat.graph,
                           ac * lat.acoustic, lat.align_off, lat.align, fg, ac * lat.final_acoustic,
                           lat.final_align_off, lat.final_align, (0.0, 0.0, ()), 1.0, lat.frame_seconds, beam)
    return Lattice(pruned.utt, pruned.src, pruned.dst, pruned.word, pruned.graph / lm_scale, pruned.acoustic / ac,
                   pruned.align_off, pruned.align, pruned.final_graph / lm_scale, pruned.final_acoustic / ac,
                   pruned.final_align_off, pruned.final_align, lat.acoustic_scale, lat.frame_seconds, lat.words)


def depth(lat: Lattice) -> float:
    """Average number of arcs covering a frame (Kaldi's lattice-depth)."""
    T = lat.num_frames
    if T == 0:
        return 0.0
    covered = int(np.diff(lat.align_off).sum() + np.diff(lat.final_align_off).sum())
    return covered / T


@dataclass(frozen=True)
class Oracle:
    """Result of :func:`oracle`.

    Attributes:
        words: the lattice path with the fewest errors against the reference.
        errors: its edit distance to the reference.
        ref_len: reference length.
    """

    words: tuple[int, ...]
    errors: int
    ref_len: int


def oracle(lat: Lattice, ref: list[int], acoustic_scale: float | None = None, lm_scale: float = 1.0) -> Oracle:
    """The lattice path with the fewest word errors against ``ref`` (Kaldi's
    lattice-oracle): edit-distance dynamic programming over (lattice state, reference
    position), ties broken by the path cost."""
    c, f = lat.arc_costs(acoustic_scale, lm_scale)
    R = len(ref)
    S = lat.num_states
    # best[s][j] = (errors, cost) reaching state s having matched ref[:j]; back pointers
    E = np.full((S, R + 1), np.iinfo(np.int64).max, dtype=np.int64)
    C = np.full((S, R + 1), INF)
    back = {}
    out = lat.out_arcs()

    def relax(s, j, e, cc, bp):
        if e < E[s, j] or (e == E[s, j] and cc < C[s, j]):
            E[s, j], C[s, j] = e, cc
            back[(s, j)] = bp
            return True
        return False

    if S == 0:
        raise DecodeError(f"utterance {lat.utt!r}: empty lattice")
    relax(0, 0, 0, 0.0, None)
    for s in range(S):  # topological order
        # deletions of reference words at this state (within the state)
        for j in range(R):
            if E[s, j] < np.iinfo(np.int64).max:
                relax(s, j + 1, E[s, j] + 1, C[s, j], (s, j, -1))
        for k in out[s]:
            d, w = int(lat.dst[k]), int(lat.word[k])
            for j in range(R + 1):
                e0 = E[s, j]
                if e0 == np.iinfo(np.int64).max:
                    continue
                cc = C[s, j] + c[k]
                if w == 0:
                    relax(d, j, e0, cc, (s, j, k))
                    continue
                relax(d, j, e0 + 1, cc, (s, j, k))  # insertion
                if j < R:
                    relax(d, j + 1, e0 + (ref[j] != w), cc, (s, j, k))
    best = None
    for s in np.nonzero(np.isfinite(f))[0]:
        e, cc = E[s, R], C[s, R] + f[s]
        if e < np.iinfo(np.int64).max and (best is None or (e, cc) < best[:2]):
            best = (int(e), cc, int(s))
    if best is None:
        raise DecodeError(f"utterance {lat.utt!r}: lattice has no complete path")
    words, key = [], (best[2], R)
    while back.get(key) is not None:
        s, j, k = back[key]
        if k >= 0 and lat.word[k] != 0:
            words.append(int(lat.word[k]))
        key = (s, j)
    return Oracle(tuple(reversed(words)), best[0], R)


@dataclass(frozen=True)
class SweepResult:
    """WER over a grid of LM weights and word insertion penalties.

    Attributes:
        rows: (lm_weight, word_penalty, errors, ref_words) per grid point.
        best: the row with the fewest errors (first such, in grid order).
    """

    rows: tuple[tuple[float, float, int, int], ...]
    best: tuple[float, float, int, int]


def sweep(lattices, refs: dict[str, list[str]], words, lm_weights, word_penalties) -> SweepResult:
    """Scores the lattices' best paths against ``refs`` over a grid, as Kaldi's scoring
    scripts (``lattice-scale --inv-acoustic-scale=LMWT | lattice-add-penalty
    --word-ins-penalty=WIP | lattice-best-path``): cost = graph + acoustic / lm_weight +
    word_penalty per word, acoustic costs unscaled; so a penalty means what it means in
    Kaldi's ``scoring_kaldi/penalty_WIP``.

    Args:
        lattices: Lattice objects.
        refs: utterance id -> reference words.
        words: the word SymbolTable.
        lm_weights, word_penalties: the grid.
    """

    lats = [lat for lat in lattices if lat.utt in refs]
    if not lats:
        raise DecodeError("no lattice has a reference")
    n_ref = sum(len(refs[lat.utt]) for lat in lats)
    rows = []
    for lmw in lm_weights:
        for wip in word_penalties:
            errs = 0
            for lat in lats:
                p = best_path(lat, acoustic_scale=1.0, lm_scale=lmw, word_penalty=wip * lmw)  # all x lmw
                errs += edit_distance(refs[lat.utt], [words.symbols[w] for w in p.words])
            rows.append((float(lmw), float(wip), int(errs), n_ref))
    best = min(rows, key=lambda r: r[2])
    return SweepResult(tuple(rows), best)


