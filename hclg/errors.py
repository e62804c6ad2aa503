"""Exceptions raised by hclg. Each names the file and line, or the step, that went wrong."""

from __future__ import annotations


class HclgError(Exception):
    """Base class of every error hclg raises on purpose."""


class InputFormatError(HclgError):
    """A line of an input file is malformed.

    Args:
        path: the file.
        line: 1-based line number, or None when the problem is not one line.
        message: what was wrong and what was expected.
    """

    def __init__(self, path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class GraphBuildError(HclgError):
    """A step of graph construction failed (empty result, blow-up, inconsistency)."""


class GraphFormatError(HclgError):
    """A graph directory is missing files or was written by another format version."""


class DecodeError(HclgError):
    """One utterance could not be decoded (bad shape, NaN, no frames...)."""
