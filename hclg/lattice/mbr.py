"""Minimum Bayes risk decoding of word lattices, as Kaldi's ``MinimumBayesRisk`` (lat/sausages)
and the algorithm it implements: H. Xu, D. Povey, L. Mangu, J. Zhu, "Minimum Bayes Risk
decoding and system combination based on a recursion for edit distance", Computer Speech and
Language 25 (2011), Figures 5 and 6.

Starting from the MAP path, each iteration aligns the lattice to the current hypothesis
(padded with epsilon bins between words) with the edit-distance recursion, collects for each
bin the posterior of every word (and of epsilon) and their average start and end times, and
takes the most probable word of each bin; it stops when no bin changes. The posterior of the
chosen word is its confidence (what ``lattice-to-ctm-conf`` prints).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from hclg.lattice.lattice import Lattice
from hclg.lattice.ops import best_path

DELTA = 1.0e-5  # Kaldi's delta(): a tiny insertion cost that breaks ties toward fewer words


@dataclass(frozen=True)
class MbrResult:
    """The MBR hypothesis of one lattice.

    Attributes:
        words: word ids.
        confidences: posterior of each word in its bin.
        start_frames, end_frames: average times of each word over the lattice (frames,
            fractional; state times of the lattice's arcs).
        expected_errors: the recursion's edit distance to the lattice (its objective).
    """

    words: tuple[int, ...]
    confidences: tuple[float, ...]
    start_frames: tuple[float, ...]
    end_frames: tuple[float, ...]
    expected_errors: float


@njit(cache=True)
def _acc_stats(N, pre_off, pre_arc, a_start, a_word, a_loglike, times, R):
    """One pass of the recursion (1-based states 1..N, N the only final state, 1 the start).

    Args:
        pre_off: int64 [N+2]; arcs entering state n are pre_arc[pre_off[n]:pre_off[n+1]].
        a_start, a_word: int64 [A]; a_loglike: float64 [A] (scaled log-probability).
        times: float64 [N+1] frame of each state.
        R: int64 [Q]; the hypothesis with epsilon bins (R[q-1] is bin q).

    Returns:
        (L, bins int64 [M], words int64 [M], occ, tau_b, tau_e float64 [M]): the edit
        distance and the gamma / time contributions (bin, word, amount), to be summed.
    """
    Q = R.shape[0]
    alpha = np.full(N + 1, -np.inf)
    alpha_dash = np.zeros((N + 1, Q + 1))
    arc_dash = np.zeros(Q + 1)
    alpha[1] = 0.0
    for q in range(1, Q + 1):
        alpha_dash[1, q] = alpha_dash[1, q - 1] + (1.0 if R[q - 1] != 0 else 0.0)
    for n in range(2, N + 1):
        m = -np.inf
        for t in range(pre_off[n], pre_off[n + 1]):
            k = pre_arc[t]
            v = alpha[a_start[k]] + a_loglike[k]
            if m == -np.inf:
                m = v
            elif v != -np.inf:
                hi, lo = max(m, v), min(m, v)
                m = hi + np.log1p(np.exp(lo - hi))
        alpha[n] = m
        for t in range(pre_off[n], pre_off[n + 1]):
            k = pre_arc[t]
            s, w = a_start[k], a_word[k]
            p = np.exp(alpha[s] + a_loglike[k] - alpha[n])
            for q in range(Q + 1):
                if q == 0:
                    arc_dash[0] = alpha_dash[s, 0] + (1.0 if w != 0 else 0.0) + DELTA
                else:
                    r = R[q - 1]
                    a1 = alpha_dash[s, q - 1] + (1.0 if w != r else 0.0)
                    a2 = alpha_dash[s, q] + (1.0 if w != 0 else 0.0) + DELTA
                    a3 = arc_dash[q - 1] + (1.0 if r != 0 else 0.0)
                    arc_dash[q] = min(a1, a2, a3)
                alpha_dash[n, q] += p * arc_dash[q]
    L = alpha_dash[N, Q]
    # backward pass, collecting the statistics
    A = a_start.shape[0]
    cap = (A + 1) * Q + 1
    bins = np.empty(cap, np.int64)
    words = np.empty(cap, np.int64)
    occ = np.empty(cap)
    tb = np.empty(cap)
    te = np.empty(cap)
    m_ = 0
    beta_dash = np.zeros((N + 1, Q + 1))
    beta_arc = np.zeros(Q + 1)
    b_arc = np.zeros(Q + 1, np.int64)
    beta_dash[N, Q] = 1.0
    for n in range(N, 1, -1):
        for t in range(pre_off[n], pre_off[n + 1]):
            k = pre_arc[t]
            s, w = a_start[k], a_word[k]
            p = np.exp(alpha[s] + a_loglike[k] - alpha[n])
            arc_dash[0] = alpha_dash[s, 0] + (1.0 if w != 0 else 0.0) + DELTA
            for q in range(1, Q + 1):
                r = R[q - 1]
                a1 = alpha_dash[s, q - 1] + (1.0 if w != r else 0.0)
                a2 = alpha_dash[s, q] + (1.0 if w != 0 else 0.0) + DELTA
                a3 = arc_dash[q - 1] + (1.0 if r != 0 else 0.0)
                if a1 <= a2:
                    if a1 <= a3:
                        b_arc[q], arc_dash[q] = 1, a1
                    else:
                        b_arc[q], arc_dash[q] = 3, a3
                elif a2 <= a3:
                    b_arc[q], arc_dash[q] = 2, a2
                else:
                    b_arc[q], arc_dash[q] = 3, a3
            beta_arc[:] = 0.0
            for q in range(Q, 0, -1):
                beta_arc[q] += p * beta_dash[n, q]
                if b_arc[q] == 1:  # the arc's word takes bin q
                    beta_dash[s, q - 1] += beta_arc[q]
                    bins[m_], words[m_], occ[m_] = q, w, beta_arc[q]
                    tb[m_], te[m_] = times[s] * beta_arc[q], times[n] * beta_arc[q]
                    m_ += 1
                elif b_arc[q] == 2:  # the arc's word is inserted
                    beta_dash[s, q] += beta_arc[q]
                else:  # bin q is deleted (epsilon in bin q)
                    beta_arc[q - 1] += beta_arc[q]
                    bins[m_], words[m_], occ[m_] = q, 0, beta_arc[q]
                    tb[m_], te[m_] = times[n] * beta_arc[q], times[n] * beta_arc[q]
                    m_ += 1
            beta_arc[0] += p * beta_dash[n, 0]
            beta_dash[s, 0] += beta_arc[0]
    beta_arc[:] = 0.0
    for q in range(Q, 0, -1):
        beta_arc[q] += beta_dash[1, q]
        beta_arc[q - 1] += beta_arc[q]
        bins[m_], words[m_], occ[m_] = q, 0, beta_arc[q]
        tb[m_], te[m_] = times[1] * beta_arc[q], times[1] * beta_arc[q]
        m_ += 1
    return L, bins[:m_], words[:m_], occ[:m_], tb[:m_], te[:m_]


def mbr_decode(lat: Lattice, acoustic_scale: float | None = None, lm_scale: float = 1.0,
               max_iter: int = 100) -> MbrResult:
    """MBR hypothesis, confidences and times of a lattice (see the module doc).

    Raises:
        DecodeError: the lattice has no complete path.
    """

    R = list(best_path(lat, acoustic_scale, lm_scale).words)
    c, f = lat.arc_costs(acoustic_scale, lm_scale)
    S = lat.num_states
    t = lat.state_times()
    fin = np.nonzero(np.isfinite(f))[0]
    # 1-based states, plus a super-final state N reached from every final state by epsilon
    N = S + 1
    a_start = np.concatenate([lat.src.astype(np.int64) + 1, fin.astype(np.int64) + 1])
    a_end = np.concatenate([lat.dst.astype(np.int64) + 1, np.full(len(fin), N, np.int64)])
    a_word = np.concatenate([lat.word.astype(np.int64), np.zeros(len(fin), np.int64)])
    a_ll = -np.concatenate([c, f[fin]])
    flen = np.diff(lat.final_align_off)
    times = np.zeros(N + 1)
    times[1:S + 1] = t
    times[N] = max((t[s] + flen[s] for s in fin), default=0)
    order = np.argsort(a_end, kind="stable")
    pre_off = np.searchsorted(a_end[order], np.arange(N + 2)).astype(np.int64)
    pre_arc = order.astype(np.int64)
    words = confs = starts = ends = ()
    L = 0.0
    for _ in range(max_iter):
        Rq = np.zeros(2 * len(R) + 1, np.int64)
        Rq[1::2] = R
        L, bins, ws, occ, tb, te = _acc_stats(N, pre_off, pre_arc, a_start, a_word, a_ll, times, Rq)
        gamma: list[dict[int, float]] = [dict() for _ in range(len(Rq) + 1)]
        tau_b: list[dict[int, float]] = [dict() for _ in range(len(Rq) + 1)]
        tau_e: list[dict[int, float]] = [dict() for _ in range(len(Rq) + 1)]
        for q, w, o, b, e in zip(bins.tolist(), ws.tolist(), occ.tolist(), tb.tolist(), te.tolist()):
            gamma[q][w] = gamma[q].get(w, 0.0) + o
            tau_b[q][w] = tau_b[q].get(w, 0.0) + b
            tau_e[q][w] = tau_e[q].get(w, 0.0) + e
        new, out, gain = [], [], 0.0
        for q in range(1, len(Rq) + 1):
            g = gamma[q]
            old = int(Rq[q - 1])
            top = max(g.values()) if g else 0.0
            # the most probable word of the bin; the current one wins ties (no change)
            best = old if g.get(old, 0.0) >= top else min(w for w, v in g.items() if v == top)
            gain += g.get(best, 0.0) - g.get(old, 0.0)
            new.append(best)
            if best != 0:
                conf = g[best]
                out.append((best, conf, tau_b[q][best] / conf, tau_e[q][best] / conf))
        R = [w for w in new if w != 0]
        words = tuple(int(o[0]) for o in out)
        confs = tuple(float(min(1.0, o[1])) for o in out)
        starts = tuple(float(o[2]) for o in out)
        ends = tuple(float(o[3]) for o in out)
        if gain <= 0.0:  # Kaldi's delta-Q == 0
            break
    return MbrResult(words, confs, starts, ends, float(L))
