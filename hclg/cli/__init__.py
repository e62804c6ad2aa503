"""The ``hclg`` command line: a thin layer over the library, one module per command group
(as lhotse's ``bin/modes``); each command parses its options and calls one library
function. Heavy imports stay inside the command bodies, so ``hclg --help`` is quick."""

from __future__ import annotations

import click

from hclg import __version__
from hclg.cli.align import align_cmd
from hclg.cli.decode import decode_cmd, priors_cmd
from hclg.cli.graph import compile_cmd, import_kaldi_cmd, info_cmd, mkgraph_cmd
from hclg.cli.stream import stream_cmd
from hclg.cli.lattice import lattice_group
from hclg.cli.score import wer_cmd
from hclg.cli.warm_up import warm_up_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="hclg")
def main():
    """hclg: compile WFST decoding graphs and decode hybrid and CTC posteriors."""


for command in (align_cmd, compile_cmd, import_kaldi_cmd, mkgraph_cmd, info_cmd, decode_cmd, stream_cmd, priors_cmd, wer_cmd, lattice_group, warm_up_cmd):
    main.add_command(command)

__all__ = ["main"]
