"""``hclg wer``: scoring hypotheses against references, as Kaldi's compute-wer."""

from __future__ import annotations

import click

from hclg.cli.options import call
from hclg.scoring import MODES


@click.command("wer")
@click.argument("ref", type=click.Path(exists=True, dir_okay=False))
@click.argument("hyp", type=click.Path(exists=True, dir_okay=False))
@click.option("--mode", type=click.Choice(MODES), default="strict", show_default=True,
              help="As Kaldi's compute-wer: strict stops at a reference utterance without hypothesis, present "
                   "scores only the utterances the hypothesis has, all scores a missing one as empty.")
@click.option("--show/--no-show", default=False, show_default=True, help="Print each hypothesis under its reference.")
def wer_cmd(ref, hyp, mode, show):
    """Word error rate of HYP against REF (Kaldi text files), as Kaldi's compute-wer: prints
    %WER (with insertions, deletions, substitutions), %SER and the utterances scored."""
    from hclg.scoring import compute_wer, read_text

    r, h = call(read_text, ref), call(read_text, hyp)
    res = call(compute_wer, r, h, mode)
    if show:
        for utt in r:
            if utt in h:
                click.echo(f"{utt}\n  REF: {' '.join(r[utt])}\n  HYP: {' '.join(h[utt])}")
    click.echo(res.report(), nl=False)
