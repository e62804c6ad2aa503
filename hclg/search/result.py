"""The 1-best of one utterance (:class:`Result`), what every decode returns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


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
        graph_cost: graph part of ``cost`` (LM, lexicon, transitions, and the options'
            word insertion penalty).
        acoustic_cost: acoustic part (-sum of scaled log-likelihoods on the path).
        frames: frames decoded.
        partial: True if no final state was reached (best partial hypothesis).
        frame_seconds: seconds per output frame (frame_shift * subsampling).
        arcs_expanded: emitting arcs expanded by the search (for benchmarks).
        alignment: with ``options.alignment``, the input label of every frame
            (transition ids on HMM graphs, Kaldi's alignment); else empty.
        phones: with ``options.alignment``, (phone, first frame, last frame) of each phone
            of the path (CTC: each token and its first frame); else empty.
        tokens_expanded: tokens the 1-best search expanded, summed over frames (divided by
            ``frames``: active tokens per frame, for benchmarks; 0 from lattice searches).
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
    alignment: tuple[int, ...] = ()
    phones: tuple[tuple[str, int, int], ...] = ()
    tokens_expanded: int = 0

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def ctm_lines(self) -> list[str]:
        """Kaldi CTM lines ``utt 1 start duration word`` in seconds."""
        fs = self.frame_seconds
        return [f"{self.utt} 1 {s * fs:.3f} {(e - s + 1) * fs:.3f} {w}"
                for w, s, e in zip(self.words, self.start_frames, self.end_frames)]

    def phone_ctm_lines(self) -> list[str]:
        """Kaldi phone CTM lines ``utt 1 start duration phone`` (as ali-to-phones
        --ctm-output), in seconds; empty without ``options.alignment``."""
        fs = self.frame_seconds
        return [f"{self.utt} 1 {s * fs:.3f} {(e - s + 1) * fs:.3f} {p}" for p, s, e in self.phones]

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["words"], d["word_ids"] = list(self.words), list(self.word_ids)
        d["start_frames"], d["end_frames"] = list(self.start_frames), list(self.end_frames)
        d["phones"] = [list(p) for p in self.phones]
        d["start_seconds"] = [round(s * self.frame_seconds, 3) for s in self.start_frames]
        d["end_seconds"] = [round((e + 1) * self.frame_seconds, 3) for e in self.end_frames]
        return d
