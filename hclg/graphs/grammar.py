"""The grammar G: from an ARPA n-gram LM (as Kaldi's ``arpa2fst``), a phrase list, or an FST.

ARPA stores log10 probabilities; they are turned into costs (-ln p) here, once.
"""

from __future__ import annotations

import array
import gzip
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hclg import constants
from hclg.errors import GraphBuildError, InputFormatError
from hclg.graphs.fstutil import arrays_to_fst, log_step
from hclg.graphs.symbols import SymbolTable

log = logging.getLogger("hclg")
LN10 = math.log(10.0)


@dataclass(frozen=True)
class GrammarStats:
    """What G construction kept and dropped.

    Attributes:
        ngrams: n-grams read per order.
        dropped: n-grams dropped because a word has no pronunciation.
        oov_words: those words, sorted by first appearance.
        mapped_to_unk: n-grams whose OOV words were mapped to ``<unk>``.
    """

    ngrams: tuple[int, ...]
    dropped: int
    oov_words: tuple[str, ...]
    mapped_to_unk: int


def _open(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="strict")
    return open(path, encoding="utf-8")


def iter_arpa(path):
    """Reads an ARPA file section by section, checking it as it goes.

    Yields ``("header", counts)`` once, then ``(order, line_no, words, cost, backoff_cost)``
    per n-gram, costs in -ln units (backoff 0.0 where absent).

    Raises:
        InputFormatError: missing ``\\data\\``, malformed lines, counts that disagree
            with the header, or a missing ``\\end\\``; names the file and line.
    """
    path = Path(path)
    counts: dict[int, int] = {}
    with _open(path) as fh:
        n = 0
        for line in fh:
            n += 1
            if line.strip() == "\\data\\":
                break
        else:
            raise InputFormatError(path, None, "no \\data\\ line: not an ARPA file")
        for line in fh:
            n += 1
            s = line.strip()
            if not s:
                if counts:
                    break
                continue
            if s.startswith("\\"):
                break
            if not s.startswith("ngram "):
                raise InputFormatError(path, n, f"expected 'ngram N=count' in the header, got {s!r}")
            try:
                k, v = s[6:].split("=")
                counts[int(k)] = int(v)
            except ValueError:
                raise InputFormatError(path, n, f"expected 'ngram N=count', got {s!r}") from None
        if not counts or sorted(counts) != list(range(1, max(counts) + 1)):
            raise InputFormatError(path, n, f"header must give counts for orders 1..N, got {sorted(counts)}")
        yield ("header", counts)
        order = 0
        seen = 0
        line = s if s.startswith("\\") else ""
        while True:
            if line.startswith("\\"):
                if order:
                    if seen != counts[order]:
                        raise InputFormatError(
                            path, n, f"the header says ngram {order}={counts[order]}, but the section has {seen} lines"
                        )
                if line == "\\end\\":
                    if order != max(counts):
                        raise InputFormatError(path, n, f"\\end\\ after the {order}-grams; the header promised {max(counts)}-grams")
                    return
                if not (line.startswith("\\") and line.endswith("-grams:")):
                    raise InputFormatError(path, n, f"expected '\\N-grams:' or '\\end\\', got {line!r}")
                try:
                    order = int(line[1:-7])
                except ValueError:
                    raise InputFormatError(path, n, f"bad section header {line!r}") from None
                if order not in counts:
                    raise InputFormatError(path, n, f"section {line!r} is not in the header")
                seen = 0
            raw = fh.readline()
            if not raw:
                raise InputFormatError(path, n, "file ended before \\end\\ (truncated ARPA?)")
            n += 1
            line = raw.strip()
            if not line or line.startswith("\\"):
                continue
            parts = line.split()
            if len(parts) == order + 1:
                bo = 0.0
            elif len(parts) == order + 2:
                try:
                    bo = -float(parts[-1]) * LN10
                except ValueError:
                    raise InputFormatError(path, n, f"bad backoff weight {parts[-1]!r}") from None
            else:
                raise InputFormatError(
                    path, n, f"expected 'log10prob w1 .. w{order} [backoff]' for a {order}-gram, got {len(parts)} fields"
                )
            try:
                cost = -float(parts[0]) * LN10
            except ValueError:
                raise InputFormatError(path, n, f"bad log10 probability {parts[0]!r}") from None
            seen += 1
            yield (order, n, parts[1 : order + 1], cost, bo)


def arpa_to_fst(path, words: SymbolTable, unk: str | None = None) -> tuple[object, GrammarStats]:
    """Builds G from an ARPA LM with the semantics of Kaldi's ``arpa2fst --disambig-symbol=#0``.

    One state per history; the empty history is the backoff ("zerogram") state and the
    ``<s>`` history is the start state; backoff arcs read ``#0`` and write epsilon;
    ``</s>`` becomes a final cost; highest-order n-grams go straight to the state of
    their tail (Kaldi's chain-collapsing). n-grams with a word that has no
    pronunciation are dropped (one summary warning), or, if ``unk`` is in ``words``,
    the word is read as ``unk``.

    Args:
        path: ARPA file, plain or gzipped.
        words: the word table (from the lexicon), with ``#0``, ``<s>`` and ``</s>``.
        unk: the unknown-word symbol to map OOVs to, if the lexicon has it.

    Returns:
        (G, GrammarStats).

    Raises:
        InputFormatError: malformed ARPA (file and line).
        GraphBuildError: no n-gram left after dropping OOVs.
    """
    t0 = time.perf_counter()
    path = Path(path)
    bos, eos = words.get(constants.BOS), words.get(constants.EOS)
    backoff_label = words.get(constants.BACKOFF_DISAMBIG)
    if min(bos, eos, backoff_label) < 0:
        raise GraphBuildError("the word table needs <s>, </s> and #0")
    unk_id = words.get(unk) if unk else -1
    index = words._index  # noqa: SLF001 - hot loop
    nstates = 1
    start = -1
    # arcs in typed arrays (4 bytes an entry, not a Python object)
    src, lab, dst = array.array("i"), array.array("i"), array.array("i")
    wt = array.array("f")
    bo_src, bo_dst = array.array("i"), array.array("i")
    bo_wt = array.array("f")
    final_s, final_w = array.array("i"), array.array("f")
    dropped = mapped = 0
    oov: dict[str, None] = {}
    it = iter_arpa(path)
    _, counts = next(it)
    highest = max(counts)
    kept_per_order = [0] * highest
    # History keys: up to 3 word ids packed in one int when they fit in 21 bits each
    # (as Kaldi's OptimizedHistKey), else tuples. key(w1..wk) and its tail key(w2..wk).
    packed = highest <= 4 and len(words) < (1 << 21)
    if packed:
        def key_of(ids):
            k = 0
            for x in ids:
                k = (k << 21) | (x + 1)
            return k

        def tail_of(k, n):  # drop the oldest of n words
            return k & ((1 << (21 * (n - 1))) - 1)
    else:
        def key_of(ids):
            return tuple(ids)

        def tail_of(k, n):
            return k[1:]
    empty = key_of(())
    history = {empty: 0}

    def add_state(key, n, backoff):
        nonlocal nstates
        s = history.get(key)
        if s is not None:
            return s
        s = nstates
        nstates += 1
        history[key] = s
        tail, m = tail_of(key, n), n - 1
        d = history.get(tail)
        while d is None:
            tail, m = tail_of(tail, m), m - 1
            d = history.get(tail)
        bo_src.append(s)
        bo_wt.append(backoff)
        bo_dst.append(d)
        return s

    for order, n, toks, cost, bo in it:
        ids = []
        for w in toks:
            i = index.get(w, -1)
            if i < 0 or i == backoff_label:
                if unk_id >= 0 and w not in (constants.BOS, constants.EOS):
                    i = unk_id
                    mapped += 1
                else:
                    oov.setdefault(w, None)
                    ids = None
                    break
            ids.append(i)
        if ids is None:
            dropped += 1
            continue
        bad = any((k > 0 and x == bos) or (k + 1 < order and x == eos) for k, x in enumerate(ids))
        if bad:
            log.warning("%s:%d: n-gram skipped: <s> or </s> out of place", path, n)
            continue
        s = history.get(key_of(ids[:-1]))
        if s is None:
            continue  # no parent (n-1)-gram: probability zero, as arpa2fst
        kept_per_order[order - 1] += 1
        sym = ids[-1]
        if sym == eos:
            final_s.append(s)
            final_w.append(cost)
            continue
        d = add_state(key_of(ids[1:]), order - 1, bo) if order == highest else add_state(key_of(ids), order, bo)
        if sym == bos:
            start = d
            continue
        src.append(s)
        lab.append(sym)
        wt.append(cost)
        dst.append(d)
    if oov:
        first = ", ".join(list(oov)[:5])
        log.warning(
            "%s: dropped %d n-grams with %d words that have no pronunciation (first: %s)", path, dropped, len(oov), first
        )
    if not src:
        raise GraphBuildError(
            f"{path}: no n-gram is left after dropping words without pronunciation ({len(oov)} such words,"
            f" e.g. {', '.join(list(oov)[:5])}); does the lexicon use the same case and spelling as the LM?"
        )
    if start < 0:
        raise GraphBuildError(f"{path}: the LM has no <s> unigram, so G has no start state")
    history.clear()  # free it before the FST is built
    final = np.full(nstates, np.inf, dtype=np.float32)
    final[np.frombuffer(final_s, dtype=np.int32)] = np.frombuffer(final_w, dtype=np.float32)
    arr = lambda a, t: np.frombuffer(a, dtype=t)  # noqa: E731 - views, no copies
    all_src = np.concatenate([arr(src, np.int32), arr(bo_src, np.int32)])
    all_lab = np.concatenate([arr(lab, np.int32), np.full(len(bo_src), backoff_label, dtype=np.int32)])
    all_olab = np.concatenate([arr(lab, np.int32), np.zeros(len(bo_src), dtype=np.int32)])
    all_w = np.concatenate([arr(wt, np.float32), arr(bo_wt, np.float32)])
    all_dst = np.concatenate([arr(dst, np.int32), arr(bo_dst, np.int32)])
    g = arrays_to_fst(nstates, start, all_src, all_lab, all_olab, all_w, all_dst, final)
    g.connect()
    g.arcsort("ilabel")
    log_step("G (arpa2fst)", g, t0)
    stats = GrammarStats(tuple(kept_per_order), dropped, tuple(oov), mapped)
    return g, stats


def phrases_to_fst(phrases, words: SymbolTable, source: str = "<phrases>") -> object:
    """A command grammar: G accepts exactly one of the phrases, each with the same cost.

    Args:
        phrases: sequence of phrases, each a list of words.
        words: the word table.
        source: name used in error messages.

    Returns:
        G as a tropical VectorFst acceptor.
    """
    phrases = [p for p in phrases if p]
    if not phrases:
        raise GraphBuildError(f"{source}: no phrases")
    cost = math.log(len(phrases))
    src, lab, wt, dst = [], [], [], []
    nstates = 2  # 0 start, 1 final
    for k, ph in enumerate(phrases):
        s = 0
        for j, w in enumerate(ph):
            if w not in words:
                raise GraphBuildError(f"{source}: phrase {k + 1} uses {w!r}, which has no pronunciation")
            d = 1 if j + 1 == len(ph) else nstates
            if d != 1:
                nstates += 1
            src.append(s)
            lab.append(words.id(w))
            wt.append(cost if j == 0 else 0.0)
            dst.append(d)
            s = d
    final = np.full(nstates, np.inf, dtype=np.float32)
    final[1] = 0.0
    g = arrays_to_fst(nstates, 0, np.array(src), np.array(lab), np.array(lab), np.array(wt, dtype=np.float32), np.array(dst), final)
    g.arcsort("ilabel")
    return g


def read_phrases(path) -> list[list[str]]:
    """Reads a phrase list (one phrase per line, ``#`` comments) for :func:`phrases_to_fst`."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            s = line.split("#", 1)[0].split()
            if s:
                out.append(s)
    return out
