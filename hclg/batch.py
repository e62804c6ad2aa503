"""Decoding many utterances to files: what ``hclg decode`` and ``hclg stream`` do.

Each utterance's output is written and flushed as soon as it is decoded, so an
interrupted run loses nothing and ``resume`` carries on after the last complete line.
A bad utterance is reported and counted; the others are decoded.

Longer than 400 lines: the two batches share their input iteration, output checks and
decoder set-up here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing as mp
import re
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from hclg.errors import HclgError
from hclg.lattice.archives import LatticeWriter, parse_spec, refuse_overwriting
from hclg.lattice.generation import LatticeDecoder, decode_utterance
from hclg.search.alignments import AlignmentWriter, parse_alignment_spec
from hclg.search.endpoint import EndpointOptions
from hclg.search.matrix_readers import count_utterances, iter_matrices
from hclg.search.options import DecoderOptions
from hclg.search.resume import first_field, keep_done_lines
from hclg.search.stream_records import stream_utterance

log = logging.getLogger("hclg")


@dataclass(frozen=True)
class BatchSummary:
    """Counts of a batch: decoded, failed, skipped (resume), partial; frames; wall seconds;
    and why it stopped early, if it did (a problem every utterance would have)."""

    decoded: int
    failed: int
    skipped: int
    partial: int
    frames: int
    seconds: float
    stopped: str | None = None

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _done_ids(path: Path) -> set[str]:
    """Utterance ids already complete in a text output; drops a torn last line."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as fh:
            fh.truncate(cut)
        data = data[:cut]
    return {line.split(maxsplit=1)[0] for line in data.decode("utf-8").splitlines() if line.strip()}


_worker: LatticeDecoder | None = None


_want_lattice = False


def _init_worker(decoder, lattice):
    """Runs in each forked worker: the parent's decoder (its kernels already loaded, its
    index arrays made) arrives by fork, not by pickling."""
    global _worker, _want_lattice  # noqa: PLW0603 - one decoder per worker process, set once
    _worker = decoder
    _want_lattice = lattice


def _decode_one(item):
    return _decode_item(_worker, item, _want_lattice)


def text_output_path(spec: str) -> str:
    """The file of a text output given as a path, ``-`` or a Kaldi wspecifier
    (``ark,t:PATH``); a binary wspecifier is refused (the output is Kaldi text)."""
    m = re.match(r"^(ark|scp)((?:,[a-z]+)*):(.*)$", spec)
    if not m:
        return spec
    if m.group(1) != "ark" or "t" not in m.group(2).split(","):
        raise ValueError(f"{spec}: the text output is a Kaldi text archive: give ark,t:PATH, a path or -")
    return m.group(3)


def _json_record(line: str) -> dict:
    try:
        return json.loads(line)
    except ValueError:  # a torn last line
        return {}


def _json_utt(line: str) -> str:
    return _json_record(line).get("utt", "")


def _done_streams(path) -> set[str]:
    """The utterances a stream output has finished (their ``done`` record is there)."""
    if not Path(path).exists():
        return set()
    with open(path, encoding="utf-8") as fh:
        return {r["utt"] for r in map(_json_record, fh) if r.get("done")}


def _check_outputs(inputs, jobs, text_outputs, lattice_out, alignments_out=None) -> None:
    """Raises ValueError for a bad job count, an output whose folder does not exist, or an
    output that would write over an input."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    paths = [out for out in text_outputs if out and out != "-"]
    if alignments_out:
        paths.append(parse_alignment_spec(alignments_out)[1])
        refuse_overwriting(inputs, alignments_out)
    if lattice_out:
        _, lp = parse_spec(lattice_out)
        if lp != "-":
            paths.append(lp)
    for out in paths:
        parent = Path(out).parent
        if not parent.is_dir():
            raise ValueError(f"{out}: cannot write there: the folder {parent} does not exist")
    for out in text_outputs:
        if out:
            refuse_overwriting(inputs, f"ark,t:{out}")
    if lattice_out:
        refuse_overwriting(inputs, lattice_out)


@dataclass
class _Tally:
    """The running counts of a batch (what BatchSummary reports)."""

    decoded: int = 0
    failed: int = 0
    skipped: int = 0
    partial: int = 0
    frames: int = 0
    stopped: str | None = None


def _utterances(inputs, decoder, done: set, tally: _Tally):
    """(utt, matrix) of every input to decode: unreadable ones and repeated ids are counted
    failed, those ``done`` (resume) skipped; a first matrix whose column count does not fit
    the graph stops the run (every utterance would fail the same way)."""
    seen: set[str] = set()
    for spec in inputs:
        for utt, mat in iter_matrices(spec):
            if isinstance(mat, Exception):
                tally.failed += 1
                log.error("%s", mat)
                continue
            if utt in seen:
                tally.failed += 1
                log.error("utterance %r: id repeated in the input; only the first is decoded", utt)
                continue
            seen.add(utt)
            if utt in done:
                tally.skipped += 1
                continue
            if len(seen) == 1:
                problem = _first_matrix_problem(decoder, utt, mat)
                if problem:
                    tally.failed += 1
                    tally.stopped = problem
                    log.error("%s", problem)
                    return
            yield utt, mat


def _first_matrix_problem(decoder, utt, mat) -> str | None:
    """A column count that does not fit the graph, in the first matrix: the run stops there
    with one message (every utterance would fail the same way)."""
    ncol = decoder.graph.num_columns
    shape = getattr(mat, "shape", ())
    if len(shape) == 2 and shape[1] != ncol:
        return (f"the inputs have {shape[1]} columns (utterance {utt!r}, the first) but the graph "
                f"{decoder.graph.path} reads {ncol}: wrong graph or wrong inputs? Stopped there.")
    return None


def _open_outputs(text_out, line_outputs, lattice_out, alignments_out, resume: bool, done: set):
    """The batch's outputs, opened for writing (appending, with ``resume``; the lattice
    and alignment archives are then cut back to the utterances ``done``): the text, each
    of ``line_outputs`` (CTM, JSON, phone CTM; None where not asked), the lattice and
    alignment writers."""
    if resume:  # what was written after the last text line is not done: cut it
        for path, utt_of in zip(line_outputs, (first_field, _json_utt, first_field)):
            if path:
                keep_done_lines(path, done, utt_of)
    mode = "a" if resume else "w"
    keep = done if resume else None
    return (sys.stdout if text_out == "-" else open(text_out, mode, encoding="utf-8"),
            *(open(p, mode, encoding="utf-8") if p else None for p in line_outputs),
            LatticeWriter(lattice_out, append=resume, keep=keep) if lattice_out else None,
            AlignmentWriter(alignments_out, append=resume, keep=keep) if alignments_out else None)


def _batch_decoder(graph, options, log_priors, hotwords, pronunciations=None, lattice_out=None) -> LatticeDecoder:
    """The batch's decoder, its hotwords compiled once (before any worker forks), with the
    words the graph lacks added (:meth:`~hclg.search.decoder.Decoder.with_bias`); with
    ``lattice_out``, says the ids the lattices give those words."""
    decoder = LatticeDecoder(graph, options, log_priors)
    if hotwords is None:
        if pronunciations:
            log.warning("pronunciations of words to add (--hotword-lexicon) but no hotwords: a word is added for "
                        "the phrases that name it, so none is")
        return decoder
    decoder = decoder.with_bias(hotwords, pronunciations)
    if lattice_out:
        _say_new_word_ids(decoder, lattice_out)
    return decoder


def _say_new_word_ids(decoder, lattice_out) -> None:
    """Warns that lattices name the words added for this run (hotwords the graph lacks)
    by ids past the graph's words.txt, and which."""
    g = decoder.graph
    if g.new_words:
        base = len(decoder.base_graph.words)
        ids = ", ".join(f"{w} {g.words.id(w)}" for w in dict.fromkeys(w for w, _ in g.new_words))
        log.warning("%s: the words added for this run have ids past %s/words.txt (%d symbols): %s; tools that read "
                    "the lattices with that table cannot name them", lattice_out, decoder.base_graph.path, base, ids)


def _total(inputs) -> int | None:
    """The utterances of ``inputs``, where cheap to know (:func:`count_utterances`)."""
    counts = [count_utterances(spec) for spec in inputs]
    return None if None in counts else sum(counts)


def _show_progress(tally: _Tally, seconds: float, total: int | None) -> None:
    """The progress line on stderr: utterances, frames/s, failures, and the time left
    when the number of utterances is known."""
    line = f"\rdecoded {tally.decoded} utterances, {tally.frames / max(seconds, 1e-9):.0f} frames/s, {tally.failed} failed"
    if total:
        n = tally.decoded + tally.failed
        left = max(total - tally.skipped - n, 0)
        line += f", {n + tally.skipped}/{total}, ETA {seconds / max(n, 1) * left:.0f}s"
    sys.stderr.write(line)
    sys.stderr.flush()


def _write_archives(lat_w, ali_w, utt, res, lat) -> str | None:
    """Writes an utterance's lattice and alignment (where asked); why it could not, if so
    (an id that cannot name a file or be an archive key: that utterance fails)."""
    try:
        if lat_w is not None:
            lat_w.write(lat)
        if ali_w is not None:
            ali_w.write(utt, res.alignment)
    except (HclgError, ValueError) as e:
        return str(e)
    return None


def decode_batch(graph, inputs, options: DecoderOptions = DecoderOptions(), text_out="-", ctm_out=None,
                 json_out=None, resume: bool = False, jobs: int = 1, log_priors: np.ndarray | None = None,
                 progress: bool | None = None, lattice_out: str | None = None,
                 alignments_out: str | None = None, phone_ctm_out: str | None = None,
                 hotwords: list | None = None, cluster=None, shard_size: int = 8,
                 pronunciations: dict | None = None) -> BatchSummary:
    """Decodes every utterance of ``inputs`` and writes Kaldi text (and CTM/JSON) lines.

    Args:
        graph: graph directory.
        inputs: input specs (see :func:`hclg.search.matrix_readers.iter_matrices`).
        options: DecoderOptions.
        text_out: path of the ``utt w1 w2 ...`` output, or ``-`` for stdout.
        ctm_out: path for CTM lines (``utt 1 start dur word``), or None.
        json_out: path for one JSON object per utterance, or None.
        resume: skip utterances already in ``text_out`` and append to the outputs.
        jobs: decoding processes (each opens the memory-mapped graph once); output order
            is the input order.
        log_priors: log priors to divide posteriors by, or None.
        progress: show progress on stderr (default: when stderr is a terminal).
        lattice_out: write each utterance's word lattice there (``ark,t:PATH``,
            ``ark:PATH``, ``npz:DIR``, ``fst:DIR``; see :mod:`hclg.lattice.archives`),
            before its text line, so a resumed run finds every finished lattice.
        alignments_out: write each 1-best's frame alignment (transition ids) there as
            Kaldi does (``ark:PATH`` or ``ark,t:PATH``; :mod:`hclg.search.alignments`),
            before its text line.
        phone_ctm_out: path for phone CTM lines (``utt 1 start dur phone``, as Kaldi's
            ``ali-to-phones --ctm-output``), or None.
        hotwords: phrases every utterance's search favours (``"phrase"`` or ``("phrase",
            boost)``; :mod:`hclg.search.bias`), or None; ``pronunciations`` (word -> token
            sequences) give the tokens of their words the graph lacks (added for the batch).
        cluster: decode on a Dask cluster (:mod:`hclg.cluster`) instead of here: ``local``,
            ``local:N`` (N worker processes on this machine), a scheduler's address, or a
            ``distributed.Client``; the outputs are the same, byte for byte. Not with ``jobs``.
        shard_size: with ``cluster``, utterances a task decodes.

    Returns:
        BatchSummary; ``failed`` > 0 means some utterances were not decoded.
    """
    options.validate()
    text_out = text_output_path(text_out)
    if resume and text_out == "-":
        raise ValueError("--resume needs the text output in a file: it is the record of what is done")
    _check_outputs(inputs, jobs, (text_out, ctm_out, json_out, phone_ctm_out), lattice_out, alignments_out)
    if cluster is not None and jobs > 1:
        raise ValueError("--jobs runs processes here, --cluster on a Dask cluster: give one of them")
    if (alignments_out or phone_ctm_out) and not options.alignment:
        options = dataclasses.replace(options, alignment=True)
    decoder = _batch_decoder(graph, options, log_priors, hotwords, pronunciations, lattice_out)
    if progress is None:
        progress = sys.stderr.isatty()
    done = _done_ids(Path(text_out)) if resume else set()
    text_fh, ctm_fh, json_fh, phone_fh, lat_w, ali_w = _open_outputs(text_out, (ctm_out, json_out, phone_ctm_out),
                                                                     lattice_out, alignments_out, resume, done)
    tally = _Tally()
    total = _total(inputs) if progress else None
    decoder.warm_up(lattice=lat_w is not None)  # kernels loaded (or compiled) before the clock starts
    t0 = time.perf_counter()

    def write(utt, res, lat, err):
        if err is not None:
            tally.failed += 1
            log.error("%s", err)
            return
        problem = _write_archives(lat_w, ali_w, utt, res, lat)
        if problem is not None:
            tally.failed += 1
            log.error("%s", problem)
            return
        if res.partial:
            log.warning("utterance %r: no final state reached; output is the best partial hypothesis", utt)
        # the text line last: it is the record that the utterance is done (resume reads it)
        if ctm_fh:
            ctm_fh.write("".join(line + "\n" for line in res.ctm_lines()))
            ctm_fh.flush()
        if json_fh:
            json_fh.write(json.dumps(res.as_dict(), sort_keys=True) + "\n")
            json_fh.flush()
        if phone_fh:
            phone_fh.write("".join(line + "\n" for line in res.phone_ctm_lines()))
            phone_fh.flush()
        text_fh.write(f"{utt} {res.text}".rstrip() + "\n")
        text_fh.flush()
        tally.decoded += 1
        tally.frames += res.frames
        tally.partial += res.partial
        if progress and tally.decoded % 10 == 0:
            _show_progress(tally, time.perf_counter() - t0, total)

    try:
        if cluster is not None:
            from hclg.cluster import run_on_cluster

            graph = str(Path(graph).resolve())  # the workers open it by this path
            for out in run_on_cluster(cluster, _utterances(inputs, decoder, done, tally), graph,
                                      partial(_cluster_decoder, graph, options, log_priors, hotwords, pronunciations),
                                      partial(_decode_item, lattice=lat_w is not None), _decode_failed, shard_size,
                                      progress):
                write(*out)
        elif jobs == 1:
            for utt, mat in _utterances(inputs, decoder, done, tally):
                write(utt, *decode_utterance(decoder, utt, mat, lat_w is not None))
        else:
            ctx = mp.get_context("fork")  # (the decoder was warmed up above: once, not once per worker)
            with ctx.Pool(jobs, initializer=_init_worker, initargs=(decoder, lat_w is not None)) as pool:
                for utt, res, lat, err in pool.imap(_decode_one, _utterances(inputs, decoder, done, tally),
                                                    chunksize=4):
                    write(utt, res, lat, err)
    finally:
        if progress:
            sys.stderr.write("\n")
        for fh in (text_fh, ctm_fh, json_fh, phone_fh, lat_w, ali_w):
            if fh is not None and fh is not sys.stdout:
                fh.close()
    s = BatchSummary(tally.decoded, tally.failed, tally.skipped, tally.partial, tally.frames,
                     time.perf_counter() - t0, tally.stopped)
    log.debug("decoded %d, failed %d, skipped %d, partial %d; %d frames in %.2fs (%.0f frames/s)",
              s.decoded, s.failed, s.skipped, s.partial, s.frames, s.seconds, s.frames_per_second)
    return s


def _cluster_decoder(graph, options, log_priors, hotwords, pronunciations=None) -> LatticeDecoder:
    """A cluster worker's decoder (:mod:`hclg.cluster`), its kernels loaded."""
    decoder = _batch_decoder(graph, options, log_priors, hotwords, pronunciations)
    decoder.warm_up(lattice=True)
    return decoder


def _decode_item(decoder, item, lattice: bool):
    utt, mat = item
    return (utt, *decode_utterance(decoder, utt, mat, lattice))


def _decode_failed(item, message):
    return item[0], None, None, message


def decode_corpus(graph, inputs, text_out, cluster="local", **kwargs) -> BatchSummary:
    """:func:`decode_batch` on a Dask cluster (``local`` by default: one worker process
    per core here); the same outputs as in one process, in input order."""
    return decode_batch(graph, inputs, text_out=text_out, cluster=cluster, **kwargs)


__all__ = ["BatchSummary", "decode_batch", "decode_corpus"]


def stream_batch(graph, inputs, options: DecoderOptions, output: str = "-", chunk_frames: int = 30,
                 endpoint: EndpointOptions | None = None, partials: bool = True, resume: bool = False,
                 log_priors: np.ndarray | None = None, hotwords: list | None = None,
                 lattice_out: str | None = None, pronunciations: dict | None = None) -> tuple[int, int]:
    """Decodes every utterance of ``inputs`` as a stream (``hclg stream``) and writes its
    records (:mod:`hclg.search.stream_records`) as JSON lines to ``output`` (a file, or
    ``-`` for stdout).

    A file output is appended to utterance by utterance (each one's records written
    together, then flushed), so an interrupted run keeps the utterances it finished;
    ``resume`` keeps those (the ones with a ``done`` record; other lines are dropped) and
    skips them. An input is never written.

    Args:
        graph, inputs, options, log_priors, hotwords, pronunciations: as :func:`decode_batch`.
        chunk_frames: frames fed at a time.
        endpoint: the endpoint rules; None: one segment an utterance.
        partials: also write the partial records.
        lattice_out: also write each segment's lattice (key ``UTT-SEGMENT``), made from its
            frames as their whole decode makes it. Not with ``resume`` or ``hotwords``.

    Returns:
        (utterances done, utterances failed).
    """
    if lattice_out and resume:
        raise ValueError("--lattice is written once, from the start: leave out --resume")
    _check_outputs(inputs, 1, (output,), lattice_out)
    decoder = _batch_decoder(graph, options, log_priors, hotwords, pronunciations, lattice_out)
    done = _done_streams(output) if resume and output != "-" else set()
    if output != "-" and resume:
        keep_done_lines(output, done, _json_utt)
    elif output != "-":
        Path(output).unlink(missing_ok=True)
    fh = sys.stdout if output == "-" else open(output, "a", encoding="utf-8")  # noqa: SIM115 - closed below
    lat_w = LatticeWriter(lattice_out) if lattice_out else None

    def finalize(stream, segment):  # ends a segment, writing its lattice
        res, lat = decoder.finalize_lattice(stream)
        lat_w.write(dataclasses.replace(lat, utt=f"{stream.utt}-{segment}"))
        return res

    tally = _Tally()
    try:
        for utt, mat in _utterances(inputs, decoder, done, tally):  # unreadable ones counted and logged
            try:
                lines = [json.dumps(r) for r in stream_utterance(decoder, utt, mat, chunk_frames, endpoint, partials,
                                                                  finalize if lat_w else None)]
                tally.decoded += 1
            except HclgError as e:
                log.error("%s", e)
                lines = [json.dumps({"utt": utt, "error": str(e)})]
                tally.failed += 1
            fh.write("".join(line + "\n" for line in lines))
            fh.flush()
    finally:
        if output != "-":
            fh.close()
        if lat_w:
            lat_w.close()
    return tally.decoded, tally.failed
