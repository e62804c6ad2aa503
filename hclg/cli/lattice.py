"""``hclg lattice ...``: working with word lattices written by ``hclg decode --lattice`` (or
Kaldi's decoders); each command calls one function of :mod:`hclg.lattice.tools`."""

from __future__ import annotations

import sys

import click

from hclg.cli.options import call, quiet_broken_pipe, setup_logging
from hclg.errors import HclgError

# (each command imports what it runs: hclg --help imports no numpy or numba)


@click.group("lattice")
def lattice_group():
    """Work with word lattices written by `hclg decode --lattice` (or Kaldi's decoders).

    LATTICES is ark,t:PATH or ark:PATH (Kaldi CompactLattice archives, text or binary),
    npz:DIR, or an .npz file. Costs: --acoustic-scale (default: the scale the lattice was
    decoded with; for Kaldi archives the graph's default) and --lm-scale on graph costs.
    """


def _lattice_common(need_graph: bool = False, scales: bool = True):
    def deco(f):
        if scales:
            f = click.option("--lm-scale", type=float, default=1.0, show_default=True, help="Scale on graph (LM) costs.")(f)
            f = click.option("--acoustic-scale", type=float, default=None, help="Scale on acoustic costs (default: the lattice's own).")(f)
        # no default with required: click >= 8.3 takes an explicit default=None as given
        graph_kw = {"required": True} if need_graph else {"default": None}
        f = click.option("--graph", "graph_dir", type=click.Path(exists=True, file_okay=False),
                         help="Graph directory the lattices were decoded with (words, lexicon)."
                         + (" Required." if need_graph else ""), **graph_kw)(f)
        f = click.argument("lattices")(f)
        return f
    return deco


def _lattice_run(func, *args, **kwargs):
    """Calls a lattice tool; reports its summary; exit 1 if any lattice failed."""
    setup_logging(0)
    try:
        s = func(*args, **kwargs)
    except BrokenPipeError:
        quiet_broken_pipe()
    except (HclgError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{s.done} lattices, {s.failed} failed" + (f"; {s.detail}" if s.detail else ""), err=True)
    if s.failed:
        sys.exit(1)
    return s


def _lattice_inputs(lattices, graph_dir, acoustic_scale, scale_matters=True):
    from hclg.lattice.tools import open_lattices
    from hclg.search.decoder import Decoder
    from hclg.search.options import DecoderOptions

    # the graph's words, lexicon and default scale; no matrices are read, so the input
    # kind is moot (likelihoods: no warning about priors)
    dec = Decoder(graph_dir, DecoderOptions(input_kind="log-likelihoods")) if graph_dir else None
    words = dec.graph.words if dec else None
    return open_lattices(lattices, dec, acoustic_scale, scale_matters), words, dec


def _out(path):
    import contextlib

    return contextlib.nullcontext(sys.stdout) if path == "-" else open(path, "w", encoding="utf-8")


@lattice_group.command("best")
@_lattice_common()
@click.option("--word-penalty", type=float, default=0.0, show_default=True, help="Cost added per word.")
@click.option("-o", "--output", default="-", show_default=True, help="Kaldi text output.")
def lattice_best(lattices, graph_dir, acoustic_scale, lm_scale, word_penalty, output):
    """Best path of each lattice (as lattice-best-path)."""
    from hclg.lattice.tools import run_best

    lats, _, _ = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    with _out(output) as fh:
        _lattice_run(run_best, lats, fh, acoustic_scale, lm_scale, word_penalty)


@lattice_group.command("nbest")
@_lattice_common()
@click.option("-n", type=int, default=10, show_default=True, help="Distinct word sequences per lattice.")
@click.option("-o", "--output", default="-", show_default=True, help="Output: utt-k, cost, graph, acoustic, words.")
def lattice_nbest(lattices, graph_dir, acoustic_scale, lm_scale, n, output):
    """The N best distinct word sequences of each lattice with their costs."""
    from hclg.lattice.tools import run_nbest

    lats, _, _ = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    with _out(output) as fh:
        _lattice_run(run_nbest, lats, fh, n, acoustic_scale, lm_scale)


@lattice_group.command("ctm")
@_lattice_common(need_graph=True)
@click.option("-o", "--output", default="-", show_default=True, help="CTM output: utt 1 start dur word confidence.")
def lattice_ctm(lattices, graph_dir, acoustic_scale, lm_scale, output):
    """MBR words with times and confidences (as lattice-to-ctm-conf)."""
    from hclg.lattice.tools import run_ctm

    lats, _words, dec = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    with _out(output) as fh:
        _lattice_run(run_ctm, lats, fh, dec, acoustic_scale, lm_scale)


@lattice_group.command("oracle")
@_lattice_common(need_graph=True)
@click.option("--ref", required=True, type=click.Path(exists=True, dir_okay=False), help="Reference Kaldi text.")
@click.option("-o", "--output", default="-", show_default=True, help="Oracle paths as Kaldi text.")
def lattice_oracle(lattices, graph_dir, acoustic_scale, lm_scale, ref, output):
    """The path with the fewest errors against the reference, and the oracle WER."""
    from hclg.lattice.tools import run_oracle
    from hclg.scoring import read_text

    lats, words, _ = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    with _out(output) as fh:
        _lattice_run(run_oracle, lats, read_text(ref), fh, words, acoustic_scale, lm_scale)


@lattice_group.command("posteriors")
@_lattice_common()
@click.option("-o", "--output", default="-", show_default=True, help="Output: utt start_frame end_frame word posterior.")
def lattice_posteriors(lattices, graph_dir, acoustic_scale, lm_scale, output):
    """Word-arc posteriors by forward-backward."""
    from hclg.lattice.tools import run_posteriors

    lats, _, _ = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    with _out(output) as fh:
        _lattice_run(run_posteriors, lats, fh, acoustic_scale, lm_scale)


@lattice_group.command("prune")
@_lattice_common()
@click.option("--beam", type=float, required=True, help="Keep arcs on paths within this cost of the best.")
@click.option("-o", "--output", required=True, help="Output lattices (ark,t:, ark:, npz:DIR, fst:DIR).")
def lattice_prune(lattices, graph_dir, acoustic_scale, lm_scale, beam, output):
    """Prune lattices to a beam (as lattice-prune)."""
    from hclg.lattice.archives import refuse_overwriting
    from hclg.lattice.tools import run_prune

    call(refuse_overwriting, [lattices], output)
    lats, _, _ = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    _lattice_run(run_prune, lats, output, beam, acoustic_scale, lm_scale)


@lattice_group.command("depth")
@_lattice_common(scales=False)
@click.option("-o", "--output", default="-", show_default=True, help="Per-utterance depths.")
def lattice_depth(lattices, graph_dir, output):
    """Arcs per frame of each lattice and overall (as lattice-depth)."""
    from hclg.lattice.tools import run_depth

    lats, _, _ = _lattice_inputs(lattices, graph_dir, None, scale_matters=False)
    with _out(output) as fh:
        _lattice_run(run_depth, lats, fh)


@lattice_group.command("rescore")
@_lattice_common(need_graph=True, scales=False)
@click.option("--lm", "new_lm", required=True, type=click.Path(exists=True, dir_okay=False), help="New ARPA LM.")
@click.option("--old-lm", type=click.Path(exists=True, dir_okay=False), default=None, help="The LM the graph was built with (default: the ARPA recorded in the graph's manifest).")
@click.option("-o", "--output", required=True, help="Output lattices (ark,t:, ark:, npz:DIR, fst:DIR).")
def lattice_rescore(lattices, graph_dir, new_lm, old_lm, output):
    """Replace the graph's LM score by a new LM's (as Kaldi's lmrescore)."""
    from pathlib import Path

    from hclg.lattice.archives import refuse_overwriting
    from hclg.lattice.tools import run_rescore

    call(refuse_overwriting, [lattices], output)
    lats, words, dec = _lattice_inputs(lattices, graph_dir, None, scale_matters=False)
    if old_lm is None:
        from hclg.graph.output_dir import sha256

        rec = dec.graph.manifest.get("inputs", {}).get("grammar") or {}
        p = rec.get("path")
        if not p or not Path(p).is_file() or sha256(p) != rec.get("sha256"):
            raise click.ClickException(f"the graph's LM ({p or 'not recorded'}) is not found here, or has changed "
                                       "since the graph was compiled; give it with --old-lm")
        old_lm = p
    _lattice_run(run_rescore, lats, output, words, new_lm, old_lm)


@lattice_group.command("draw")
@_lattice_common(scales=False)
@click.option("--format", "fmt", type=click.Choice(["dot", "svg", "png"]), default="svg", show_default=True, help="svg/png need Graphviz's dot.")
@click.option("--utt", "utts", multiple=True, help="Only these utterances (repeatable).")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory for UTT.<format> files.")
def lattice_draw(lattices, graph_dir, fmt, utts, out_dir):
    """Draw lattices with words and costs on arcs."""
    from hclg.lattice.tools import run_draw

    lats, _, _ = _lattice_inputs(lattices, graph_dir, None, scale_matters=False)
    _lattice_run(run_draw, lats, out_dir, fmt, set(utts))


@lattice_group.command("sweep")
@_lattice_common(need_graph=True, scales=False)
@click.option("--ref", required=True, type=click.Path(exists=True, dir_okay=False), help="Reference Kaldi text.")
@click.option("--lm-weights", default="7:17", show_default=True, help="LM weights: start:end[:step] or a comma list.")
@click.option("--word-penalties", default="0.0,0.5,1.0", show_default=True, help="Word insertion penalties, in Kaldi's units (score.sh's --word-ins-penalty): a comma list or start:end:step.")
def lattice_sweep(lattices, graph_dir, ref, lm_weights, word_penalties):
    """WER over LM weights x insertion penalties, as Kaldi's scoring scripts; best marked."""
    from hclg.lattice.tools import parse_grid, run_sweep
    from hclg.scoring import read_text

    lats, words, _ = _lattice_inputs(lattices, graph_dir, None, scale_matters=False)
    try:
        grid = parse_grid(lm_weights), parse_grid(word_penalties)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    _lattice_run(run_sweep, lats, read_text(ref), words, grid[0], grid[1], sys.stdout)
