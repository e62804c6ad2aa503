"""Words a graph does not have, added for one request: hotwords outside the lexicon.

A static graph (HCLG, TLG) has G compiled in, so it cannot take a word its lexicon lacks
without compiling again, nor can an HMM graph with context-dependent phones (the context
spans word boundaries). An on-the-fly HMM graph of context-independent phones can
(:mod:`hclg.graph.new_words_hmm`), and so can an on-the-fly CTC graph (T∘L with G as arrays, without optional silence or a word delimiter
between words) can: in T∘L a word starts where L is back in its loop state, and the
state there differs only by the token T last read. Such a *word-start state* is
recorded per token at compile time (:func:`mark_word_starts`, :func:`take_word_starts`:
a marker arc on each T state and on L∘G's start state goes through the composition, as
Kaldi's ``fstaddsubsequentialloop`` marks ends), and :func:`with_new_words` then adds the
new words as a tree of their tokens entered from every word-start state, with T's rules (a
repeated token needs a blank between) and each word said on its last token, which leads
into a word-start state of that token. G gets the words in its empty-history state, at
the cost of ``<unk>`` if G has it, else of G's least likely word; a word forgets the
history, as ``<unk>`` without n-grams of its own does. Only the request's copy of the
arrays changes. :func:`with_new_words` serves both kinds.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pywrapfst as fst

from hclg import constants
from hclg.errors import DecodeError
from hclg.fst.arrays import FstArrays
from hclg.fst.convert import fst_to_arrays
from hclg.graph.arc_records import (
    E_COLUMN,
    E_ILABEL,
    E_NEXT,
    E_OLABEL,
    E_REC,
    E_WEIGHT,
    DecoderArrays,
)
from hclg.graph.graph_dir import Graph
from hclg.graph.lexicon import word_positions
from hclg.graph.new_words_hmm import add_words, append_arcs
from hclg.graph.ngram import NgramArrays, indexed
from hclg.graph.symbols import SymbolTable

log = logging.getLogger("hclg")


def mark_word_starts(T: fst.VectorFst, LG: fst.VectorFst, mark: int) -> None:
    """Adds the markers that :func:`take_word_starts` finds after T∘LG: on each state k of
    the standard CTC topology (token column k read last) a loop ``mark+1+k : mark``, on
    LG's start state a loop ``mark : <eps>``. ``mark`` is above every label of both."""
    for k in T.states():
        T.add_arc(k, fst.Arc(mark + 1 + k, mark, fst.Weight.one(T.weight_type()), k))
    s = LG.start()
    LG.add_arc(s, fst.Arc(mark, 0, fst.Weight.one(LG.weight_type()), s))
    LG.arcsort("ilabel")


def take_word_starts(TL: fst.Fst, mark: int) -> tuple[FstArrays, np.ndarray]:
    """(T∘LG without its marker arcs and the states only they reach, arcs sorted by input
    label; int32 [M, 2]: the word-start states, each with the token column read last,
    sorted). A token can have several (the composition's filter keeps a pair of states
    apart when epsilon paths reach it differently) or none (no word ends in it)."""
    TL.arcsort("ilabel")
    a = fst_to_arrays(TL, consume=True)
    is_mark = a.ilabel > mark
    src = a.sources()
    starts = np.stack([a.ilabel[is_mark] - mark - 1, src[is_mark]], axis=1).astype(np.int64)
    out, new_id = a.kept(~is_mark)
    starts = starts[new_id[starts[:, 1]] >= 0]
    starts[:, 1] = new_id[starts[:, 1]]
    starts = starts[np.lexsort((starts[:, 1], starts[:, 0]))].astype(np.int32)
    return out, starts


def spell(word: str, graph: Graph) -> tuple[str, ...] | None:
    """The tokens of ``word`` spelled letter by letter, where the graph's lexicon spells its
    words so (a letter CTC model: most words' pronunciation is their letters) and every
    letter is a token; else None."""
    lex = graph.align_lexicon()
    sample = list(lex.items())[:200]
    if not sample or sum(tuple(w) in prons for w, prons in sample) < 0.9 * len(sample):
        return None
    letters = tuple(word)
    return letters if all(c in graph.units for c in letters) else None


def new_word_pronunciations(graph: Graph, phrases, pronunciations=None) -> dict[str, list[tuple[str, ...]]]:
    """The words of hotword ``phrases`` (``"phrase"`` or ``(phrase, boost)`` items) that
    ``graph`` lacks, with their tokens: from ``pronunciations`` (word -> token sequences,
    each a tuple or a space-separated string), or on a graph of spelled words their
    letters (:func:`spell`). Empty when the graph has every word.

    Raises:
        DecodeError: such a word without tokens given or spelled.
    """
    out: dict[str, list[tuple[str, ...]]] = {}
    for item in phrases:
        text = item if isinstance(item, str) else item[0]
        for w in (text.split() if isinstance(text, str) else text):
            if w in graph.words or w in out:
                continue
            given = (pronunciations or {}).get(w)
            if given:
                out[w] = [tuple(p.split()) if isinstance(p, str) else tuple(p) for p in given]
                continue
            spelled = spell(w, graph) if graph.topology == "ctc" and graph.lm is not None else None
            if spelled is None:
                raise DecodeError(f"hotword {text if isinstance(text, str) else ' '.join(text)!r}: {w!r} is not in the "
                                  "graph's words.txt; give its tokens (hclg decode --hotword-lexicon, or "
                                  "pronunciations= in Python) to add it for the request (on-the-fly graphs), or "
                                  "add it to the lexicon and grammar")
            out[w] = [spelled]
    return out


def with_new_words(graph: Graph, prons: dict[str, list[tuple[str, ...]]], credit=None) -> Graph:
    """The graph with ``prons``' words added (see the module doc): new word ids after the
    graph's, arrays and G copied into memory.

    Args:
        graph: an on-the-fly graph compiled with its word-start states.
        prons: word -> its pronunciations (token sequences, blank excluded; or phones,
            of the base phones on a graph of word-position phones).
        credit: word -> the cost the search will take off when the word is said (its
            hotword boost), so that pruning sees it from the word's first token (the
            lookahead; every path's total stays exact).

    Raises:
        DecodeError: a graph that cannot take new words (saying why), a word it already
            has, or a token it does not read.
    """
    starts = _word_starts(graph)
    hmm = graph.topology == "hmm"
    if hmm:
        positions = graph.manifest["options"].get("position_dependent_phones")
        bad = {graph.units.symbols[0]}
    else:
        blank_col = int(graph.ilabel_to_column[graph.units.id(graph.manifest["options"]["blank"])])
        bad = {graph.units.symbols[blank_col + 1]}
    new = [w for w in prons if w not in graph.words]
    words = SymbolTable(graph.words.symbols + tuple(new))
    cost = new_word_cost(graph.lm, graph.words)
    chains = []
    if hmm and positions:  # the word-position phones L reads (Kaldi's _B _I _E _S)
        prons = {w: [word_positions(tuple(p)) if p else p for p in ps] for w, ps in prons.items()}
    for w in new:
        for pron in prons[w]:
            missing = [t for t in pron if t not in graph.units or t in bad or t.startswith("#")]
            if not pron or missing:
                raise DecodeError(f"hotword {w!r}: its {'phones' if hmm else 'tokens'} {' '.join(pron)!r} are not "
                                  f"the graph's ({', '.join(repr(t) for t in missing) or 'none given'} not "
                                  f"{'a phone' if hmm else 'a token'})")
            lead = max(cost - float((credit or {}).get(w, 0.0)), 0.0)
            ids = [graph.units.id(t) for t in pron] if hmm else [int(graph.ilabel_to_column[graph.units.id(t)])
                                                                  for t in pron]
            chains.append((words.id(w), ids, lead))
    if hmm:
        table = graph.transitions()
        n_state, e_new, n_new, finals = add_words(graph.arrays, table, graph.manifest["options"], starts,
                                                  graph.word_start_costs(), chains, graph.units.symbols.__getitem__)
        arrays = append_arcs(graph.arrays, n_state, e_new, n_new, finals, graph.ilabel_to_column)
    else:
        arrays = _add_tree(graph.arrays, starts, blank_col, chains)
    lm = _add_to_grammar(graph.lm, [words.id(w) for w in new], cost)
    extra = tuple((w, p) for w in new for p in prons[w])
    log.debug("%s: %d new words (%d pronunciations) for this request", graph.path, len(new), len(chains))
    return dataclasses.replace(graph, arrays=arrays, words=words, lm=lm, new_words=graph.new_words + extra)


def _word_starts(graph: Graph) -> np.ndarray:
    if graph.lm is None:
        raise DecodeError(f"{graph.path} is a static graph: words outside its lexicon can be added for a request "
                          "only to an on-the-fly graph (hclg compile --on-the-fly); add them to the lexicon and "
                          "grammar and compile again")
    starts = graph.word_starts()
    if starts is None:
        why = ("context-dependent phones (a context table, a Kaldi model or lang directory)"
               if graph.topology == "hmm" else "a word delimiter between words")
        raise DecodeError(f"{graph.path} has no word-start states (compiled by an older hclg, or with {why}, which "
                          "new words cannot take yet): add the words to the lexicon and grammar and compile again")
    return starts


def _add_tree(arr: DecoderArrays, starts: np.ndarray, blank: int, chains) -> DecoderArrays:
    """The arrays with the (word id, token columns, lookahead) ``chains`` added as a tree
    of their tokens (shared prefixes, as a determinized lexicon; module doc). Node n (a
    token prefix) has two states, after its last token and after a blank following it,
    with T's rules (a token's repeats loop; a token equal to the last needs the blank
    between). The root is every word-start state (``starts``: (column, state) rows); a
    word's last token also leads, outputting the word, into a word-start state of that
    token, made (a copy of the start state's arcs, that token's arc turned into its
    repeat loop) where the graph has none.

    Weights carry the lookahead potentials (:mod:`hclg.graph.lookahead`): 0 at word-start
    states (they are final), at node n the least lookahead of its words (their LM cost
    less their credit), so a path pays it on the first token and gets it back at the
    word's end, where G's cost and the boost come."""
    ns = arr.num_states
    s0 = int(arr.start)
    final = np.asarray(arr.final)[starts[:, 1]]
    if not np.any((starts[:, 0] == blank) & (starts[:, 1] == s0)) or np.any(final != arr.final[s0]):
        raise DecodeError("the graph's word-start states are not as this hclg makes them; compile the graph again")
    # a word ends in a word-start state of its last token that can go on with a blank and
    # with that token's repeats: the composition also keeps states where L took an epsilon
    # (a disambiguation symbol) last, which leave those moves to another path
    e_off, col = np.asarray(arr.e_offsets), np.asarray(arr.e_column)
    end_of = {blank: s0}
    for c, s in starts.tolist():
        reads = set(col[e_off[s]:e_off[s + 1]].tolist())
        if blank in reads and c in reads:
            end_of.setdefault(c, s)
    entries = [(c, s) for c, s in starts.tolist()]
    new_states: list[tuple[int, int]] = []  # (copy of the start state, its token) made as word-start states
    for _, cols, _ in chains:
        if cols[-1] not in end_of:
            end_of[cols[-1]] = ns + len(new_states)
            new_states.append((end_of[cols[-1]], cols[-1]))
            entries.append((cols[-1], end_of[cols[-1]]))
    n_state = ns + len(new_states)
    # the tree: node -> [token, state after it, state after a blank, potential, words ending there]
    nodes: list[list] = []
    child: dict[tuple[int, int], int] = {}
    for wid, cols, lead in chains:
        parent = -1
        for c in cols:
            n = child.get((parent, c))
            if n is None:
                n = child[parent, c] = len(nodes)
                nodes.append([c, n_state, n_state + 1, lead, []])
                n_state += 2
            nodes[n][3] = min(nodes[n][3], lead)
            parent = n
        if wid not in nodes[parent][4]:
            nodes[parent][4].append(wid)
    arcs: list[tuple[int, int, float, int, int]] = []  # (source, column, cost, next, word)
    for c, x, y, _, _ in nodes:  # the token's repeats, a blank after it
        arcs += [(x, c, 0.0, x, 0), (x, blank, 0.0, y, 0), (y, blank, 0.0, y, 0)]
    for (parent, c), n in child.items():
        _, x, _, pi, ends = nodes[n]
        if parent < 0:  # (last token, state, potential) of the states the token is read from
            into = [(t, s, 0.0) for t, s in entries]
        else:
            pc, px, py, ppi, _ = nodes[parent]
            into = [(pc, px, ppi), (blank, py, ppi)]
        for t, s, p_from in into:
            if t == c:  # a token equal to the last: only after a blank
                continue
            arcs.append((s, c, pi - p_from, x, 0))
            arcs += [(s, c, -p_from, end_of[c], w) for w in ends]  # the word said, back to a word start
    return _with_arcs(arr, n_state, new_states, arcs, s0)


def _with_arcs(arr: DecoderArrays, n_state: int, new_states, new_arcs, s0: int) -> DecoderArrays:
    """The arrays with ``n_state`` states: ``new_states`` (copies of state s0 as the
    word-start state of a token) and ``new_arcs`` added, every new arc emitting."""
    ns = arr.num_states
    e_off, n_off = np.asarray(arr.e_offsets), np.asarray(arr.n_offsets)
    e_old, n_old = np.asarray(arr.e_arcs), np.asarray(arr.n_arcs)
    recs = np.zeros((len(new_arcs), E_REC), np.int32)
    src = np.array([a[0] for a in new_arcs], np.int64)
    recs[:, E_COLUMN] = [a[1] for a in new_arcs]
    recs.view(np.float32)[:, E_WEIGHT] = [a[2] for a in new_arcs]
    recs[:, E_NEXT] = [a[3] for a in new_arcs]
    recs[:, E_ILABEL] = recs[:, E_COLUMN] + 1
    recs[:, E_OLABEL] = [a[4] for a in new_arcs]
    for s, c in new_states:  # the start state's arcs, its token's arc a loop of the token
        own = np.array(e_old[e_off[s0]:e_off[s0 + 1]])
        own = own[own[:, E_COLUMN] != c]
        loop = np.zeros((1, E_REC), np.int32)
        loop[0, [E_COLUMN, E_NEXT, E_ILABEL]] = c, s, c + 1
        recs = np.concatenate([recs, own, loop])
        src = np.concatenate([src, np.full(len(own) + 1, s)])
    order = np.argsort(src, kind="stable")
    recs, src = recs[order], src[order]
    old_part = src < ns
    # arcs out of old states go at the end of their state's emitting arcs (one pass over the records)
    e_arcs = np.insert(e_old, e_off[src[old_part] + 1], recs[old_part], axis=0)
    e_arcs = np.concatenate([e_arcs, recs[~old_part]])
    e_counts = np.concatenate([np.diff(e_off), np.zeros(n_state - ns, np.int64)])
    np.add.at(e_counts, src, 1)
    n_counts = np.concatenate([np.diff(n_off), np.zeros(n_state - ns, np.int64)])
    n_arcs = n_old
    for s, _ in new_states:  # and its epsilon arcs
        own = np.asarray(n_old[n_off[s0]:n_off[s0 + 1]])
        n_arcs = np.concatenate([n_arcs, own])
        n_counts[s] = len(own)
    offsets = np.zeros((n_state + 1, 2), np.int64)
    np.cumsum(e_counts, out=offsets[1:, 0])
    np.cumsum(n_counts, out=offsets[1:, 1])
    final = np.concatenate([np.asarray(arr.final), np.full(n_state - ns, np.inf, np.float32)])
    for s, _ in new_states:
        final[s] = arr.final[s0]
    return DecoderArrays(arr.start, final, offsets, e_arcs, n_arcs)


def new_word_cost(lm: NgramArrays, words: SymbolTable) -> float:
    """The cost G gives a new word in its empty-history state: ``<unk>``'s if G has it,
    else that of G's least likely word."""
    unk = next((words.get(u) for u in (constants.UNK, constants.UNK.upper()) if u in words), -1)
    if 0 <= unk < len(lm.empty_arc) and lm.empty_arc[unk] >= 0:
        return float(lm.cost[lm.empty_arc[unk]])
    return float(np.max(lm.cost[lm.offsets[lm.empty]:lm.offsets[lm.empty + 1]]))


def _add_to_grammar(lm: NgramArrays, new_ids: list[int], cost: float) -> NgramArrays:
    """G with ``new_ids`` read in its empty-history state at ``cost``, leading back there."""
    z = lm.empty
    hi = int(lm.offsets[z + 1])
    n = len(new_ids)
    offsets = np.array(lm.offsets)
    offsets[z + 1:] += n
    ins = np.full(n, hi)
    return indexed(lm._replace(offsets=offsets,
                               word=np.insert(np.asarray(lm.word), ins, np.asarray(new_ids, np.int32)),
                               next=np.insert(np.asarray(lm.next), ins, np.full(n, z, np.int32)),
                               cost=np.insert(np.asarray(lm.cost), ins, np.full(n, cost, np.float32))))


__all__ = ["mark_word_starts", "new_word_pronunciations", "spell", "take_word_starts", "with_new_words"]
