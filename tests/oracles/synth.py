"""Synthetic material for tests and benchmarks: random lexicons and ARPA LMs, and
per-frame scores with realistic confusions for a known word sequence.

Scores are made from a known alignment, so tests also know the true word times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def random_lexicon(rng: np.random.Generator, n_words: int, phones: list[str], min_len=2, max_len=7):
    """n_words words with random pronunciations (some homophones and prefixes included)."""
    lex = {}
    for i in range(n_words):
        w = f"w{i:05d}"
        if i % 97 == 5 and lex:  # homophone of an earlier word
            lex[w] = list(lex[f"w{rng.integers(0, i):05d}"])
        elif i % 89 == 7 and lex:  # prefix of an earlier word
            p = lex[f"w{rng.integers(0, i):05d}"]
            lex[w] = p[: max(1, len(p) - 1)]
        else:
            n = int(rng.integers(min_len, max_len + 1))
            lex[w] = [phones[int(k)] for k in rng.integers(0, len(phones), n)]
    return lex


def write_lexicon(path, lex: dict[str, list[str]]):
    with open(path, "w") as fh:
        for w, p in lex.items():
            fh.write(f"{w} {' '.join(p)}\n")


def write_random_arpa(path, words: list[str], rng: np.random.Generator, n_bigrams: int):
    """A bigram ARPA LM over ``words`` with Zipf-like unigrams and random bigrams."""
    V = len(words)
    uni = 1.0 / np.arange(1, V + 1) ** 1.0
    uni = rng.permutation(uni)
    uni = np.concatenate([uni, [uni.mean()]])  # </s>
    uni /= uni.sum()
    hist = rng.integers(0, V, n_bigrams)
    nxt = rng.integers(0, V + 1, n_bigrams)
    pairs = sorted(set(zip(hist.tolist(), nxt.tolist())))
    lines_bi = []
    by_hist: dict[int, list[int]] = {}
    for h, n in pairs:
        by_hist.setdefault(h, []).append(n)
    bo = {}
    for h, ns in by_hist.items():
        mass = 0.5
        ps = rng.dirichlet(np.ones(len(ns))) * mass
        for n, p in zip(ns, ps):
            nm = words[n] if n < V else "</s>"
            lines_bi.append(f"{math.log10(p):.4f} {words[h]} {nm}")
        rest = 1.0 - sum(uni[n] for n in ns)
        bo[h] = math.log10((1 - mass) / max(rest, 1e-9))
    start = rng.choice(V, size=min(V, 50), replace=False)
    sp = rng.dirichlet(np.ones(len(start))) * 0.5
    for n, p in zip(start, sp):
        lines_bi.append(f"{math.log10(p):.4f} <s> {words[n]}")
    with open(path, "w") as fh:
        fh.write(f"\\data\\\nngram 1={V + 2}\nngram 2={len(lines_bi)}\n\n\\1-grams:\n")
        fh.write(f"{math.log10(uni[V]):.4f} </s>\n-99 <s> -0.3010\n")
        for i, w in enumerate(words):
            fh.write(f"{math.log10(uni[i]):.4f} {w} {bo.get(i, -0.30):.4f}\n")
        fh.write("\n\\2-grams:\n")
        fh.write("\n".join(lines_bi) + "\n\n\\end\\\n")


def write_unigram_arpa(path, words: list[str], rng: np.random.Generator):
    """A unigram ARPA LM over ``words`` (and </s>) with Zipf-like probabilities; ``<s>``
    backs off at no cost, so that G has no cost a static graph puts elsewhere."""
    V = len(words)
    p = rng.permutation(1.0 / np.arange(1, V + 2))
    p /= p.sum()
    lines = [f"{math.log10(p[V]):.5f} </s>", "-99 <s> 0.0"] + [f"{math.log10(q):.5f} {w}" for w, q in zip(words, p)]
    Path(path).write_text(f"\\data\\\nngram 1={V + 2}\n\n\\1-grams:\n" + "\n".join(lines) + "\n\n\\end\\\n")


@dataclass(frozen=True)
class Utterance:
    """A synthetic utterance: its words, scores [frames, columns] and true word frames."""

    words: tuple[str, ...]
    scores: np.ndarray
    starts: tuple[int, ...]
    ends: tuple[int, ...]


def _confuse(rng, T, C, truth, confusion, good=0.0, bad=(4.0, 25.0)):
    """Per-frame log-likelihood-like scores: the true column best, except on a
    ``confusion`` share of frames where a random wrong column beats it."""
    x = -rng.uniform(bad[0], bad[1], size=(T, C))
    x[np.arange(T), truth] = good
    wrong = rng.random(T) < confusion
    other = (truth + rng.integers(1, C, T)) % C
    x[wrong, other[wrong]] = good + rng.uniform(0.5, 3.0, wrong.sum())
    return x.astype(np.float32)


def hmm_utterance(rng, words, lex, pdf_of, n_cols, sil="SIL", confusion=0.25, durations=(1, 4)) -> Utterance:
    """Frames for an HMM graph: each phone's 3 states last 1-4 frames; optional silence
    between words. Scores are log-likelihoods (max ~0 per frame)."""
    truth, starts, ends = [], [], []
    for k, w in enumerate(words):
        if sil and rng.random() < 0.3:
            for s in range(3):
                truth += [pdf_of(sil, s)] * int(rng.integers(*durations))
        starts.append(len(truth))
        for p in lex[w]:
            for s in range(3):
                truth += [pdf_of(p, s)] * int(rng.integers(durations[0], durations[1] + 1))
        ends.append(len(truth) - 1)
    truth = np.array(truth)
    return Utterance(tuple(words), _confuse(rng, len(truth), n_cols, truth, confusion), tuple(starts), tuple(ends))


def ctc_utterance(rng, words, lex, token_col, blank_col, n_cols, confusion=0.25, blanks=(1, 5)) -> Utterance:
    """Frames for a CTC graph, peaky as trained CTC models are: tokens 1-2 frames, blanks
    between tokens (``blanks``, inclusive; at least one between repeats), about 70% of
    frames blank. Scores are log-softmax posteriors."""
    truth, starts, ends = [], [], []
    prev = None
    for w in words:
        for j, p in enumerate(lex[w]):
            c = token_col[p]
            nb = int(rng.integers(blanks[0], blanks[1] + 1))
            if c == prev:
                nb = max(nb, 1)
            truth += [blank_col] * nb
            if j == 0:
                starts.append(len(truth))
            truth += [c] * int(rng.integers(1, 3))
            prev = c
        ends.append(len(truth) - 1)
    truth += [blank_col] * int(rng.integers(1, 4))
    truth = np.array(truth)
    x = _confuse(rng, len(truth), n_cols, truth, confusion, good=8.0, bad=(-1.0, 2.0))
    x = x - np.log(np.exp(x.astype(np.float64)).sum(axis=1, keepdims=True))
    return Utterance(tuple(words), x.astype(np.float32), tuple(starts), tuple(ends))


def make_utterances(graph, lex, kind, n, seed=0, confusion=0.25, words_per_utt=(3, 9)) -> list[Utterance]:
    """n synthetic utterances of random words for a compiled graph (``hclg`` Graph): HMM
    graphs get senone log-likelihoods through the graph's own pdfs, CTC graphs token
    log-posteriors in the graph's column order."""
    rng = np.random.default_rng(seed)
    words = sorted(lex)
    out = []
    if kind == "hmm":
        tr = graph.transitions()
        pdf = {}
        for t in range(1, len(tr["pdf"])):
            pdf[(graph.units.symbols[tr["phone"][t]], int(tr["hmm_state"][t]))] = int(tr["pdf"][t])
        for _ in range(n):
            ws = [words[i] for i in rng.integers(0, len(words), rng.integers(*words_per_utt))]
            out.append(hmm_utterance(rng, ws, lex, lambda p, s: pdf[(p, s)], graph.num_columns, confusion=confusion))
    else:
        col = {p: graph.units.id(p) - 1 for p in graph.units.symbols[1:] if not p.startswith("#")}
        blank = graph.manifest.get("options", {}).get("blank", "<blk>")
        for _ in range(n):
            ws = [words[i] for i in rng.integers(0, len(words), rng.integers(*words_per_utt))]
            out.append(ctc_utterance(rng, ws, lex, col, col[blank], graph.num_columns, confusion=confusion))
    return out
