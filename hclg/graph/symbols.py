"""Symbol tables in Kaldi's text form (``symbol id`` per line, ``<eps>`` = 0)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hclg.errors import InputFormatError
from hclg.text_input import text_lines


@dataclass(frozen=True)
class SymbolTable:
    """An immutable symbol table with dense ids 0..n-1.

    Attributes:
        symbols: symbol of each id; symbols[0] is ``<eps>``.
    """

    symbols: tuple[str, ...]
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        index = {}
        for i, s in enumerate(self.symbols):
            if s in index:
                raise ValueError(f"symbol {s!r} appears twice (ids {index[s]} and {i})")
            index[s] = i
        object.__setattr__(self, "_index", index)

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, sym: str) -> bool:
        return sym in self._index

    def id(self, sym: str) -> int:
        """Id of ``sym``; KeyError if absent."""
        return self._index[sym]

    def get(self, sym: str, default: int = -1) -> int:
        return self._index.get(sym, default)

    def as_dict(self) -> dict[str, int]:
        """A new dict from each symbol to its id."""
        return dict(self._index)

    def write(self, path) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            for i, s in enumerate(self.symbols):
                fh.write(f"{s} {i}\n")

    @staticmethod
    def read(path) -> "SymbolTable":
        """Reads ``symbol id`` lines; ids must be dense from 0."""
        path = Path(path)
        pairs = []
        for n, line in text_lines(path):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise InputFormatError(path, n, f"expected 'symbol id', got {line.strip()!r}")
            pairs.append((int(parts[1]), parts[0]))
        pairs.sort()
        if [i for i, _ in pairs] != list(range(len(pairs))):
            raise InputFormatError(path, None, "symbol ids must be 0, 1, 2, ... without gaps")
        return SymbolTable(tuple(s for _, s in pairs))
