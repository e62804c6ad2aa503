"""``hclg stream``: decoding archives as if their frames arrived in chunks, with partial
results and endpointing (JSON lines)."""

from __future__ import annotations

import dataclasses
import sys

import click

from hclg.cli.options import call, options_from, setup_logging, verbose_option
from hclg.search.endpoint import EndpointOptions
from hclg.search.options import DecoderOptions


@click.command("stream")
@click.argument("graph_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", default="-", show_default=True, help="JSON lines output: a path, or - for stdout.")
@click.option("--chunk-frames", type=click.IntRange(min=1), default=30, show_default=True, help="Frames fed to the decoder at a time (as they would arrive from a streaming model).")
@click.option("--partials/--no-partials", default=True, show_default=True, help="Write the partial result after each chunk that changes it.")
@click.option("--endpoint/--no-endpoint", "use_endpoint", default=True, show_default=True, help="Cut each utterance into segments at endpoints (Kaldi's rules); off: one segment an utterance.")
@click.option("--priors", type=click.Path(exists=True, dir_okay=False), default=None, help="Priors to divide posteriors by (as hclg decode).")
@click.option("--hotwords", type=click.Path(exists=True, dir_okay=False), default=None, help="Phrases to favour, one a line: 'phrase [boost]' (as hclg decode).")
@click.option("--hotword-lexicon", type=click.Path(exists=True, dir_okay=False), default=None, help="Tokens of hotwords the graph lacks (as hclg decode).")
@click.option("--lattice", "lattice_out", default=None, help="Also write each segment's word lattice (key UTT-SEGMENT): ark,t:PATH, ark:PATH, npz:DIR or fst:DIR.")
@click.option("--resume", is_flag=True, help="Keep the utterances the output already has done; skip them and append.")
@options_from(DecoderOptions, skip=("word_times", "alignment", "lattice_beam", "prune_interval", "max_lattice_mem", "max_mem"))
@options_from(EndpointOptions)
@verbose_option()
def stream_cmd(graph_dir, inputs, output, chunk_frames, partials, use_endpoint, priors, hotwords, hotword_lexicon,
               lattice_out, resume, verbose, **kw):
    """Decode posterior matrices chunk by chunk with GRAPH_DIR, as a streaming recognizer:
    partial results as they change, and one final result per endpointed segment, as JSON
    lines.

    Exits with status 1 if any utterance failed; the others are still decoded.
    """
    from hclg.batch import stream_batch
    from hclg.search.bias import read_hotword_lexicon, read_hotwords
    from hclg.search.likelihoods import read_priors

    setup_logging(verbose)
    ep_names = {f.name for f in dataclasses.fields(EndpointOptions)}
    ep = EndpointOptions(**{k: v for k, v in kw.items() if k in ep_names}) if use_endpoint else None
    opts = DecoderOptions(**{k: v for k, v in kw.items() if k not in ep_names})
    ok, failed = call(lambda: stream_batch(graph_dir, list(inputs), opts, output, chunk_frames, ep, partials, resume,
                                           read_priors(priors) if priors else None,
                                           read_hotwords(hotwords) if hotwords else None, lattice_out,
                                           read_hotword_lexicon(hotword_lexicon) if hotword_lexicon else None))
    click.echo(f"streamed {ok}, failed {failed}", err=True)
    if failed:
        sys.exit(1)
