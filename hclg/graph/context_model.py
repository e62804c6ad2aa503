"""A context table (:mod:`hclg.graph.context`: hclg's table or a Sphinx mdef) as a Kaldi
triphone system, for on-the-fly graphs that take words at decode time: a transition model
whose transition states are the (phone, HMM state, forward pdf, self-loop pdf) that the
table gives some window, as Kaldi's TransitionModel has them for its tree, and the
table's :class:`~hclg.graph.context.TableTree` in the tree's place. Such a graph is then
built as one of a Kaldi triphone tree (:func:`hclg.graph.kaldi_hmm.tree_h_parts`), and a
word a request adds reads the HMM of each of its windows from the table, kept in the graph
directory (:mod:`hclg.graph.new_words_hmm`).

A window's pdfs depend on its context phones' base phones only, so the transition states
are found over base phones; a phone of a table's window that the table has no pdfs for
has none (a word added with it is refused then, naming the window).
"""

from __future__ import annotations

import math

import numpy as np

from hclg.graph.context import TableTree, read_context_table
from hclg.graph.hmm_topology import base_phone, read_hmms
from hclg.graph.kaldi_model import KaldiHmmState, KaldiTransitionModel
from hclg.graph.symbols import SymbolTable

def context_table_system(table_path, hmm_topology: str, phones: SymbolTable, position_dependent: bool,
                         sil_phone: str | None) -> tuple[TableTree, KaldiTransitionModel]:
    """The table at ``table_path`` over the graph's ``phones``, as a tree and a transition
    model (module doc).

    Args:
        table_path: the context table (hclg's format or a Sphinx mdef).
        hmm_topology: ``--hmm-topology`` (:func:`hclg.graph.hmm_topology.read_hmms`).
        phones: the graph's phone table (L's).
        position_dependent: the phones carry word positions (``_B`` ...).
        sil_phone: the silence phone, the context at utterance boundaries where the table
            knows it there.
    """
    tree = table_tree(table_path, phones, position_dependent, sil_phone)
    hmms = read_hmms(hmm_topology, tuple(dict.fromkeys(n for n in tree.names if n)))
    return tree, table_transition_model(tree, hmms, phones)


def table_tree(table_path, phones: SymbolTable, position_dependent: bool, sil_phone: str | None) -> TableTree:
    """The table at ``table_path`` as a tree over the graph's ``phones`` (arguments as
    :func:`context_table_system`'s); at request time, the graph directory's copy."""
    base = base_phone if position_dependent else (lambda p: p)
    bases = {base(p) for i, p in enumerate(phones.symbols) if i > 0 and not p.startswith("#")}
    return TableTree.of(table_path, read_context_table(table_path), phones.symbols, base,
                        sil_phone if sil_phone in bases else None)


def table_transition_model(tree: TableTree, hmms: dict, phones: SymbolTable) -> KaldiTransitionModel:
    """The transition model of a context table (module doc): an entry per graph phone (its
    base phone's HMM; pdf class 2 s forward and 2 s + 1 self-loop, as ``tree`` reads them),
    a transition state per (phone, HMM state, pdfs) of some window, in that order, and the
    HMM's transition probabilities."""
    real = [i for i, p in enumerate(phones.symbols) if i > 0 and not p.startswith("#")]
    one_per_base = [0] + list({tree.names[i]: i for i in reversed(real)}.values())  # (0: the boundary)
    entries, phone_entry, tuples, log_probs = [], {}, set(), [0.0]
    for c in real:
        hmm = hmms.get(tree.names[c])
        if hmm is None:
            continue
        last = hmm.num_states - 1
        states = tuple(KaldiHmmState(2 * s, 2 * s + 1, tuple((b, p) for a, b, p in hmm.transitions if a == s))
                       for s in range(last))
        phone_entry[c] = len(entries)
        entries.append((*states, KaldiHmmState(-1, -1, ())))
        for left in one_per_base:
            for right in one_per_base:
                for s in range(last):
                    v = tree.lookup(left, c, right, s)
                    if v is not None:
                        tuples.add((c, s, *v))
    tuples = sorted(tuples)
    for c, s, _f, _l in tuples:
        log_probs.extend(math.log(p) for _, p in entries[phone_entry[c]][s].transitions)
    return KaldiTransitionModel(tree.path, tuple(entries), phone_entry, tuple(tuples),
                                np.array(log_probs, np.float32))


def table_left_reps(tree: TableTree, model: KaldiTransitionModel, phones: SymbolTable, pairs) -> np.ndarray:
    """int32 [P, P]: for each pair (a, b) of ``pairs`` (graph phone ids; a word's last two
    phones, a 0 for none), the least a' of a pair (a', b) that the table cannot tell from
    a before b: it gives b the same pdfs after a' and after a, between them and every
    phone (and the utterance end); -1 for pairs not given. What
    :func:`hclg.graph.kaldi_hmm.tree_left_reps` is for a Kaldi tree, found by trying each
    right phone (one per base phone: a window's pdfs depend on its base phones only)."""
    real = [i for i, p in enumerate(phones.symbols) if i > 0 and not p.startswith("#")]
    rights = [0] + list({tree.names[i]: i for i in reversed(real)}.values())
    rep = np.full((len(phones), len(phones)), -1, np.int32)
    seen: dict[tuple, tuple] = {}
    first: dict[tuple, int] = {}
    for a, b in sorted(pairs):
        states = len(model.entries[model.phone_entry[b]]) - 1 if b in model.phone_entry else 0
        key = (tree.names[a] if a else "", b)
        if key not in seen:
            seen[key] = tuple(tree.lookup(a, b, r, s) for r in rights for s in range(states))
        rep[a, b] = first.setdefault((b, seen[key]), a)
    return rep

