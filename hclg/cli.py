"""The ``hclg`` command line: a thin layer, each command parses options and calls one
documented library function. Heavy imports stay inside command bodies."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys

import click

from hclg import constants


def _help(cls, name: str) -> str:
    return next(f.metadata["help"] for f in dataclasses.fields(cls) if f.name == name)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("hclg").setLevel(level)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """hclg: compile WFST decoding graphs and decode hybrid and CTC posteriors."""


def _compile_options():
    from hclg.graphs.compile import CompileOptions as C

    def deco(f):
        opts = [
            click.option("--topology", type=click.Choice(["hmm", "ctc"]), default="hmm", show_default=True, help=_help(C, "topology")),
            click.option("--hmm-topology", default="kaldi-3state", show_default=True, help=_help(C, "hmm_topology")),
            click.option("--pdf-map", type=click.Path(exists=True, dir_okay=False), default=None, help=_help(C, "pdf_map")),
            click.option("--sil-prob", type=float, default=None, help=_help(C, "sil_prob")),
            click.option("--sil-phone", default=constants.SIL_PHONE, show_default=True, help=_help(C, "sil_phone")),
            click.option("--position-dependent-phones/--no-position-dependent-phones", default=constants.POSITION_DEPENDENT_PHONES, show_default=True, help=_help(C, "position_dependent_phones")),
            click.option("--self-loop-scale", type=float, default=None, help=_help(C, "self_loop_scale")),
            click.option("--transition-scale", type=float, default=constants.TRANSITION_SCALE, show_default=True, help=_help(C, "transition_scale")),
            click.option("--ctc-topo", type=click.Choice(["standard", "compact"]), default="standard", show_default=True, help=_help(C, "ctc_topo")),
            click.option("--blank", default=constants.CTC_BLANK, show_default=True, help=_help(C, "blank")),
            click.option("--word-delimiter", default=None, help=_help(C, "word_delimiter")),
            click.option("--unk", default=constants.UNK, show_default=True, help=_help(C, "unk")),
            click.option("--lexicon-format", type=click.Choice(["auto", "kaldi", "lexiconp", "cmudict"]), default="auto", show_default=True, help=_help(C, "lexicon_format")),
        ]
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


@main.command("compile")
@click.option("--lexicon", "-l", type=click.Path(exists=True, dir_okay=False), required=True, help="Pronunciation lexicon (Kaldi lexicon.txt, lexiconp.txt or CMUdict).")
@click.option("--lm", "-g", "grammar", type=click.Path(exists=True, dir_okay=False), required=True, help="ARPA LM (plain or .gz), a phrase list (one phrase per line), or an OpenFst grammar with word symbols.")
@click.option("--phones", type=click.Path(exists=True, dir_okay=False), default=None, help="HMM: phone list (default: the lexicon's phones and the silence phone).")
@click.option("--tokens", type=click.Path(exists=True, dir_okay=False), default=None, help="CTC: token list in posterior-column order, blank included.")
@_compile_options()
@click.option("-v", "--verbose", count=True, default=1, show_default=True, help="More logging (-v: steps, -vv: debug).")
@click.argument("graph_dir", type=click.Path(file_okay=False))
def compile_cmd(lexicon, grammar, phones, tokens, verbose, graph_dir, **kw):
    """Compile a decoding graph (HCLG or TLG) into GRAPH_DIR."""
    from hclg.errors import HclgError
    from hclg.graphs.compile import CompileOptions, compile_graph

    _setup_logging(verbose)
    try:
        res = compile_graph(lexicon, grammar, graph_dir, CompileOptions(**kw), phones=phones, tokens=tokens)
    except (HclgError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{res.path}: {res.states} states, {res.arcs} arcs, {res.seconds:.1f}s")


@main.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("graph_dir", type=click.Path(exists=True, file_okay=False))
def info_cmd(as_json, graph_dir):
    """Print sizes, labels and stochasticity of a compiled graph."""
    from hclg.errors import HclgError
    from hclg.graphs.graphdir import graph_info

    try:
        info = graph_info(graph_dir)
    except HclgError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    for k, v in info.items():
        click.echo(f"{k:18s} {v}")


if __name__ == "__main__":
    main()
