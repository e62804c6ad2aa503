"""Language-model rescoring of word lattices, as Kaldi's ``lmrescore.sh``: the old LM's
score is taken out of each path's graph cost and the new LM's put in, with exact backoff
(the n-gram if present, else the backoff weight and a shorter history), as Kaldi's
``lattice-lmrescore`` does with a deterministic on-demand view of G.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from hclg import constants
from hclg.errors import DecodeError
from hclg.graph.arpa import iter_arpa
from hclg.lattice.lattice import Lattice, lattice_from_parts


class NgramLM:
    """An ARPA n-gram LM for scoring word sequences (costs, -ln).

    Args:
        path: ARPA file (plain or gzip), read with :func:`hclg.graph.arpa.iter_arpa`.

    States are histories: tuples of word ids (of this LM's own vocabulary), the longest
    suffix of the words so far that the LM has as an n-gram, at most order-1 long.
    """

    def __init__(self, path):

        self.path = str(path)
        self.vocab: dict[str, int] = {}
        self.prob: dict[tuple, float] = {}
        self.backoff: dict[tuple, float] = {}
        self.order = 0
        for item in iter_arpa(path):
            if item[0] == "header":
                self.order = max(item[1])
                continue
            _n, _line, words, cost, bo = item
            key = tuple(self.vocab.setdefault(w, len(self.vocab)) for w in words)
            self.prob[key] = cost
            if bo:
                self.backoff[key] = bo
        self.bos = self.vocab.get(constants.BOS)
        self.eos = self.vocab.get(constants.EOS)
        self.unk = self.vocab.get(constants.UNK)
        if self.bos is None or self.eos is None:
            raise DecodeError(f"{self.path}: the LM has no {constants.BOS} or {constants.EOS}")

    def start(self) -> tuple:
        return (self.bos,)

    def word_id(self, word: str) -> int:
        i = self.vocab.get(word, self.unk)
        if i is None:
            raise DecodeError(f"{self.path}: word {word!r} is not in the LM (and it has no {constants.UNK})")
        return i

    def score(self, hist: tuple, w: int) -> tuple[float, tuple]:
        """(cost of w after hist, the new history)."""
        cost = 0.0
        h = hist
        while True:
            c = self.prob.get(h + (w,))
            if c is not None:
                cost += c
                break
            if not h:
                raise DecodeError(f"{self.path}: word id {w} has no unigram")
            cost += self.backoff.get(h, 0.0)
            h = h[1:]
        new = (hist + (w,))[-(self.order - 1):] if self.order > 1 else ()
        while new and new not in self.prob:
            new = new[1:]
        return cost, new

    def sentence_cost(self, words: list[str]) -> float:
        """Cost of a whole sentence, </s> included (<s> is the start)."""
        h, total = self.start(), 0.0
        for w in words:
            c, h = self.score(h, self.word_id(w))
            total += c
        return total + self.score(h, self.eos)[0]


def rescore(lat: Lattice, words, old: NgramLM | None, new: NgramLM, old_scale: float = 1.0,
            new_scale: float = 1.0) -> Lattice:
    """Replaces the old LM's cost by the new one's on every path (graph costs change; the
    acoustic costs and alignments do not). Lattice states are split by the pair of LM
    histories, so each word sequence keeps exactly one path.

    Args:
        lat: the lattice (word ids of ``words``).
        words: the graph's word SymbolTable.
        old: the LM the graph was built with (None: nothing is taken out).
        new: the new LM.
        old_scale, new_scale: weights on the two LM costs.
    """
    sym = words.symbols
    lm_ids: dict[int, tuple] = {}

    def ids(w):
        if w not in lm_ids:
            lm_ids[w] = (old.word_id(sym[w]) if old else -1, new.word_id(sym[w]))
        return lm_ids[w]

    out = lat.out_arcs()
    start = (0, old.start() if old else (), new.start())
    index = {start: 0}
    queue = deque([start])
    arcs, finals = [], {}
    while queue:
        key = queue.popleft()
        s, ho, hn = key
        q = index[key]
        if np.isfinite(lat.final_graph[s]):
            d = 0.0
            if old:
                d -= old_scale * old.score(ho, old.eos)[0]
            d += new_scale * new.score(hn, new.eos)[0]
            finals[q] = (float(lat.final_graph[s] + d), float(lat.final_acoustic[s]), tuple(lat.final_labels(s).tolist()))
        for k in out[s]:
            w = int(lat.word[k])
            d, ho2, hn2 = 0.0, ho, hn
            if w:
                wo, wn = ids(w)
                if old:
                    c, ho2 = old.score(ho, wo)
                    d -= old_scale * c
                c, hn2 = new.score(hn, wn)
                d += new_scale * c
            nk = (int(lat.dst[k]), ho2, hn2)
            r = index.get(nk)
            if r is None:
                r = index[nk] = len(index)
                queue.append(nk)
            arcs.append((q, r, w, float(lat.graph[k] + d), float(lat.acoustic[k]), tuple(lat.arc_align(k).tolist())))

    if not finals:
        raise DecodeError(f"utterance {lat.utt!r}: lattice has no final state")
    return lattice_from_parts(lat.utt, arcs, finals, len(index), lat.acoustic_scale, lat.frame_seconds).with_words(lat.words)
