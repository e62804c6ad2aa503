"""What the search composes with the graph on the fly, word by word: G (an on-the-fly
graph's n-gram, :mod:`hclg.graph.ngram`), hotwords (:mod:`hclg.search.bias`), or both.

Each token carries one integer context beside its graph state; a path's context moves,
and its cost changes, only when the path outputs a word. With G and hotwords both, the
context packs the pair: ``g << 32 | b`` (shifts and masks, not a division by the
automaton's size: numba checks a division for zero, and the exception path made it count
references to the automaton's arrays on every word arc).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from hclg.graph.ngram import NgramArrays, ngram_step_memo, with_memo
from hclg.search.bias import Bias, bias_step


def word_context(lm: NgramArrays | None, bias: Bias | None):
    """What a search with G ``lm`` and hotwords ``bias`` composes: the NgramArrays (with
    a cache of G's steps of its own, :func:`hclg.graph.ngram.with_memo`: make one per
    search), the Bias, the pair (lm, bias), or None for neither.

    Each is passed to the kernels as it is: a structure of a few arrays (numba reads a
    structure of many arrays, or nested ones, several times slower in the arc loop: a
    flat one of both kinds' 15 arrays made the biased search 8x slower than this)."""
    if lm is None:
        return bias
    lm = with_memo(lm)
    return lm if bias is None else (lm, bias)


@njit(cache=True, inline="always")
def token_slot(index, d, cx, tok, base, n, paired):
    """The slot (in the frame whose tokens start at ``base``) of token (state d, context
    cx) in ``tok`` (Tokens or LatticeTokens), or -1 - (a new slot's number ``n``, its state
    and context set, chained to the state's other tokens) when it has none. Without a
    context (``paired`` False) a state has one token a frame: ``index[d]``.

    A flag, not the context: handing the context to an inlined function makes numba count
    references to each of its arrays, on every arc."""
    j = index[d]
    if paired:
        while j >= 0 and tok.ctx[base + j] != cx:
            j = tok.chain[base + j]
        if j < 0:
            tok.ctx[base + n] = cx
            tok.chain[base + n] = index[d]
    if j < 0:
        index[d] = n
        tok.state[base + n] = d
        return -1 - n
    return j


@njit(cache=True, inline="always")
def token_final(final, tok, i, context):
    """The final cost of token i: its state's, plus (with a context, where the state is
    final) the context's end: G's end of sentence, a partly matched phrase's credit."""
    f = final[tok.state[i]]
    if context is not None and f < np.inf:
        f += context_final(context, tok.ctx[i])
    return f


def context_step(c, cx, w):
    """(next context, cost) of context ``cx`` when the path outputs word ``w`` (numba
    only); the cost is +inf (and the context meaningless) when G cannot read the word."""
    raise NotImplementedError("numba only")


def context_least(c, w):
    """A cost below which no :func:`context_step` on word ``w`` goes, from any context:
    G's least cost of the word (:class:`hclg.graph.ngram.NgramArrays`' ``least``), the
    hotwords' (:class:`hclg.search.bias.Bias`' ``least``: below 0 for a phrase's word),
    or their sum. An arc that this already prunes is dropped without the step (numba
    only)."""
    raise NotImplementedError("numba only")


def context_gate(c):
    """A bool array by word id: whether, from the context's start state (nothing matched),
    a path that outputs the word must step the context; a word past its end must. With
    hotwords alone, the phrase starts (``Bias.starts``): from that state every other word
    leaves the context as it is, at no cost, which the search tells by one read of this
    array, without a branch on whether the arc outputs a word at all. With G, every word
    must: :data:`NO_GATE`, one False (word 0, epsilon). Word 0 is never stepped (numba
    only)."""
    raise NotImplementedError("numba only")


def context_final(c, cx):
    """The cost of ending in context ``cx``: G's end of sentence, the hotwords' credit
    given back (numba only)."""
    raise NotImplementedError("numba only")


def context_start(c):
    """The context of the start state (numba only)."""
    raise NotImplementedError("numba only")


def _kind(c):
    """'lm', 'bias' or 'both' for the numba type of a context."""
    if isinstance(c, types.BaseTuple) and not isinstance(c, types.NamedTuple):
        return "both"
    return "bias" if c.instance_class is Bias else "lm"


@overload(context_step, jit_options={"cache": True}, inline="always")
def _context_step(c, cx, w):
    kind = _kind(c)
    if kind == "bias":
        return lambda c, cx, w: bias_step(c, cx, w)
    if kind == "lm":
        return lambda c, cx, w: ngram_step_memo(c, cx, w)

    def both(c, cx, w):  # the context packs the pair: g << 32 | b
        g2, lc = ngram_step_memo(c[0], cx >> 32, w)
        b2, bc = bias_step(c[1], cx & 0xFFFFFFFF, w)
        return (np.int64(g2) << 32) | b2, lc + bc

    return both


@overload(context_least, jit_options={"cache": True}, inline="always")
def _context_least(c, w):
    kind = _kind(c)
    if kind != "both":  # (a word past the arrays: none reads it, or it is in no phrase)
        return lambda c, w: np.float64(c.least[w]) if w < c.least.shape[0] else np.float64(0.0)

    def both(c, w):
        lm, bias = c
        g = np.float64(lm.least[w]) if w < lm.least.shape[0] else np.float64(0.0)
        return g + (bias.least[w] if w < bias.least.shape[0] else 0.0)

    return both


#: the gate of G, and of no context: word 0 (epsilon) is not stepped, every other word is
NO_GATE = np.zeros(1, np.bool_)


@overload(context_gate, jit_options={"cache": True}, inline="always")
def _context_gate(c):
    if not isinstance(c, types.NoneType) and _kind(c) == "bias":
        return lambda c: c.starts
    return lambda c: NO_GATE  # (a constant of the compiled code: no allocation per call)


@overload(context_final, jit_options={"cache": True}, inline="always")
def _context_final(c, cx):
    kind = _kind(c)
    if kind == "bias":
        return lambda c, cx: c.phi[cx]
    if kind == "lm":
        return lambda c, cx: np.float64(c.final[cx])

    def both(c, cx):
        lm, bias = c
        return np.float64(lm.final[cx >> 32]) + bias.phi[cx & 0xFFFFFFFF]

    return both


@overload(context_start, jit_options={"cache": True}, inline="always")
def _context_start(c):
    kind = _kind(c)
    if kind == "bias":
        return lambda c: np.int64(0)
    if kind == "lm":
        return lambda c: np.int64(c.start)
    return lambda c: np.int64(c[0].start) << 32
