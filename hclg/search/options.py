"""Decoder options: one frozen dataclass with Kaldi's names and defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hclg import constants

INPUT_KINDS = ("log-posteriors", "posteriors", "logits", "log-likelihoods")


@dataclass(frozen=True)
class DecoderOptions:
    """Search and likelihood options. Field names follow Kaldi's decoders; the CLI reuses
    each field's help string.

    ``acoustic_scale=None`` means 0.1 for HMM graphs (Kaldi's hybrid default; 1.0 for the
    chain topology) and 1.0 for CTC graphs. ``max_active``/``min_active`` ``None`` mean
    Kaldi's (no limit, 200) for HMM graphs and 7000/20 for CTC graphs, where a blank keeps
    few states alive and min-active 200 keeps nearly all of a small graph's (as sherpa-onnx
    and icefall): :meth:`active_limits` resolves them.
    """

    beam: float = field(default=constants.BEAM, metadata={"help": "Decoding beam: tokens costlier than best + beam are pruned."})
    max_active: int | None = field(default=None, metadata={"help": "Most tokens kept per frame (tightens the beam). Default: no limit for HMM graphs (Kaldi's), 7000 for CTC."})
    min_active: int | None = field(default=None, metadata={"help": "Fewest tokens kept per frame (widens the beam). Default: 200 for HMM graphs (Kaldi's), 20 for CTC."})
    beam_delta: float = field(default=constants.BEAM_DELTA, metadata={"help": "Added to the beam when max/min-active set the cutoff."})
    lattice_beam: float = field(default=constants.LATTICE_BEAM, metadata={"help": "Lattice beam: with lattices, keep the word sequences within this cost of the best."})
    prune_interval: int = field(default=constants.PRUNE_INTERVAL, metadata={"help": "Frames between lattice prunings."})
    max_lattice_mem: int = field(default=constants.LATTICE_SEARCH_MAX_MEM, metadata={"help": "Memory (bytes) the lattice search may keep for one utterance; past it, it starts again with the lattice beam halved (twice), then that utterance fails."})
    max_mem: int = field(default=constants.DETERMINIZE_MAX_MEM, metadata={"help": "Lattice determinization memory (bytes); past it the lattice beam is halved and it retries."})
    allow_partial: bool = field(default=True, metadata={"help": "If no final state is reached, output the best partial hypothesis (marked partial)."})
    input_kind: str = field(default="log-posteriors", metadata={"help": "What the input matrices hold: " + ", ".join(INPUT_KINDS) + ".", "choices": INPUT_KINDS})
    acoustic_scale: float | None = field(default=None, metadata={"help": "Scale on log-likelihoods. Default: 0.1 for HMM graphs (1.0 chain), 1.0 for CTC."})
    prior_scale: float = field(default=constants.PRIOR_SCALE, metadata={"help": "Scale on log priors subtracted from log posteriors."})
    blank_penalty: float = field(default=0.0, metadata={"help": "CTC: cost added to the blank on every frame."})
    blank_skip_threshold: float | None = field(default=None, metadata={"help": "CTC: frames whose blank posterior exceeds this (e.g. 0.95) are skipped; one is kept where the tokens on either side may be the same, so repeats stay apart."})
    frame_shift: float = field(default=constants.FRAME_SHIFT, metadata={"help": "Seconds per input frame before subsampling."})
    frame_subsampling_factor: int | None = field(default=None, metadata={"help": "Input frames per output frame of the model. Default: the graph's (3 for an imported Kaldi chain model), else 1."})
    word_times: bool = field(default=True, metadata={"help": "Track phone/token boundaries for word times (CTM, JSON); off is faster and leaves times empty."})
    word_insertion_penalty: float = field(default=0.0, metadata={"help": "Cost added to every word of the search, in graph-cost units as Kaldi's lattice-add-penalty --word-ins-penalty (positive: fewer words). The decoder then holds its own copy of the graph's arcs."})
    alignment: bool = field(default=False, metadata={"help": "Keep the 1-best's input label on every frame: transition ids on HMM graphs, as Kaldi's --alignment-wspecifier."})

    def __post_init__(self):
        self.validate()

    def validate(self) -> "DecoderOptions":
        """Raises ValueError naming the first bad option; returns self (it runs when the
        options are made)."""
        if not (self.beam > 0 and math.isfinite(self.beam)):
            raise ValueError(f"beam must be > 0, got {self.beam}")
        if self.max_active is not None and self.max_active <= 1:  # as Kaldi's decoders: one token would prune every path
            raise ValueError(f"max_active must be > 1, got {self.max_active}")
        if self.min_active is not None and self.min_active < 0:
            raise ValueError(f"min_active must be >= 0, got {self.min_active}")
        if self.max_active is not None and self.min_active is not None:
            self.active_limits(False)
        if self.beam_delta < 0:
            raise ValueError(f"beam_delta must be >= 0, got {self.beam_delta}")
        if self.lattice_beam <= 0 or self.prune_interval < 1 or self.max_mem < 1 or self.max_lattice_mem < 1:
            raise ValueError("lattice_beam, max_mem and max_lattice_mem must be > 0 and prune_interval >= 1")
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {self.input_kind!r}")
        if self.acoustic_scale is not None and not self.acoustic_scale > 0:
            raise ValueError(f"acoustic_scale must be > 0, got {self.acoustic_scale}")
        if self.blank_skip_threshold is not None and not 0.0 < self.blank_skip_threshold <= 1.0:
            raise ValueError(f"blank_skip_threshold must be in (0, 1], got {self.blank_skip_threshold}")
        if not math.isfinite(self.word_insertion_penalty):
            raise ValueError(f"word_insertion_penalty must be finite, got {self.word_insertion_penalty}")
        if self.frame_shift <= 0 or (self.frame_subsampling_factor is not None and self.frame_subsampling_factor < 1):
            raise ValueError("frame_shift must be > 0 and frame_subsampling_factor >= 1")
        return self

    def active_limits(self, ctc: bool) -> tuple[int, int]:
        """(max_active, min_active) on a CTC (``ctc``) or HMM graph: the fields, or the
        topology's defaults where they are None.

        Raises:
            ValueError: min_active >= max_active (as Kaldi's decoders).
        """
        max_a = self.max_active if self.max_active is not None else (
            constants.CTC_MAX_ACTIVE if ctc else constants.MAX_ACTIVE)
        min_a = self.min_active if self.min_active is not None else (
            constants.CTC_MIN_ACTIVE if ctc else constants.MIN_ACTIVE)
        if min_a >= max_a:  # as Kaldi's decoders
            raise ValueError(f"need min_active < max_active, got {min_a}, {max_a}"
                             + ("" if self.min_active is not None else f" (min_active's default on {'CTC' if ctc else 'HMM'} graphs)"))
        return max_a, min_a
