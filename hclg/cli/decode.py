"""``hclg decode`` and ``hclg priors``: decoding posterior files, and the priors that turn
posteriors into scaled likelihoods."""

from __future__ import annotations

import sys

import click

from hclg.cli.options import call, options_from, setup_logging, verbose_option
from hclg.search.options import DecoderOptions


@click.command("decode")
@click.argument("graph_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", "text_out", default="-", show_default=True, help="Kaldi text output (utt w1 w2 ...): a path, ark,t:PATH, or - for stdout.")
@click.option("--ctm", "ctm_out", type=click.Path(dir_okay=False), default=None, help="Also write word times as CTM (utt 1 start dur word).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Also write one JSON object per utterance (words, times, costs, partial).")
@click.option("--priors", type=click.Path(exists=True, dir_okay=False), default=None, help="Priors to divide posteriors by: a Kaldi nnet2/nnet3 final.mdl (the priors stored after its network), a Kaldi vector, text or .npy (counts or probabilities).")
@click.option("--lattice", "lattice_out", default=None, help="Also write word lattices: ark,t:PATH (Kaldi text), ark:PATH (Kaldi binary), npz:DIR or fst:DIR.")
@click.option("--alignments", "alignments_out", default=None, help="Also write each 1-best's frame alignment (transition ids on HMM graphs), as Kaldi's --alignment-wspecifier: ark:PATH (binary) or ark,t:PATH.")
@click.option("--phone-ctm", "phone_ctm_out", type=click.Path(dir_okay=False), default=None, help="Also write each 1-best's phones with times (utt 1 start dur phone), as Kaldi's ali-to-phones --ctm-output.")
@click.option("--hotwords", type=click.Path(exists=True, dir_okay=False), default=None, help="Phrases to favour, one a line: 'phrase [boost]' (boost: cost taken off each path that says the phrase, default 3.0).")
@click.option("--hotword-lexicon", type=click.Path(exists=True, dir_okay=False), default=None, help="Tokens of hotwords the graph lacks ('word tok1 tok2 ...' lines, as a lexicon), added for this run; on-the-fly graphs only, CTC or HMM (context-independent phones, a Kaldi tree or a context table; a graph of spelled words spells them itself).")
@click.option("--resume", is_flag=True, help="Skip utterances already in the text output; append.")
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Decoding processes sharing the memory-mapped graph.")
@click.option("--cluster", default=None, help="Decode on a Dask cluster instead: local (a worker process per core), local:N, or a scheduler address (tcp://host:8786); the graph directory must be at the same path on every worker. Needs pip install 'hclg[cluster]'.")
@click.option("--shard-size", type=int, default=8, show_default=True, help="With --cluster: utterances a task decodes.")
@options_from(DecoderOptions, skip=("word_times", "alignment"))  # word times are on with --ctm/--json
@verbose_option()
def decode_cmd(graph_dir, inputs, text_out, ctm_out, json_out, lattice_out, alignments_out, phone_ctm_out, priors,
               hotwords, hotword_lexicon, resume, jobs, cluster, shard_size, verbose, **kw):
    """Decode posterior matrices (Kaldi ark:/scp:, .npy, .npz, or a folder of .npy) with GRAPH_DIR.

    Exits with status 1 if any utterance failed; the others are still decoded.
    """
    from hclg.batch import decode_batch
    from hclg.search.bias import read_hotword_lexicon, read_hotwords
    from hclg.search.likelihoods import read_priors

    setup_logging(verbose)

    def run():
        opts = DecoderOptions(**kw, word_times=bool(ctm_out or json_out))
        lp = read_priors(priors) if priors else None
        return decode_batch(graph_dir, list(inputs), opts, text_out, ctm_out, json_out, resume, jobs, lp,
                            lattice_out=lattice_out, alignments_out=alignments_out, phone_ctm_out=phone_ctm_out,
                            hotwords=read_hotwords(hotwords) if hotwords else None, cluster=cluster,
                            shard_size=shard_size,
                            pronunciations=read_hotword_lexicon(hotword_lexicon) if hotword_lexicon else None)

    summary = call(run)
    # summary.stopped, if any, was logged as an error where the run stopped
    click.echo(f"decoded {summary.decoded}, failed {summary.failed}, skipped {summary.skipped}, "
               f"partial {summary.partial}; {summary.frames} frames, {summary.frames_per_second:.0f} frames/s", err=True)
    if summary.failed:
        sys.exit(1)


@click.command("priors")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to write the priors (.npy, or text).")
@click.option("--input-kind", type=click.Choice(["log-posteriors", "posteriors", "logits"]), default="log-posteriors", show_default=True, help="What the matrices hold.")
def priors_cmd(inputs, output, input_kind):
    """Estimate priors as the average posterior over the given utterances."""
    import numpy as np

    from hclg.search.likelihoods import estimate_priors
    from hclg.search.matrix_readers import iter_matrices

    def mats():
        for spec in inputs:
            for _utt, m in iter_matrices(spec):
                if isinstance(m, Exception):
                    raise click.ClickException(str(m))
                yield m

    p = call(estimate_priors, mats(), input_kind)
    if output.endswith(".npy"):
        np.save(output, p)
    else:
        with open(output, "w") as fh:
            fh.write("[ " + " ".join(f"{x:.8g}" for x in p) + " ]\n")
    click.echo(f"{output}: {len(p)} priors", err=True)
