"""The HMM half of the graph recipe (:mod:`hclg.graph.compile`): from the optimized LG,
C (a context table, or a Kaldi model's tree) and H (the phones' HMMs), composed,
determinized, minimized, and the HMM self-loops added last, as Kaldi's mkgraph.sh."""

from __future__ import annotations

import time

from hclg import fst as hfst
from hclg.graph.compile_options import CompileOptions
from hclg.graph.context import compose_context, table_instances
from hclg.graph.context_model import table_tree
from hclg.graph.h_transducer import h_transducer_from_arcs, self_loop_arrays
from hclg.graph.hmm_topology import (
    BUILTIN_TOPOLOGIES,
    base_phone,
    make_transition_table,
    read_hmms,
    read_pdf_map,
    transition_table_from_units,
)
from hclg.graph.kaldi_hmm import kaldi_h_parts, tree_h_parts
from hclg.graph.word_start_marks import take_word_starts


def hmm_graph(L, LG, o: CompileOptions, phones, inputs: dict, marks):
    """(HCLG (or H∘C∘L on the fly), ilabel -> column, the transition table's arrays,
    word-start rows and costs or None) from LG: the HMM half of the recipe. ``marks``:
    the word-start markers' labels in L (:mod:`hclg.graph.new_words_hmm`), or None."""
    base = base_phone if o.position_dependent_phones else (lambda p: p)
    base_phones = tuple(dict.fromkeys(base(p) for p in L.phones.symbols[1:] if not p.startswith("#")))
    hmms = read_hmms(o.hmm_topology, base_phones) if not o.kaldi_model else None
    if o.hmm_topology not in BUILTIN_TOPOLOGIES and not o.kaldi_model:
        inputs["hmm_topology"] = o.hmm_topology
    pdf_map = read_pdf_map(o.pdf_map) if o.pdf_map else None
    if o.pdf_map:
        inputs["pdf_map"] = o.pdf_map
    h_arcs = windows = None
    if o.context_table:
        inputs["context_table"] = o.context_table
    if o.context_table and marks:  # words to come at decode time: the table as a Kaldi tree (context_model)
        tree, model = marks.table_system
        LG, table, h_dis, h_arcs, windows = _consumed(LG, tree_h_parts(
            model, tree, L.phones, model.transition_table(), L, LG, marks.labels, marks.left_rep))
    elif o.context_table:
        tree = table_tree(o.context_table, L.phones, o.position_dependent_phones, o.sil_phone)
        instance_of = table_instances(tree, hmms)
        LG, instances = _consumed(LG, compose_context(LG, L.phones.symbols, L.disambig_phones, instance_of))
        table = transition_table_from_units([(k, c, hmms[base(L.phones.symbols[c])], key[1])
                                             for k, c, key in instances])
        h_dis = tuple(len(instances) + 1 + j for j in range(len(L.disambig_phones) + 1))  # with #-1
    elif o.kaldi_model:  # Kaldi's transition ids, pdfs and probabilities, as mkgraph.sh with final.mdl
        LG, table, h_dis, h_arcs, windows = _consumed(LG, kaldi_h_parts(o.kaldi_model, o.kaldi_tree, phones, L, LG,
                                                                         marks.labels if marks else (),
                                                                         marks.left_rep if marks else None))
    else:
        table = make_transition_table(L.phones.symbols, hmms, pdf_map, base)
        h_dis = L.disambig_phones + (marks.labels if marks else ())  # the markers pass H at its phone boundary
    t0 = time.perf_counter()
    Ha, dis_labels = h_transducer_from_arcs(table, h_arcs, h_dis, o.transition_scale)
    hfst.log_step("Ha (no self-loops)", Ha, t0)
    HaLG = hfst.compose(Ha, LG, "HaLG = Ha o LG", "a phone of the lexicon has no HMM")
    _consumed(LG, None)
    HaLG = hfst.determinize_log(HaLG, "HaLG: determinize (log)", "H o LG is not determinizable",
                                   o.max_determinize_mem, consume=True)
    # the markers: H's last disambiguation labels (through C one per context: compose_context)
    n_marks = len(marks.labels) * marks.contexts_per_marker(len(L.phones.symbols)) if marks else 0
    HaLG = hfst.relabel_to_epsilon(HaLG, dis_labels[:len(dis_labels) - n_marks], "input", "HaLG: disambiguation -> eps")
    HaLG = hfst.remove_eps_local(HaLG, "HaLG: remove epsilons (local)", consume=True)
    HaLG = hfst.minimize_encoded(HaLG, "HaLG: minimize (encoded)", consume=True)
    word_starts = None
    if marks:
        t0 = time.perf_counter()
        HaLG, *word_starts = take_word_starts(HaLG, dis_labels[len(dis_labels) - n_marks:], marks, windows)
        hfst.log_step("HaLG: word-start states (for words added at decode time)", HaLG, t0)
        word_starts = None if word_starts[0] is None else tuple(word_starts)
    t0 = time.perf_counter()
    HCLG = self_loop_arrays(HaLG, table, o.self_loop_scale, consume=True)  # arrays, sorted by input label
    del HaLG
    hfst.log_step("HCLG: add self-loops (arcs sorted)", HCLG, t0)
    i2c = table.pdf.copy()
    i2c[0] = -1
    arrays = table.as_arrays()
    if word_starts is not None and windows is not None:  # what a word added at decode time reads after each phone
        arrays.update(windows)
        if marks.left_rep is not None:  # triphones: the pair whose states serve each pair a word ends with
            arrays["tree_left_rep"] = marks.left_rep
    return HCLG, i2c, arrays, word_starts


def _consumed(f, result):
    """``result``, once ``f`` (an FST the caller also holds) has been emptied unless the
    result holds it: its memory is free before the next step."""
    if not any(x is f for x in (result if isinstance(result, tuple) else (result,))):
        f.delete_states()
    return result
