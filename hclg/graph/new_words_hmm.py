"""Words an on-the-fly HMM graph lacks, added for one request (:mod:`hclg.graph.new_words`
tells the whole story; :mod:`hclg.graph.new_words_ctc` does it for CTC graphs, with
:func:`hclg.graph.word_start_marks.mark_lexicon` where a word delimiter stands between words).

Context-independent phones, or a Kaldi model's tree. With a left-biphone tree (chain
models) a phone's HMM depends on the phone before only: C lets each marker through once
per phone read before it (:func:`hclg.graph.context.compose_context`), so entries, ``L*``
and ``S*`` are one per such phone (the rows' context), ``mark3`` makes ``L*`` and ``S*``
exist for every phone a word may end with, and a new word's first phone reads, from an
entry, the HMM the tree gives after the entry's phone (``window_states`` of the transition
table), and its last phone leads to ``L*`` and ``S*`` of that phone.

With a triphone tree a phone's HMM waits for the next phone, across word boundaries too,
which is why Kaldi's grammar FSTs take left-biphone models only. Here C lets each marker
through once per *two* phones read before it, the second one's HMM still to come: an entry
after phones a, b is left by the HMM of b between a and the new word's first phone, each
phone of the new word then reads its HMM when the next phone is known, and the word ends
in ``L*`` and ``S*`` of its last two phones, whose own arcs read its last phone's HMM
before whatever follows (``mark3`` and ``mark4`` make them exist for every pair a word may
end with). Pairs a, b and a', b that the tree cannot tell apart (it gives b the same HMM
after a and a' before every phone) are one context: the representative's (the rows, and
``tree_left_rep`` of the transition table: :func:`hclg.graph.kaldi_hmm.tree_left_reps`).
The windows' HMMs come from the tree, copied into the graph directory
(:func:`hclg.graph.kaldi_hmm.tree_window_arrays`). A context table is read as such a tree,
with a transition model made from it (:mod:`hclg.graph.context_model`), and kept there too.

**Compile time** (:mod:`hclg.graph.word_start_marks`). L gets two markers, as
Kaldi's ``fstaddsubsequentialloop`` marks ends: ``mark1`` on its loop state (where words
begin) and ``mark2`` on its silence state (optional silence after a word), each a loop,
and on its start state arcs to them at the costs of no silence and silence. The markers
go through L∘G, its determinization and minimization, H and the epsilon removal as
ordinary labels (H reads them as disambiguation symbols at its phone boundary), and are
taken out before the self-loops are added. What they leave:

- *entries*: each state with a ``mark1`` arc, where a word may begin, at that arc's cost;
- ``L*``, the one target of ``mark1`` arcs: the state after a word without silence;
- ``S*``, the one target of ``mark2`` arcs: the state after a word, silence to come (kept
  although only markers reached it).

**Request time** (:func:`add_words`). The new words become a tree of their phones'
HMMs, entered from every entry, as Kaldi's graph has them after ``add-self-loops
--reorder=true`` (:mod:`hclg.graph.h_transducer`): a state entered by a transition out of
HMM state q carries q's self-loop, and every arc leaving it pays ``-self_loop_scale *
log(1 - p_loop(q))``. The transition out of a word's last phone outputs the word and
leads to ``L*`` and to ``S*`` (at L's costs of no silence and silence), each through a
copy for q where the state has another self-loop. The tree's states carry the words'
lookahead potentials, as :func:`hclg.graph.new_words.with_new_words` says.
"""

from __future__ import annotations

import numpy as np

from hclg.errors import DecodeError
from hclg.graph.arc_records import (
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
from hclg.graph.word_start_marks import ENTRY


class _Hmm:
    """The per-transition facts of a graph's transition table that new words need; with a
    triphone ``tree``, the transition states of the windows it gives."""

    def __init__(self, table: dict, transition_scale: float, self_loop_scale: float, tree=None):
        self.t = table
        n_q = len(table["self_loop_of"])
        self.loop_cost = np.zeros(n_q, np.float32)
        self.fwd_cost = np.zeros(n_q, np.float32)
        for q in range(n_q):  # as h_transducer._self_loops, in single precision
            if table["self_loop_of"][q] > 0:
                lp = np.float32(table["self_loop_log_prob"][table["self_loop_of"][q]])
                self.loop_cost[q] = np.float32(-lp * self_loop_scale)
                self.fwd_cost[q] = np.float32(-np.log(np.float32(1.0) - np.float32(np.exp(lp))) * self_loop_scale)
        p_loop = np.exp(np.where(np.isfinite(table["self_loop_log_prob"]), table["self_loop_log_prob"], -np.inf))
        with np.errstate(divide="ignore"):
            self.cost = -transition_scale * (table["log_prob"] - np.log1p(-p_loop))  # as Ha's arcs
        # as lists: the builder reads them one item at a time
        self.loop_of, self.trans_state = table["self_loop_of"].tolist(), table["trans_state"].tolist()
        self.is_final, self.to_state = table["is_final"].tolist(), table["to_state"].tolist()
        self.loop_l, self.fwd, self.cost_l = self.loop_cost.tolist(), self.fwd_cost.tolist(), self.cost.tolist()
        forward = np.flatnonzero(table["hmm_state"] != table["to_state"])
        forward = forward[forward > 0]
        self.out: dict[tuple[int, int], list[int]] = {}  # (phone, HMM state) or (transition state, -1) -> ids
        windows = table.get("window_states")
        self.tree = tree
        for t in forward:
            key = (int(table["trans_state"][t]), -1) if windows is not None or tree is not None else \
                (int(table["phone"][t]), int(table["hmm_state"][t]))
            self.out.setdefault(key, []).append(int(t))
        self.windows = windows.tolist() if windows is not None else None
        if tree is not None:  # (Kaldi phone, HMM state, forward pdf, self-loop pdf) -> transition state
            self.tuple_state = {tuple(r): k for k, r in enumerate(table["tree_tuples"].tolist(), 1)}
            self.kaldi_phone, self.classes = table["tree_phone"].tolist(), table["tree_pdf_classes"].tolist()
            self.left_rep = table["tree_left_rep"].tolist()
            self.seen: dict[tuple[int, int, int], tuple[int, ...]] = {}

    def arcs_out(self, left: int, phone: int, j: int) -> list[int]:
        """The forward transitions out of HMM state j of ``phone`` after phone ``left``
        (-1 where the graph's phones are context-independent); [] where it has none."""
        if self.windows is None:
            return self.out.get((phone, j), [])
        ts = self.windows[left][phone][j] if j < len(self.windows[left][phone]) else -1
        return self.out.get((ts, -1), []) if ts > 0 else []

    def triphone_states(self, left: int, phone: int, right: int) -> tuple[int, ...]:
        """The transition state of each HMM state of ``phone`` between phones ``left`` and
        ``right`` (0: an utterance boundary), as the triphone tree gives them (Kaldi's
        ``make-h-transducer``), -1 where it gives none; () for a phone without an HMM."""
        key = (left, phone, right)
        if key not in self.seen:
            kp = self.kaldi_phone
            window = (kp[left], kp[phone], kp[right])
            out = []
            for j, (fc, lc) in enumerate(self.classes[phone] if kp[phone] else ()):
                if fc < 0:
                    break
                fwd = self.tree.pdf(window, fc)
                loop = fwd if lc == fc else self.tree.pdf(window, lc)
                out.append(self.tuple_state.get((kp[phone], j, fwd, loop), -1) if fwd is not None else -1)
            self.seen[key] = tuple(out)
        return self.seen[key]

    def end_context(self, a: int, b: int) -> int:
        """The row context (a' * P + b) of the states after a word ending in phones a, b of
        a triphone graph: a' the pair's representative (``tree_left_rep``), -1 for none."""
        r = self.left_rep[a][b]
        return r * len(self.kaldi_phone) + b if r >= 0 else -1

    def loop_class(self, q: int) -> int:
        """q where HMM state q has a self-loop, else 0 (a state without one)."""
        return q if self.loop_of[q] > 0 else 0

    def class_of(self, arr: DecoderArrays, s: int) -> int:
        """The HMM state whose self-loop state ``s`` of the graph carries (0: none)."""
        e = np.asarray(arr.e_arcs[arr.e_offsets[s]:arr.e_offsets[s + 1]])
        own = e[e[:, E_NEXT] == s, E_ILABEL]
        own = own[self.t["hmm_state"][own] == self.t["to_state"][own]]
        return int(self.t["trans_state"][own[0]]) if len(own) else 0


def add_words(arr: DecoderArrays, table: dict, options: dict, starts: np.ndarray, costs: np.ndarray,
              chains, phones_of, tree=None) -> tuple[int, list, list, list]:
    """The states and arcs that add the ``chains`` ((word id, phone ids, lookahead) per
    pronunciation) to an HMM lexicon graph (module doc).

    Args:
        arr: the graph's decoder arrays; table: its transition table; options: its
            compile options (``transition_scale``, ``self_loop_scale``).
        starts, costs: its word-start rows and costs (:func:`hclg.graph.word_start_marks.take_word_starts`).
        chains: the pronunciations, with each word's lookahead (its LM cost less its
            credit, >= 0).
        phones_of: phone id -> its name, for messages.
        tree: the graph's triphone tree (a KaldiTree; the graph's ``tree``), or None.

    Returns:
        (number of states in all, new emitting arcs, new epsilon arcs, (state, final
        cost) of new final states): :func:`append_arcs`' arguments.

    Raises:
        DecodeError: a phone without an HMM in the table, or word-start states not as
            this hclg makes them.
    """
    h = _Hmm(table, float(options["transition_scale"]), float(options["self_loop_scale"]), tree)
    kinds, contexts, states = starts[:, 0], starts[:, 1], starts[:, 2]
    ends: dict[int, list[tuple[int, float]]] = {}  # context -> L*, S* and their costs
    for s, c, k in zip(states[kinds != ENTRY], costs[kinds != ENTRY], contexts[kinds != ENTRY]):
        ends.setdefault(int(k), []).append((int(s), float(c)))
    entries = [(int(s), float(c) + float(h.fwd_cost[h.class_of(arr, int(s))]), int(k))
               for s, c, k in zip(states[kinds == ENTRY], costs[kinds == ENTRY], contexts[kinds == ENTRY])]
    if tree is None and any(not np.isfinite(arr.final[s]) for s, _, _ in entries):  # (triphones: their ends wait)
        raise DecodeError("the graph's word-start states are not as this hclg makes them; compile the graph again")
    if tree is not None:
        _check_triphone_words(h, chains, ends, {k % len(h.kaldi_phone) for _, _, k in entries}, phones_of)
    cd = h.windows is not None
    for _, pron, _ in chains if tree is None else ():
        for k, p in enumerate(pron):
            if not h.arcs_out((pron[k - 1] if k else 0) if cd else -1, p, 0):
                raise DecodeError(f"phone {phones_of(p)!r} has no HMM in the graph's transition table")
        if cd and pron[-1] not in ends:
            raise DecodeError(f"no word of the graph ends with phone {phones_of(pron[-1])!r}, and the graph has no "
                              "state to go on from after it; compile the graph again")
    nodes = prefix_tree(chains)
    roots = [n for n, node in enumerate(nodes) if node.parent < 0]
    if tree is not None:
        tb = _TriphoneBuilder(arr, h, nodes, ends, phones_of)
        P = len(h.kaldi_phone)
        for s, c, k in entries:
            for m in roots:
                tb.enter(s, c + nodes[m].lead, m, k // P, k % P)
        tb.run()
        return tb.finish()
    b = _Builder(arr, h, nodes, ends)
    for s, c, left in entries:
        for m in roots:
            b.leave(s, c + nodes[m].lead, m, 0, left)
    b.run()
    return b.finish()


def _check_triphone_words(h: _Hmm, chains, ends: dict, befores: set, phones_of) -> None:
    """Raises DecodeError where a word cannot be added to a triphone graph: a phone without
    an HMM in the model, or a word whose last two phones (for a one-phone word: the phone
    before it, at every word start, and its phone) no state of the graph waits after."""
    P = len(h.kaldi_phone)
    for _, pron, _ in chains:
        for p in pron:
            if not (p < P and h.kaldi_phone[p] and h.classes[p][0][0] >= 0):
                raise DecodeError(f"phone {phones_of(p)!r} has no HMM in the graph's model")
        pairs = [(pron[-2], pron[-1])] if len(pron) > 1 else [(b, pron[0]) for b in sorted(befores)]
        for a, b in pairs:
            if h.end_context(a, b) not in ends:
                raise DecodeError(f"no state of the graph goes on after phones {phones_of(a) if a else '(none)'!r} "
                                  f"{phones_of(b)!r}, with which a word added ends (its phones' word positions?); "
                                  "compile the graph again with the word in its lexicon")


class _Builder:
    """Makes the tree's states and arcs (:func:`add_words`), a state at a time."""

    def __init__(self, arr: DecoderArrays, h: _Hmm, nodes, ends):
        self.arr, self.h, self.nodes, self.ends = arr, h, nodes, ends
        self.n_state = arr.num_states
        # arcs as columns, not tuples (no garbage collection passes over millions of tuples)
        self.e: tuple[list, ...] = ([], [], [], [], [])  # source, transition id, cost, next, word
        self.n: tuple[list, ...] = ([], [], [], [])  # source, cost, next, word
        self.finals: list[tuple[int, float]] = []
        self.at: dict[tuple, int] = {}  # (node, HMM state, class, phone before) -> state
        self.todo: list[tuple[int, int, int, int, int]] = []
        self.fronts: dict[tuple[int, int], int] = {}  # (end state, class) -> the state a word ends in
        self.copies: list[tuple[int, int, float]] = []  # (new state, state copied, cost added)

    def new_state(self, q: int) -> int:
        s = self.n_state
        self.n_state += 1
        if q:
            _add(self.e, s, self.h.loop_of[q], self.h.loop_l[q], s, 0)
        return s

    def leave(self, src: int, base: float, n: int, j: int, left: int) -> None:
        """The arcs out of ``src``, a state in HMM state ``j`` of node ``n``'s phone after
        phone ``left`` (-1: context-independent phones), whose leaving costs ``base``."""
        node = self.nodes[n]
        phone, pi, words, kids = node.label, node.lead, node.words, node.children
        h = self.h
        for t in h.arcs_out(left, phone, j):
            cost = base + h.cost_l[t]
            q = h.loop_class(h.trans_state[t])
            if not h.is_final[t]:
                _add(self.e, src, t, cost, self.state_at(n, h.to_state[t], q, left), 0)
                continue
            for w in words:
                for end, c in self.ends[phone if h.windows is not None else -1]:
                    _add(self.e, src, t, cost + c - pi, self.front(end, q), w)
            if kids:
                _add(self.e, src, t, cost, self.state_at(n, -1, q, left), 0)

    def state_at(self, n: int, j: int, q: int, left: int) -> int:
        """The state in HMM state ``j`` of node ``n`` (-1: after its phone, before its
        children's) after phone ``left``, entered from HMM state ``q``."""
        key = (n, j, q, left)
        if key not in self.at:
            self.at[key] = self.new_state(q)
            self.todo.append((self.at[key], n, j, q, left))
        return self.at[key]

    def front(self, end: int, q: int) -> int:
        """``end`` (L* or S*) as entered from HMM state q: itself where it carries q's
        self-loop, else a new state with q's self-loop and an epsilon arc to it (where it
        has no self-loop) or a copy of its arcs with the leaving cost changed."""
        key = (end, q)
        if key not in self.fronts:
            c = self.h.class_of(self.arr, end)
            if c == q:
                self.fronts[key] = end
            else:
                s = self.fronts[key] = self.new_state(q)
                if c == 0:
                    _add(self.n, s, self.h.fwd[q], end, 0)
                else:
                    self.copies.append((s, end, self.h.fwd[q] - self.h.fwd[c]))
        return self.fronts[key]

    def run(self) -> None:
        while self.todo:
            s, n, j, q, left = self.todo.pop()
            fwd = self.h.fwd[q]
            if j >= 0:
                self.leave(s, fwd, n, j, left)
                continue
            pi = self.nodes[n].lead
            after = self.nodes[n].label if self.h.windows is not None else -1
            for m in self.nodes[n].children:
                self.leave(s, fwd + self.nodes[m].lead - pi, m, 0, after)

    def finish(self):
        arr = self.arr
        src = np.array(self.e[0], np.int64)
        new_out = {end: np.flatnonzero(src == end) for _, end, _ in self.copies}  # new arcs out of the copied
        for s, end, add in self.copies:  # its arcs (old and new, but not its self-loop) and final cost
            loop = self.h.loop_of[self.h.class_of(arr, end)]
            e = np.array(arr.e_arcs[arr.e_offsets[end]:arr.e_offsets[end + 1]])
            e = e[~((e[:, E_NEXT] == end) & (e[:, E_ILABEL] == loop))]
            k = new_out[end].tolist()
            cols = (e[:, E_ILABEL].tolist() + [self.e[1][i] for i in k],
                    (e.view(np.float32)[:, E_WEIGHT] + add).tolist() + [self.e[2][i] + add for i in k],
                    e[:, E_NEXT].tolist() + [self.e[3][i] for i in k], e[:, E_OLABEL].tolist() + [self.e[4][i] for i in k])
            self.e[0].extend([s] * len(cols[0]))
            for c, more in zip(self.e[1:], cols):
                c.extend(more)
            n = np.array(arr.n_arcs[arr.n_offsets[end]:arr.n_offsets[end + 1]])
            for c, more in zip(self.n, ([s] * len(n), (n.view(np.float32)[:, N_WEIGHT] + add).tolist(),
                                        n[:, N_NEXT].tolist(), n[:, N_OLABEL].tolist())):
                c.extend(more)
            if np.isfinite(arr.final[end]):
                self.finals.append((s, float(arr.final[end]) + add))
        return self.n_state, self.e, self.n, self.finals


class _TriphoneBuilder(_Builder):
    """:class:`_Builder` for a triphone tree, where a phone's HMM waits for the next phone:
    the HMMs of a path into tree node n are those of the phone before it (the entry's
    last phone at the root) between its own phone before and n's phone. A state is in HMM
    state j of phone c into node n, c's HMM that of transition states ``states`` (key (n, j,
    q, (c, states)): the windows that give c the same HMM share it), or at node n, n's
    phone waiting, after phone l (key (n, -1, q, (l, n's phone))); a word ends at its node
    into ``L*`` and ``S*`` of its last two phones, whose arcs read its last HMM."""

    def __init__(self, arr: DecoderArrays, h: _Hmm, nodes, ends, phones_of):
        super().__init__(arr, h, nodes, ends)
        self.phones_of = phones_of

    def enter(self, src: int, base: float, n: int, left: int, phone: int) -> None:
        """The arcs out of ``src`` into node ``n``: the HMM of ``phone`` between ``left`` and
        n's phone, or, where ``phone`` is 0 (nothing read: an utterance start), an epsilon."""
        if phone == 0:
            self.arrive(src, base, n, 0, 0, None)
            return
        states = self.h.triphone_states(left, phone, self.nodes[n].label)
        if not states or min(states) < 0:
            raise DecodeError(f"the graph's tree gives no HMM for phone {self.phones_of(phone)!r} between "
                              f"{self.phones_of(left) if left else '(none)'!r} and "
                              f"{self.phones_of(self.nodes[n].label)!r}")
        self.leave(src, base, n, 0, phone, states)

    def leave(self, src: int, base: float, n: int, j: int, phone: int, states: tuple[int, ...]) -> None:
        """The arcs out of ``src``, in HMM state j of ``phone`` (its transition states
        ``states``: windows that give the same HMM share the tree's states) into node n."""
        h = self.h
        for t in h.out.get((states[j], -1), []) if j < len(states) else ():
            cost = base + h.cost_l[t]
            q = h.loop_class(h.trans_state[t])
            if not h.is_final[t]:
                _add(self.e, src, t, cost, self.state_at(n, h.to_state[t], q, (phone, states)), 0)
            else:
                self.arrive(src, cost, n, q, phone, t)

    def arrive(self, src: int, cost: float, n: int, q: int, before: int, t: int | None) -> None:
        """The arcs that reach node ``n`` from ``src``, after phone ``before``: by transition
        t (leaving HMM state q), or an epsilon (t None, q 0)."""
        node = self.nodes[n]
        cols, lab = (self.n, ()) if t is None else (self.e, (t,))
        for w in node.words:
            for end, c in self.ends[self.h.end_context(before, node.label)]:
                _add(cols, src, *lab, cost + c - node.lead, self.front(end, q), w)
        if node.children:
            _add(cols, src, *lab, cost, self.state_at(n, -1, q, (before, node.label)), 0)

    def run(self) -> None:
        while self.todo:
            s, n, j, q, key = self.todo.pop()
            fwd = self.h.fwd[q]
            if j >= 0:
                self.leave(s, fwd, n, j, *key)
                continue
            before, phone = key
            for m in self.nodes[n].children:
                self.enter(s, fwd + self.nodes[m].lead - self.nodes[n].lead, m, before, phone)


def _add(cols: tuple[list, ...], *values) -> None:
    for c, v in zip(cols, values):
        c.append(v)
