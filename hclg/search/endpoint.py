"""Endpointing: where a stream's utterance ends, by Kaldi's five rules and defaults
(``online2/online-endpoint.h``). Durations are in seconds of the decoder's output frames
(``frame_shift * frame_subsampling_factor``: forgetting the subsampling was kaldi#1184).

A rule fires when the decoded audio contains non-silence (if the rule asks for it), the
best path ends in at least ``min_trailing_silence`` seconds of silence, the best final
cost is within ``max_relative_cost`` of the best cost (Kaldi's FinalRelativeCost), and
the utterance is at least ``min_utterance_length`` seconds long. Silence is the graph's
silence (nonword) phones on HMM graphs, the blank (and nonword tokens) on CTC graphs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

INF = math.inf

_RULES = {  # Kaldi's defaults: must_contain_nonsilence, min_trailing_silence, max_relative_cost, min_utterance_length
    1: (False, 5.0, INF, 0.0),
    2: (True, 0.5, 2.0, 0.0),
    3: (True, 1.0, 8.0, 0.0),
    4: (True, 2.0, INF, 0.0),
    5: (False, 0.0, INF, 20.0),
}
_WHAT = {
    1: "no speech for a long time",
    2: "a short pause where an utterance may end",
    3: "a longer pause where an utterance could end",
    4: "a long pause",
    5: "the utterance is long",
}


def _fields():
    out = {}
    for r, (must, sil, rel, length) in _RULES.items():
        what = _WHAT[r]
        out[f"rule{r}_must_contain_nonsilence"] = field(default=must, metadata={
            "help": f"Endpoint rule {r} ({what}): only after some non-silence."})
        out[f"rule{r}_min_trailing_silence"] = field(default=sil, metadata={
            "help": f"Endpoint rule {r}: seconds of silence at the end of the best path."})
        out[f"rule{r}_max_relative_cost"] = field(default=rel, metadata={
            "help": f"Endpoint rule {r}: at most this far from a final state (best final cost - best cost)."})
        out[f"rule{r}_min_utterance_length"] = field(default=length, metadata={
            "help": f"Endpoint rule {r}: seconds decoded at least."})
    return out


_F = _fields()


@dataclass(frozen=True)
class EndpointOptions:
    """Kaldi's OnlineEndpointConfig: five rules, each four numbers (the CLI's
    ``--rule2-min-trailing-silence`` is Kaldi's ``--endpoint.rule2.min-trailing-silence``)."""

    rule1_must_contain_nonsilence: bool = _F["rule1_must_contain_nonsilence"]
    rule1_min_trailing_silence: float = _F["rule1_min_trailing_silence"]
    rule1_max_relative_cost: float = _F["rule1_max_relative_cost"]
    rule1_min_utterance_length: float = _F["rule1_min_utterance_length"]
    rule2_must_contain_nonsilence: bool = _F["rule2_must_contain_nonsilence"]
    rule2_min_trailing_silence: float = _F["rule2_min_trailing_silence"]
    rule2_max_relative_cost: float = _F["rule2_max_relative_cost"]
    rule2_min_utterance_length: float = _F["rule2_min_utterance_length"]
    rule3_must_contain_nonsilence: bool = _F["rule3_must_contain_nonsilence"]
    rule3_min_trailing_silence: float = _F["rule3_min_trailing_silence"]
    rule3_max_relative_cost: float = _F["rule3_max_relative_cost"]
    rule3_min_utterance_length: float = _F["rule3_min_utterance_length"]
    rule4_must_contain_nonsilence: bool = _F["rule4_must_contain_nonsilence"]
    rule4_min_trailing_silence: float = _F["rule4_min_trailing_silence"]
    rule4_max_relative_cost: float = _F["rule4_max_relative_cost"]
    rule4_min_utterance_length: float = _F["rule4_min_utterance_length"]
    rule5_must_contain_nonsilence: bool = _F["rule5_must_contain_nonsilence"]
    rule5_min_trailing_silence: float = _F["rule5_min_trailing_silence"]
    rule5_max_relative_cost: float = _F["rule5_max_relative_cost"]
    rule5_min_utterance_length: float = _F["rule5_min_utterance_length"]

    def __post_init__(self):
        for r in _RULES:
            for name in ("min_trailing_silence", "max_relative_cost", "min_utterance_length"):
                v = getattr(self, f"rule{r}_{name}")
                if not v >= 0:
                    raise ValueError(f"rule{r}_{name} must be >= 0, got {v}")

    def rule(self, r: int) -> tuple[bool, float, float, float]:
        """Rule ``r`` (1..5): (must_contain_nonsilence, min_trailing_silence,
        max_relative_cost, min_utterance_length)."""
        return tuple(getattr(self, f"rule{r}_{n}") for n in (
            "must_contain_nonsilence", "min_trailing_silence", "max_relative_cost", "min_utterance_length"))


def endpoint_rule(o: EndpointOptions, trailing_silence: float, relative_cost: float, utterance_length: float) -> int:
    """The first rule that fires (Kaldi's EndpointDetected), 0 if none.

    Args:
        o: the rules.
        trailing_silence: seconds of silence at the end of the best path.
        relative_cost: best final cost - best cost (inf when no token is final).
        utterance_length: seconds decoded.
    """
    contains_nonsilence = utterance_length > trailing_silence
    for r in _RULES:
        must, min_sil, max_rel, min_len = o.rule(r)
        if ((contains_nonsilence or not must) and trailing_silence >= min_sil and relative_cost <= max_rel
                and utterance_length >= min_len):
            return r
    return 0
