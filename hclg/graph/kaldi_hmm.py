"""H from a Kaldi model, as Kaldi's ``make-h-transducer``: for a monophone model over the
phones, for a context-dependent one over the context windows of C o LG
(:func:`hclg.graph.context.compose_context`), each window's pdfs asked of the decision
tree and its transition ids looked up in the TransitionModel."""

from __future__ import annotations

import numpy as np

from hclg.errors import GraphBuildError
from hclg.graph.context import compose_context
from hclg.graph.hmm_topology import TransitionTable
from hclg.graph.kaldi_model import KaldiTransitionModel, read_transition_model, transition_table_for
from hclg.graph.kaldi_tree import KaldiTree, left_questions, read_kaldi_tree
from hclg.graph.symbols import SymbolTable


def check_monophone(model: KaldiTransitionModel, tree=None) -> None:
    """Raises GraphBuildError unless ``model`` is a monophone model (one transition state
    per phone and HMM state), and ``tree`` (a monophone tree, or None) agrees with it: a
    context-dependent model read without its tree would make a graph where each phone
    may take any of its context-dependent pdfs, silently wrong."""
    seen: dict[tuple[int, int], int] = {}
    for phone, s, _f, _l in model.tuples:
        seen[(phone, s)] = seen.get((phone, s), 0) + 1
    many = [k for k, n in seen.items() if n > 1]
    if many:
        (phone, s), n = many[0], seen[many[0]]
        raise GraphBuildError(f"{model.path} is context-dependent (phone {phone}, HMM state {s} has {n} pdfs): "
                              "give its decision tree with --kaldi-tree (exp/<model>/tree)")
    if tree is None:
        return
    for phone, s, fwd, loop in model.tuples:
        st = model.entries[model.phone_entry[phone]][s]
        if tree.pdfs((phone,), [st])[0] != (fwd, loop):
            raise GraphBuildError(f"{tree.path} gives phone {phone}, HMM state {s} other pdfs than {model.path}: "
                                  "is it this model's tree?")


def tree_instances(model: KaldiTransitionModel, tree, kaldi_phones, phones):
    """``instance_of`` for :func:`hclg.graph.context.compose_context` from a Kaldi model
    and its decision tree (as Kaldi's ``make-h-transducer`` asks the tree): the key of a
    window is (Kaldi phone, (forward pdf, self-loop pdf) per emitting state).

    Args:
        model: the KaldiTransitionModel.
        tree: its KaldiTree (context width 3 or 2, central position 1).
        kaldi_phones: the model's phones.txt (a SymbolTable).
        phones: the graph's phone table (a SymbolTable).
    """
    to_kaldi = kaldi_phone_ids(kaldi_phones, phones)
    missing = [name for i, name in enumerate(phones.symbols) if i > 0 and not name.startswith("#") and not to_kaldi[i]]
    if missing:
        raise GraphBuildError(f"phone {missing[0]!r} of the lexicon is not in the model's phones.txt")

    def instance_of(*window):
        kc = int(to_kaldi[window[1]])
        entry = model.phone_entry.get(kc)
        if entry is None:
            raise GraphBuildError(f"{model.path}: phone {phones.symbols[window[1]]!r} has no HMM in the model's "
                                  "topology")
        return (kc, tree.pdfs(tuple(int(to_kaldi[p]) for p in window), model.entries[entry][:-1]))

    return instance_of


def kaldi_phone_ids(kaldi_phones: SymbolTable, phones: SymbolTable) -> np.ndarray:
    """int64 [P]: the Kaldi phone id (the model's phones.txt) of each graph phone, by name;
    0 for epsilon, disambiguation symbols and names the model lacks."""
    out = np.zeros(len(phones), np.int64)
    for i, name in enumerate(phones.symbols):
        if i > 0 and not name.startswith("#") and name in kaldi_phones.symbols:
            out[i] = kaldi_phones.id(name)
    return out


def instance_arcs(model: KaldiTransitionModel, table: TransitionTable, instances):
    """The HMM arcs (without self-loops) of each context-dependent instance, with Kaldi's
    transition ids, for :func:`hclg.graph.h_transducer.h_transducer_from_arcs` (as
    Kaldi's ``GetHmmAsFst``: transition state (phone, HMM state, pdfs) -> its ids).

    Args:
        model: the KaldiTransitionModel.
        table: ``model.transition_table()``.
        instances: (label, graph phone, (Kaldi phone, pdfs)) per instance, as
            :func:`hclg.graph.context.compose_context` returns them.

    Raises:
        GraphBuildError: the tree gives pdfs the model has no transition state for (a
            tree of another model).
    """
    tstate_of = {t: i for i, t in enumerate(model.tuples, 1)}
    ids_of: dict[int, list[int]] = {}
    for tid in range(1, table.num_transitions + 1):
        ids_of.setdefault(int(table.trans_state[tid]), []).append(tid)
    arcs = []
    for k, _c, (kc, pdfs) in instances:
        for s, (fwd, loop) in enumerate(pdfs):
            ts = tstate_of.get((kc, s, fwd, loop))
            if ts is None:
                raise GraphBuildError(f"{model.path}: no transition state for phone {kc}, HMM state {s}, pdfs "
                                      f"({fwd}, {loop}) that the tree gives: is the tree this model's?")
            for tid in ids_of[ts]:
                arcs.append((k, tid))
    return arcs


def kaldi_h_parts(model_path, tree_path, phones, L, LG, markers: tuple[int, ...] = (), left_rep=None):
    """H's parts from a Kaldi model (and for a context-dependent model its tree: C o LG
    too, as mkgraph.sh's fstcomposecontext + make-h-transducer).

    Args:
        model_path: Kaldi ``final.mdl``.
        tree_path: its ``tree``, or None (a monophone model).
        phones: the model's ``phones.txt``.
        L: the lexicon (its phone table and disambiguation phones).
        LG: the optimized LG.
        markers: word-start markers of L (:mod:`hclg.graph.new_words_hmm`), passed to H as
            disambiguation symbols (through C one per phone before them, or for
            triphones per two phones, taken to ``left_rep``'s: :func:`tree_left_reps`).

    Returns:
        (LG or CLG, the model's transition table, H's disambiguation outputs, H's
        (unit, transition id) arcs or None for a monophone H over phones, and with
        ``markers`` the arrays words added at decode time read, for the transition
        table: for a left-biphone tree its window table (``window_states``:
        :func:`window_states`), for a triphone tree :func:`tree_window_arrays`; else None).
    """
    kaldi_phones = SymbolTable.read(phones)
    model = read_transition_model(model_path)
    table = transition_table_for(model, kaldi_phones, L.phones)
    tree = read_kaldi_tree(tree_path) if tree_path else None
    if tree is None or tree.context_width == 1:
        check_monophone(model, tree)
        return LG, table, L.disambig_phones + markers, None, None
    if (tree.context_width, tree.central_position) not in ((3, 1), (2, 1)):
        raise GraphBuildError(f"{tree_path}: context width {tree.context_width} with central position "
                              f"{tree.central_position}; hclg builds C for triphones (3, 1), left biphones (2, 1) "
                              "and monophones (1, 0)")
    return tree_h_parts(model, tree, kaldi_phones, table, L, LG, markers, left_rep)


def tree_h_parts(model: KaldiTransitionModel, tree, kaldi_phones: SymbolTable, table: TransitionTable, L, LG,
                 markers: tuple[int, ...] = (), left_rep=None):
    """:func:`kaldi_h_parts` of a context-dependent model, read: its transition model, its
    ``tree`` (a KaldiTree of width 2 or 3, or a context table's
    :class:`hclg.graph.context.TableTree`), its phone table and its transition table over
    L's phones. Returns what :func:`kaldi_h_parts` does."""
    instance_of = tree_instances(model, tree, kaldi_phones, L.phones)
    CLG, instances = compose_context(LG, L.phones.symbols, L.disambig_phones, instance_of, tree.context_width,
                                     markers, left_rep)
    D, P = len(L.disambig_phones), len(L.phones.symbols)
    per = P if tree.context_width == 2 else P * P  # the markers' contexts (compose_context)
    h_dis = tuple(len(instances) + 1 + j for j in range(D + 1 + len(markers) * per))  # with #-1 and the markers
    windows = None
    if markers:
        windows = {"window_states": window_states(model, table, instance_of, L.phones)} \
            if tree.context_width == 2 else tree_window_arrays(model, kaldi_phones, L.phones)
    return CLG, table, h_dis, instance_arcs(model, table, instances), windows


def window_states(model: KaldiTransitionModel, table: TransitionTable, instance_of, phones) -> np.ndarray:
    """int32 [P, P, S]: the transition state (of ``table``) of HMM state s of phone c after
    phone l (0: at the start), for a left-biphone tree, -1 where c has no HMM state s (P:
    the phone table's size, S: the most HMM states a phone has): what words added at
    decode time read (:mod:`hclg.graph.new_words_hmm`)."""
    tstate_of = {t: i for i, t in enumerate(model.tuples, 1)}
    P = len(phones.symbols)
    real = [i for i, p in enumerate(phones.symbols) if i > 0 and not p.startswith("#")]
    S = max(len(e) - 1 for e in model.entries)
    out = np.full((P, P, S), -1, np.int32)
    for c in real:
        for left in [0] + real:
            kc, pdfs = instance_of(left, c)
            for s, (fwd, loop) in enumerate(pdfs):
                out[left, c, s] = tstate_of.get((kc, s, fwd, loop), -1)
    return out


def tree_window_arrays(model: KaldiTransitionModel, kaldi_phones: SymbolTable, phones: SymbolTable) -> dict:
    """What a word added at decode time to a graph of a triphone tree reads, with the tree
    (copied into the graph directory): a window's pdfs come from the tree, its transition
    state from the model's tuples (a table of every window would take P^3 entries: 0.5 GB
    for 350 phones).

    Returns:
        {"tree_phone": int32 [P]: the Kaldi phone id of each graph phone (0: none),
        "tree_pdf_classes": int32 [P, S, 2]: (forward, self-loop) pdf class of each
        emitting HMM state of each graph phone (-1 past its states),
        "tree_tuples": int32 [T, 4]: the model's transition states (Kaldi phone, HMM
        state, forward pdf, self-loop pdf), state k + 1 in row k}.
    """
    S = max(len(e) - 1 for e in model.entries)
    kphone = kaldi_phone_ids(kaldi_phones, phones).astype(np.int32)
    classes = np.full((len(phones), S, 2), -1, np.int32)
    for i, k in enumerate(kphone.tolist()):
        entry = model.phone_entry.get(k) if k else None
        for j, st in enumerate(model.entries[entry][:-1] if entry is not None else ()):
            classes[i, j] = st.forward_pdf_class, st.self_loop_pdf_class
    return {"tree_phone": kphone, "tree_pdf_classes": classes,
            "tree_tuples": np.array(model.tuples, np.int32).reshape(-1, 4)}


def tree_left_reps(tree: KaldiTree, kaldi_phones: SymbolTable, phones: SymbolTable, pairs) -> np.ndarray:
    """int32 [P, P]: for each pair (a, b) of ``pairs`` (graph phone ids; a word's last two
    phones, a 0 for none), the least a' of a pair (a', b) whose left phone the triphone
    ``tree`` cannot tell from a's before b (:func:`hclg.graph.kaldi_tree.left_questions`):
    after a' b and after a b the same HMM of b follows before any phone, so one state of
    the graph serves both (-1 for pairs not given). The markers of words added at decode
    time go through the representatives only (:mod:`hclg.graph.word_start_marks`): on the
    real triphone test system 61 of 1,660 pairs."""
    kp = kaldi_phone_ids(kaldi_phones, phones)
    rep = np.full((len(phones), len(phones)), -1, np.int32)
    questions: dict[int, tuple] = {}
    first: dict[tuple, int] = {}
    for a, b in sorted(pairs):
        qs = questions.setdefault(b, left_questions(tree, int(kp[b])))
        key = (b, tuple(int(kp[a]) if q == "value" else int(kp[a]) in q for q in qs))
        rep[a, b] = first.setdefault(key, a)
    return rep
