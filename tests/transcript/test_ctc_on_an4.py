"""The loss of the reference transcript on real CTC output (../shared/an4: a real neural
phone CTC model's log-softmax on 948 AN4 train utterances) against a wrong transcript
(another utterance's), and forced alignments of the references."""

import re

import numpy as np
import pytest
from helpers import SHARED_AN4, ctc_collapse

from hclg.search.matrix_readers import iter_matrices
from hclg.transcript.ctc_loss import ctc_forced_align, ctc_loss

pytestmark = pytest.mark.skipif(not SHARED_AN4.exists(), reason="needs ../shared/an4")


def phone_targets():
    """utt -> token ids of its reference, words spelled with their first pronunciation
    (as the model was trained: shared/an4/README.md)."""
    tokens = {line.split()[0]: int(line.split()[1]) for line in (SHARED_AN4 / "ctc_tokens.txt").read_text().splitlines()}
    prons = {}
    for line in (SHARED_AN4 / "lexicon.dic").read_text().splitlines():
        p = line.split()
        if p:
            prons.setdefault(re.sub(r"\(\d+\)$", "", p[0]), [x for x in p[1:] if x != "SIL"])
    prons.update({"A": ["EY"], "ONE": ["W", "AH", "N"]})
    out = {}
    for line in (SHARED_AN4 / "text_train").read_text().splitlines():
        utt, *words = line.split()
        out[utt] = [tokens[p] for w in words for p in prons[w]]
    return out


def test_reference_transcripts_cost_less_than_wrong_ones():
    targets = phone_targets()
    utts, mats = [], []
    for utt, m in iter_matrices(f"ark:{SHARED_AN4 / 'ctc_train_logprobs.ark'}"):
        utts.append(utt)
        mats.append(np.array(m, dtype=np.float32))
    right = wrong = finite = 0
    for i, (utt, m) in enumerate(zip(utts, mats)):
        other = next(targets[u] for u in utts[i + 1:] + utts[:i] if targets[u] != targets[utt])
        good = ctc_loss(m, targets[utt], reduction="sum").loss
        bad = ctc_loss(m, other, reduction="sum").loss
        finite += np.isfinite(good)
        right += good < bad
        wrong += good >= bad
        if i % 50 == 0:  # the forced alignment spells the reference, frame by frame
            path, score = ctc_forced_align(m, targets[utt])
            assert ctc_collapse(list(path), 0) == targets[utt] and score <= -good + 1e-6
    print(f"reference cheaper on {right} of {len(utts)}; finite {finite}")
    assert finite == len(utts) == 948 and right >= 0.99 * len(utts)
