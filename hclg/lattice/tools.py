"""What the ``hclg lattice`` commands do, one function per command, over lattice streams.

Each reads lattices from a specifier (see :mod:`hclg.lattice.archives`), does one job per
lattice, writes lines as it goes, and returns a small frozen summary. A lattice that fails
is reported and counted; the others go on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, TextIO

import numpy as np

from hclg.errors import HclgError
from hclg.lattice import ops
from hclg.lattice.archives import LatticeWriter, file_stem, parse_spec, read_lattices
from hclg.lattice.ctm import ctm
from hclg.lattice.lattice import Lattice
from hclg.lattice.rescore import NgramLM, rescore

log = logging.getLogger("hclg")


@dataclass(frozen=True)
class ToolSummary:
    """Lattices done and failed, and the command's headline figure (meaning per command)."""

    done: int
    failed: int
    value: float = 0.0
    detail: str = ""


def open_lattices(spec: str, decoder=None, acoustic_scale: float | None = None,
                  scale_matters: bool = True) -> Iterator[Lattice]:
    """Lattices from ``spec``. Kaldi archives carry neither acoustic scale nor frame length:
    they are read with ``acoustic_scale`` if given, else the decoding default of the
    ``decoder``'s graph (0.1 HMM, 1.0 chain/CTC), else 0.1; frame length from the decoder's
    options (default 10 ms). ``scale_matters`` False: the caller does not use the acoustic
    scale (depth, drawing, LM rescoring, a sweep over LM weights), so the archive's lack
    of one is not worth a warning."""
    sc = acoustic_scale
    if sc is None and decoder is not None:
        sc = decoder.acoustic_scale
    if acoustic_scale is None and scale_matters and parse_spec(spec)[0] in ("text", "ark"):
        log.warning("%s: Kaldi archives do not record the acoustic scale they were decoded with; scoring at %g "
                    "(%s). If they were decoded at another, give --acoustic-scale.", spec, 0.1 if sc is None else sc,
                    "the graph's default" if decoder is not None else "Kaldi's usual 0.1")
    fs = decoder.frame_seconds if decoder is not None else 0.01
    words = decoder.graph.words if decoder is not None else None
    for lat in read_lattices(spec, 0.1 if sc is None else sc, fs):
        yield lat.with_words(words) if words is not None else lat


def _each(lattices, job) -> tuple[int, int]:
    done = failed = 0
    for lat in lattices:
        try:
            job(lat)
            done += 1
        except HclgError as e:
            failed += 1
            log.error("utterance %r: %s", lat.utt, e)
    return done, failed


def run_best(lattices, out: TextIO, acoustic_scale=None, lm_scale=1.0, word_penalty=0.0) -> ToolSummary:
    """Writes ``utt w1 w2 ...`` for each lattice's best path (lattice-best-path); words by
    the lattice's word table (ids without one)."""
    def job(lat):
        p = ops.best_path(lat, acoustic_scale, lm_scale, word_penalty)
        out.write(" ".join([lat.utt, *p.word_names]) + "\n")
        out.flush()
    return ToolSummary(*_each(lattices, job))


def run_nbest(lattices, out: TextIO, n: int, acoustic_scale=None, lm_scale=1.0) -> ToolSummary:
    """Writes ``utt-k cost graph acoustic w1 w2 ...`` for the n best distinct word
    sequences of each lattice (lattice-to-nbest; ``utt-1`` is the best)."""
    def job(lat):
        for i, p in enumerate(ops.nbest(lat, n, acoustic_scale, lm_scale), 1):
            out.write(f"{lat.utt}-{i}\t{p.cost:.4f}\t{p.graph_cost:.4f}\t{p.acoustic_cost:.4f}\t"
                      + " ".join(p.word_names) + "\n")
        out.flush()
    return ToolSummary(*_each(lattices, job))


def run_ctm(lattices, out: TextIO, decoder, acoustic_scale=None, lm_scale=1.0) -> ToolSummary:
    """Writes CTM lines with confidences (``utt 1 start dur word conf``) of the MBR
    hypothesis (lattice-to-ctm-conf)."""
    def job(lat):
        for w in ctm(lat, decoder, acoustic_scale, lm_scale):
            out.write(w.line() + "\n")
        out.flush()
    return ToolSummary(*_each(lattices, job))


def run_oracle(lattices, refs: dict, out: TextIO, words, acoustic_scale=None, lm_scale=1.0) -> ToolSummary:
    """Writes each lattice's oracle path (fewest errors against ``refs``) as Kaldi text;
    the summary's value is the oracle WER (%) over the lattices with a reference.
    Reference words missing from words.txt can never be matched (they count as errors)."""
    errs = n = 0

    def job(lat):
        nonlocal errs, n
        if lat.utt not in refs:
            log.warning("utterance %r: no reference; skipped", lat.utt)
            return
        ref = [words.get(w, -1) for w in refs[lat.utt]]
        o = ops.oracle(lat, ref, acoustic_scale, lm_scale)
        errs += o.errors
        n += o.ref_len
        named = lat if lat.words is not None else lat.with_words(words)
        out.write(" ".join([lat.utt, *named.word_names(o.words)]) + "\n")
        out.flush()
    d, f = _each(lattices, job)
    wer = 100.0 * errs / n if n else 0.0
    return ToolSummary(d, f, wer, f"%WER {wer:.2f} [ {errs} / {n} ] (oracle)")


def run_posteriors(lattices, out: TextIO, acoustic_scale=None, lm_scale=1.0) -> ToolSummary:
    """Writes ``utt start_frame end_frame word posterior`` per word arc (forward-backward);
    words by the lattice's word table (ids without one)."""
    def job(lat):
        for w, s, e, p in ops.word_posteriors(lat, acoustic_scale, lm_scale):
            out.write(f"{lat.utt} {s} {e} {lat.word_names([w])[0]} {p:.6f}\n")
        out.flush()
    return ToolSummary(*_each(lattices, job))


def run_prune(lattices, wspec: str, beam: float, acoustic_scale=None, lm_scale=1.0) -> ToolSummary:
    """Writes each lattice pruned to ``beam`` (lattice-prune); value: arcs kept / before."""
    before = after = 0
    with LatticeWriter(wspec) as w:
        def job(lat):
            nonlocal before, after
            p = ops.prune(lat, beam, acoustic_scale, lm_scale)
            before += lat.num_arcs
            after += p.num_arcs
            w.write(p)
        d, f = _each(lattices, job)
    return ToolSummary(d, f, after / max(before, 1), f"{after} of {before} arcs kept")


def run_depth(lattices, out: TextIO) -> ToolSummary:
    """Writes ``utt depth`` per lattice; value: the average depth over all frames
    (lattice-depth)."""
    arcs_frames = frames = 0

    def job(lat):
        nonlocal arcs_frames, frames
        d = ops.depth(lat)
        arcs_frames += d * lat.num_frames
        frames += lat.num_frames
        out.write(f"{lat.utt} {d:.3f}\n")
        out.flush()
    d, f = _each(lattices, job)
    avg = arcs_frames / frames if frames else 0.0
    return ToolSummary(d, f, avg, f"overall lattice depth {avg:.3f} over {frames} frames")


def run_rescore(lattices, wspec: str, words, new_lm, old_lm=None, old_scale=1.0, new_scale=1.0) -> ToolSummary:
    """Writes each lattice with the old LM's cost replaced by ``new_lm``'s (ARPA paths or
    :class:`~hclg.lattice.rescore.NgramLM`)."""

    new = new_lm if isinstance(new_lm, NgramLM) else NgramLM(new_lm)
    old = old_lm if (old_lm is None or isinstance(old_lm, NgramLM)) else NgramLM(old_lm)
    with LatticeWriter(wspec) as w:
        d, f = _each(lattices, lambda lat: w.write(rescore(lat, words, old, new, old_scale, new_scale)))
    return ToolSummary(d, f)


def run_draw(lattices, out_dir, fmt: str = "svg", utts=None) -> ToolSummary:
    """Draws each lattice (or those in ``utts``) to ``out_dir/UTT.{dot,svg,png}``."""
    od = Path(out_dir)
    od.mkdir(parents=True, exist_ok=True)

    def job(lat):
        if utts and lat.utt not in utts:
            return
        lat.draw(od / f"{file_stem(lat.utt)}.{fmt}", fmt)
    return ToolSummary(*_each(lattices, job))


def run_sweep(lattices, refs: dict, words, lm_weights, word_penalties, out: TextIO) -> ToolSummary:
    """Prints a table of WER over LM weights x word insertion penalties (as Kaldi's
    score.sh, acoustic scale 1/LM weight on unscaled acoustic costs); value: best WER."""
    lats = list(lattices)
    res = ops.sweep(lats, refs, words, lm_weights, word_penalties)
    wips = list(dict.fromkeys(r[1] for r in res.rows))
    out.write("lm-weight " + " ".join(f"wip={w:<7g}" for w in wips) + "\n")
    for lmw in dict.fromkeys(r[0] for r in res.rows):
        cells = [r for r in res.rows if r[0] == lmw]
        out.write(f"{lmw:<9g} " + " ".join(f"{100.0 * r[2] / max(r[3], 1):<11.2f}" for r in cells) + "\n")
    b = res.best
    best_wer = 100.0 * b[2] / max(b[3], 1)
    out.write(f"best: lm-weight {b[0]:g} wip {b[1]:g}  %WER {best_wer:.2f} [ {b[2]} / {b[3]} ]\n")
    out.flush()
    return ToolSummary(len(lats), 0, best_wer, f"lm-weight {b[0]:g}, word penalty {b[1]:g}")


def parse_grid(text: str) -> list[float]:
    """'7:17' (integers inclusive), '7:17:2', or '0,0.5,1' -> list of floats."""
    if ":" in text:
        parts = [float(x) for x in text.split(":")]
        if len(parts) not in (2, 3):
            raise ValueError(f"bad range {text!r}: use start:end or start:end:step")
        step = parts[2] if len(parts) == 3 else 1.0
        return [float(x) for x in np.arange(parts[0], parts[1] + step / 2, step)]
    return [float(x) for x in text.split(",") if x.strip()]
