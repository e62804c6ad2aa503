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
            click.option("--context-table", type=click.Path(exists=True, dir_okay=False), default=None, help=_help(C, "context_table")),
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
            click.option("--max-determinize-mem", type=int, default=None, help=_help(C, "max_determinize_mem")),
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


def _decoder_options(f):
    """click options for every DecoderOptions field, with its default and help."""
    from hclg.decoder.config import INPUT_KINDS, DecoderOptions

    skip = {"word_times"}  # on with --ctm/--json
    for fld in reversed(dataclasses.fields(DecoderOptions)):
        if fld.name in skip:
            continue
        name = "--" + fld.name.replace("_", "-")
        kw = {"default": fld.default, "show_default": True, "help": fld.metadata["help"]}
        if fld.name == "input_kind":
            kw["type"] = click.Choice(INPUT_KINDS)
        elif fld.type in ("bool",) or isinstance(fld.default, bool):
            name = f"{name}/--no-{fld.name.replace('_', '-')}"
        elif fld.type in ("int",):
            kw["type"] = int
        elif "float" in str(fld.type):
            kw["type"] = float
        f = click.option(name, fld.name, **kw)(f)
    return f


@main.command("decode")
@click.argument("graph_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", "text_out", default="-", show_default=True, help="Kaldi text output (utt w1 w2 ...); - for stdout.")
@click.option("--ctm", "ctm_out", type=click.Path(dir_okay=False), default=None, help="Also write word times as CTM (utt 1 start dur word).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Also write one JSON object per utterance (words, times, costs, partial).")
@click.option("--priors", type=click.Path(exists=True, dir_okay=False), default=None, help="Priors to divide posteriors by (Kaldi vector, text or .npy; counts or probabilities).")
@click.option("--lattice", "lattice_out", default=None, help="Also write word lattices: ark,t:PATH (Kaldi text), ark:PATH (Kaldi binary), npz:DIR or fst:DIR.")
@click.option("--resume", is_flag=True, help="Skip utterances already in the text output; append.")
@click.option("-j", "--jobs", type=int, default=1, show_default=True, help="Decoding processes sharing the memory-mapped graph.")
@_decoder_options
@click.option("-v", "--verbose", count=True, default=0, help="More logging.")
def decode_cmd(graph_dir, inputs, text_out, ctm_out, json_out, lattice_out, priors, resume, jobs, verbose, **kw):
    """Decode posterior matrices (Kaldi ark:/scp:, .npy, .npz, or a folder of .npy) with GRAPH_DIR.

    Exits with status 1 if any utterance failed; the others are still decoded.
    """
    from hclg.decoder.batch import decode_batch
    from hclg.decoder.config import DecoderOptions
    from hclg.decoder.likelihoods import read_priors
    from hclg.errors import HclgError

    _setup_logging(max(verbose, 0))
    logging.getLogger("hclg").setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        opts = DecoderOptions(**kw, word_times=bool(ctm_out or json_out)).validate()
        lp = read_priors(priors) if priors else None
        summary = decode_batch(graph_dir, list(inputs), opts, text_out, ctm_out, json_out, resume, jobs, lp,
                               lattice_out=lattice_out)
    except (HclgError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"decoded {summary.decoded}, failed {summary.failed}, skipped {summary.skipped}, "
               f"partial {summary.partial}; {summary.frames} frames, {summary.frames_per_second:.0f} frames/s", err=True)
    if summary.failed:
        sys.exit(1)


@main.command("priors")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to write the priors (.npy, or text).")
@click.option("--input-kind", type=click.Choice(["log-posteriors", "posteriors", "logits"]), default="log-posteriors", show_default=True, help="What the matrices hold.")
def priors_cmd(inputs, output, input_kind):
    """Estimate priors as the average posterior over the given utterances."""
    import numpy as np

    from hclg.decoder.io import iter_matrices
    from hclg.decoder.likelihoods import estimate_priors
    from hclg.errors import HclgError

    def mats():
        for spec in inputs:
            for utt, m in iter_matrices(spec):
                if isinstance(m, Exception):
                    raise click.ClickException(str(m))
                yield m

    try:
        p = estimate_priors(mats(), input_kind)
    except HclgError as e:
        raise click.ClickException(str(e)) from None
    if output.endswith(".npy"):
        np.save(output, p)
    else:
        with open(output, "w") as fh:
            fh.write("[ " + " ".join(f"{x:.8g}" for x in p) + " ]\n")
    click.echo(f"{output}: {len(p)} priors", err=True)


@main.command("wer")
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


# ---- lattices ----

@main.group("lattice")
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
        f = click.option("--graph", "graph_dir", type=click.Path(exists=True, file_okay=False), required=need_graph,
                         default=None, help="Graph directory the lattices were decoded with (words, lexicon)." + (" Required." if need_graph else ""))(f)
        f = click.argument("lattices")(f)
        return f
    return deco


def _lattice_run(func, *args, **kwargs):
    """Calls a lattice tool; reports its summary; exit 1 if any lattice failed."""
    from hclg.errors import HclgError

    _setup_logging(0)
    try:
        s = func(*args, **kwargs)
    except (HclgError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{s.done} lattices, {s.failed} failed" + (f"; {s.detail}" if s.detail else ""), err=True)
    if s.failed:
        sys.exit(1)
    return s


def _lattice_inputs(lattices, graph_dir, acoustic_scale):
    from hclg.decoder.lattice_tools import open_lattices
    from hclg.decoder.search import Decoder

    dec = Decoder(graph_dir) if graph_dir else None
    words = dec.graph.words if dec else None
    return open_lattices(lattices, dec, acoustic_scale), words, dec


def _out(path):
    import contextlib

    return contextlib.nullcontext(sys.stdout) if path == "-" else open(path, "w", encoding="utf-8")


@lattice_group.command("best")
@_lattice_common()
@click.option("--word-penalty", type=float, default=0.0, show_default=True, help="Cost added per word.")
@click.option("-o", "--output", default="-", show_default=True, help="Kaldi text output.")
def lattice_best(lattices, graph_dir, acoustic_scale, lm_scale, word_penalty, output):
    """Best path of each lattice (as lattice-best-path)."""
    from hclg.decoder.lattice_tools import run_best

    lats, words, _ = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    with _out(output) as fh:
        _lattice_run(run_best, lats, fh, words, acoustic_scale, lm_scale, word_penalty)


@lattice_group.command("nbest")
@_lattice_common()
@click.option("-n", type=int, default=10, show_default=True, help="Distinct word sequences per lattice.")
@click.option("-o", "--output", default="-", show_default=True, help="Output: utt-k, cost, graph, acoustic, words.")
def lattice_nbest(lattices, graph_dir, acoustic_scale, lm_scale, n, output):
    """The N best distinct word sequences of each lattice with their costs."""
    from hclg.decoder.lattice_tools import run_nbest

    lats, words, _ = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    with _out(output) as fh:
        _lattice_run(run_nbest, lats, fh, n, words, acoustic_scale, lm_scale)


@lattice_group.command("ctm")
@_lattice_common(need_graph=True)
@click.option("-o", "--output", default="-", show_default=True, help="CTM output: utt 1 start dur word confidence.")
def lattice_ctm(lattices, graph_dir, acoustic_scale, lm_scale, output):
    """MBR words with times and confidences (as lattice-to-ctm-conf)."""
    from hclg.decoder.lattice_tools import run_ctm

    lats, _words, dec = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    with _out(output) as fh:
        _lattice_run(run_ctm, lats, fh, dec, acoustic_scale, lm_scale)


@lattice_group.command("oracle")
@_lattice_common(need_graph=True)
@click.option("--ref", required=True, type=click.Path(exists=True, dir_okay=False), help="Reference Kaldi text.")
@click.option("-o", "--output", default="-", show_default=True, help="Oracle paths as Kaldi text.")
def lattice_oracle(lattices, graph_dir, acoustic_scale, lm_scale, ref, output):
    """The path with the fewest errors against the reference, and the oracle WER."""
    from hclg.decoder.lattice_tools import run_oracle
    from hclg.scoring import read_text

    lats, words, _ = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    with _out(output) as fh:
        _lattice_run(run_oracle, lats, read_text(ref), fh, words, acoustic_scale, lm_scale)


@lattice_group.command("posteriors")
@_lattice_common()
@click.option("-o", "--output", default="-", show_default=True, help="Output: utt start_frame end_frame word posterior.")
def lattice_posteriors(lattices, graph_dir, acoustic_scale, lm_scale, output):
    """Word-arc posteriors by forward-backward."""
    from hclg.decoder.lattice_tools import run_posteriors

    lats, words, _ = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    with _out(output) as fh:
        _lattice_run(run_posteriors, lats, fh, words, acoustic_scale, lm_scale)


@lattice_group.command("prune")
@_lattice_common()
@click.option("--beam", type=float, required=True, help="Keep arcs on paths within this cost of the best.")
@click.option("-o", "--output", required=True, help="Output lattices (ark,t:, ark:, npz:DIR, fst:DIR).")
def lattice_prune(lattices, graph_dir, acoustic_scale, lm_scale, beam, output):
    """Prune lattices to a beam (as lattice-prune)."""
    from hclg.decoder.lattice_tools import run_prune

    lats, _, _ = _lattice_inputs(lattices, graph_dir, acoustic_scale)
    _lattice_run(run_prune, lats, output, beam, acoustic_scale, lm_scale)


@lattice_group.command("depth")
@_lattice_common(scales=False)
@click.option("-o", "--output", default="-", show_default=True, help="Per-utterance depths.")
def lattice_depth(lattices, graph_dir, output):
    """Arcs per frame of each lattice and overall (as lattice-depth)."""
    from hclg.decoder.lattice_tools import run_depth

    lats, _, _ = _lattice_inputs(lattices, graph_dir, None)
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

    from hclg.decoder.lattice_tools import run_rescore

    lats, words, dec = _lattice_inputs(lattices, graph_dir, None)
    if old_lm is None:
        from hclg.graphs.graphdir import sha256

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
    from hclg.decoder.lattice_tools import run_draw

    lats, words, _ = _lattice_inputs(lattices, graph_dir, None)
    _lattice_run(run_draw, lats, out_dir, words, fmt, set(utts))


@lattice_group.command("sweep")
@_lattice_common(need_graph=True, scales=False)
@click.option("--ref", required=True, type=click.Path(exists=True, dir_okay=False), help="Reference Kaldi text.")
@click.option("--lm-weights", default="7:17", show_default=True, help="LM weights: start:end[:step] or a comma list.")
@click.option("--word-penalties", default="0.0,0.5,1.0", show_default=True, help="Word insertion penalties: a comma list or start:end:step.")
def lattice_sweep(lattices, graph_dir, ref, lm_weights, word_penalties):
    """WER over LM weights x insertion penalties, as Kaldi's scoring scripts; best marked."""
    from hclg.decoder.lattice_tools import parse_grid, run_sweep
    from hclg.scoring import read_text

    lats, words, _ = _lattice_inputs(lattices, graph_dir, None)
    try:
        grid = parse_grid(lm_weights), parse_grid(word_penalties)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    _lattice_run(run_sweep, lats, read_text(ref), words, grid[0], grid[1], sys.stdout)


if __name__ == "__main__":
    main()
