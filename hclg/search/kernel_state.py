"""The search kernels' state as named structures (numba named tuples of arrays and scalars),
documented field by field as Kaldi's ``lattice-faster-decoder.h`` documents its Token and
ForwardLink. Each store grows in one place (its ``grown_*`` function).

The 1-best search (:mod:`hclg.search.viterbi_kernel`, Kaldi's FasterDecoder):

- A *token* is a graph state alive at a frame boundary. One frame's tokens live in the
  slots of a :class:`Tokens`; ``index[state]`` gives a state's slot in the current frame,
  -1 if none. Two slot sets and two index arrays alternate between frames; an index array
  is reset to -1 for exactly the states it held, so it is never cleared whole.
- The traceback is light (:class:`TraceLinks`): a record is written only when a path
  crosses an arc that outputs a word or marks an event (an HMM phone's last frame, a CTC
  token's first frame), never per frame.

The lattice search (:mod:`hclg.search.lattice_kernel`, Kaldi's LatticeFasterDecoder) keeps
every frame's tokens (:class:`LatticeTokens`) and their forward links
(:class:`ForwardLinks`); see that module for how they are pruned and compacted.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from hclg.fst.growable import grown

#: What an emitting arc's input label marks, for the 1-best traceback (``event_kind[label]``).
EVENT_NONE = 0
EVENT_PHONE_END = 1  # HMM: a transition into the phone's final state (phone ends this frame); an event
#                     whatever came before (also a phone start on reordered graphs, a token on compact CTC ones)
EVENT_TOKEN = 2  # CTC: a non-blank token (an event when it is not a repeat)
EVENT_BLANK = 3  # CTC blank


class BeamOptions(NamedTuple):
    """The pruning options, as Kaldi's FasterDecoder's."""

    beam: float  # tokens costlier than the best + beam are pruned
    max_active: int  # at most this many tokens per frame (tightens the beam)
    min_active: int  # at least this many (widens it)
    beam_delta: float  # added to the beam when max/min_active set the cutoff


class Cutoffs(NamedTuple):
    """What expanding a frame needs before it starts (:func:`hclg.search.cutoff.frame_cutoffs`)."""

    weight: float  # tokens of this frame costlier than this are not expanded
    adaptive_beam: float  # the beam max/min_active made, for the next frame's cutoff
    next: float  # the next frame's first cutoff: the best token's arcs + adaptive_beam
    arcs: int  # emitting arcs of the tokens under ``weight``: room the expansion may take


class Tokens(NamedTuple):
    """One frame's tokens in the 1-best search (slot i is token i)."""

    state: np.ndarray  # int32: the token's graph state
    cost: np.ndarray  # float64: best total cost (graph + acoustic) of a path ending here now
    ac: np.ndarray  # float64: the acoustic part of that cost (graph cost = cost - ac)
    link: np.ndarray  # int32: the path's newest traceback link, -1 at the start
    last: np.ndarray  # int32: input label of the path's last emitting arc (CTC: repeat or new token)
    ctx: np.ndarray  # int64: with a context composed on the fly (G, hotwords: word_context), its state
    #                  (a token is then a (state, ctx) pair)
    chain: np.ndarray  # int32: with a context, the next slot of the same graph state (-1: none; the
    #                    index gives the first)


class TraceLinks(NamedTuple):
    """The 1-best search's traceback records (link k in position k)."""

    prev: np.ndarray  # int32: the link before it on its path, -1 for the first
    label: np.ndarray  # int32: the word id (> 0), or minus the input label of an event (< 0)
    frame: np.ndarray  # int32: the frame it happened at


class ViterbiState(NamedTuple):
    """The 1-best search between two calls (:func:`hclg.search.viterbi_kernel.viterbi_advance`):
    all a stream keeps from one chunk of frames to the next.

    After frame ``frames - 1`` the tokens alive are ``cur`` slots 0..nc-1, epsilon arcs
    already followed; ``nxt`` and the scratch arrays only have room, no meaning."""

    cur: Tokens  # the tokens alive now
    nxt: Tokens  # room for the next frame's tokens
    nc: int  # how many of ``cur`` are alive
    cur_index: np.ndarray  # int32 [S]: slot in ``cur`` of each state, -1 if none
    nxt_index: np.ndarray  # int32 [S]: all -1 (the next frame's, filled while expanding)
    scratch: np.ndarray  # float64: room for the cutoff's partition
    stack: np.ndarray  # int32: room for the epsilon closure's stack
    links: TraceLinks  # the traceback records
    n_links: int  # records in use
    frames: int  # frames decoded (the next frame's number)
    arcs_expanded: int  # emitting arcs expanded so far
    tokens_expanded: int  # tokens expanded so far (the tokens alive at each frame, summed)
    dead: bool  # no token survived a frame: the search has ended without a path


class LatticeTokens(NamedTuple):
    """Every frame's tokens in the lattice search, by global id (frame by frame)."""

    state: np.ndarray  # int32: the graph state
    cost: np.ndarray  # float64: best cost of a path from the start to the token (Kaldi's tot_cost)
    extra: np.ndarray  # float64: best path through the token minus the best path (Kaldi's extra_cost; +inf: dead)
    elo: np.ndarray  # int32: its emitting links are links elo:ehi
    ehi: np.ndarray  # int32
    nlo: np.ndarray  # int32: its epsilon links are links nlo:nhi (made again when it improves)
    nhi: np.ndarray  # int32
    ctx: np.ndarray  # int64: with a context composed on the fly (G, hotwords), its state: a token is a (state, ctx) pair
    chain: np.ndarray  # int32: with a context, while its frame is built, the next slot of the same graph state in
    #                    the frame (-1: none; ``index[state]`` is the first), as Tokens.chain


class ForwardLinks(NamedTuple):
    """The lattice search's forward links (Kaldi's ForwardLink), by position."""

    dst: np.ndarray  # int32: the token reached (global id); -1 once pruned
    arc: np.ndarray  # int32: k >= 0: emitting arc k; -(k+1): epsilon arc k
    cost: np.ndarray  # float32: graph + acoustic cost, so that pruning never reads the graph


class LatticeSearchOutput(NamedTuple):
    """What :func:`hclg.search.lattice_kernel.lattice_search` returns: the state-level lattice
    (tokens in frame order, token 0 the start) and the search's counts."""

    frames: int  # frames decoded
    reached_final: bool  # a final state was reached in the last frame
    best_total: float  # the best path's total cost
    arcs_expanded: int  # emitting arcs expanded
    frame_start: np.ndarray  # int64 [F+1]: tokens of frame f are frame_start[f]:frame_start[f+1]
    tok_cost: np.ndarray  # float64 [N]: forward cost of each token
    tok_extra: np.ndarray  # float64 [N]: extra cost of each token
    tok_final: np.ndarray  # float64 [N]: final cost of last-frame tokens (0 if none final), +inf elsewhere
    src: np.ndarray  # int32 [L]: each link's source token
    dst: np.ndarray  # int32 [L]: its destination token
    ilabel: np.ndarray  # int32 [L]: its input label (0: epsilon)
    olabel: np.ndarray  # int32 [L]: its word (0: none)
    graph: np.ndarray  # float32 [L]: its graph cost
    acoustic: np.ndarray  # float32 [L]: its (scaled) acoustic cost
    too_big: bool  # the search stopped at `frames` because its tokens and links passed max_mem


@njit(cache=True)
def new_tokens(cap):
    return Tokens(np.empty(cap, np.int32), np.empty(cap, np.float64), np.empty(cap, np.float64),
                  np.empty(cap, np.int32), np.empty(cap, np.int32), np.zeros(cap, np.int64),
                  np.full(cap, -1, np.int32))


@njit(cache=True, inline="always")
def grown_tokens(tok, need):
    """``tok`` with room for ``need`` tokens (the same arrays when they have it)."""
    return Tokens(grown(tok.state, need), grown(tok.cost, need), grown(tok.ac, need), grown(tok.link, need),
                  grown(tok.last, need), grown(tok.ctx, need), grown(tok.chain, need))


@njit(cache=True)
def new_trace_links(cap):
    return TraceLinks(np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty(cap, np.int32))


@njit(cache=True, inline="always")
def grown_trace_links(links, need):
    return TraceLinks(grown(links.prev, need), grown(links.label, need), grown(links.frame, need))


@njit(cache=True)
def new_lattice_tokens(cap):
    return LatticeTokens(np.empty(cap, np.int32), np.empty(cap, np.float64), np.empty(cap, np.float64),
                         np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty(cap, np.int32),
                         np.empty(cap, np.int32), np.zeros(cap, np.int64), np.full(cap, -1, np.int32))


@njit(cache=True, inline="always")
def grown_lattice_tokens(tok, need):
    return LatticeTokens(grown(tok.state, need), grown(tok.cost, need), grown(tok.extra, need),
                         grown(tok.elo, need), grown(tok.ehi, need), grown(tok.nlo, need), grown(tok.nhi, need),
                         grown(tok.ctx, need), grown(tok.chain, need))


@njit(cache=True)
def new_forward_links(cap):
    return ForwardLinks(np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty(cap, np.float32))


@njit(cache=True, inline="always")
def grown_forward_links(links, need):
    return ForwardLinks(grown(links.dst, need), grown(links.arc, need), grown(links.cost, need))
