"""The public decoder: ``Decoder(graph, options).decode(matrix) -> Result``."""

from __future__ import annotations

import copy
import logging

import numpy as np

from hclg import constants
from hclg.errors import DecodeError, GraphFormatError
from hclg.graph.arc_records import first_bad_record
from hclg.graph.graph_dir import Graph, load_graph
from hclg.graph.new_words import new_word_pronunciations, with_new_words
from hclg.search.bias import Bias, compile_bias, phrase_words, word_credit
from hclg.search.kernel_state import (
    EVENT_NONE,
    EVENT_PHONE_END,
    EVENT_TOKEN,
    BeamOptions,
)
from hclg.search.label_events import label_events
from hclg.search.lattice_kernel import lattice_search
from hclg.search.likelihoods import as_array, blank_skip_frames, scaled_loglikes
from hclg.search.options import DecoderOptions
from hclg.search.raw_lattice import RawLattice
from hclg.search.result import Result
from hclg.search.viterbi_kernel import viterbi
from hclg.search.word_context import word_context
from hclg.search.word_times import unit_segments, word_times

log = logging.getLogger("hclg")


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
        #: the graph as opened, without the words :meth:`with_bias` adds
        self.base_graph: Graph = self.graph
        self.options = options.validate()
        g = self.graph
        if log_priors is not None and len(log_priors) != g.num_columns:
            raise DecodeError(f"{len(log_priors)} priors but the graph reads {g.num_columns} columns")
        self.log_priors = log_priors
        gopts = g.manifest.get("options", {})
        self.is_ctc = g.topology == "ctc"
        #: HMM graphs whose self-loops follow the forward transition (Kaldi's add-self-loops
        #: --reorder=true): phone boundaries are phone starts
        self.reordered = g.manifest.get("self_loops") == "reorder"
        if not self.is_ctc and (options.blank_skip_threshold is not None or options.blank_penalty):
            raise DecodeError(f"blank_skip_threshold and blank_penalty are for CTC graphs; {g.path} is an HMM graph")
        if options.acoustic_scale is not None:
            self.acoustic_scale = options.acoustic_scale
        elif self.is_ctc or gopts.get("hmm_topology") == "chain":
            self.acoustic_scale = 1.0
        else:
            self.acoustic_scale = constants.ACOUSTIC_SCALE
        ev = label_events(g, self.reordered)
        self.event_kind, self.unit_of_label, self.blank_column = ev.event_kind, ev.unit_of_label, ev.blank_column
        self.nonword_units = set(ev.nonword_units)
        if not self.is_ctc and log_priors is None and options.input_kind != "log-likelihoods":
            log.warning("%s is an HMM graph and the inputs are %s without priors: a hybrid model's posteriors are "
                        "divided by its priors (--priors; `hclg priors` estimates them) to give scaled likelihoods; "
                        "inputs that are already likelihoods want --input-kind log-likelihoods", g.path,
                        options.input_kind)
        self.label_event_kind = self.event_kind.copy()  # for alignments read from lattices
        if not options.word_times:
            self.event_kind[:] = EVENT_NONE  # no phone/token boundary links
        if options.alignment:  # a link on every frame: the whole alignment
            self.event_kind[1:] = EVENT_PHONE_END
            self.event_kind[g.ilabel_to_column < 0] = EVENT_NONE
        fsf = options.frame_subsampling_factor or gopts.get("frame_subsampling_factor") or constants.FRAME_SUBSAMPLING_FACTOR
        self.frame_seconds = options.frame_shift * fsf
        self._prons = None
        self._word_boundary = None
        self._index = None  # the kernel's two per-state index arrays, made on first decode
        self._stream_indices: list = []  # index pairs that finished streams gave back (all -1)
        #: the hotwords every decode favours unless it gives its own (see :meth:`with_bias`)
        self.bias: Bias | None = None
        arrays = g.arrays.with_word_penalty(options.word_insertion_penalty) if options.word_insertion_penalty else g.arrays
        self.search_graph = arrays.search_graph()
        sg = self.search_graph
        kind, at = first_bad_record(sg.start, sg.final, sg.off, sg.e_arc, sg.n_arc, g.num_columns)
        if kind:  # the kernels would read outside the arrays: refuse before they run
            what = {1: "the start state", 2: "the arc offsets of state", 3: "emitting arc", 4: "epsilon arc"}[kind]
            raise GraphFormatError(f"{g.path}: {what} {at} points outside the graph (corrupt decoder arrays); "
                                   "compile the graph again")
        o = self.options
        # beam and beam_delta in single precision, as Kaldi's options (BaseFloat)
        self.max_active, self.min_active = o.active_limits(self.is_ctc)
        self.beam_options = BeamOptions(float(np.float32(o.beam)), self.max_active, self.min_active,
                                        float(np.float32(o.beam_delta)))

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

    def decode(self, matrix, utt: str = "", bias=None) -> Result:
        """Decodes one utterance.

        Args:
            matrix: [frames, columns] network output (see ``options.input_kind``).
            utt: its id, for messages and the Result.
            bias: hotwords for this utterance: a Bias (:meth:`compile_bias`), or the
                phrases themselves (``"phrase"`` or ``("phrase", boost)`` items), compiled
                for this call; None: :attr:`bias` (the decoder's default, usually none).

        Returns:
            Result.

        Raises:
            DecodeError: bad shape, no frames, NaN/inf, or nothing survived the search.
        """
        dec, bias = self.for_call(bias)
        if dec is not self:
            return dec.decode(matrix, utt)
        ll = self.loglikes(matrix, utt)
        frame_map = None
        thr = self.options.blank_skip_threshold
        if self.is_ctc and thr is not None:
            # frames whose blank posterior exceeds thr are dropped, but a repeated token
            # ("a <blank> a") keeps a blank between its two copies
            frame_map, ll = blank_skip_frames(ll, self.blank_posteriors(ll), self.blank_column, thr)
        out = viterbi(self.search_graph, ll, self.event_kind, self.beam_options, *self.indices(),
                      self.context_of(bias))
        self.check_search(out.best_cost, out.reached_final, utt)
        return self.result_of_search(out, ll.shape[0], utt, frame_map, int(matrix.shape[0]))

    def blank_posteriors(self, ll: np.ndarray) -> np.ndarray:
        """The blank's posterior on each frame of scaled log-likelihoods (for blank
        skipping), from the unscaled log-probabilities."""
        lp = ll[:, self.blank_column] / self.acoustic_scale + self.options.blank_penalty
        if self.log_priors is not None and self.options.input_kind != "log-likelihoods":
            lp = lp + self.options.prior_scale * self.log_priors[self.blank_column]
        return np.exp(lp)

    def result_of_search(self, out, T: int, utt: str, frame_map=None, input_frames: int = 0) -> Result:
        """The Result of a finished 1-best search (``viterbi``'s output) over ``T`` frames:
        words from the traceback, and the alignment, phones and word times the options ask
        for; with ``frame_map`` (CTC blank skipping) frames go back to the input's numbers."""
        o = self.options
        cost, ac, link, reached, arcs = out.best_cost, out.best_ac, out.best_link, out.reached_final, out.arcs_expanded
        lprev, llabel, lframe = out.links
        words, wframes, events = [], [], []
        while link >= 0:
            lab = int(llabel[link])
            if lab > 0:
                words.append(lab)
                wframes.append(int(lframe[link]))
            else:
                events.append((-lab, int(lframe[link])))
            link = int(lprev[link])
        words.reverse()
        wframes.reverse()
        events.reverse()
        alignment, phones = (), ()
        if o.alignment:  # an event on every frame: the alignment; the unit boundaries come from it
            alignment = tuple(il for il, _ in events)
            units = self.alignment_units(np.array(alignment, dtype=np.int64))
            phones = self.phone_segments(units, T)
        else:
            units = [(int(self.unit_of_label[il]), f) for il, f in events]
        starts, ends = self.word_times(words, wframes, units, T) if o.word_times else ((), ())
        if frame_map is not None:  # frames skipped as blank: back to the input's frame numbers
            starts = [int(frame_map[s]) for s in starts]
            ends = [int(frame_map[e]) for e in ends]
            T = input_frames
            if o.alignment:
                full = np.full(T, self.blank_column + 1, dtype=np.int64)
                full[frame_map] = alignment
                alignment = tuple(full.tolist())
                phones = tuple((p, int(frame_map[a]), int(frame_map[b])) for p, a, b in phones)
        wsym = self.graph.words.symbols
        return Result(utt, tuple(wsym[w] for w in words), tuple(words), tuple(starts), tuple(ends),
                      float(cost), float(cost - ac), float(ac), T, not reached, self.frame_seconds, int(arcs), alignment,
                      phones, int(out.tokens_expanded))

    def search_lattice(self, ll: np.ndarray, utt: str = "", bias=None) -> tuple[RawLattice, bool, int]:
        """The lattice search (Kaldi's LatticeFasterDecoder) on scaled log-likelihoods: the
        same search as :meth:`decode`, keeping every forward link within ``lattice_beam``;
        it composes the same context on the fly (an on-the-fly graph's G, hotwords
        ``bias`` as :meth:`decode` takes them), so a link's graph cost includes G's and the
        boosts.

        Returns:
            (the state-level lattice, whether a final state was reached, arcs expanded);
            :mod:`hclg.lattice` determinizes it into a word lattice.

        Raises:
            DecodeError: as :meth:`decode`.
        """
        o = self.options
        context = self.context_of(bias)
        beam = float(o.lattice_beam)
        for attempt in range(3):  # as determinization: past the memory cap, again with half the beam
            out = lattice_search(self.search_graph, ll, self.beam_options, beam, int(o.prune_interval),
                                 *self.indices(), int(o.max_lattice_mem), context)
            if not out.too_big:
                break
            if attempt == 2:
                raise DecodeError(
                    f"utterance {utt!r}: the lattice search passed {o.max_lattice_mem / 1e6:.3g} MB at frame "
                    f"{out.frames} of {ll.shape[0]}, also with lattice beam {beam:g}; decode it in pieces, or give "
                    "a smaller --beam or --lattice-beam, or a larger --max-lattice-mem")
            log.warning("utterance %r: the lattice search passed %.3g MB at frame %d of %d; lattice beam %g "
                        "instead of %g", utt, o.max_lattice_mem / 1e6, out.frames, ll.shape[0], beam / 2, beam)
            beam /= 2
        self.check_search(out.best_total, out.reached_final, utt)
        raw = RawLattice(out.frame_start, out.tok_cost, out.tok_extra, out.tok_final, out.src, out.dst, out.ilabel,
                         out.olabel, out.graph, out.acoustic, float(out.best_total))
        return raw, bool(out.reached_final), int(out.arcs_expanded)

    def stream(self, utt: str = "", endpoint=None, keep_loglikes: bool = False, bias=None):
        """A :class:`~hclg.search.stream.Stream`: this decoder's search, fed chunk by chunk
        (see that module). ``endpoint``: EndpointOptions (Kaldi's rules by default);
        ``bias``: hotwords, as :meth:`decode` takes them."""
        from hclg.search.stream import Stream

        dec, bias = self.for_call(bias)
        return Stream(dec, utt, endpoint, keep_loglikes, dec.resolved_bias(bias))

    def for_call(self, bias):
        """(the decoder a call with hotwords ``bias`` runs on, the hotwords it then takes):
        this one, or where the phrases have words the graph lacks (spelled: see
        :meth:`with_bias`), one with those words added and the phrases as its own."""
        if bias is not None and not isinstance(bias, Bias):
            bias = list(bias)
            new = new_word_pronunciations(self.base_graph, phrase_words(bias))
            if new:
                return self.with_bias(bias, new), None
        return self, bias

    def compile_bias(self, phrases):
        """Hotwords for this decoder's graph (:func:`hclg.search.bias.compile_bias`): phrases
        of its words, each ``"phrase"`` or ``("phrase", boost)``; a path's cost goes down by
        the boost of every phrase it says. Milliseconds for thousands of phrases."""
        return compile_bias(phrases, self.graph.words)

    def with_bias(self, phrases, pronunciations=None) -> "Decoder":
        """A decoder like this one (same graph, options, arrays) whose decodes favour
        ``phrases`` unless a call says otherwise: for a batch with one list of hotwords.

        Words of the phrases that the graph lacks are added to this decoder's copy of it
        (an on-the-fly graph only, CTC, or HMM of context-independent phones, of a
        Kaldi left-biphone or triphone tree, or of a context table;
        :mod:`hclg.graph.new_words`, tens of milliseconds on a 20k-word graph): their
        tokens or phones from ``pronunciations`` (word -> token sequences; a lexicon's
        lines), or on a graph of spelled words, their letters.

        Raises:
            DecodeError: a word the graph lacks and cannot take (saying why), a bad boost.
        """
        phrases = list(phrases) if phrases is not None else None
        new = new_word_pronunciations(self.base_graph, phrase_words(phrases or ()), pronunciations)
        other = copy.copy(self) if not new else type(self)(
            with_new_words(self.base_graph, new, word_credit(phrases, new)), self.options, self.log_priors)
        other.base_graph = self.base_graph
        other.bias = other.compile_bias(phrases) if phrases is not None else None
        return other

    def resolved_bias(self, bias) -> Bias | None:
        """The hotwords a search uses: ``bias`` as :meth:`decode` takes it (None: the
        decoder's own, :attr:`bias`), compiled; None when there are no phrases."""
        if bias is None:
            bias = self.bias
        elif not isinstance(bias, Bias):
            bias = self.compile_bias(bias)
        return bias if bias is not None and bias.num_states > 1 else None

    def context_of(self, bias):
        """What a search composes on the fly: the graph's G (an on-the-fly graph) and the
        hotwords ``bias`` (as :meth:`decode` takes them); None for a static graph without
        hotwords (the plain kernel)."""
        return word_context(self.graph.lm, self.resolved_bias(bias))

    def warm_up(self) -> None:
        """Loads the compiled search kernel (from numba's cache) and makes the index
        arrays now, by searching one silent frame, so that processes forked afterwards
        share them instead of each loading them again. Says so when the kernels must be
        compiled first (once per install: numba keeps them in its cache)."""
        if not kernels_cached(viterbi):
            log.warning("compiling hclg's search kernels for this machine (numba); this happens once, later runs "
                        "load them from the cache")
        ll = np.zeros((1, self.graph.num_columns), np.float32)
        viterbi(self.search_graph, ll, self.event_kind, self.beam_options, *self.indices(), self.context_of(None))

    def indices(self):
        """The kernels' two per-state index arrays (all -1), made on first use."""
        if self._index is None:
            n = self.graph.arrays.num_states
            self._index = (np.full(n, -1, dtype=np.int32), np.full(n, -1, dtype=np.int32))
        return self._index

    def borrow_indices(self):
        """A pair of per-state index arrays (all -1) for a stream: one a finished stream
        gave back, or new ones (two int32 arrays of the graph's size: allocating them is
        most of a short stream's fixed cost). Safe from several threads."""
        try:
            return self._stream_indices.pop()
        except IndexError:
            n = self.graph.arrays.num_states
            return np.full(n, -1, dtype=np.int32), np.full(n, -1, dtype=np.int32)

    def give_back_indices(self, pair) -> None:
        """Takes back a pair from :meth:`borrow_indices`, all -1 again."""
        self._stream_indices.append(pair)

    def check_search(self, cost, reached, utt):
        """Raises the DecodeError a finished search calls for, if any."""
        o = self.options
        if not np.isfinite(cost):
            raise DecodeError(f"utterance {utt!r}: no path survived the search (beam {o.beam}); try a wider beam")
        if not reached and not o.allow_partial:
            raise DecodeError(f"utterance {utt!r}: no final state reached and allow_partial is off")

    def alignment_units(self, labels: np.ndarray) -> list[tuple[int, int]]:
        """The phone ends (HMM), phone starts (HMM graphs with Kaldi's reordered self-loops)
        or token starts (CTC) of a frame alignment (one input label per frame), as the
        1-best search's event links record them: (unit label, frame)."""
        kind = self.label_event_kind[labels]
        units, prev = [], 0
        for f, (il, k) in enumerate(zip(labels.tolist(), kind.tolist())):
            if k == EVENT_PHONE_END or (k == EVENT_TOKEN and il != prev):
                units.append((int(self.unit_of_label[il]), f))
            prev = il
        return units

    def phone_segments(self, units, num_frames) -> tuple[tuple[str, int, int], ...]:
        """(phone, first frame, last frame) of each phone (CTC: token, first frame twice)
        from a path's unit events (:meth:`alignment_units`)."""
        return tuple(unit_segments(units, num_frames, self.is_ctc, self.graph.units.symbols, self.reordered))

    def word_times(self, words, wframes, units, num_frames) -> tuple[list[int], list[int]]:
        """(first frames, last frames) of ``words`` from their alignment's unit events,
        split through the lexicon (:func:`hclg.search.word_times.word_times`)."""
        if self._prons is None:
            self._prons = self.graph.align_lexicon()
            self._word_boundary = self.graph.word_boundary()
        return word_times(words, wframes, units, num_frames, self.is_ctc, self.graph.units.symbols,
                          self.graph.words.symbols, self._prons, self.nonword_units, self.reordered,
                          self._word_boundary)


def kernels_cached(*kernels) -> bool:
    """Whether numba's on-disk cache holds compiled code of these kernels for their
    current source (False: the first call compiles them, which takes a while)."""
    try:
        return all(bool(k._cache._cache_file._load_index()) for k in kernels)
    except (AttributeError, OSError):  # another numba: do not guess
        return True


def decode_matrix(graph, matrix, options: DecoderOptions = DecoderOptions()) -> Result:
    """One-off convenience: open ``graph`` and decode one matrix."""
    return Decoder(graph, options).decode(matrix)


__all__ = ["Decoder", "Result", "decode_matrix"]
