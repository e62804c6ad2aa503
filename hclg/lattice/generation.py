"""Lattice generation: :class:`LatticeDecoder`, the decoder that also keeps each
utterance's word lattice (Kaldi's LatticeFasterDecoder beside its FasterDecoder)."""

from __future__ import annotations

import numpy as np

from hclg.errors import DecodeError, HclgError
from hclg.lattice.determinize import determinize
from hclg.lattice.lattice import Lattice
from hclg.lattice.ops import best_path
from hclg.search.decoder import Decoder, Result


class LatticeDecoder(Decoder):
    """A :class:`~hclg.search.decoder.Decoder` that also makes lattices: ``decode`` gives
    the 1-best as the Decoder does, ``decode_lattice`` the 1-best and the word lattice.

    Args: as :class:`~hclg.search.decoder.Decoder`.
    """

    def decode_lattice(self, matrix, utt: str = "", bias=None) -> tuple[Result, Lattice]:
        """Decodes one utterance and keeps its lattice (Kaldi's LatticeFasterDecoder: the
        same search as :meth:`decode`, with forward links pruned to ``lattice_beam``, then
        determinized to a word lattice). On an on-the-fly graph, and with hotwords
        (``bias``, as :meth:`decode` takes them), the lattice's graph costs include G's
        costs and the boosts, as a static graph's would.

        Returns:
            (Result, Lattice): the 1-best is the lattice's best path, so it equals
            :meth:`decode`'s; word times come from the path's alignment.

        Raises:
            DecodeError: as :meth:`decode`.
        """
        o = self.options
        if self.is_ctc and o.blank_skip_threshold is not None:
            raise DecodeError("lattices are made on every frame: leave blank_skip_threshold unset")
        dec, bias = self.for_call(bias)
        return dec.lattice_of_loglikes(dec.loglikes(matrix, utt), utt, bias)

    def lattice_of_loglikes(self, ll: np.ndarray, utt: str = "", bias=None) -> tuple[Result, Lattice]:
        """:meth:`decode_lattice` on scaled log-likelihoods (:meth:`loglikes`)."""
        o = self.options
        raw, reached, arcs = self.search_lattice(ll, utt, bias)
        lat = determinize(raw, utt, float(o.lattice_beam), self.acoustic_scale, self.frame_seconds,
                          int(o.max_mem)).with_words(self.graph.words)
        p = best_path(lat)
        labels = p.labels(lat)
        T = ll.shape[0]
        if o.word_times:
            starts, ends = self.word_times(list(p.words), p.word_frames(lat), self.alignment_units(labels), T)
        else:
            starts, ends = (), ()
        wsym = self.graph.words.symbols
        sc = self.acoustic_scale
        res = Result(utt, tuple(wsym[w] for w in p.words), p.words, tuple(starts), tuple(ends),
                     float(p.graph_cost + sc * p.acoustic_cost), float(p.graph_cost), float(sc * p.acoustic_cost),
                     T, not reached, self.frame_seconds, int(arcs),
                     tuple(int(x) for x in labels) if o.alignment else (),
                     self.phone_segments(self.alignment_units(labels), T) if o.alignment else ())
        return res, lat

    def finalize_lattice(self, stream) -> tuple[Result, Lattice]:
        """Ends a stream (made with ``keep_loglikes``) with its lattice: the lattice search
        over the frames it was fed, as :meth:`decode_lattice` of them as one utterance (a
        segment's frames are kept until its end; endpointing bounds them).

        Returns:
            (Result, Lattice), the Result equal to ``stream.finalize()``'s.
        """
        stream.finalize()
        # the stream's hotwords (none: an empty list, not None, which would mean the decoder's)
        return self.lattice_of_loglikes(stream.loglikes(), stream.utt, stream.bias if stream.bias is not None else ())

    def warm_up(self, lattice: bool = True) -> None:
        """As :meth:`Decoder.warm_up`, and with ``lattice`` the lattice search's and
        determinization's kernels too."""
        super().warm_up()
        if lattice:
            try:
                self.lattice_of_loglikes(np.zeros((1, self.graph.num_columns), np.float32), "warm-up")
            except DecodeError:
                pass  # e.g. no final state after one frame with allow_partial off


def decode_utterance(decoder: LatticeDecoder, utt: str, mat, lattice: bool):
    """(Result or None, Lattice or None, error message or None) of one utterance of a
    batch: its decode (with its lattice when ``lattice``), or why it failed; one bad
    utterance never ends a batch."""
    try:
        if lattice:
            res, lat = decoder.decode_lattice(mat, utt)
            return res, lat, None
        return decoder.decode(mat, utt), None, None
    except HclgError as e:
        return None, None, str(e)
    except MemoryError:  # this utterance fails; the next may fit
        return None, None, (f"utterance {utt!r}: out of memory ({mat.shape[0]} frames); decode it in pieces, or give "
                            "a smaller --beam or --lattice-beam")
