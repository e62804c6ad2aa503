"""``hclg wer``: scoring hypotheses against references."""

from __future__ import annotations

import click


@click.command("wer")
@click.argument("ref", type=click.Path(exists=True, dir_okay=False))
@click.argument("hyp", type=click.Path(exists=True, dir_okay=False))
@click.option("--show/--no-show", default=False, show_default=True, help="Print each hypothesis under its reference.")
def wer_cmd(ref, hyp, show):
    """Word error rate of HYP against REF (Kaldi text files), as Kaldi's compute-wer."""
    from hclg.scoring import compute_wer, read_text

    r, h = read_text(ref), read_text(hyp)
    if show:
        for utt in r:
            if utt in h:
                click.echo(f"{utt}\n  REF: {' '.join(r[utt])}\n  HYP: {' '.join(h[utt])}")
    res = compute_wer({k: v for k, v in r.items() if k in h}, h)
    click.echo(f"%WER {res.wer:.2f} [ {res.errors} / {res.ref_words} ], {res.utterances} utterances")
