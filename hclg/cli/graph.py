"""``hclg compile``, ``hclg mkgraph``, ``hclg import-kaldi`` and ``hclg info``: making and
describing graph directories."""

from __future__ import annotations

import json

import click

from hclg.cli.options import call, options_from, setup_logging, verbose_option
from hclg.graph.compile_options import CompileOptions


@click.command("compile")
@click.option("--lexicon", "-l", type=click.Path(exists=True), required=True, help="Pronunciation lexicon (Kaldi lexicon.txt, lexiconp.txt or CMUdict), or Kaldi's data/lang directory (with --kaldi-model).")
@click.option("--lm", "-g", "grammar", type=click.Path(exists=True, dir_okay=False), required=True, help="ARPA LM (plain or .gz), a phrase list (one phrase per line), or an OpenFst grammar with word symbols.")
@click.option("--phones", type=click.Path(exists=True, dir_okay=False), default=None, help="HMM: phone list (default: the lexicon's phones and the silence phone).")
@click.option("--tokens", type=click.Path(exists=True, dir_okay=False), default=None, help="CTC: token list in posterior-column order, blank included.")
@options_from(CompileOptions)
@verbose_option(steps_by_default=True)
@click.argument("graph_dir", type=click.Path(file_okay=False))
def compile_cmd(lexicon, grammar, phones, tokens, verbose, graph_dir, **kw):
    """Compile a decoding graph (HCLG or TLG) into GRAPH_DIR."""
    from hclg.graph.compile import compile_graph

    setup_logging(1 + verbose)  # the steps are logged by default; -v adds the debug lines
    res = call(lambda: compile_graph(lexicon, grammar, graph_dir, CompileOptions(**kw), phones=phones, tokens=tokens))
    click.echo(f"{res.path}: {res.states} states, {res.arcs} arcs, {res.seconds:.1f}s")


@click.command("import-kaldi")
@verbose_option(steps_by_default=True)
@click.argument("kaldi_graph_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.argument("graph_dir", type=click.Path(file_okay=False))
def import_kaldi_cmd(verbose, kaldi_graph_dir, model, graph_dir):
    """Open a Kaldi system's graph as it is: KALDI_GRAPH_DIR (exp/<model>/graph: HCLG.fst,
    words.txt, phones.txt, phones/align_lexicon.*) with its MODEL (final.mdl) becomes the
    hclg graph directory GRAPH_DIR, decoded as Kaldi's decode-faster-mapped (transition
    ids read their pdf's column; give pdf log-likelihoods with --input-kind
    log-likelihoods, or posteriors with --priors)."""
    from hclg.graph.kaldi_graph import import_kaldi_graph

    setup_logging(1 + verbose)  # the steps are logged by default; -v adds the debug lines
    out = call(import_kaldi_graph, kaldi_graph_dir, model, graph_dir)
    click.echo(f"{out}: imported from {kaldi_graph_dir} and {model}")


@click.command("mkgraph")
@click.option("--self-loop-scale", type=float, default=None, show_default=True,
              help="Kaldi's --self-loop-scale. Default 0.1, or 1.0 for a chain model.")
@click.option("--transition-scale", type=float, default=1.0, show_default=True, help="Kaldi's --transition-scale.")
@verbose_option(steps_by_default=True)
@click.argument("lang_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("graph_dir", type=click.Path(file_okay=False))
def mkgraph_cmd(self_loop_scale, transition_scale, verbose, lang_dir, model_dir, graph_dir):
    """As Kaldi's utils/mkgraph.sh: the graph of LANG_DIR (data/lang with G.fst) for the
    model in MODEL_DIR (final.mdl, and tree for a context-dependent model) into GRAPH_DIR,
    over the model's transition ids (decode it as an imported Kaldi graph)."""
    from hclg.graph.kaldi_graph import mkgraph

    setup_logging(1 + verbose)  # the steps are logged by default; -v adds the debug lines
    res = call(mkgraph, lang_dir, model_dir, graph_dir, self_loop_scale, transition_scale)
    click.echo(f"{res.path}: {res.states} states, {res.arcs} arcs, {res.seconds:.1f}s")


@click.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("graph_dir", type=click.Path(exists=True, file_okay=False))
def info_cmd(as_json, graph_dir):
    """Print sizes, labels and stochasticity of a compiled graph."""
    from hclg.graph.graph_dir import graph_info

    info = call(graph_info, graph_dir)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for k, v in info.items():
        click.echo(f"{k:18s} {v}")
