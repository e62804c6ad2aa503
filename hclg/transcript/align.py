"""Forced alignment of given words (Kaldi's ``compile-train-graphs`` + ``align-mapped``):
per utterance, a graph of the transcript only, its words in order, each with all its
pronunciations and the optional silence between them as the graph was compiled (the
word-level L of the graph directory's ``align_lexicon.txt``), composed with H (the graph's
own transition table and Kaldi's self-loops) or with the CTC topology T, searched by the
1-best kernel with Kaldi's ``--beam 10``, and again with ``--retry-beam 40`` if nothing
reaches the end.

Only the words' own costs enter (pronunciation choice, silence, HMM transitions, and the
acoustics), not the LM: for a decode's own words this finds the decode's alignment,
since the LM's cost is the same for every alignment of one word sequence.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np
import pywrapfst as fst

from hclg import constants
from hclg.errors import DecodeError
from hclg.fst.convert import arrays_to_fst
from hclg.graph.arc_records import decoder_arrays
from hclg.graph.ctc_topology import make_ctc_topo
from hclg.graph.h_transducer import add_self_loops, make_h_transducer
from hclg.graph.hmm_topology import TransitionTable
from hclg.search.decoder import Decoder, Result
from hclg.search.options import DecoderOptions
from hclg.search.viterbi_kernel import viterbi
from hclg.transcript.transcript_graph import (
    HmmExpander,
    UnitArcs,
    ctc_expand,
    transcript_units,
)


@dataclass(frozen=True)
class Alignment:
    """A forced alignment.

    Attributes:
        result: the 1-best Result (words, word times, ``alignment``: the input label of
            every frame, ``phones``).
        word_loglikes: per word, the average per-frame log-likelihood of its frames
            (unscaled, as the inputs give them).
        phone_loglikes: per phone of ``result.phones``, the average per-frame
            log-likelihood of its frames.
        phone_gop: per phone of ``result.phones``, a goodness of pronunciation: the
            average over its frames of the log posterior of the column it reads, against
            all columns (equal priors), so 0 is the best and lower is worse.
        retried: the search needed the retry beam.
    """

    result: Result
    word_loglikes: tuple[float, ...]
    phone_loglikes: tuple[float, ...]
    phone_gop: tuple[float, ...]
    retried: bool


class Aligner:
    """Aligns utterances to their transcripts with a graph directory's lexicon and topology.

    Args:
        graph: a graph directory (``hclg compile`` or ``hclg import-kaldi``): its
            ``align_lexicon.txt``, units and, for HMM graphs, ``transitions.npz``.
        options: DecoderOptions: the input kind, acoustic scale and priors' scale, frame
            shift; ``beam`` is the alignment beam (Kaldi's align-mapped: 10).
        retry_beam: the beam of the second try, when the first reaches no end (Kaldi: 40;
            0: no retry).
        log_priors: as the Decoder's.
        transition_scale, self_loop_scale: Kaldi's compile-train-graphs options; default:
            those the graph was compiled with (Kaldi's 1.0 and 0.1; 1.0 and 1.0 for chain).
    """

    def __init__(self, graph, options: DecoderOptions = DecoderOptions(beam=10.0), retry_beam: float = 40.0,
                 log_priors: np.ndarray | None = None, transition_scale: float | None = None,
                 self_loop_scale: float | None = None):
        self.decoder = Decoder(graph, dataclasses.replace(options, alignment=True, word_times=True), log_priors)
        self.retry_beam = float(retry_beam)
        g = self.decoder.graph
        gopts = g.manifest.get("options", {})
        self.prons = g.align_lexicon()
        self._unit_prons: dict[str, tuple[int, list[tuple[int, ...]]]] = {}
        if not self.prons:
            raise DecodeError(f"{g.path}: no align_lexicon.txt: forced alignment needs the words' pronunciations")
        self.unk = gopts.get("unk") if gopts.get("unk") in self.prons else None
        self.is_ctc = self.decoder.is_ctc
        # the optional unit between words: HMM, the silence phone; CTC, the word delimiter
        sil = gopts.get("word_delimiter") if self.is_ctc else gopts.get("sil_phone")
        sil_prob = gopts.get("sil_prob")
        self.sil_prob = (0.0 if self.is_ctc else constants.SIL_PROB) if sil_prob is None else float(sil_prob)
        self.sil_unit = g.units.id(sil) if sil and sil in g.units.symbols and self.sil_prob > 0 else None
        self.sil_loop_prob = float(gopts.get("sil_loop_prob") or 0.0)
        if self.is_ctc:
            blank = gopts.get("blank", constants.CTC_BLANK)
            self.blank_label = g.units.id(blank)
            self.compact = gopts.get("ctc_topo") == "compact"
        else:
            self.table = TransitionTable(**{k: v for k, v in g.transitions().items()
                                             if k in TransitionTable.__dataclass_fields__})
            chain = gopts.get("hmm_topology") == "chain"
            scale = gopts.get("self_loop_scale") if self_loop_scale is None else self_loop_scale
            self.self_loop_scale = (constants.CHAIN_SELF_LOOP_SCALE if chain else constants.SELF_LOOP_SCALE) \
                if scale is None else float(scale)
            tscale = gopts.get("transition_scale") if transition_scale is None else transition_scale
            self.transition_scale = constants.TRANSITION_SCALE if tscale is None else float(tscale)
            self.expander = HmmExpander(self.table, self.transition_scale, self.self_loop_scale)

    @functools.cached_property
    def topo(self):
        """H (HMM graphs, without self-loops) or T (CTC), sorted on its output labels: made
        on the first composition (the transcript graphs are built without them)."""
        g = self.decoder.graph
        if self.is_ctc:
            t = make_ctc_topo(int(g.num_columns), self.blank_label - 1, compact=self.compact,
                              repeat_base=g.manifest.get("ctc_repeat_labels"))
        else:
            t, _ = make_h_transducer(self.table, len(g.units), (), self.transition_scale)
        t.arcsort("olabel")
        return t

    def unit_arcs(self, words: list[str], utt: str = "") -> UnitArcs:
        """The word-level L of ``words`` (:func:`transcript_units`): unit labels in, each
        word's id out on its pronunciation's first arc, the optional unit between words as
        the graph's L has it."""
        return transcript_units(self.word_prons(words, utt), self.sil_unit, self.sil_prob, self.sil_loop_prob)

    def transcript_fst(self, words: list[str], utt: str = ""):
        """:meth:`unit_arcs` as an OpenFst FST, for composition."""
        u = self.unit_arcs(words, utt)
        final = np.full(u.num_states, np.inf, np.float32)
        for state, cost in u.finals.items():
            final[state] = cost
        f = arrays_to_fst(u.num_states, 0, np.array(u.src), np.array(u.unit), np.array(u.word),
                          np.array(u.cost, np.float32), np.array(u.dst), final)
        f.arcsort("ilabel")
        return f

    def word_prons(self, words: list[str], utt: str = "") -> list[tuple[int, list[tuple[int, ...]]]]:
        """(word id, pronunciations as unit labels) of each word; an unknown word is read
        as the graph's unk word if the lexicon has one, else a DecodeError."""
        g = self.decoder.graph
        out = []
        for w in words:
            name = w if w in self.prons else self.unk
            if name is None:
                raise DecodeError(f"utterance {utt!r}: the word {w!r} of the transcript has no pronunciation in "
                                  f"{g.path / 'align_lexicon.txt'}")
            labels = self._unit_prons.get(name)
            if labels is None:  # each word's pronunciations as unit labels, once
                labels = self._unit_prons[name] = (g.words.id(name), [tuple(g.units.id(x) for x in pron)
                                                                      for pron in self.prons[name]])
            out.append(labels)
        return out

    def search_graph(self, words: list[str], utt: str = ""):
        """The transcript's search graph, built directly (:mod:`hclg.transcript.transcript_graph`);
        with the compact CTC topology, T composed with its L."""
        i2c = self.decoder.graph.ilabel_to_column
        if not self.is_ctc:
            return self.expander.expand(self.unit_arcs(words, utt), i2c)
        if self.compact:  # k2's modified topology (it also reads "a a" as two tokens): by composition
            return self.composed_search_graph(words, utt)
        return ctc_expand(self.unit_arcs(words, utt), self.blank_label, i2c)

    def composed_search_graph(self, words: list[str], utt: str = ""):
        """The transcript's search graph made with OpenFst: H or T composed with its L,
        and for HMM graphs the self-loops added (:func:`add_self_loops`)."""
        u = self.transcript_fst(words, utt)
        f = fst.compose(self.topo, u, connect=True)  # topo sorted on its output labels once
        if f.start() < 0:
            raise DecodeError(f"utterance {utt!r}: the transcript graph is empty (a unit of its pronunciations "
                              "has no HMM or token in the graph)")
        if not self.is_ctc:
            f = add_self_loops(f, self.table, self.self_loop_scale)
        return decoder_arrays(f, self.decoder.graph.ilabel_to_column)

    def forward(self, matrix, words: list[str], utt: str = ""):
        """log P(frames | transcript) over every path of the transcript graph, and each
        frame's column posteriors (:func:`hclg.transcript.forward.forward_backward`), on
        the scaled log-likelihoods the search reads."""
        from hclg.transcript.forward import forward_backward

        return forward_backward(self.search_graph(list(words), utt).search_graph(), self.decoder.loglikes(matrix, utt))

    def align(self, matrix, words: list[str], utt: str = "") -> Alignment:
        """Aligns one utterance to ``words``.

        Raises:
            DecodeError: bad input, an unknown word, or no alignment within the retry beam.
        """
        dec = self.decoder
        ll = dec.loglikes(matrix, utt)
        arrays = self.search_graph(list(words), utt)
        sg = arrays.search_graph()
        index = (np.full(arrays.num_states, -1, np.int32), np.full(arrays.num_states, -1, np.int32))
        o = dec.options
        beams = [float(o.beam)] + ([self.retry_beam] if self.retry_beam > o.beam else [])
        for k, beam in enumerate(beams):
            bo = dec.beam_options._replace(beam=float(np.float32(beam)))  # the decoder's, with this beam
            out = viterbi(sg, ll, dec.event_kind, bo, *index)
            if out.reached_final and np.isfinite(out.best_cost):
                break
        else:
            raise DecodeError(f"utterance {utt!r}: no alignment of its {len(words)} words to its {len(ll)} frames "
                              f"within beam {beams[-1]:g} (too few frames, or the wrong transcript?)")
        res = dec.result_of_search(out, ll.shape[0], utt)
        raw = ll / dec.acoustic_scale
        cols = dec.graph.ilabel_to_column[np.array(res.alignment, dtype=np.int64)]
        frame_ll = raw[np.arange(len(cols)), cols]
        post = frame_ll - np.logaddexp.reduce(raw, axis=1)
        word_ll = tuple(float(frame_ll[s:e + 1].mean()) for s, e in zip(res.start_frames, res.end_frames))
        phone_ll = tuple(float(frame_ll[s:e + 1].mean()) for _, s, e in res.phones)
        gop = tuple(float(post[s:e + 1].mean()) for _, s, e in res.phones)
        return Alignment(res, word_ll, phone_ll, gop, k > 0)
