"""Word error rate, as Kaldi's compute-wer."""

from __future__ import annotations

from dataclasses import dataclass


def read_text(path) -> dict[str, list[str]]:
    """Reads Kaldi ``text`` (``utt w1 w2 ...``)."""
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if parts:
                out[parts[0]] = parts[1:]
    return out


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between word lists (substitutions, insertions, deletions)."""
    d = list(range(len(hyp) + 1))
    for i in range(1, len(ref) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(hyp) + 1):
            cur = d[j]
            d[j] = min(d[j] + 1, d[j - 1] + 1, prev + (ref[i - 1] != hyp[j - 1]))
            prev = cur
    return d[len(hyp)]


@dataclass(frozen=True)
class WerResult:
    """Word error rate as Kaldi's compute-wer: errors / reference words."""

    errors: int
    ref_words: int
    utterances: int
    missing: int

    @property
    def wer(self) -> float:
        return 100.0 * self.errors / max(self.ref_words, 1)


def compute_wer(ref: dict[str, list[str]], hyp: dict[str, list[str]]) -> WerResult:
    """WER over the reference utterances; one missing from ``hyp`` counts as all deleted."""
    errors = words = missing = 0
    for utt, r in ref.items():
        h = hyp.get(utt)
        if h is None:
            missing += 1
            h = []
        errors += edit_distance(r, h)
        words += len(r)
    return WerResult(errors, words, len(ref), missing)
