"""Word error rate, as Kaldi's compute-wer, with Kaldi's own alignment code (kaldialign):
the same modes, counts and report."""

from __future__ import annotations

from dataclasses import dataclass

from hclg.errors import HclgError
from hclg.text_input import text_lines

#: Kaldi's --mode: "strict" stops at a reference utterance the hypothesis lacks, "present"
#: scores only the utterances the hypothesis has, "all" scores a missing one as empty
MODES = ("strict", "present", "all")


class ScoringError(HclgError):
    """The reference and the hypothesis cannot be scored together (as Kaldi's compute-wer
    dies)."""


def read_text(path) -> dict[str, list[str]]:
    """Reads Kaldi ``text`` (``utt w1 w2 ...``)."""
    out = {}
    for _, line in text_lines(path):
        parts = line.split()
        if parts:
            out[parts[0]] = parts[1:]
    return out


def edit_distance(ref, hyp) -> int:
    """Levenshtein distance between two word (or id) sequences, Kaldi's
    LevenshteinEditDistance."""
    import kaldialign  # (here, not at the top: hclg --help reads MODES and loads no numerics)

    return int(kaldialign.edit_distance(list(ref), list(hyp))["total"])


@dataclass(frozen=True)
class WerResult:
    """Kaldi's compute-wer counts.

    Attributes:
        errors: insertions + deletions + substitutions.
        insertions, deletions, substitutions: their counts.
        ref_words: reference words scored.
        sentences: utterances scored.
        sentence_errors: utterances with at least one error.
        missing: reference utterances the hypothesis lacks.
    """

    errors: int
    insertions: int
    deletions: int
    substitutions: int
    ref_words: int
    sentences: int
    sentence_errors: int
    missing: int

    @property
    def wer(self) -> float:
        return _percent(self.errors, self.ref_words)

    @property
    def ser(self) -> float:
        return _percent(self.sentence_errors, self.sentences)

    @property
    def utterances(self) -> int:
        return self.sentences

    def report(self) -> str:
        """compute-wer's three lines, to the character."""
        partial = " [PARTIAL]" if self.missing else ""
        return (f"%WER {self.wer:.2f} [ {self.errors} / {self.ref_words}, {self.insertions} ins, "
                f"{self.deletions} del, {self.substitutions} sub ]{partial}\n"
                f"%SER {self.ser:.2f} [ {self.sentence_errors} / {self.sentences} ]\n"
                f"Scored {self.sentences} sentences, {self.missing} not present in hyp.\n")


def _percent(n: int, d: int) -> float:
    """100 n / d in single precision, as Kaldi's BaseFloat."""
    import numpy as np

    return float(np.float32(100.0) * np.float32(n) / np.float32(d))


def compute_wer(ref: dict[str, list[str]], hyp: dict[str, list[str]], mode: str = "strict") -> WerResult:
    """WER of ``hyp`` against ``ref`` over the reference's utterances (Kaldi's compute-wer).

    Args:
        ref, hyp: utterance -> words.
        mode: one of MODES (Kaldi's --mode, default strict as Kaldi's).

    Raises:
        ScoringError: strict mode and a reference utterance without hypothesis; nothing to
            score (no reference utterance in the hypothesis, or no reference words).
        ValueError: an unknown mode.
    """
    import kaldialign
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    ins = dels = subs = words = sents = sent_errs = missing = 0
    for utt, r in ref.items():
        h = hyp.get(utt)
        if h is None:
            if mode == "strict":
                raise ScoringError(f"no hypothesis for utterance {utt!r} (strict mode, as Kaldi's compute-wer; "
                                   "--mode present scores only the utterances the hypothesis has, --mode all "
                                   "scores a missing one as empty)")
            missing += 1
            if mode == "present":
                continue
            h = []
        d = kaldialign.edit_distance(r, h)
        ins, dels, subs = ins + d["ins"], dels + d["del"], subs + d["sub"]
        words += len(r)
        sents += 1
        sent_errs += r != h
    if sents == 0:
        raise ScoringError("nothing to score: no utterance of the reference is in the hypothesis"
                           if ref else "nothing to score: the reference has no utterances")
    if words == 0:
        raise ScoringError("nothing to score: the reference utterances have no words")
    return WerResult(ins + dels + subs, ins, dels, subs, words, sents, sent_errs, missing)
