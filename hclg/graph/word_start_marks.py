"""The word-start markers of an on-the-fly HMM graph (or CTC graph with a word delimiter)
at compile time: put on L (:func:`mark_lexicon`), taken out of H∘C∘L with the states they
mark (:func:`take_word_starts`). :mod:`hclg.graph.new_words_hmm` tells what they mark and
how a request's words use it."""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np
import pywrapfst as fst

from hclg.fst.convert import fst_to_arrays
from hclg.graph.context_model import context_table_system, table_left_reps
from hclg.graph.kaldi_hmm import tree_left_reps
from hclg.graph.kaldi_tree import read_kaldi_tree
from hclg.graph.symbols import SymbolTable

log = logging.getLogger("hclg")

ENTRY, AFTER_WORD, BEFORE_SILENCE = 0, 1, 2  # kinds of the rows of word_starts.npy


class Marks(NamedTuple):
    """L's word-start markers (:func:`mark_lexicon`)."""

    # mark1, mark2 with silence, mark3 (and mark4) with contexts: above every phone and disambiguation
    labels: tuple[int, ...]
    costs: tuple[float, ...]  # L's cost of going on after a word without silence, and with silence
    contexts: bool = False  # mark3 leads to the phones a word may end with (left-biphone and triphone graphs)
    # triphone graphs: the pair whose states serve a word ending in a, b (kaldi_hmm.tree_left_reps)
    left_rep: np.ndarray | None = None
    # a context table's graph: the table as (tree, transition model), read once for L and H (context_model)
    table_system: tuple | None = None

    def contexts_per_marker(self, num_phones: int) -> int:
        """How many labels each marker comes out as through C (:func:`hclg.graph.context.compose_context`):
        one (no context), one per phone read last (left biphones), or per two (triphones)."""
        if not self.contexts:
            return 1
        return num_phones if self.left_rep is None else num_phones * num_phones


def mark_lexicon(L, sil_prob: float | None, sil_phone: str | None, contexts: tuple = ()) -> Marks | None:
    """Adds the markers (module doc) to ``L`` (a :class:`hclg.graph.lexicon.LexiconFst`:
    made by ``make_lexicon_fst``, or Kaldi's ``L_disambig.fst``, whose start state's
    epsilon arcs lead to its loop and silence states at the costs of no silence and of
    silence); returns them, or None where L's loop or silence state cannot be told (a
    word pronounced with the silence phone without saying a word, a silence of its own).

    ``contexts``: for a graph of left-biphone phones, the phones a word may end with.
    mark3 then leads from the start state to a state that reads each of them to the loop
    and silence states without a word (from the start only: the phone before it is
    then none, so each path adds one window): through C, the loop and silence states are one
    per phone read last, and these paths make each exist although no word of the lexicon
    ends with that phone (a word added may). For a triphone graph, the pairs (a, b) of
    phones a word may end with (a 0: b alone, from the start), read the same way (after
    mark4 where a is a phone): through C the loop and silence states are one per two
    phones read last. mark3's (mark4's) arcs and all they alone reach go at
    :func:`take_word_starts`."""
    marks = _mark(L, sil_prob, sil_phone)
    if marks is None or not contexts:
        return marks
    f = L.fst
    to = [next(s for s in f.states() for a in f.arcs(s) if a.ilabel == m and a.nextstate == s)
          for m in marks.labels]  # the loop state, and the silence state: where the markers loop
    one = fst.Weight.one(f.weight_type())
    pairs = [(0, c) if isinstance(c, int) else c for c in contexts]
    # one phone after mark3, two after mark4: under one marker, "a b" would also be the
    # one-phone path a and then the one-phone word b, and L o G not functional
    labels = []
    for two in (False, True):
        if not any(bool(a) == two for a, _ in pairs):
            continue
        labels.append(max(marks.labels) + 1 + len(labels))
        x = f.add_state()
        f.add_arc(f.start(), fst.Arc(labels[-1], 0, one, x))
        after: dict[int, int] = {}  # phone a -> the state that has read it
        for a, b in pairs:
            if bool(a) != two:
                continue
            src = x
            if a:
                if a not in after:
                    after[a] = f.add_state()
                    f.add_arc(x, fst.Arc(a, 0, one, after[a]))
                src = after[a]
            for d in to:
                f.add_arc(src, fst.Arc(b, 0, one, d))
    f.arcsort("olabel")
    return Marks(marks.labels + tuple(labels), marks.costs, True)


def mark_hmm_lexicon(L, o, phones=None) -> Marks | None:
    """The markers of an HMM graph's L (:func:`mark_lexicon`) where words may be added at
    decode time (on-the-fly graphs of context-independent phones, of a Kaldi model with a
    left-biphone or triphone tree, or of a context table, read as a triphone tree), else
    None. ``o``: the CompileOptions; ``phones``: the
    model's phones.txt (None: L's phones), whose ids the tree reads."""
    if not o.on_the_fly:
        return None
    if o.context_table:  # a triphone table, read as a Kaldi tree (context_model)
        tree, model = context_table_system(o.context_table, o.hmm_topology, L.phones, o.position_dependent_phones,
                                           o.sil_phone)
        ends = word_end_pairs(L.phones.symbols, o.position_dependent_phones)
        rep = table_left_reps(tree, model, L.phones, ends)
        marks = mark_lexicon(L, o.sil_prob, o.sil_phone, tuple((a, b) for a, b in ends if rep[a, b] == a))
        return marks._replace(left_rep=rep, table_system=(tree, model)) if marks else None
    if o.kaldi_tree:
        tree = read_kaldi_tree(o.kaldi_tree)
        shape = (tree.context_width, tree.central_position)
        if shape in ((2, 1), (3, 1)):
            ends = word_end_pairs(L.phones.symbols, o.position_dependent_phones)
            if shape == (2, 1):  # a phone's HMM waits for none: one context per phone read last
                return mark_lexicon(L, o.sil_prob, o.sil_phone, tuple(sorted({b for _, b in ends})))
            # triphones: one pair of each set the tree cannot tell apart
            rep = tree_left_reps(tree, SymbolTable.read(phones) if phones else L.phones, L.phones, ends)
            marks = mark_lexicon(L, o.sil_prob, o.sil_phone, tuple((a, b) for a, b in ends if rep[a, b] == a))
            return marks._replace(left_rep=rep) if marks else None
        if tree.context_width != 1:
            return None
    return mark_lexicon(L, o.sil_prob, o.sil_phone)


def word_end_pairs(names, position_dependent: bool) -> tuple:
    """The pairs (a, b) of phone ids a word may end with (a = 0: a one-phone word at the
    utterance start; a biphone graph takes each b once): with position-dependent phones b
    is ``_E`` after ``_B`` or ``_I``, or ``_S`` after a word's end (``_E``, ``_S``, a phone
    without a position such as the silence) or none; else any phone after any or none."""
    real = [i for i, p in enumerate(names) if i > 0 and not p.startswith("#")]
    if not position_dependent:
        return tuple((a, b) for b in real for a in [0] + real)
    pos = {i: names[i][-2:] if names[i][-2:] in ("_B", "_I", "_E", "_S") else "" for i in real}
    out = [(a, b) for b in real if pos[b] == "_E" for a in real if pos[a] in ("_B", "_I")]
    out += [(a, b) for b in real if pos[b] == "_S" for a in [0] + real if a == 0 or pos[a] in ("_E", "_S", "")]
    return tuple(out)


def _mark(L, sil_prob: float | None, sil_phone: str | None) -> Marks | None:
    f = L.fst
    one, zero = fst.Weight.one(f.weight_type()), fst.Weight.zero(f.weight_type())
    start = f.start()
    m1 = len(L.phones.symbols)
    finals = [s for s in f.states() if f.final(s) != zero and s != start]
    eps = {a.nextstate: float(a.weight) for a in f.arcs(start) if a.ilabel == 0 and a.olabel == 0}
    if not sil_prob and not eps:
        if finals:
            log.warning("L has final states besides its start: words cannot be added to this graph at decode time")
            return None
        f.add_arc(start, fst.Arc(m1, 0, one, start))
        f.arcsort("olabel")
        return Marks((m1,), (0.0,))
    sil_id = L.phones.get(sil_phone) if sil_phone else -1
    # the silence state reads the silence phone without a word (a word such as Kaldi's
    # "!SIL SIL" reads it from the loop state, saying the word)
    sils = [s for s in f.states() if s != start and any(a.ilabel == sil_id and a.olabel == 0 for a in f.arcs(s))]
    if len(finals) != 1 or len(sils) != 1 or (eps and set(eps) != {finals[0], sils[0]}):
        log.warning("L's loop and silence states cannot be told apart (%d, %d candidates; a word pronounced with the "
                    "silence phone?): words cannot be added to this graph at decode time", len(finals), len(sils))
        return None
    loop, sil = finals[0], sils[0]
    arcs = [(loop, m1, loop, 0.0), (sil, m1 + 1, sil, 0.0)]
    if eps:  # Kaldi's L: its start state's epsilons already lead there
        costs = (eps[loop], eps[sil])
    else:
        costs = (-math.log(1.0 - sil_prob), -math.log(sil_prob))
        arcs += [(start, m1, loop, costs[0]), (start, m1 + 1, sil, costs[1])]
    for s, lab, d, cost in arcs:
        f.add_arc(s, fst.Arc(lab, 0, fst.Weight(f.weight_type(), cost), d))
    f.arcsort("olabel")
    return Marks((m1, m1 + 1), costs)


def take_word_starts(f: fst.Fst, labels: tuple[int, ...], marks: Marks, windows=None):
    """(``f`` without its marker arcs, as arrays; int32 [M, 3] rows (kind, context, state)
    and float32 [M] costs of the module doc's entries, ``L*`` and ``S*``, or None, None
    where the markers did not come through as expected).

    Args:
        f: H∘C∘L, the markers on its input.
        labels: the input labels the markers have in ``f``: one per marker of ``marks``
            (mark1, then mark2 with silence); with ``windows`` (a left-biphone or triphone
            graph) one per marker and context (:func:`hclg.graph.context.compose_context`):
            marker i after context x at i * X + x, X the number of contexts.
        marks: :func:`mark_lexicon`'s.
        windows: what the graph's new words read (:func:`hclg.graph.kaldi_hmm.kaldi_h_parts`),
            or None (context-independent phones).

    A row's context is the phone read before its state (0: none yet) in a left-biphone
    graph, where entries, ``L*`` and ``S*`` are one per phone, or the two phones a * P + b
    in a triphone graph (b's HMM waits for the next phone); else -1, as CTC graphs' rows
    have no token there."""
    a = fst_to_arrays(f, consume=True)
    src = a.sources()
    per = len(labels) // len(marks.labels)
    pos = np.full(max(int(a.ilabel.max(initial=0)), max(labels)) + 1, -1, np.int64)
    pos[list(labels)] = np.arange(len(labels))
    at = pos[a.ilabel]
    kind, context = at // per, at % per if windows is not None else np.full(len(at), -1)
    real = (at >= 0) & (kind < len(marks.costs))  # mark1, mark2 (mark3's only go)
    pairs = np.unique(np.stack([at[real], a.nextstate[real]]), axis=1)
    keys, count = np.unique(pairs[0], return_counts=True)
    ok = len(keys) > 0 and (count == 1).all() and (windows is not None or len(keys) == len(marks.costs))
    out, new_id = a.kept(at < 0, roots=pairs[1] if ok else ())
    if not ok:
        log.warning("the word-start markers came through as %d states for %d markers: words cannot be added to this "
                    "graph at decode time", pairs.shape[1], len(keys))
        return out, None, None
    entry = real & (kind == ENTRY) & (new_id[src] >= 0)
    target_kind = pairs[0] // per + AFTER_WORD
    target_context = pairs[0] % per if windows is not None else np.full(pairs.shape[1], -1)
    rows = np.concatenate([np.stack([np.full(entry.sum(), ENTRY), context[entry], new_id[src[entry]]], 1),
                           np.stack([target_kind, target_context, new_id[pairs[1]]], 1)]).astype(np.int32)
    costs = np.concatenate([a.weight[entry], np.asarray(marks.costs, np.float32)[target_kind - AFTER_WORD]])
    return out, rows, costs.astype(np.float32)
