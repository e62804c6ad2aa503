"""Words an on-the-fly CTC graph lacks, added for one request (:mod:`hclg.graph.new_words`
tells the whole story). In T∘L a word starts where L is back in its loop state, and the
state there differs only by the token T read last: the compile-time markers record such
states per token (a marker loop on each T state, and on LG's start state, or with a word
delimiter between words on L's loop and delimiter states). The request's words become a
tree of their tokens with T's rules (a token's repeats loop; the same token twice needs a
blank between), entered from those states, each word said on its last token, which leads
into a word-start state of that token (made where the graph has none). On k2's compact
topology a word starts only where T is in its blank state (:func:`add_tree_compact`)."""

from __future__ import annotations

import numpy as np
import pywrapfst as fst

from hclg.errors import DecodeError
from hclg.fst.arrays import FstArrays
from hclg.fst.convert import fst_to_arrays
from hclg.graph.arc_records import (
    E_COLUMN,
    E_ILABEL,
    E_NEXT,
    E_OLABEL,
    E_WEIGHT,
    N_NEXT,
    N_OLABEL,
    N_WEIGHT,
    DecoderArrays,
)
from hclg.graph.pronunciation_tree import prefix_tree


def mark_word_starts(T: fst.VectorFst, LG: fst.VectorFst, mark: int, compact_blank: int | None = None) -> None:
    """Adds the markers that :func:`take_word_starts` finds after T∘LG: on each state k of
    the standard CTC topology (token column k read last) a loop ``mark+1+k : mark``, on
    LG's start state a loop ``mark : <eps>``. ``mark`` is above every label of both. On
    the compact topology (``compact_blank``: the blank's column), where tokens are read
    only from T's state 0 (after a blank, at the start, or after a token by T's epsilon),
    that state's loop only, as the blank's."""
    for k in T.states() if compact_blank is None else (0,):
        T.add_arc(k, fst.Arc(mark + 1 + (k if compact_blank is None else compact_blank), mark,
                             fst.Weight.one(T.weight_type()), k))
    s = LG.start()
    LG.add_arc(s, fst.Arc(mark, 0, fst.Weight.one(LG.weight_type()), s))
    LG.arcsort("ilabel")


def take_word_starts(TL: fst.Fst, mark: int, below: int | None = None) -> tuple[FstArrays, np.ndarray]:
    """(T∘LG without its marker arcs and the states only they reach, arcs sorted by input
    label; int32 [M, 2]: the word-start states, each with the token column read last,
    sorted). A token can have several (the composition's filter keeps a pair of states
    apart when epsilon paths reach it differently) or none (no word ends in it).
    ``below``: the markers' labels are under it (above it: the compact topology's repeats)."""
    TL.arcsort("ilabel")
    a = fst_to_arrays(TL, consume=True)
    is_mark = (a.ilabel > mark) & (a.ilabel < (np.iinfo(np.int32).max if below is None else below))
    src = a.sources()
    starts = np.stack([a.ilabel[is_mark] - mark - 1, src[is_mark]], axis=1).astype(np.int64)
    out, new_id = a.kept(~is_mark)
    starts = starts[new_id[starts[:, 1]] >= 0]
    starts[:, 1] = new_id[starts[:, 1]]
    starts = starts[np.lexsort((starts[:, 1], starts[:, 0]))].astype(np.int32)
    return out, starts


def mark_word_starts_silence(T: fst.VectorFst, marks: tuple[int, ...], base: int,
                             compact_blank: int | None = None) -> None:
    """With optional silence (a word delimiter) between words, LG has the lexicon's
    markers (:func:`hclg.graph.word_start_marks.mark_lexicon`); T gets on each state k (token
    column k read last) a loop ``base + j * n + k : marks[j]`` per marker j (n: T's states),
    so that after T∘LG a marker arc says which token was read last. ``base`` is above
    every label of LG. On the compact topology (``compact_blank``: the blank's column)
    its state 0 only, as the blank's (:func:`mark_word_starts`)."""
    n = T.num_states()
    one = fst.Weight.one(T.weight_type())
    for k in range(n) if compact_blank is None else (0,):
        for j, m in enumerate(marks):
            T.add_arc(k, fst.Arc(base + j * n + (k if compact_blank is None else compact_blank), m, one, k))


def take_word_starts_silence(TL: fst.Fst, base: int, num_tokens: int, costs: tuple[float, float],
                             below: int | None = None):
    """(T∘LG without its marker arcs, keeping the states they lead to; int32 [M, 3] rows
    (kind, token column read last, state) and float32 [M] costs: kind 0 an entry (a word
    may begin there, at that cost), 1 the state after a word without silence, 2 the state
    after a word with silence to come (each at L's cost of that choice, ``costs``)).
    ``below``: as :func:`take_word_starts`."""
    TL.arcsort("ilabel")
    a = fst_to_arrays(TL, consume=True)
    is_mark = (a.ilabel >= base) & (a.ilabel < (np.iinfo(np.int32).max if below is None else below))
    j, k = np.divmod(a.ilabel[is_mark].astype(np.int64) - base, num_tokens)
    src, nxt, w = a.sources()[is_mark], a.nextstate[is_mark], a.weight[is_mark]
    out, new_id = a.kept(~is_mark, roots=np.unique(nxt))
    ends = {}
    for kind, cost in ((1, costs[0]), (2, costs[1])):
        for col, state in zip(k[j == kind - 1].tolist(), new_id[nxt[j == kind - 1]].tolist()):
            ends[kind, col, state] = cost
    rows = [(0, c, s) for c, s in zip(k[j == 0].tolist(), new_id[src[j == 0]].tolist())] + list(ends)
    costs = list(w[j == 0]) + list(ends.values())
    return out, (np.array(rows, np.int32).reshape(-1, 3), np.array(costs, np.float32))


def word_start_plan(arr: DecoderArrays, starts: np.ndarray, blank: int, costs=None):
    """(entries, ends) of :func:`add_tree` from a graph's word-start rows: ``starts``
    (column, state) without optional silence between words (every such state is both),
    or (kind, column, state) with ``costs`` (:func:`take_word_starts_silence`).

    A word ends in a state of its last token that can go on with a blank and with that
    token's repeats: without silence the composition also keeps states where L took an
    epsilon (a disambiguation symbol) last, which leave those moves to another path.

    Raises:
        DecodeError: rows not as this hclg makes them."""
    e_off, col = np.asarray(arr.e_offsets), np.asarray(arr.e_column)

    def end_states(rows, first):
        end_of = dict(first)
        for c, s in rows:
            reads = set(col[e_off[s]:e_off[s + 1]].tolist())
            if blank in reads and c in reads:
                end_of.setdefault(c, s)
        return end_of

    bad = DecodeError("the graph's word-start states are not as this hclg makes them; compile the graph again")
    if starts.shape[1] == 2:
        s0 = int(arr.start)
        if not np.any((starts[:, 0] == blank) & (starts[:, 1] == s0)) or np.any(arr.final[starts[:, 1]] != arr.final[s0]):
            raise bad
        rows = [(c, s) for c, s in starts.tolist()]
        return [(c, s, 0.0) for c, s in rows], [(end_states(rows, {blank: s0}), s0, 0.0, True)]
    kind, c, st = starts[:, 0], starts[:, 1], starts[:, 2]
    entries = [(int(a), int(b), float(w)) for a, b, w in zip(c[kind == 0], st[kind == 0], costs[kind == 0])]
    ends = []
    for k in (1, 2):
        rows = [(int(a), int(b)) for a, b in zip(c[kind == k], st[kind == k])]
        blank_state = [b for a, b in rows if a == blank]
        if not blank_state:
            raise bad
        ends.append((end_states(rows, {}), blank_state[0], float(costs[kind == k][0]), k == 1))
    return entries, ends


def add_tree(arr: DecoderArrays, blank: int, chains, entries, ends):
    """The states and arcs that add the (word id, token columns, lookahead) ``chains`` as a tree
    of their tokens (shared prefixes, as a determinized lexicon; module doc). Node n (a
    token prefix) has two states, after its last token and after a blank following it,
    with T's rules (a token's repeats loop; a token equal to the last needs the blank
    between). The root is every entry ((last column, state, cost) of :func:`word_start_plan`);
    a word's last token also leads, outputting the word, into each kind of word end
    ((column -> state, the blank's state, cost, whether it is an entry too)): a state of
    that token, made (a copy of the blank's state, that token's arc turned into its
    repeat loop) where the graph has none.

    Weights carry the words' lookahead potentials: at node n the least lookahead of its
    words (their LM cost less their credit), so a path pays it on the first token and gets
    it back at the word's end, where G's cost and the boost come (a new word is not in the
    lexicon graph's word loop: G charges its whole cost).

    Returns:
        :func:`hclg.graph.arc_records.append_arcs`' arguments after the arrays."""
    ns = arr.num_states
    entries = list(entries)
    new_states: list[tuple[int, int, int]] = []  # (new state, its token, the state it copies)
    for end_of, copy_of, _, is_entry in ends:
        for _, cols, _ in chains:
            if cols[-1] not in end_of:
                end_of[cols[-1]] = ns + len(new_states)
                new_states.append((end_of[cols[-1]], cols[-1], copy_of))
                if is_entry:
                    entries.append((cols[-1], end_of[cols[-1]], 0.0))
    n_state = ns + len(new_states)
    nodes = prefix_tree(chains)  # node i: states n_state + 2i after its token, + 1 after a blank following it
    after = [(n_state + 2 * i, n_state + 2 * i + 1) for i in range(len(nodes))]
    n_state += 2 * len(nodes)
    arcs: list[tuple[int, int, float, int, int]] = []  # (source, column, cost, next, word)
    for node, (x, y) in zip(nodes, after):  # the token's repeats, a blank after it
        c = node.label
        arcs += [(x, c, 0.0, x, 0), (x, blank, 0.0, y, 0), (y, blank, 0.0, y, 0)]
    for node, (x, _) in zip(nodes, after):
        c, pi = node.label, node.lead
        if node.parent < 0:  # (last token, state, cost to leave it) of the states the token is read from
            into = entries
        else:
            up = nodes[node.parent]
            into = [(up.label, after[node.parent][0], -up.lead), (blank, after[node.parent][1], -up.lead)]
        for t, s, leave in into:
            if t == c:  # a token equal to the last: only after a blank
                continue
            arcs.append((s, c, pi + leave, x, 0))
            arcs += [(s, c, leave + cost, end_of[c], w) for w in node.words for end_of, _, cost, _ in ends]
    e = ([a[0] for a in arcs], [a[1] + 1 for a in arcs], [a[2] for a in arcs], [a[3] for a in arcs],
         [a[4] for a in arcs])  # token column k is input label k + 1
    n: tuple[list, ...] = ([], [], [], [])
    finals: list[tuple[int, float]] = []
    _state_copies(arr, new_states, e, n, finals)
    return n_state, e, n, finals


def _state_copies(arr: DecoderArrays, new_states, e, n, finals) -> None:
    """Adds to the arc columns ``e`` and ``n`` and to ``finals`` each of ``new_states``
    ((state, token column, the state it copies)): the copied state's arcs and final cost,
    its arc reading the token turned into the token's repeat loop."""
    e_off, n_off = np.asarray(arr.e_offsets), np.asarray(arr.n_offsets)
    for s, c, s0 in new_states:
        own = np.array(arr.e_arcs[e_off[s0]:e_off[s0 + 1]])
        own = own[own[:, E_COLUMN] != c]
        cols = ([s] * (len(own) + 1), own[:, E_ILABEL].tolist() + [c + 1],
                own.view(np.float32)[:, E_WEIGHT].tolist() + [0.0], own[:, E_NEXT].tolist() + [s],
                own[:, E_OLABEL].tolist() + [0])
        for col, more in zip(e, cols):
            col.extend(more)
        eps = np.array(arr.n_arcs[n_off[s0]:n_off[s0 + 1]])
        for col, more in zip(n, ([s] * len(eps), eps.view(np.float32)[:, N_WEIGHT].tolist(), eps[:, N_NEXT].tolist(),
                                 eps[:, N_OLABEL].tolist())):
            col.extend(more)
        finals.append((s, float(arr.final[s0])))


def add_tree_compact(arr: DecoderArrays, blank: int, chains, starts: np.ndarray, costs=None,
                     repeat_base: int | None = None):
    """:func:`add_tree` for k2's compact CTC topology (:func:`hclg.graph.ctc_topology.make_ctc_topo`
    with ``compact``), where a token is read only from T's state 0 and left by an epsilon
    back to it (so ``a a`` also reads as two tokens). Node n (a token prefix) has two
    states, x (its token read: the token's repeats loop) and y (T's state 0 inside the
    word: blanks loop), an epsilon from x to y, and its children's tokens from y. The root
    is every word-start state (``starts``: (blank column, state) rows, T in state 0 and LG
    at its start); a word ends by an epsilon from its last token's x, outputting it, to
    the graph's start state (the state after a word). With a word delimiter between words
    (``starts``: (kind, blank column, state) rows with their ``costs``, as
    :func:`take_word_starts_silence` makes them) the root is every entry at its cost, and
    a word ends in the state after a word and in the one before the delimiter, at theirs.
    Weights carry the lookahead potentials as :func:`add_tree` says. A token's repeats
    read the graph's repeat labels (``repeat_base`` + column, as
    :func:`hclg.graph.ctc_topology.make_ctc_topo` gives them; None: the token's label).

    Raises:
        DecodeError: rows not as this hclg makes them."""
    bad = DecodeError("the graph's word-start states are not as this hclg makes them; compile the graph again")
    if starts.shape[1] == 2:
        s0 = int(arr.start)
        if not np.all(starts[:, 0] == blank) or s0 not in set(starts[:, 1].tolist()):
            raise bad
        entries, ends = [(s, 0.0) for s in starts[:, 1].tolist()], [(s0, 0.0)]
    else:
        kind, st = starts[:, 0], starts[:, 2]
        entries = [(int(s), float(c)) for s, c in zip(st[kind == 0], costs[kind == 0])]
        ends = [(int(st[kind == k][0]), float(costs[kind == k][0])) for k in (1, 2) if np.sum(kind == k) == 1]
        if not np.all(starts[:, 1] == blank) or len(ends) != 2:
            raise bad
    nodes = prefix_tree(chains)
    ns = arr.num_states
    e: tuple[list, ...] = ([], [], [], [], [])  # source, input label, cost, next, word
    n: tuple[list, ...] = ([], [], [], [])  # source, cost, next, word
    for i, node in enumerate(nodes):
        x, y, c, pi = ns + 2 * i, ns + 2 * i + 1, node.label, node.lead
        into = entries if node.parent < 0 else [(ns + 2 * node.parent + 1, -nodes[node.parent].lead)]
        rep = c + 1 if repeat_base is None else repeat_base + c
        for src, lab, cost, nxt in [(s, c + 1, pi + leave, x) for s, leave in into] + [(x, rep, 0.0, x),
                                                                                     (y, blank + 1, 0.0, y)]:
            for col, v in zip(e, (src, lab, cost, nxt, 0)):
                col.append(v)
        for nxt, cost, w in [(y, 0.0, 0)] * bool(node.children) + [(s, c - pi, w) for w in node.words for s, c in ends]:
            for col, v in zip(n, (x, cost, nxt, w)):
                col.append(v)
    return ns + 2 * len(nodes), e, n, []
