"""Streaming decoding: a :class:`Stream` takes a network's output chunk by chunk (as
Kaldi's online2 decoders: InitDecoding, AdvanceDecoding, GetBestPath, FinalRelativeCost,
FinalizeDecoding) on the same kernels as a whole-utterance decode, so that
``finalize()`` gives exactly the :class:`~hclg.search.decoder.Result` of
``Decoder.decode`` on the same frames, whatever the chunks.

Memory stays flat on streams of any length: after each chunk the records every surviving
path shares (the *certain* prefix: no later frame can change it) are moved out of the
search into a compact store, and the search's records no path reaches are dropped
(:func:`hclg.search.stream_kernel.compact_trace`).

Partial results (:meth:`Stream.partial`) are the words of the best path so far (without
final costs, as Kaldi's GetBestPath(false)); their first ``certain`` words never change
again; the words after them may change with later frames.

A stream holds two int32 arrays of the graph's size (8 bytes a state) while it is open,
and gives them back to its decoder for the next stream when it is finalized; the graph
itself is shared by every stream of a decoder. One stream serves one thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hclg.errors import DecodeError
from hclg.fst.growable import grown
from hclg.search.endpoint import EndpointOptions, endpoint_rule
from hclg.search.kernel_state import EVENT_PHONE_END, EVENT_TOKEN, TraceLinks
from hclg.search.likelihoods import BlankSkipper
from hclg.search.result import Result
from hclg.search.stream_kernel import compact_trace, path_records, trailing_silence
from hclg.search.viterbi_kernel import (
    ViterbiOutput,
    best_slots,
    final_best,
    viterbi_advance,
    viterbi_release,
    viterbi_start,
)
from hclg.search.word_context import word_context

#: records in use past which a chunk's end compacts the traceback (and past twice the
#: records left by the last compaction)
COMPACT_AT = 4096


@dataclass(frozen=True)
class Partial:
    """A stream's best words so far.

    Attributes:
        certain_words: the first words, certain: every later partial and the final
            result start with them.
        tail: the words after them on the best path (without final costs); later frames
            may change them.
        frames: frames decoded.
    """

    certain_words: tuple[str, ...]
    tail: tuple[str, ...]
    frames: int

    @property
    def words(self) -> tuple[str, ...]:
        return self.certain_words + self.tail

    @property
    def certain(self) -> int:
        """How many of :attr:`words` are certain."""
        return len(self.certain_words)

    @property
    def text(self) -> str:
        return " ".join(self.words)





def stream_events(decoder) -> tuple[np.ndarray, np.ndarray]:
    """(event kinds, silence flags) per input label for a stream: the unit starts are
    always recorded (the trailing silence of the best path is read from them, as
    Kaldi's TrailingSilenceLength reads its traceback), and on CTC graphs the start of
    each blank run too; silence is a nonword unit, or the blank. The records the
    whole-utterance search would not make are left out of the final Result."""
    ev = decoder.label_event_kind.copy()
    names = decoder.graph.units.symbols
    silent_units = [u for u, name in enumerate(names) if name in decoder.nonword_units]
    is_sil = np.isin(decoder.unit_of_label[:len(ev)], silent_units)
    is_sil[0] = False
    if decoder.is_ctc:
        blank = decoder.blank_column + 1
        ev[blank] = EVENT_TOKEN
        is_sil[blank] = True
    if decoder.options.alignment:
        ev[:] = decoder.event_kind
    return ev, is_sil


class Stream:
    """One utterance decoded chunk by chunk; made by :meth:`Decoder.stream`.

    Args:
        decoder: the Decoder (graph, options); shared, read only.
        utt: the utterance id, for messages and the Result.
        endpoint: the endpointing rules (Kaldi's defaults if None).
        keep_loglikes: keep the scaled log-likelihoods of every frame (for a lattice of
            the utterance at the end: :meth:`loglikes`).
        bias: the hotwords (a compiled Bias, :meth:`Decoder.resolved_bias`), or None; the
            search composes them, and an on-the-fly graph's G, on the fly (``context``).
    """

    def __init__(self, decoder, utt: str = "", endpoint: EndpointOptions | None = None, keep_loglikes: bool = False,
                 bias=None):
        thr = decoder.options.blank_skip_threshold
        if thr is not None and keep_loglikes:
            raise DecodeError("lattices are made on every frame: leave blank_skip_threshold unset")
        #: CTC blank skipping, frame by frame as the whole decode does it (a run of skipped
        #: frames waits for the frame after it); the frames read, by input frame number
        self._skipper = BlankSkipper(decoder.blank_column, thr) if decoder.is_ctc and thr is not None else None
        self._kept = np.empty(0, np.int64)
        self._n_kept = 0
        self._in_frames = 0
        self.decoder = decoder
        self.utt = utt
        self.endpoint_options = endpoint or EndpointOptions()
        self.event_kind, self.is_silence = stream_events(decoder)
        self._indices = decoder.borrow_indices()
        self.bias = bias
        self.context = word_context(decoder.graph.lm, bias)
        self._st = viterbi_start(decoder.search_graph, *self._indices, self.context)
        self._done_labels = np.empty(0, np.int32)  # the certain records, oldest first
        self._done_frames = np.empty(0, np.int32)
        self._n_done = 0
        self._certain: tuple[str, ...] = ()  # the certain records' words (remade only when they grow)
        self._compact_at = COMPACT_AT
        self._loglikes = [] if keep_loglikes else None
        self._finished = False

    # --- feeding ---
    def accept(self, chunk) -> None:
        """Decodes the next frames: ``chunk`` [frames, columns] of the network's output, as
        ``Decoder.decode`` takes a whole utterance (any number of frames, 0 included)."""
        if self._finished:
            raise DecodeError(f"utterance {self.utt!r}: the stream is finalized; start a new one")
        x = np.asarray(chunk)
        if x.ndim == 2 and x.shape[0] == 0:
            return
        ll = self.decoder.loglikes(x, self.utt)
        self._in_frames += ll.shape[0]
        if self._loglikes is not None:
            self._loglikes.append(ll)
        if self._skipper is not None:
            ll = self._skipped(*self._skipper.push(ll, self.decoder.blank_posteriors(ll)))
        self._advance(ll)

    def _advance(self, ll) -> None:
        if ll is None or not len(ll):
            return
        d = self.decoder
        self._st = viterbi_advance(self._st, d.search_graph, ll, self.event_kind, d.beam_options, self.context)
        if self._st.n_links > self._compact_at:
            self._compact()

    def _skipped(self, rows, idx):
        """The rows blank skipping lets through, their input frame numbers recorded."""
        if not rows:
            return None
        need = self._n_kept + len(idx)
        self._kept = grown(self._kept, need)
        self._kept[self._n_kept:need] = idx
        self._n_kept = need
        return np.ascontiguousarray(np.stack(rows), dtype=np.float32)

    def _compact(self) -> None:
        st = self._st
        n, labels, frames = compact_trace(st.links, st.n_links, st.cur.link, st.nc)
        self._st = st._replace(n_links=n)
        m = len(labels)
        if m:
            need = self._n_done + m
            self._done_labels, self._done_frames = grown(self._done_labels, need), grown(self._done_frames, need)
            self._done_labels[self._n_done:need] = labels
            self._done_frames[self._n_done:need] = frames
            self._n_done = need
            if (labels > 0).any():
                wsym = self.decoder.graph.words.symbols
                self._certain = self._certain + tuple(wsym[w] for w in labels[labels > 0].tolist())
        self._compact_at = max(COMPACT_AT, 2 * n)

    # --- reading ---
    @property
    def frames(self) -> int:
        """Frames taken so far (with blank skipping, also the ones skipped)."""
        return self._in_frames

    def _best(self):
        """best_slots of the tokens now: (best, its cost, best with finals, that total)."""
        st = self._st
        return best_slots(st.cur, st.nc, self.decoder.search_graph.final, self.context)

    def partial(self) -> Partial:
        """The best words so far (see the module doc); cheap: the traceback walked is only
        the part not yet certain."""
        best = self._best()[0]
        tail = path_records(self._st.links, int(self._st.cur.link[best]))[0] if best >= 0 else np.empty(0, np.int32)
        wsym = self.decoder.graph.words.symbols
        return Partial(self._certain, tuple(wsym[w] for w in tail[tail > 0].tolist()), self.frames)

    def final_relative_cost(self, slots=None) -> float:
        """Best cost with final costs minus best cost (Kaldi's FinalRelativeCost): 0 when
        the best token is final, inf when none is. ``slots``: :meth:`_best`'s, if at hand."""
        _, best_cost, fbest, fbest_total = slots or self._best()
        return float(fbest_total - best_cost) if fbest >= 0 else float("inf")

    def trailing_silence_frames(self, slots=None) -> int:
        """Frames of silence at the end of the best path (Kaldi's TrailingSilenceLength)."""
        best = (slots or self._best())[0]
        if best < 0:
            return 0
        start, to_root = trailing_silence(self._st.links, int(self._st.cur.link[best]), self.is_silence)
        if to_root:  # silence back to the certain prefix: its own trailing silence goes on before
            labels, frames = self._done_labels[:self._n_done], self._done_frames[:self._n_done]
            for k in range(self._n_done - 1, -1, -1):
                if labels[k] < 0:
                    if not self.is_silence[-labels[k]]:
                        break
                    start = int(frames[k])
            else:
                start = 0
        if self._skipper is not None:  # search frames -> input frames; a pending skipped run is blank
            start = int(self._kept[start]) if 0 <= start < self._n_kept else -1
            if start < 0 and self._skipper.run_start >= 0:
                start = self._skipper.run_start
        return self.frames - start if start >= 0 else 0

    def endpoint_rule(self) -> int:
        """The first of Kaldi's endpoint rules that fires now (1..5), 0 if none."""
        sec = self.decoder.frame_seconds
        slots = self._best()
        return endpoint_rule(self.endpoint_options, self.trailing_silence_frames(slots) * sec,
                             self.final_relative_cost(slots), self.frames * sec)

    def is_endpoint(self) -> bool:
        """Whether an endpoint rule fires (Kaldi's EndpointDetected)."""
        return self.endpoint_rule() > 0

    def loglikes(self) -> np.ndarray:
        """The scaled log-likelihoods of every frame so far (streams made with
        ``keep_loglikes``)."""
        if self._loglikes is None:
            raise DecodeError("the stream was made without keep_loglikes")
        ncol = self.decoder.graph.num_columns
        return np.concatenate(self._loglikes) if self._loglikes else np.zeros((0, ncol), np.float32)

    # --- ending ---
    def finalize(self) -> Result:
        """The Result of the whole utterance, as ``Decoder.decode`` of the same frames
        (Kaldi's FinalizeDecoding + GetBestPath(true)). The stream then takes no more
        frames.

        Raises:
            DecodeError: as ``Decoder.decode`` (no frames, nothing survived, ...).
        """
        if self._finished:
            raise DecodeError(f"utterance {self.utt!r}: the stream is finalized already")
        self._finished = True
        if self._skipper is not None:
            self._advance(self._skipped(*self._skipper.finish()))
        d, st = self.decoder, self._st
        viterbi_release(st)
        d.give_back_indices(self._indices)
        if self._in_frames == 0:
            raise DecodeError(f"utterance {self.utt!r}: no frames")
        slot, total, reached = final_best(st.cur, st.nc, d.search_graph.final, self.context)
        link = int(st.cur.link[slot]) if slot >= 0 else -1
        links, head = self._joined_links(st, link)
        out = ViterbiOutput(float(total), float(st.cur.ac[slot]) if slot >= 0 else 0.0, head, reached, links,
                            len(links.prev), int(st.arcs_expanded), int(st.frames), int(st.tokens_expanded))
        d.check_search(out.best_cost, out.reached_final, self.utt)
        if self._skipper is not None:
            return d.result_of_search(out, int(st.frames), self.utt, self._kept[:self._n_kept], self._in_frames)
        return d.result_of_search(out, int(st.frames), self.utt)

    def _joined_links(self, st, link: int):
        """The certain records and the best path's, as one chain without the streaming's
        own events (CTC blank starts), as the whole-utterance search writes it."""
        labels, frames = path_records(st.links, link)
        lab = np.concatenate([self._done_labels[:self._n_done], labels])
        fr = np.concatenate([self._done_frames[:self._n_done], frames])
        kind = self.decoder.event_kind[-np.minimum(lab, 0)]  # what the whole-utterance search records
        keep = (lab > 0) | (kind == EVENT_PHONE_END) | (kind == EVENT_TOKEN)
        n = int(keep.sum())
        return TraceLinks(np.arange(-1, n - 1, dtype=np.int32), lab[keep], fr[keep]), n - 1


__all__ = ["Partial", "Stream"]
