"""Reading Kaldi's own object files (``final.mdl`` and the like), binary or text, as
Kaldi's ``base/io-funcs.h`` writes them.

Binary form: the file starts with ``\\0B``; a token is its characters and one space; an
int32 or float is one size byte (4) and its little-endian bytes; an integer vector is a
size byte, an int32 count and the raw values; a float vector is the token ``FV`` (``DV``
for double), a counted int32 and the raw values; a matrix ``FM``/``DM``, rows, columns
and the raw values. Text form: whitespace-separated tokens, vectors between ``[`` and
``]``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from hclg.errors import InputFormatError


class KaldiObjectReader:
    """A cursor over one Kaldi object file.

    Args:
        path: the file (``final.mdl``, ``tree``, ...); its whole content is read.

    Raises:
        InputFormatError: from every read that finds something other than expected,
            naming the file and the byte offset (binary) or token number (text).
    """

    def __init__(self, path):
        self.path = Path(path)
        try:
            self.data = self.path.read_bytes()
        except OSError as e:
            raise InputFormatError(self.path, None, f"cannot read it ({e.strerror})") from None
        self.binary = self.data[:2] == b"\0B"
        self.pos = 2 if self.binary else 0
        if not self.binary:
            self.tokens = self.data.split()
            self.pos = 0

    def fail(self, what: str):
        where = f"byte {self.pos}" if self.binary else f"token {self.pos + 1}"
        raise InputFormatError(self.path, None, f"at {where}: {what} (not a Kaldi model file of the expected kind?)")

    # --- primitives ---
    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            self.fail(f"file ends where {n} more bytes were expected")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def _text(self) -> bytes:
        if self.pos >= len(self.tokens):
            self.fail("file ends early")
        t = self.tokens[self.pos]
        self.pos += 1
        return t

    def peek_token(self) -> str:
        """The next token without reading it ('' at the end of the file)."""
        if self.binary:
            if self.pos >= len(self.data) or self.data[self.pos:self.pos + 1] in (b"\x04", b"\x08"):
                return ""
            end = self.data.find(b" ", self.pos)
            return self.data[self.pos:end].decode("latin-1") if end > 0 else ""
        return self.tokens[self.pos].decode("latin-1") if self.pos < len(self.tokens) else ""

    def token(self) -> str:
        if self.binary:
            end = self.data.find(b" ", self.pos)
            if end < 0:
                self.fail("expected a token")
            t = self.data[self.pos:end].decode("latin-1")
            self.pos = end + 1
            return t
        return self._text().decode("latin-1")

    def expect(self, *tokens: str) -> str:
        """Reads a token that must be one of ``tokens``; returns it."""
        at = self.pos
        t = self.token()
        if t not in tokens:
            self.pos = at
            self.fail(f"expected {' or '.join(tokens)}, found {t[:40]!r}")
        return t

    def int32(self) -> int:
        return self._int4((4,), "<i", "a 4-byte integer")

    def uint32(self) -> int:
        """Kaldi's WriteBasicType of an unsigned 32-bit integer (size byte -4 in binary)."""
        return self._int4((0xFC, 4), "<I", "a 4-byte unsigned integer")

    def _int4(self, size_bytes, fmt: str, what: str) -> int:
        if self.binary:
            if self._take(1)[0] not in size_bytes:
                self.pos -= 1
                self.fail(f"expected {what}")
            return struct.unpack(fmt, self._take(4))[0]
        t = self._text()
        try:
            return int(t)
        except ValueError:
            self.pos -= 1
            self.fail(f"expected an integer, found {t[:40]!r}")

    def float32(self) -> float:
        if self.binary:
            size = self._take(1)
            if size == b"\x04":
                return struct.unpack("<f", self._take(4))[0]
            if size == b"\x08":
                return struct.unpack("<d", self._take(8))[0]
            self.pos -= 1
            self.fail("expected a float")
        t = self._text()
        try:
            return float(t)
        except ValueError:
            self.pos -= 1
            self.fail(f"expected a number, found {t[:40]!r}")

    def int_vector(self) -> np.ndarray:
        """Kaldi's ReadIntegerVector (int32)."""
        if self.binary:
            if self._take(1) != b"\x04":
                self.pos -= 1
                self.fail("expected an int32 vector")
            n = struct.unpack("<i", self._take(4))[0]
            if n < 0 or 4 * n > len(self.data) - self.pos:
                self.fail(f"impossible vector length {n}")
            return np.frombuffer(self._take(4 * n), dtype="<i4").astype(np.int32)
        return np.array(self._bracketed(), dtype=np.int32)

    def _bracketed(self) -> list:
        if self._text() != b"[":
            self.pos -= 1
            self.fail("expected '['")
        out = []
        while True:
            t = self._text()
            if t == b"]":
                return out
            try:
                out.append(float(t) if b"." in t or b"e" in t or b"n" in t.lower() else int(t))
            except ValueError:
                self.pos -= 1
                self.fail(f"expected a number, found {t[:40]!r}")

    def float_vector(self) -> np.ndarray:
        """Kaldi's Vector<float/double>::Read, as float64."""
        if self.binary:
            kind = self.expect("FV", "DV")
            n = self.int32()
            size = 4 if kind == "FV" else 8
            if n < 0 or size * n > len(self.data) - self.pos:
                self.fail(f"impossible vector length {n}")
            return np.frombuffer(self._take(size * n), dtype="<f4" if size == 4 else "<f8").astype(np.float64)
        return np.array(self._bracketed(), dtype=np.float64)

    def float_matrix(self) -> np.ndarray:
        """Kaldi's Matrix<float/double>::Read, as float64."""
        if self.binary:
            kind = self.expect("FM", "DM")
            rows, cols = self.int32(), self.int32()
            size = 4 if kind == "FM" else 8
            if rows < 0 or cols < 0 or size * rows * cols > len(self.data) - self.pos:
                self.fail(f"impossible matrix size {rows} x {cols}")
            raw = self._take(size * rows * cols)
            return np.frombuffer(raw, dtype="<f4" if size == 4 else "<f8").astype(np.float64).reshape(rows, cols)
        if self._text() != b"[":
            self.pos -= 1
            self.fail("expected '['")
        rows, row = [], []
        while True:
            t = self._text()
            if t == b"]":
                if row:
                    rows.append(row)
                break
            row.append(float(t))
        return np.array(rows, dtype=np.float64)

    def skip_to(self, token: str) -> bool:
        """Moves just past the next occurrence of ``token``; False if there is none."""
        if self.binary:
            i = self.data.find(token.encode() + b" ", self.pos)
            if i < 0:
                return False
            self.pos = i + len(token) + 1
            return True
        want = token.encode()
        for i in range(self.pos, len(self.tokens)):
            if self.tokens[i] == want:
                self.pos = i + 1
                return True
        return False
