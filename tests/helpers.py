"""Small independent tools for tests: linear FSTs, exhaustive best paths, random inputs."""

from pathlib import Path

import pywrapfst as fst

#: the project's root, its bundled AN4 example, and the full AN4 material beside it (where present)
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "an4"
SHARED_AN4 = ROOT.parent / "shared" / "an4"


def linear(labels):
    """Acceptor of exactly one label sequence."""
    c = fst.Compiler()
    lines = [f"{k} {k + 1} {x} {x}" for k, x in enumerate(labels)] + [str(len(labels))]
    print("\n".join(lines), file=c)
    return c.compile()


def shortest(c):
    """(cost, output labels) of the shortest path of c (OpenFst); None if it has none."""
    if c.num_states() == 0 or c.start() == fst.NO_STATE_ID:
        return None
    sp = fst.shortestpath(c)
    if sp.start() == fst.NO_STATE_ID:
        return None
    d = fst.shortestdistance(sp, reverse=True)
    out, s = [], sp.start()
    while sp.num_arcs(s):
        a = next(iter(sp.arcs(s)))
        if a.olabel:
            out.append(a.olabel)
        s = a.nextstate
    return float(d[sp.start()]), out


def best(F, x):
    """(cost, output labels) of the best path of F reading input sequence x; None if none."""
    F = F.copy()
    F.arcsort("ilabel")
    return shortest(fst.compose(linear(x), F))


def frame_lattice(i2c, ll):
    """Every input label on every frame (labels with a column), weighted by its scaled
    acoustic cost: composed with a graph, the exact Viterbi search space."""
    import numpy as np

    T = ll.shape[0]
    labels = np.nonzero(i2c >= 0)[0]
    c = fst.Compiler()
    lines = [f"{t} {t + 1} {i} {i} {-float(ll[t, i2c[i]])!r}" for t in range(T) for i in labels] + [str(T)]
    print("\n".join(lines), file=c)
    return c.compile()


def sequence_costs(x):
    """{output label tuple: cost} over every path of an acyclic deterministic FST."""
    import numpy as np

    out = {}
    if x.start() == fst.NO_STATE_ID:
        return out
    stack = [(x.start(), (), 0.0)]
    while stack:
        s, words, cost = stack.pop()
        fw = float(x.final(s))
        if np.isfinite(fw):
            out[words] = cost + fw
        for a in x.arcs(s):
            stack.append((a.nextstate, words + (a.olabel,), cost + float(a.weight)))
    return out


def phone_instances(ilabels, tr):
    """A path's transition ids (``ilabels``, of a graph whose transition table is ``tr``)
    split into its phones' HMMs: (phone id, {HMM state: its forward pdf}) per phone (a
    self-loop may sit on a neighbour's phone, reordered: forward transitions only)."""
    inst, cur = [], {}
    for t in ilabels:
        s = int(tr["hmm_state"][t])
        if tr["to_state"][t] != s:
            cur[s] = int(tr["pdf"][t])
        if tr["is_final"][t]:
            inst.append((int(tr["phone"][t]), cur))
            cur = {}
    assert not cur, "a path that ends inside a phone"
    return inst


def random_inputs(F, n, seed=0, max_len=200):
    """n input label sequences of random successful paths of F."""
    out, i = [], 0
    while len(out) < n and i < 20 * n:
        p = fst.randgen(F, npath=1, seed=seed + i, select="uniform", max_length=max_len)
        i += 1
        if p.num_states() == 0:  # no successful path within max_len
            continue
        out.append([a.ilabel for s in p.states() for a in p.arcs(s) if a.ilabel])
    assert len(out) == n, "could not draw enough random paths"
    return out


def from_text(text):
    c = fst.Compiler()
    print(text.strip(), file=c)
    return c.compile()


def ctc_collapse(frames, blank):
    out, prev = [], None
    for f in frames:
        if f != prev and f != blank:
            out.append(f)
        prev = f
    return out


def utterances(lex, dec, kind, n, seed, confusion=0.25):
    """Synthetic utterances of 2-8 words for a decoder's graph (oracles.synth)."""
    from oracles import synth

    return synth.make_utterances(dec.graph, lex, kind, n, seed, confusion, words_per_utt=(2, 8))


class ArpaScorer:
    """Cost (-ln p) of a sentence under an ARPA LM, with backoff, written here from the ARPA
    definition: an independent answer for hclg's LM code."""

    def __init__(self, path):
        import math

        self.prob, self.bow = {}, {}
        order, started = 0, False
        for line in open(path, encoding="utf-8"):
            f = line.split()
            started = started or line.strip() == "\\data\\"  # text before it is a comment
            if started and line.startswith("\\"):
                order = int(line[1:].split("-")[0]) if "-grams:" in line else 0
                continue
            if order == 0 or len(f) < order + 1:
                continue
            words = tuple(f[1: 1 + order])
            self.prob[words] = -float(f[0]) * math.log(10)
            if len(f) > order + 1:
                self.bow[words] = -float(f[order + 1]) * math.log(10)

    def word_cost(self, history: tuple, w: str) -> float:
        if history + (w,) in self.prob:
            return self.prob[history + (w,)]
        return self.bow.get(history, 0.0) + self.word_cost(history[1:], w)

    def cost(self, words) -> float:
        seq = ("<s>", *words, "</s>")
        n = max(len(k) for k in self.prob)
        return sum(self.word_cost(seq[max(0, i - n + 1): i], seq[i]) for i in range(1, len(seq)))
