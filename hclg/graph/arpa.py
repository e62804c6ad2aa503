"""Reading ARPA n-gram LMs, plain or gzipped, line by line: (order, n-gram, cost, backoff
cost) with log10 values turned into costs (-ln p) here, once."""

from __future__ import annotations

import math
from contextlib import closing
from pathlib import Path

from hclg.errors import InputFormatError
from hclg.text_input import text_lines

LN10 = math.log(10.0)


#: symbols an LM may not use as words: epsilon and G's backoff disambiguation symbol
RESERVED_WORDS = ("<eps>", "#0")


def _number(text: str, what: str, path, n: int) -> float:
    """A finite float from an ARPA field, or an error naming the file and line."""
    try:
        v = float(text)
    except ValueError:
        raise InputFormatError(path, n, f"bad {what} {text!r}") from None
    if not math.isfinite(v):
        raise InputFormatError(path, n, f"{what} {text!r} is not a finite number")
    return v


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
    lines = text_lines(path)
    with closing(lines):
        n = 0
        for n, line in lines:
            if line.strip() == "\\data\\":
                break
        else:
            raise InputFormatError(path, None, "no \\data\\ line: not an ARPA file")
        for n, line in lines:
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
            n_raw = next(lines, None)
            if n_raw is None:
                raise InputFormatError(path, n, "file ended before \\end\\ (truncated ARPA?)")
            n, line = n_raw[0], n_raw[1].strip()
            if not line or line.startswith("\\"):
                continue
            parts = line.split()
            if len(parts) == order + 1:
                bo = 0.0
            elif len(parts) == order + 2:
                bo = -_number(parts[-1], "backoff weight", path, n) * LN10
            else:
                raise InputFormatError(
                    path, n, f"expected 'log10prob w1 .. w{order} [backoff]' for a {order}-gram, got {len(parts)} fields"
                )
            lp = _number(parts[0], "log10 probability", path, n)
            if lp > 0:
                raise InputFormatError(path, n, f"log10 probability {parts[0]} > 0: a probability above 1")
            cost = -lp * LN10
            for w in parts[1: order + 1]:
                if w in RESERVED_WORDS:
                    raise InputFormatError(path, n, f"{w!r} is reserved (hclg's epsilon or backoff symbol) and cannot "
                                                    "be a word of the LM")
            seen += 1
            yield (order, n, parts[1 : order + 1], cost, bo)
