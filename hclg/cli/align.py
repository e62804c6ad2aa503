"""``hclg align``: forced alignment of given transcripts (Kaldi's align-mapped)."""

from __future__ import annotations

import sys

import click

from hclg.cli.options import call, setup_logging, verbose_option
from hclg.search.options import INPUT_KINDS, DecoderOptions

_H = {f.name: f.metadata["help"] for f in DecoderOptions.__dataclass_fields__.values()}


@click.command("align")
@click.argument("graph_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("text", type=click.Path(exists=True, dir_okay=False))
@click.argument("inputs", nargs=-1, required=True)
@click.option("--alignments", "alignments_out", default=None, help="Kaldi alignment archive to write: ark:PATH or ark,t:PATH.")
@click.option("--ctm", "ctm_out", type=click.Path(dir_okay=False), default=None, help="Word CTM (utt 1 start dur word).")
@click.option("--phone-ctm", "phone_ctm_out", type=click.Path(dir_okay=False), default=None, help="Phone CTM (utt 1 start dur phone).")
@click.option("--scores", "scores_out", type=click.Path(dir_okay=False), default=None, help="Per word: utt word first-frame last-frame average log-likelihood per frame.")
@click.option("--phone-scores", "phone_scores_out", type=click.Path(dir_okay=False), default=None, help="Per phone: utt phone first-frame last-frame average log-likelihood per frame, and its goodness of pronunciation (mean log posterior of its frames' columns; 0 best).")
@click.option("--transition-scale", type=float, default=None, help="Scale on transition log-probabilities (Kaldi's compile-train-graphs); default: the graph's.")
@click.option("--self-loop-scale", type=float, default=None, help="Scale on self-loop log-probabilities; default: the graph's.")
@click.option("--beam", type=float, default=10.0, show_default=True, help="Alignment beam (Kaldi's align-mapped).")
@click.option("--retry-beam", type=float, default=40.0, show_default=True, help="Beam of the second try when the first reaches no end (0: none).")
@click.option("--input-kind", type=click.Choice(INPUT_KINDS), default="log-posteriors", show_default=True, help=_H["input_kind"])
@click.option("--acoustic-scale", type=float, default=None, show_default=True, help=_H["acoustic_scale"])
@click.option("--priors", type=click.Path(exists=True, dir_okay=False), default=None, help="Priors to divide posteriors by (as decode's).")
@click.option("--frame-shift", type=float, default=0.01, show_default=True, help=_H["frame_shift"])
@click.option("--frame-subsampling-factor", type=int, default=None, help=_H["frame_subsampling_factor"])
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Aligning processes.")
@click.option("--cluster", default=None, help="Align on a Dask cluster instead (as hclg decode --cluster): local, local:N, or a scheduler address.")
@click.option("--shard-size", type=int, default=8, show_default=True, help="With --cluster: utterances a task aligns.")
@click.option("--resume", is_flag=True, help="Skip the utterances already in --alignments (written last for each) and append.")
@verbose_option()
def align_cmd(graph_dir, text, inputs, alignments_out, ctm_out, phone_ctm_out, scores_out, phone_scores_out,
              transition_scale, self_loop_scale, beam, retry_beam, input_kind, acoustic_scale, priors, frame_shift,
              frame_subsampling_factor, jobs, cluster, shard_size, resume, verbose):
    """Align the posterior matrices INPUTS to their transcripts in TEXT (Kaldi text) with
    GRAPH_DIR's lexicon and topology, as Kaldi's compile-train-graphs + align-mapped.

    Exits with status 1 if any utterance could not be aligned; the others are.
    """
    from hclg.search.likelihoods import read_priors
    from hclg.transcript.align_batch import align_batch

    setup_logging(verbose)

    def run():
        opts = DecoderOptions(beam=beam, input_kind=input_kind, acoustic_scale=acoustic_scale, frame_shift=frame_shift,
                              frame_subsampling_factor=frame_subsampling_factor)
        return align_batch(graph_dir, text, list(inputs), opts, retry_beam, alignments_out, ctm_out, phone_ctm_out,
                           scores_out, read_priors(priors) if priors else None, jobs, resume, phone_scores_out,
                           transition_scale, self_loop_scale, cluster, shard_size)

    s = call(run)
    click.echo(f"aligned {s.aligned}, failed {s.failed}, skipped {s.skipped} ({s.retried} with the retry beam); "
               f"{s.frames} frames, {s.seconds:.1f}s", err=True)
    if s.failed:
        sys.exit(1)
