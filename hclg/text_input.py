"""Reading the text files users write (lexicons, symbol tables, hotwords, Kaldi ``text``):
one way for all of them, so that each takes what an editor may leave in a file (a
byte-order mark, Windows line ends, a gzipped copy) and refuses the same way what it
cannot read, naming the file and line."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from hclg.errors import InputFormatError

_BOM = b"\xef\xbb\xbf"
_GZIP = b"\x1f\x8b"


def text_lines(path) -> Iterator[tuple[int, str]]:
    """(line number from 1, line) of a UTF-8 text file, plain or gzipped (told by its
    first bytes, not its name).

    A byte-order mark (Windows editors write one) is dropped: it would be glued to the
    first word. Line ends are kept, as ``open`` gives them; ``str.split`` drops them.

    Raises:
        InputFormatError: a line that is not UTF-8 (naming the byte and column), or a
            gzipped file cut short or corrupt.
        OSError: the file cannot be opened (as ``open``: callers name a missing file).
    """
    path = Path(path)
    with open(path, "rb") as fh:
        zipped = fh.read(2) == _GZIP
    n = 0
    with gzip.open(path, "rb") if zipped else open(path, "rb") as fh:
        try:
            for n, raw in enumerate(fh, 1):
                if n == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise InputFormatError(path, n, f"not UTF-8 text (byte {raw[e.start]:#04x} at column "
                                                    f"{e.start + 1})") from None
                yield n, line
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            raise InputFormatError(path, n + 1, f"the gzipped file is cut short or corrupt ({e})") from None
