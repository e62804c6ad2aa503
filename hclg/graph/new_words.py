"""Words a graph does not have, added for one request: hotwords outside the lexicon.

A static graph (HCLG, TLG) has G compiled in, so it cannot take a word its lexicon lacks
without compiling again. An on-the-fly graph (the lexicon graph T∘L or H∘C∘L, G as arrays)
can: at compile time markers, as Kaldi's ``fstaddsubsequentialloop`` marks ends, go
through the recipe and record its *word-start states*, where L is back in its loop state
(and, with optional silence or a word delimiter between words, the states after a word
with and without the silence to come); :func:`with_new_words` then adds the new words as
a tree of their tokens (:mod:`hclg.graph.new_words_ctc`: T's rules, a state per token
read last) or of their phones' HMMs (:mod:`hclg.graph.new_words_hmm`) entered from those
states, each word said on its last token or phone and leading back into them. G gets the
words in its empty-history state, at the cost of ``<unk>`` if G has it, else of G's least
likely word; a word forgets the history, as ``<unk>`` without n-grams of its own does.
Only the request's copy of the arrays changes.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from hclg import constants
from hclg.errors import DecodeError
from hclg.graph.arc_records import append_arcs
from hclg.graph.context_model import table_tree
from hclg.graph.graph_dir import TABLE_FILE, Graph
from hclg.graph.kaldi_tree import read_kaldi_tree
from hclg.graph.lexicon import word_positions
from hclg.graph.new_words_ctc import add_tree, add_tree_compact, word_start_plan
from hclg.graph.new_words_hmm import add_words
from hclg.graph.ngram import NgramArrays, indexed, loop_cost_of
from hclg.graph.symbols import SymbolTable

log = logging.getLogger("hclg")


def speller(graph: Graph):
    """A function from a word to its tokens (a tuple, or None where it cannot spell it),
    or None where the graph spells no word itself. An on-the-fly CTC graph compiled with
    its BPE model's sentencepiece model (``bpe.model``, ``hclg compile --bpe-model``) spells
    a word as sentencepiece splits it; one whose lexicon spells its words (a letter model:
    most words' pronunciation is their letters), letter by letter.

    Raises:
        DecodeError: a graph with ``bpe.model`` where sentencepiece is not installed."""
    if graph.topology != "ctc" or graph.lm is None:
        return None
    units = graph.units
    model = graph.path / "bpe.model"
    if model.exists():
        try:
            import sentencepiece
        except ImportError:
            raise DecodeError(f"{graph.path} spells the words a request adds with its sentencepiece model (bpe.model): "
                              "install sentencepiece (pip install 'hclg[bpe]'), or give the words' tokens") from None
        sp = sentencepiece.SentencePieceProcessor(model_file=str(model))

        def pieces(word: str) -> tuple[str, ...] | None:
            p = tuple(sp.encode(word, out_type=str))
            return p if p and all(t in units for t in p) else None

        return pieces
    sample = list(graph.align_lexicon().items())[:200]
    if not sample or sum(tuple(w) in prons for w, prons in sample) < 0.9 * len(sample):
        return None
    return lambda word: tuple(word) if all(c in units for c in word) else None


def spell(word: str, graph: Graph) -> tuple[str, ...] | None:
    """The tokens of ``word`` as the graph spells it (:func:`speller`), or None."""
    s = speller(graph)
    return s(word) if s is not None else None


def new_word_pronunciations(graph: Graph, phrases, pronunciations=None) -> dict[str, list[tuple[str, ...]]]:
    """The words of hotword ``phrases`` that ``graph`` lacks, with their tokens: from
    ``pronunciations`` (word -> token sequences, each a tuple or a space-separated string),
    or as the graph spells them (:func:`speller`: by its BPE model, or letter by letter).
    Empty when the graph has every word. ``phrases``: each phrase's words and the
    ``file:line: `` a refusal of it starts with, "" if none (as
    :func:`hclg.search.bias.phrase_fields` gives them).

    Raises:
        DecodeError: such a word without tokens given or spelled.
    """
    out: dict[str, list[tuple[str, ...]]] = {}
    spelling = None
    known = [w for w in (pronunciations or {}) if w in graph.words]
    if known:  # (a user who gives a word's pronunciation means it to be used)
        log.warning("%s already has %s: the pronunciations given for %s are not used, the graph's are (a word "
                    "of the graph cannot be given another for a request)", graph.path,
                    ", ".join(known[:5]) + (f" and {len(known) - 5} more" if len(known) > 5 else ""),
                    "it" if len(known) == 1 else "them")
    for seq, where in phrases:
        for w in seq:
            if w in graph.words or w in out:
                continue
            given = (pronunciations or {}).get(w)
            if given:
                out[w] = [tuple(p.split()) if isinstance(p, str) else tuple(p) for p in given]
                continue
            if spelling is None:  # made once, for the first word that needs it
                spelling = speller(graph) or (lambda word: None)
            spelled = spelling(w)
            if spelled is None:
                phrase = " ".join(seq)
                if graph.lm is None:  # (words are added to on-the-fly graphs only: say so now, not after the tokens)
                    raise DecodeError(f"{where}hotword {phrase!r}: {w!r} is not in the graph's words.txt, and "
                                      f"{graph.path} is a static graph, which takes no words at decode time: add it to "
                                      "the lexicon and grammar and compile again (or compile --on-the-fly and give "
                                      "its tokens with --hotword-lexicon)")
                raise DecodeError(f"{where}hotword {phrase!r}: {w!r} is not in the graph's words.txt; give its tokens "
                                  "(hclg decode --hotword-lexicon, or pronunciations= in Python) to add it for the "
                                  "request, or add it to the lexicon and grammar")
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
    cost = new_word_cost(graph)
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
        tree = None
        if (graph.path / "tree").exists():
            tree = read_kaldi_tree(graph.path / "tree")
        elif (graph.path / TABLE_FILE).exists():  # a context table, read as a tree (context_model)
            o = graph.manifest["options"]
            tree = table_tree(graph.path / TABLE_FILE, graph.units, bool(o.get("position_dependent_phones")),
                              o.get("sil_phone"))
        added = add_words(graph.arrays, graph.transitions(), graph.manifest["options"], starts,
                          graph.word_start_costs(), chains, graph.units.symbols.__getitem__, tree)
    elif graph.manifest["options"].get("ctc_topo") == "compact":
        added = add_tree_compact(graph.arrays, blank_col, chains, starts,
                                 graph.word_start_costs() if starts.shape[1] == 3 else None,
                                 graph.manifest.get("ctc_repeat_labels"))
    else:
        costs = graph.word_start_costs() if starts.shape[1] == 3 else None
        added = add_tree(graph.arrays, blank_col, chains, *word_start_plan(graph.arrays, starts, blank_col, costs))
    arrays = append_arcs(graph.arrays, *added, graph.ilabel_to_column)
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
        raise DecodeError(f"{graph.path} has no word-start states (compiled by an older hclg, or with a "
                          "lexicon whose loop and silence states could not be told apart, as its compile log "
                          "said): add the words to the lexicon and grammar and compile again")
    if graph.topology == "hmm" and starts.shape[1] != 3:
        raise DecodeError(f"{graph.path}: its word-start states are in an older form; compile the graph again")
    return starts


def new_word_cost(graph: Graph) -> float:
    """The cost G gives a new word in its empty-history state: ``<unk>``'s if G has it,
    else that of G's least likely word (G's own costs: ``graph.lm``'s plus the word
    loop's, :meth:`hclg.graph.graph_dir.Graph.loop_cost`)."""
    lm, words, loop = graph.lm, graph.words, graph.loop_cost()
    lo, hi = lm.offsets[lm.empty], lm.offsets[lm.empty + 1]
    own = np.asarray(lm.cost[lo:hi], np.float64) + loop_cost_of(lm.word[lo:hi], loop)
    unk = next((words.get(u) for u in (constants.UNK, constants.UNK.upper()) if u in words), -1)
    if 0 <= unk < len(lm.empty_arc) and lm.empty_arc[unk] >= 0:
        return float(own[lm.empty_arc[unk] - lo])
    return float(np.max(own))


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


__all__ = ["new_word_pronunciations", "spell", "speller", "with_new_words"]
