"""Per-request biasing (hotwords): phrases whose paths the search favours, by a boost per
phrase, composed on the fly with the decoding graph (any graph: HMM or CTC).

The phrases become an Aho–Corasick automaton over word ids (a trie with failure links, as
icefall's ContextGraph), read by the search whenever a path outputs a word. Its weights
are exact: a path's cost goes down by the boost of every occurrence of a phrase in its
words, and by nothing else. While a phrase is partly matched, part of its boost is
credited early (so that pruning sees it), and given back if the match fails or the
utterance ends: with a potential ``phi(s)`` per automaton state (the credit held there),
moving from ``s`` to ``s'`` costs ``-out(s') - phi(s') + phi(s)``, ``out(s')`` being the
boosts of the phrases that end there, and ending in ``s`` costs ``phi(s)``. A phrase's end
that no longer phrase goes through, and whose failure state holds no more credit than it,
goes on exactly as that state and is merged into it (the cost of reaching it kept on the
arc): a path that has just said a phrase then shares its context with one that never
started, and the search keeps one token for both, not one per phrase said.

Boosts are costs (natural log, the graph's units): a boost of 3 makes a path with the
phrase win over one without it whose cost is up to 3 lower.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from typing import NamedTuple

import numpy as np
from numba import njit

from hclg import constants
from hclg.errors import DecodeError, InputFormatError
from hclg.graph.lexicon import read_lexicon
from hclg.text_input import text_lines

log = logging.getLogger("hclg")

#: the boost of a phrase that gives none
DEFAULT_BOOST = 3.0
#: the largest boost a phrase may have: far beyond use (20 makes a phrase win wherever it
#: fits at all), and small enough that a search's sums of boosts keep their precision (a
#: boost of 1e300 overflowed them and every utterance failed)
MAX_BOOST = 1000.0
#: symbols of a word table that no path outputs: epsilon, the LM's sentence boundaries
NOT_WORDS = (constants.EPS, constants.BOS, constants.EOS)


class Hotword(NamedTuple):
    """A phrase as a hotwords file gives it (:func:`read_hotwords`); wherever phrases are
    taken, a plain ``"phrase"`` or ``("phrase", boost)`` does as well.

    Attributes:
        text: its words, space-separated.
        boost: its boost (a cost, in (0, :data:`MAX_BOOST`]), or None for :data:`DEFAULT_BOOST`.
        where: ``file:line`` it came from, for messages ("" if none).
    """

    text: str
    boost: float | None
    where: str = ""


def phrase_fields(item) -> tuple[list[str], float, str]:
    """(words, boost, where) of a phrase given as ``"phrase"``, ``(phrase, boost)`` or a
    :class:`Hotword`; ``phrase`` a string of space-separated words or a sequence of them;
    ``where`` the ``file:line: `` to start a message about it with ("" if none)."""
    text, boost, where = (item, None, "") if isinstance(item, str) else (tuple(item) + ("",))[:3]
    seq = text.split() if isinstance(text, str) else list(text)
    return seq, DEFAULT_BOOST if boost is None else float(boost), f"{where}: " if where else ""


def phrase_words(phrases) -> list[tuple[list[str], str]]:
    """(words, where) of each phrase (:func:`phrase_fields`): what
    :func:`hclg.graph.new_words.new_word_pronunciations` reads."""
    return [(seq, where) for seq, _, where in map(phrase_fields, phrases)]


class Bias(NamedTuple):
    """The biasing automaton as arrays (state 0: nothing matched).

    Attributes:
        child_off: int64 [N+1]: the trie arcs of state s are child_off[s]:child_off[s+1].
        child_word: int32 [E]: their words (ascending within a state).
        child_state: int32 [E]: the states they lead to: a phrase's end with no longer
            phrase through it and no credit where it fails to (``phi`` 0 there) goes on
            exactly as that state, and is merged into it, so that a path that has just
            said a phrase and one that never started share a context (Viterbi then keeps
            one token, not one per phrase said).
        child_cost: float64 [E]: their costs less the credit of the state they leave:
            ``-out - phi`` of the (unmerged) state they reach.
        fail: int32 [N]: the longest proper suffix of s's words that is a trie state.
        out: float64 [N]: the boosts of the phrases ending at s (through failure links too).
        phi: float64 [N]: the credit a path holds in s (given back if it leaves s without
            completing a phrase, or ends there).
        starts: bool [V]: by word id, whether some phrase starts with the word (from state
            0, where nearly every path is, any other word costs nothing and goes nowhere:
            checked first, in one read).
        least: float64 [V]: by word id, a cost no step on the word goes below, from any
            state: 0 for a word of no phrase (it can only give credit back), else the
            least of -out - phi over the states it leads to (credits held are >= 0). The
            search drops a word arc that this already prunes without stepping.
    """

    child_off: np.ndarray
    child_word: np.ndarray
    child_state: np.ndarray
    child_cost: np.ndarray
    fail: np.ndarray
    out: np.ndarray
    phi: np.ndarray
    starts: np.ndarray
    least: np.ndarray

    @property
    def num_states(self) -> int:
        return int(self.fail.shape[0])


@njit(cache=True)
def bias_step(bias, s, w):
    """(next state, cost) of the automaton in state ``s`` reading word ``w``.

    Not inlined into the search (which calls it only on the rare arcs that move the
    automaton): inlined, its loops kept numba from pairing off the reference counts in
    the whole arc loop, which then counted them for each of the tokens' arrays on every
    arc (hotwords took twice the time of none; tests/test_warm_up.py checks the IR)."""
    if s == 0 and (w >= bias.starts.shape[0] or not bias.starts[w]):
        return 0, 0.0
    t = s
    while True:
        lo, hi = bias.child_off[t], bias.child_off[t + 1]
        while lo < hi:  # binary search among t's words
            mid = (lo + hi) >> 1
            if bias.child_word[mid] < w:
                lo = mid + 1
            else:
                hi = mid
        if lo < bias.child_off[t + 1] and bias.child_word[lo] == w:
            return np.int64(bias.child_state[lo]), bias.child_cost[lo] + bias.phi[s]
        if t == 0:  # (returns, not a value set in a branch: numba then drops its reference counts of bias's arrays)
            return np.int64(0), -bias.out[0] - bias.phi[0] + bias.phi[s]
        t = bias.fail[t]


def compile_bias(phrases, words) -> Bias:
    """The automaton of ``phrases``: (words, boost) pairs, each ``words`` a string of
    space-separated words or a sequence of them, ``boost`` in (0, MAX_BOOST] (None:
    DEFAULT_BOOST). A phrase given twice adds its boosts.

    Args:
        phrases: the phrases.
        words: the graph's word table (a SymbolTable).

    Raises:
        DecodeError: a word the graph cannot output (not in its words.txt, or one of
            NOT_WORDS or a disambiguation symbol), or a bad boost; naming the phrase's
            ``file:line`` where it has one (:class:`Hotword`).
    """
    children: list[dict[int, int]] = [{}]
    end_boost = [0.0]
    phrase_list = []
    for item in phrases:
        seq, boost, where = phrase_fields(item)
        if not seq:
            continue
        if not 0 < boost <= MAX_BOOST:
            raise DecodeError(f"{where}hotword {' '.join(seq)!r}: the boost must be a number above 0 and at most "
                              f"{MAX_BOOST:g}, got {boost}")
        odd = [w for w in seq if w in NOT_WORDS or re.fullmatch(r"#\d+", w)]
        if odd:
            raise DecodeError(f"{where}hotword {' '.join(seq)!r}: {odd[0]!r} is no word a path says (epsilon, a "
                              "sentence boundary or a disambiguation symbol)")
        missing = [w for w in seq if w not in words]
        if missing:
            named = ", ".join(repr(w) for w in missing)
            raise DecodeError(f"{where}hotword {' '.join(seq)!r}: {named} not in the graph's words.txt (a word the "
                              "graph cannot output cannot be boosted: add it to the lexicon and grammar, or on an "
                              "on-the-fly graph give its tokens, Decoder.with_bias)")
        s = 0
        for w in seq:
            wid = words.id(w)
            nxt = children[s].get(wid)
            if nxt is None:
                nxt = children[s][wid] = len(children)
                children.append({})
                end_boost.append(0.0)
            s = nxt
        end_boost[s] += boost
        phrase_list.append((seq, boost, s))
    n = len(children)
    depth = np.zeros(n, np.int64)
    fail = np.zeros(n, np.int32)
    out = np.array(end_boost, dtype=np.float64)
    order = []
    queue = deque([0])
    while queue:  # breadth first: failure links and outputs, as Aho–Corasick
        u = queue.popleft()
        order.append(u)
        for w, c in children[u].items():
            depth[c] = depth[u] + 1
            if u:
                f = fail[u]
                while f and w not in children[f]:
                    f = fail[f]
                fail[c] = children[f].get(w, 0)
            out[c] += out[fail[c]]
            queue.append(c)
    phi = np.zeros(n, np.float64)
    for seq, boost, end in phrase_list:  # credit along each phrase, in proportion to the words matched
        s = 0
        for k, w in enumerate(seq[:-1], 1):
            s = children[s][words.id(w)]
            phi[s] = max(phi[s], boost * k / len(seq))
    off = np.zeros(n + 1, np.int64)
    for u in range(n):
        off[u + 1] = off[u] + len(children[u])
    cw = np.empty(off[-1], np.int32)
    cs = np.empty(off[-1], np.int32)
    for u in range(n):
        items = sorted(children[u].items())
        cw[off[u]:off[u + 1]] = [w for w, _ in items]
        cs[off[u]:off[u + 1]] = [c for _, c in items]
    cost = -out[cs] - phi[cs]
    rep = _merged_ends(children, fail, phi, order)
    starts = np.zeros(len(words), np.bool_)
    starts[list(children[0])] = True
    least = np.zeros(len(words), np.float64)
    np.minimum.at(least, cw, cost)
    return Bias(off, cw, rep[cs].astype(np.int32), cost, rep[fail].astype(np.int32), out, phi, starts, least)


def _merged_ends(children, fail, phi, order) -> np.ndarray:
    """The state each state of the trie goes on as: itself, or for a state without
    children (a phrase's end that no longer phrase goes through) whose credit equals that
    of the state it fails to, that state's (breadth first ``order``: it comes first).
    Every step from such a state is a step from its failure state, at the same cost
    (``-out - phi`` of the state reached, plus the credit left, the same), and so is ending
    there: the two are one context."""
    rep = np.arange(len(children), dtype=np.int64)
    for u in order:
        if u and not children[u] and phi[u] == phi[fail[u]]:
            rep[u] = rep[fail[u]]
    return rep


def word_credit(phrases, words) -> dict[str, float]:
    """For each of ``words``, the largest share of a phrase's boost it brings (the boost
    over the phrase's length): what a search may expect to get back when it says the
    word (the lookahead of words added to a graph, :mod:`hclg.graph.new_words`)."""
    out: dict[str, float] = {}
    for item in phrases:
        seq, boost, _ = phrase_fields(item)
        for w in set(seq) & set(words):
            out[w] = max(out.get(w, 0.0), boost / len(seq))
    return out


def read_hotwords(path) -> list[Hotword]:
    """A hotwords file: one phrase a line, optionally followed by its boost (``phrase
    [boost]``; a last field that is a number is the boost); ``#`` comments. Each phrase
    keeps its ``file:line``, which a refusal of it names (a word the graph lacks). A file
    without phrases is logged, not refused (a request may have none).

    Raises:
        InputFormatError: naming the file and line.
    """
    out = []
    for n, line in text_lines(path):
        f = line.split("#", 1)[0].split()
        if not f:
            continue
        boost = None
        try:
            boost = float(f[-1])
            f = f[:-1]
        except ValueError:
            pass
        if not f:
            raise InputFormatError(path, n, f"expected 'phrase [boost]', got {line.strip()!r}")
        if boost is not None and not 0 < boost <= MAX_BOOST:
            raise InputFormatError(path, n, f"the boost must be a number above 0 and at most {MAX_BOOST:g}, got "
                                            f"{line.strip()!r}")
        out.append(Hotword(" ".join(f), boost, f"{path}:{n}"))
    if not out:
        log.warning("%s: no phrases in it (no hotwords for this run)", path)
    return out


def read_hotword_lexicon(path) -> dict[str, list[tuple[str, ...]]]:
    """The tokens of hotwords a graph lacks (``--hotword-lexicon``): a lexicon of
    ``word tok1 tok2 ...`` lines (Kaldi's lexicon.txt or lexiconp.txt, or CMUdict), read
    as a graph's lexicon is (:func:`hclg.graph.lexicon.read_lexicon`); word -> its
    pronunciations.

    Raises:
        InputFormatError: naming the file and line.
    """
    out: dict[str, list[tuple[str, ...]]] = {}
    for e in read_lexicon(path).entries:
        out.setdefault(e.word, []).append(tuple(e.phones))
    return out
