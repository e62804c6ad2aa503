"""Words with times and confidences from a lattice, as Kaldi's ``lattice-to-ctm-conf``:
the minimum Bayes risk words (:mod:`hclg.lattice.mbr`), each word's posterior its
confidence."""

from __future__ import annotations

from dataclasses import dataclass


from hclg.lattice.lattice import Lattice
from hclg.lattice.mbr import mbr_decode
from hclg.lattice.ops import best_path


@dataclass(frozen=True)
class CtmWord:
    """One CTM line: ``utt 1 start duration word confidence`` (seconds)."""

    utt: str
    start: float
    duration: float
    word: str
    confidence: float

    def line(self) -> str:
        return f"{self.utt} 1 {self.start:.3f} {self.duration:.3f} {self.word} {self.confidence:.4f}"


def ctm(lat: Lattice, decoder, acoustic_scale: float | None = None, lm_scale: float = 1.0) -> list[CtmWord]:
    """Words with times and confidences, as Kaldi's lattice-to-ctm-conf: the minimum Bayes
    risk hypothesis (:func:`hclg.lattice.mbr.mbr_decode`) and each word's posterior in its
    bin.

    Times: when the MBR words are the best path's (the usual case), the best path's frame
    alignment split into words through the graph's lexicon (as lattice-align-words-lexicon);
    otherwise the MBR's average start and end frames over the lattice, whose arcs are not
    word-aligned (Kaldi's tool expects word-aligned lattices for that reason). Seconds =
    frames x frame shift x subsampling.

    Args:
        lat: the lattice.
        decoder: a :class:`~hclg.search.decoder.Decoder` on the lattice's graph (its words,
            lexicon and transition table).
    """

    m = mbr_decode(lat, acoustic_scale, lm_scale)
    p = best_path(lat, acoustic_scale, lm_scale)
    if m.words == p.words:
        labels = p.labels(lat)
        starts, ends = decoder.word_times(list(p.words), p.word_frames(lat), decoder.alignment_units(labels), len(labels))
    else:
        starts = [int(round(s)) for s in m.start_frames]
        ends = [max(int(round(e)) - 1, s) for s, e in zip(starts, m.end_frames)]
    sym = decoder.graph.words.symbols
    fs = lat.frame_seconds
    return [CtmWord(lat.utt, s * fs, (e - s + 1) * fs, sym[w], c)
            for w, c, s, e in zip(m.words, m.confidences, starts, ends)]
