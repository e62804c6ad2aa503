"""The compiled graph directory: what ``hclg compile`` writes and the decoder opens.

Layout::

    GRAPH/
      HCLG.fst            OpenFst binary (vector, tropical); Kaldi and pynini read it
      words.txt           output labels (Kaldi symbol table)
      units.txt           the alignment units: phones (HMM, Kaldi's phones.txt) or the CTC
                          tokens as graph input labels (<eps> 0, column k is label k + 1;
                          not the model's own token table, where the blank is usually 0)
      ilabel_to_column.npy  int32 [max_ilabel + 1]: posterior column read by each input
                          label; -1 for label 0 (epsilon). HMM: labels are transition ids.
                          CTC: label k + 1 reads column k; on the compact topology a
                          repeat of column k reads label manifest["ctc_repeat_labels"] + k.
      transitions.npz     HMM only: the transition table (phone, state, pdf, ...)
      word_boundary.txt   with position-dependent phones: Kaldi's word_boundary.txt
      disambig.txt        the disambiguation symbols removed from HCLG
      align_lexicon.txt   ``word unit ...`` per pronunciation, in units.txt's units: how
                          the decoder splits a phone/token alignment into words
      manifest.json       format version, topology, options, counts, versions, checksums
      word_starts.npy     on-the-fly: where a word a request adds may start (new_words): int32
                          [M, 2] (token column read last, state), or with optional silence
                          between words, and HMM, [M, 3] (kind, column/phone before/-1, state)
      word_start_costs.npy  with [M, 3] rows: float32 [M], their costs
      bpe.model           on-the-fly BPE CTC graphs (--bpe-model): spells the words added
      tree                on-the-fly graphs of a Kaldi triphone tree: the tree (a copy), which
                          gives the HMMs of the words added (new_words_hmm)
      context_table       on-the-fly graphs of a context table: the table (a copy), as tree
      lm/*.npy            on-the-fly graphs only: G's arrays (hclg.graph.ngram) less each word's
                          loop_cost.npy (its unigram, which HCLG.fst's weights carry; format 6)
      decoder/*.npy       the decoder's flat arrays, loaded memory-mapped:
        final.npy         float32 [S]: final cost, +inf if not final
        offsets.npy       int64 [S+1, 2]: arc offsets, emitting and epsilon side by side: the
                          emitting arcs of state s are offsets[s, 0]:offsets[s + 1, 0], its
                          epsilon arcs offsets[s, 1]:offsets[s + 1, 1]
        e_arcs.npy        int32 [E, 5]: one record per emitting arc, in the order the search
                          reads them: posterior column (E_COLUMN), graph cost (E_WEIGHT,
                          float32 bits), next state (E_NEXT), input label (E_ILABEL:
                          transition id / token label), output label (E_OLABEL)
        n_arcs.npy        int32 [N, 3]: one record per epsilon (non-emitting) arc: output
                          label (N_OLABEL), graph cost (N_WEIGHT, float32 bits), next
                          state (N_NEXT)

An arc's fields sit together in one record, not in one array per field, and a state's
two offsets side by side, so that the search reads one or two cache lines per state it
expands instead of one per field (about 25 % faster on 20k-word graphs; format version 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pywrapfst as fst

from hclg import constants
from hclg.errors import GraphFormatError
from hclg.fst.arrays import FstArrays
from hclg.fst.openfst_file import read_vector_fst_file, write_vector_fst
from hclg.graph.arc_records import (
    DECODER_ARRAYS,
    E_REC,
    N_REC,
    DecoderArrays,
    decoder_arrays,
    records_of_arrays,
)
from hclg.graph.ngram import NgramArrays, load_ngram, save_ngram
from hclg.graph.symbols import SymbolTable

#: the graph format versions this hclg opens (2 named units.txt tokens.txt; 2 and 3 put HMM self-loops
#: first; on-the-fly 5: a weightless word loop, G's own costs, unigram potentials pushed into the arrays)
READABLE_FORMAT_VERSIONS = (2, 3, 4, 5, constants.ON_THE_FLY_FORMAT_VERSION)
#: on-the-fly graphs of a context table: the table (a copy), read as a triphone tree
TABLE_FILE = "context_table"


def write_graph_dir(out_dir, f, words: SymbolTable, units: SymbolTable, ilabel_to_column: np.ndarray,
                    manifest: dict, disambig: tuple[str, ...] = (), transitions: dict | None = None,
                    word_boundary: tuple[str, ...] | None = None,
                    align_lexicon: list[tuple[str, tuple[str, ...]]] | None = None,
                    consume: bool = False, lm: NgramArrays | None = None, loop_cost: np.ndarray | None = None,
                    word_starts: np.ndarray | None = None) -> Path:
    """Writes a graph directory (see the module doc). Returns its path.

    ``f`` is the graph: an FST, or FstArrays whose arcs are sorted by input label.
    With ``consume``, ``f`` is emptied once written, so that it and the decoder arrays
    made from it are not in memory together.

    With ``lm`` (an on-the-fly graph: ``f`` is the lexicon graph, H∘C∘L or T∘L, composed
    with a loop of G's words at ``loop_cost``, and ``lm`` G's arrays less those costs,
    :func:`hclg.graph.ngram.charged`), both are written to ``lm/``.
    ``word_starts`` (an on-the-fly graph's word-start states, :mod:`hclg.graph.new_words`;
    (rows, costs) where they have costs) goes to ``word_starts.npy`` (``word_start_costs.npy``).
    """
    out = Path(out_dir)
    (out / "decoder").mkdir(parents=True, exist_ok=True)
    if isinstance(f, FstArrays):  # arcs already sorted by input label
        write_vector_fst(out / "HCLG.fst", f, ilabel_sorted=True)
    else:
        if f.fst_type() != "vector":
            f = fst.convert(f, "vector")
        f.set_input_symbols(None)  # the tables are written beside it
        f.set_output_symbols(None)
        if not f.properties(fst.I_LABEL_SORTED, False) & fst.I_LABEL_SORTED:
            f.arcsort("ilabel")
        f.write(str(out / "HCLG.fst"))
    words.write(out / "words.txt")
    units.write(out / "units.txt")
    np.save(out / "ilabel_to_column.npy", ilabel_to_column.astype(np.int32))
    (out / "disambig.txt").write_text("".join(f"{d}\n" for d in disambig), encoding="utf-8")
    if transitions is not None:
        np.savez(out / "transitions.npz", **transitions)
    if word_boundary is not None:
        (out / "word_boundary.txt").write_text(
            "".join(f"{p} {k}\n" for p, k in zip(units.symbols, word_boundary) if p != constants.EPS and not p.startswith("#")),
            encoding="utf-8")
    if isinstance(word_starts, tuple):  # (kind, column or -1, state) rows and their costs
        word_starts, costs = word_starts
        np.save(out / "word_start_costs.npy", costs.astype(np.float32))
    if word_starts is not None:
        np.save(out / "word_starts.npy", word_starts.astype(np.int32))
    if align_lexicon is not None:
        (out / "align_lexicon.txt").write_text("".join(f"{w} {' '.join(p)}\n" for w, p in align_lexicon), encoding="utf-8")
    if isinstance(f, FstArrays):
        arr = records_of_arrays(f, ilabel_to_column)
        del f
    elif consume:  # the decoder arrays are read back from the file, not from f
        f.delete_states()
        del f
        arr = records_of_arrays(read_vector_fst_file(out / "HCLG.fst"), ilabel_to_column)
    else:
        arr = decoder_arrays(f, ilabel_to_column)
    manifest = dict(manifest)
    if lm is not None:
        save_ngram(lm, out / "lm")
        np.save(out / "lm" / "loop_cost.npy", np.asarray(loop_cost, np.float32))
        manifest["lm"] = {"start": lm.start, "states": lm.num_states, "arcs": lm.num_arcs}
    manifest["kind"] = "on-the-fly" if lm is not None else "static"
    for name in DECODER_ARRAYS:
        np.save(out / "decoder" / f"{name}.npy", getattr(arr, name))
    manifest["format_version"] = constants.ON_THE_FLY_FORMAT_VERSION if lm is not None else constants.GRAPH_FORMAT_VERSION
    manifest["start"] = arr.start
    manifest.setdefault("counts", {}).update(
        states=arr.num_states,
        arcs=int(len(arr.e_arcs) + len(arr.n_arcs)),
        emitting_arcs=len(arr.e_arcs),
        epsilon_arcs=len(arr.n_arcs),
        words=len(words),
        columns=int(ilabel_to_column.max() + 1),
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


@dataclass(frozen=True)
class Graph:
    """An opened graph directory.

    Attributes:
        path: the directory.
        manifest: its manifest.
        arrays: the decoder arrays (memory-mapped).
        words: output symbol table.
        units: the phone (HMM) or CTC token table, by unit label (``units.txt``).
        ilabel_to_column: int32 [max_ilabel + 1].
        num_columns: posterior columns the graph reads.
        lm: an on-the-fly graph's G as the search charges it (G's costs less the word
            loop's, :meth:`loop_cost`: the search composes it with the arrays, which are
            then the lexicon graph H∘C∘L or T∘L); None for a static graph (HCLG, TLG).
        new_words: (word, tokens) of the words added for a request
            (:func:`hclg.graph.new_words.with_new_words`), beside the lexicon's.
    """

    path: Path
    manifest: dict
    arrays: DecoderArrays
    words: SymbolTable
    units: SymbolTable
    ilabel_to_column: np.ndarray
    lm: NgramArrays | None = None
    new_words: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def kind(self) -> str:
        """'static' (HCLG, TLG) or 'on-the-fly' (lexicon graph + G)."""
        return "on-the-fly" if self.lm is not None else "static"

    @property
    def num_columns(self) -> int:
        return int(self.manifest["counts"]["columns"])

    @property
    def topology(self) -> str:
        return self.manifest.get("topology", "?")

    def align_lexicon(self) -> dict[str, list[tuple[str, ...]]]:
        """word -> its pronunciations (tuples of token/phone symbols)."""
        out: dict[str, list[tuple[str, ...]]] = {}
        p = self.path / "align_lexicon.txt"
        if p.exists():
            for line in p.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if parts:
                    out.setdefault(parts[0], []).append(tuple(parts[1:]))
        for w, pron in self.new_words:
            out.setdefault(w, []).append(pron)
        return out

    def word_starts(self) -> np.ndarray | None:
        """int32 [M, 2 or 3]: an on-the-fly graph's word-start states (:mod:`hclg.graph.new_words`):
        (column read last, state), or (kind, column / phone before / two phones before
        (a * P + b, with a triphone tree) / -1, state) with costs, or None."""
        if not (p := self.path / "word_starts.npy").exists():
            return None
        a, top = _load_array(p), max(self.num_columns, len(self.units))
        if (self.path / "tree").exists() or (self.path / TABLE_FILE).exists():  # triphones: two phones before
            top = len(self.units) ** 2
        if a.ndim != 2 or a.shape[1] not in (2, 3) or not len(a) or a[:, -1].min() < 0 or a[:, -2].min() < -1 \
                or a[:, -2].max() >= top or a[:, -1].max() >= self.arrays.num_states \
                or (a.shape[1] == 3 and not set(a[:, 0].tolist()) <= {0, 1, 2}):
            raise GraphFormatError(f"{p}: not ([kind,] column, state) rows of this graph; compile the graph again")
        return a

    def word_start_costs(self) -> np.ndarray:
        """float32 [M]: the cost of each (kind, column, state) row of :meth:`word_starts`
        (HMM graphs, and CTC graphs with a word delimiter)."""
        a = _load_array(p) if (p := self.path / "word_start_costs.npy").exists() else None
        if a is None or a.shape != (len(self.word_starts()),):
            raise GraphFormatError(f"{p}: missing, or not one cost per row of word_starts.npy; compile the graph again")
        return a

    def loop_cost(self) -> np.ndarray:
        """float32 [lexicon words]: an on-the-fly graph's word-loop costs (:func:`hclg.graph.ngram.loop_costs`),
        which its arcs carry and ``lm`` leaves out; zeros for format 5 (a weightless loop)."""
        if not (p := self.path / "lm" / "loop_cost.npy").exists():
            return np.zeros(len(self.words), np.float32)
        a = _load_array(p)
        if a.ndim != 1 or a.shape[0] > len(self.words) or not np.isfinite(a).all():
            raise GraphFormatError(f"{p}: not one finite cost per word of words.txt; compile the graph again")
        return a

    def word_boundary(self) -> dict[str, str]:
        """phone -> its word position (begin, end, internal, singleton, nonword), from
        ``word_boundary.txt`` (Kaldi's), or empty without one."""
        p = self.path / "word_boundary.txt"
        if not p.exists():
            return {}
        return dict(line.split()[:2] for line in p.read_text(encoding="utf-8").splitlines() if len(line.split()) >= 2)

    def transitions(self) -> dict | None:
        p = self.path / "transitions.npz"
        if not p.exists():
            return None
        with np.load(p) as z:
            return {k: z[k] for k in z.files}


def load_graph(path) -> Graph:
    """Opens a graph directory; the decoder arrays are memory-mapped, not read.

    Raises:
        GraphFormatError: not a graph directory, a missing file, or another format version.
    """
    path = Path(path)
    mf = path / "manifest.json"
    if not mf.exists():
        raise GraphFormatError(f"{path}: not a graph directory (no manifest.json); make one with 'hclg compile'")
    manifest = json.loads(mf.read_text(encoding="utf-8"))
    v = manifest.get("format_version")
    if v not in READABLE_FORMAT_VERSIONS:
        raise GraphFormatError(
            f"{path}: graph format version {v}, but this hclg reads version {constants.GRAPH_FORMAT_VERSION}"
            f" (and 2, 3; and {constants.ON_THE_FLY_FORMAT_VERSION} and 5 for on-the-fly graphs); compile the graph "
            "again with this version"
        )
    if manifest.get("topology") == "hmm" and not (path / "transitions.npz").exists():
        raise GraphFormatError(f"{path}: missing transitions.npz; the graph directory is incomplete")
    arrs = {}
    try:
        for n in DECODER_ARRAYS:
            arrs[n] = _load_array(path / "decoder" / f"{n}.npy", mmap=True)
        words = SymbolTable.read(path / "words.txt")
        units = SymbolTable.read(path / ("units.txt" if v >= 3 else "tokens.txt"))
        i2c = _load_array(path / "ilabel_to_column.npy")
    except FileNotFoundError as e:
        raise GraphFormatError(f"{path}: missing {Path(e.filename).name}; the graph directory is incomplete") from None
    _check_arrays(path, manifest, arrs, i2c)
    lm = None
    if manifest.get("kind") == "on-the-fly":
        lm = load_ngram(path / "lm", int(manifest.get("lm", {}).get("start", -1)))
        if lm.num_arcs and int(lm.word.max()) >= len(words):
            raise GraphFormatError(f"{path}: lm/word.npy reads words beyond words.txt; compile the graph again")
    return Graph(path, manifest, DecoderArrays(start=int(manifest["start"]), **arrs), words, units, i2c, lm)


def _load_array(p: Path, mmap: bool = False) -> np.ndarray:
    """A .npy of the graph directory (memory-mapped with ``mmap``); a file cut short or not
    a .npy is a GraphFormatError naming it."""
    try:
        return np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError) as e:
        raise GraphFormatError(f"{p}: not a whole .npy array ({e}); compile the graph again") from None


def _check_arrays(path: Path, manifest: dict, arrs: dict, i2c: np.ndarray) -> None:
    """The decoder arrays' shapes against the manifest's counts, and the offsets' ends
    against the arc counts: a directory mixing two graphs (arrays copied in, a recompile
    interrupted by an older hclg) is refused before the search reads out of bounds."""
    c = manifest.get("counts", {})
    S, E, N = c.get("states"), c.get("emitting_arcs"), c.get("epsilon_arcs")
    start = int(manifest.get("start", -1))
    off = arrs["offsets"]
    problems = []
    if arrs["final"].shape != (S,):
        problems.append(f"final.npy has {arrs['final'].shape[0]} states, the manifest {S}")
    if off.shape != (S + 1, 2) or (off.shape[0] and (int(off[-1, 0]) != E or int(off[-1, 1]) != N)):
        problems.append(f"offsets.npy {off.shape} does not end at the manifest's {E} emitting and {N} epsilon arcs")
    if arrs["e_arcs"].shape != (E, E_REC):
        problems.append(f"e_arcs.npy has shape {arrs['e_arcs'].shape}, the manifest {E} emitting arcs")
    if arrs["n_arcs"].shape != (N, N_REC):
        problems.append(f"n_arcs.npy has shape {arrs['n_arcs'].shape}, the manifest {N} epsilon arcs")
    if not 0 <= start < (S or 0):
        problems.append(f"the start state {start} is not one of its {S} states")
    if i2c.ndim != 1 or (i2c.size and int(i2c.max()) + 1 != c.get("columns")):
        problems.append(f"ilabel_to_column.npy reads {int(i2c.max()) + 1 if i2c.size else 0} columns, the manifest "
                        f"{c.get('columns')}")
    if problems:
        raise GraphFormatError(f"{path}: the decoder arrays do not match its manifest ({'; '.join(problems)}): the "
                               "directory mixes two graphs or was cut short; compile it again")


def stochasticity(arr: DecoderArrays) -> tuple[float, float]:
    """Min and max over states of -log(sum of exp(-cost)) over its arcs and final cost,
    as Kaldi's ``fstisstochastic`` reports (0, 0 for a stochastic FST)."""
    ns = arr.num_states
    src_e = np.repeat(np.arange(ns), np.diff(arr.e_offsets))
    src_n = np.repeat(np.arange(ns), np.diff(arr.n_offsets))
    src = np.concatenate([src_e, src_n, np.arange(ns)])
    cost = np.concatenate([np.asarray(arr.e_weight, np.float64), np.asarray(arr.n_weight, np.float64), np.asarray(arr.final, np.float64)])
    m = np.full(ns, np.inf)
    np.minimum.at(m, src, cost)
    fin = np.isfinite(m)
    s = np.zeros(ns)
    np.add.at(s, src, np.exp(-(cost - m[src])))
    tot = m[fin] - np.log(s[fin])
    return float(tot.min()), float(tot.max())


def graph_info(path) -> dict:
    """What ``hclg info`` prints: sizes, labels, disk use and stochasticity."""
    g = load_graph(path)
    disk = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    smin, smax = stochasticity(g.arrays)
    c = g.manifest["counts"]
    return {
        "graph": str(path),
        "kind": g.kind,
        "topology": g.topology,
        "format_version": g.manifest["format_version"],
        "states": c["states"],
        "arcs": c["arcs"],
        "emitting_arcs": c["emitting_arcs"],
        "epsilon_arcs": c["epsilon_arcs"],
        "input_labels": int(len(g.ilabel_to_column) - 1),
        "posterior_columns": g.num_columns,
        "frame_subsampling_factor": g.manifest.get("options", {}).get("frame_subsampling_factor", constants.FRAME_SUBSAMPLING_FACTOR),
        "words": sum(w not in (constants.EPS, constants.BACKOFF_DISAMBIG, constants.BOS, constants.EOS) for w in g.words.symbols),
        "units": len(g.units) - 1,
        "disk_bytes": disk,
        "stochastic_min": smin,
        "stochastic_max": smax,
        **({"lm_states": g.lm.num_states, "lm_arcs": g.lm.num_arcs} if g.lm is not None else {}),
        # hotwords outside the lexicon can be added per request (hclg.graph.new_words), spelled by bpe.model
        "takes_new_words": g.word_starts() is not None, "spells_with_bpe_model": (g.path / "bpe.model").exists(),
    }
