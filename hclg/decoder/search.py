"""The public decoder: ``Decoder(graph, options).decode(matrix) -> Result``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from hclg import constants
from hclg.decoder import kernel
from hclg.decoder.config import DecoderOptions
from hclg.decoder.likelihoods import as_array, blank_skip_frames, scaled_loglikes
from hclg.errors import DecodeError
from hclg.graphs.graphdir import Graph, load_graph


@dataclass(frozen=True)
class Result:
    """The 1-best of one utterance.

    Attributes:
        utt: utterance id.
        words: the words.
        word_ids: their ids in the graph's words.txt.
        start_frames, end_frames: per word, first and last (output) frame, inclusive;
            empty when the options turn word times off.
        cost: total cost (graph + acoustic, including the final cost).
        graph_cost: graph part of ``cost`` (LM, lexicon, transitions).
        acoustic_cost: acoustic part (-sum of scaled log-likelihoods on the path).
        frames: frames decoded.
        partial: True if no final state was reached (best partial hypothesis).
        frame_seconds: seconds per output frame (frame_shift * subsampling).
        arcs_expanded: emitting arcs expanded by the search (for benchmarks).
    """

    utt: str
    words: tuple[str, ...]
    word_ids: tuple[int, ...]
    start_frames: tuple[int, ...]
    end_frames: tuple[int, ...]
    cost: float
    graph_cost: float
    acoustic_cost: float
    frames: int
    partial: bool
    frame_seconds: float
    arcs_expanded: int = 0

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def ctm_lines(self) -> list[str]:
        """Kaldi CTM lines ``utt 1 start duration word`` in seconds."""
        fs = self.frame_seconds
        return [f"{self.utt} 1 {s * fs:.3f} {(e - s + 1) * fs:.3f} {w}"
                for w, s, e in zip(self.words, self.start_frames, self.end_frames)]

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["words"], d["word_ids"] = list(self.words), list(self.word_ids)
        d["start_frames"], d["end_frames"] = list(self.start_frames), list(self.end_frames)
        d["start_seconds"] = [round(s * self.frame_seconds, 3) for s in self.start_frames]
        d["end_seconds"] = [round((e + 1) * self.frame_seconds, 3) for e in self.end_frames]
        return d


class Decoder:
    """Token-passing Viterbi beam search over a compiled graph.

    Args:
        graph: a graph directory (path) or an opened :class:`Graph`.
        options: DecoderOptions (validated here).
        log_priors: float [columns] log priors to divide posteriors by, or None.

    The graph is opened memory-mapped once; scratch arrays are reused across utterances.
    """

    def __init__(self, graph, options: DecoderOptions = DecoderOptions(), log_priors: np.ndarray | None = None):
        self.graph: Graph = graph if isinstance(graph, Graph) else load_graph(graph)
        self.options = options.validate()
        g = self.graph
        if log_priors is not None and len(log_priors) != g.num_columns:
            raise DecodeError(f"{len(log_priors)} priors but the graph reads {g.num_columns} columns")
        self.log_priors = log_priors
        gopts = g.manifest.get("options", {})
        self.is_ctc = g.topology == "ctc"
        if options.acoustic_scale is not None:
            self.acoustic_scale = options.acoustic_scale
        elif self.is_ctc or gopts.get("hmm_topology") == "chain":
            self.acoustic_scale = 1.0
        else:
            self.acoustic_scale = constants.ACOUSTIC_SCALE
        n_labels = len(g.ilabel_to_column)
        self.event_kind = np.zeros(n_labels, dtype=np.int8)
        self.blank_column = None
        self.nonword_units = set()
        if self.is_ctc:
            blank = gopts.get("blank", constants.CTC_BLANK)
            self.blank_column = g.tokens.id(blank) - 1
            self.event_kind[1:] = kernel.EVENT_TOKEN
            self.event_kind[g.tokens.id(blank)] = kernel.EVENT_BLANK
            self.event_kind[g.ilabel_to_column < 0] = kernel.EVENT_NONE
            if gopts.get("word_delimiter"):
                self.nonword_units.add(gopts["word_delimiter"])
            self.unit_of_label = np.arange(n_labels)
        else:
            tr = g.transitions()
            self.event_kind[tr["is_final"][:n_labels]] = kernel.EVENT_PHONE_END
            self.unit_of_label = tr["phone"]
            sil = gopts.get("sil_phone")
            if sil:
                self.nonword_units |= {sil} | {sil + s for s in ("_B", "_I", "_E", "_S")}
        self._label_event_kind = self.event_kind.copy()  # for alignments read from lattices
        if not options.word_times:
            self.event_kind[:] = kernel.EVENT_NONE  # no phone/token boundary links
        self.frame_seconds = options.frame_shift * options.frame_subsampling_factor
        self._prons = None
        self._index = None  # the kernel's two per-state index arrays, made on first decode
        self._graph_args = g.arrays.kernel_args()
        o = self.options
        self._search_args = (float(o.beam), int(o.max_active), int(o.min_active), float(o.beam_delta))

    def loglikes(self, matrix, utt: str = "") -> np.ndarray:
        """Checks a network output and returns the scaled log-likelihoods the search reads."""
        x = as_array(matrix)
        ncol = self.graph.num_columns
        if x.ndim == 2 and x.shape[1] != ncol:
            hint = ("a CTC graph reads one column per token, blank included" if self.is_ctc
                    else "an HMM graph reads one column per pdf (see the pdf map)")
            raise DecodeError(
                f"utterance {utt!r}: the matrix has {x.shape[1]} columns but the graph {self.graph.path} reads {ncol}; "
                f"wrong graph, or a different blank/offset convention? ({hint})")
        return scaled_loglikes(x, self.options.input_kind, self.acoustic_scale, self.log_priors,
                               self.options.prior_scale, self.blank_column, self.options.blank_penalty, utt)

    def decode(self, matrix, utt: str = "") -> Result:
        """Decodes one utterance.

        Args:
            matrix: [frames, columns] network output (see ``options.input_kind``).
            utt: its id, for messages and the Result.

        Returns:
            Result.

        Raises:
            DecodeError: bad shape, no frames, NaN/inf, or nothing survived the search.
        """
        ll = self.loglikes(matrix, utt)
        frame_map = None
        thr = self.options.blank_skip_threshold
        if self.is_ctc and thr is not None:
            # blank posterior from the unscaled log-probabilities
            lp = ll[:, self.blank_column] / self.acoustic_scale + self.options.blank_penalty
            if self.log_priors is not None and self.options.input_kind != "log-likelihoods":
                lp = lp + self.options.prior_scale * self.log_priors[self.blank_column]
            # frames whose blank posterior exceeds thr are dropped, but a repeated token
            # ("a <blank> a") keeps a blank between its two copies
            keep = blank_skip_frames(ll, np.exp(lp), self.blank_column, thr)
            frame_map = keep
            ll = np.ascontiguousarray(ll[keep])
        o = self.options
        (cost, ac, link, reached, lprev, llabel, lframe, nlinks, arcs, _ntok) = kernel.viterbi(
            *self._graph_args, ll, self.event_kind, *self._search_args, *self._indices())
        self._check_search(cost, reached, utt)
        words, wframes, units = [], [], []
        while link >= 0:
            lab = int(llabel[link])
            if lab > 0:
                words.append(lab)
                wframes.append(int(lframe[link]))
            else:
                units.append((int(self.unit_of_label[-lab]), int(lframe[link])))
            link = int(lprev[link])
        words.reverse()
        wframes.reverse()
        units.reverse()
        T = ll.shape[0]
        starts, ends = self._word_times(words, wframes, units, T) if o.word_times else ((), ())
        if frame_map is not None:
            starts = [int(frame_map[s]) for s in starts]
            ends = [int(frame_map[e]) for e in ends]
            T = int(matrix.shape[0])
        wsym = self.graph.words.symbols
        return Result(utt, tuple(wsym[w] for w in words), tuple(words), tuple(starts), tuple(ends),
                      float(cost), float(cost - ac), float(ac), T, not reached, self.frame_seconds, int(arcs))

    def decode_lattice(self, matrix, utt: str = ""):
        """Decodes one utterance and keeps its lattice (Kaldi's LatticeFasterDecoder: the
        same search as :meth:`decode`, with forward links pruned to ``lattice_beam``, then
        determinized to a word lattice).

        Returns:
            (Result, Lattice): the 1-best is the lattice's best path, so it equals
            :meth:`decode`'s; word times come from the path's alignment.

        Raises:
            DecodeError: as :meth:`decode`.
        """
        o = self.options
        if self.is_ctc and o.blank_skip_threshold is not None:
            raise DecodeError("lattices are made on every frame: leave blank_skip_threshold unset")
        return self._lattice_search(self.loglikes(matrix, utt), utt)

    def _lattice_search(self, ll, utt):
        """decode_lattice on scaled log-likelihoods."""
        from hclg.decoder import lattice as L
        from hclg.decoder.lattice_kernel import lattice_search
        from hclg.decoder.lattice_ops import best_path

        o = self.options
        (frames, reached, best_total, arcs, frame_start, tok_cost, tok_extra, tok_final,
         lsrc, ldst, lil, lol, lg, la) = lattice_search(
            *self._graph_args, ll, *self._search_args, float(o.lattice_beam), int(o.prune_interval), *self._indices())
        self._check_search(best_total, reached, utt)
        raw = L.RawLattice(frame_start, tok_cost, tok_extra, tok_final, lsrc, ldst, lil, lol, lg, la, float(best_total))
        lat = L.determinize(raw, utt, float(o.lattice_beam), self.acoustic_scale, self.frame_seconds, int(o.max_mem))
        p = best_path(lat)
        labels = p.labels(lat)
        T = ll.shape[0]
        if o.word_times:
            starts, ends = self._word_times(list(p.words), p.word_frames(lat), self._units(labels), T)
        else:
            starts, ends = (), ()
        wsym = self.graph.words.symbols
        sc = self.acoustic_scale
        res = Result(utt, tuple(wsym[w] for w in p.words), p.words, tuple(starts), tuple(ends),
                     float(p.graph_cost + sc * p.acoustic_cost), float(p.graph_cost), float(sc * p.acoustic_cost),
                     T, not reached, self.frame_seconds, int(arcs))
        return res, lat

    def warm_up(self, lattice: bool = False) -> None:
        """Loads the compiled search kernels (from numba's cache) and makes the index
        arrays now, by searching one silent frame, so that processes forked afterwards
        share them instead of each loading them again."""
        ll = np.zeros((1, self.graph.num_columns), np.float32)
        kernel.viterbi(*self._graph_args, ll, self.event_kind, *self._search_args, *self._indices())
        if lattice:
            try:
                self._lattice_search(ll, "warm-up")  # determinization's kernels too
            except DecodeError:
                pass  # e.g. no final state after one frame with allow_partial off

    def _indices(self):
        """The kernels' two per-state index arrays (all -1), made on first use."""
        if self._index is None:
            n = self.graph.arrays.num_states
            self._index = (np.full(n, -1, dtype=np.int32), np.full(n, -1, dtype=np.int32))
        return self._index

    def _check_search(self, cost, reached, utt):
        """Raises the DecodeError a finished search calls for, if any."""
        o = self.options
        if not np.isfinite(cost):
            raise DecodeError(f"utterance {utt!r}: no path survived the search (beam {o.beam}); try a wider beam")
        if not reached and not o.allow_partial:
            raise DecodeError(f"utterance {utt!r}: no final state reached and allow_partial is off")

    def _units(self, labels: np.ndarray) -> list[tuple[int, int]]:
        """The phone ends (HMM) or token starts (CTC) of a frame alignment, as the 1-best
        search's event links record them: (unit label, frame)."""
        kind = self._label_event_kind[labels]
        units, prev = [], 0
        for f, (il, k) in enumerate(zip(labels.tolist(), kind.tolist())):
            if k == kernel.EVENT_PHONE_END or (k == kernel.EVENT_TOKEN and il != prev):
                units.append((int(self.unit_of_label[il]), f))
            prev = il
        return units

    # ---- word times ----
    def _word_times(self, words, wframes, units, T):
        """Splits the phone/token events into words through the lexicon (as Kaldi's
        lattice-align-words-lexicon); falls back to the frames where words were output."""
        if not words:
            return [], []
        tok = self.graph.tokens.symbols
        if self.is_ctc:
            # units: (token label, first frame); a token lasts until the next unit starts
            segs = [(tok[u], f, f) for u, f in units]
        else:
            # units: (phone id, last frame); a phone starts after the previous one ends
            segs, prev = [], -1
            for u, f in units:
                segs.append((tok[u], prev + 1, f))
                prev = f
        got = self._align(words, segs)
        if got is None:
            ends = [f for f in wframes[1:]] + [T - 1]
            return list(wframes), [max(s, e) for s, e in zip(wframes, ends)]
        return got

    def _align(self, words, segs):
        """Splits ``segs`` (unit, start, end) into the words: each word takes one of its
        pronunciations, non-word units (silence, delimiter) may stand between words.
        Dynamic programming from the end; None if no split exists."""
        if self._prons is None:
            self._prons = self.graph.align_lexicon()
        wsym = self.graph.words.symbols
        skip = np.array([u in self.nonword_units for u, _, _ in segs] + [True])
        units = [u for u, _, _ in segs]
        n, m = len(words), len(segs)
        prons = [self._prons.get(wsym[w], []) for w in words]
        ok = np.zeros((n + 1, m + 1), dtype=bool)  # ok[i, j]: words[i:] can take segs[j:]
        ok[n, m] = True
        for j in range(m - 1, -1, -1):
            ok[n, j] = skip[j] and ok[n, j + 1]
        for i in range(n - 1, -1, -1):
            for j in range(m, -1, -1):
                good = j < m and skip[j] and ok[i, j + 1]
                if not good:
                    for p in prons[i]:
                        e = j + len(p)
                        if e <= m and ok[i + 1, e] and tuple(units[j:e]) == p:
                            good = True
                            break
                ok[i, j] = good
        if not ok[0, 0]:
            return None
        starts, ends = [], []
        i = j = 0
        while i < n:
            for p in prons[i]:
                e = j + len(p)
                if e <= m and ok[i + 1, e] and tuple(units[j:e]) == p:
                    starts.append(segs[j][1])
                    ends.append(segs[e - 1][2])
                    i, j = i + 1, e
                    break
            else:  # a non-word unit before the next word
                j += 1
        return starts, ends


def decode_matrix(graph, matrix, options: DecoderOptions = DecoderOptions()) -> Result:
    """One-off convenience: open ``graph`` and decode one matrix."""
    return Decoder(graph, options).decode(matrix)


__all__ = ["Decoder", "Result", "decode_matrix"]
