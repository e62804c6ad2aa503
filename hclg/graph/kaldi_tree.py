"""Kaldi's phonetic decision tree (the ``tree`` file of a Kaldi model directory), read as
Kaldi's ``ContextDependency::Read`` does, binary or text.

A tree maps a phone window and a pdf class to a pdf id: the window is ``N`` phones
(``N`` = context width; Kaldi phone ids, 0 at an utterance boundary) whose position ``P``
is the central phone, and the pdf class is that of the HMM state (from the topology).
The map is Kaldi's EventMap: an event is a set of (key, value) pairs, the keys 0..N-1 for
the window's phones and -1 (``kPdfClass``) for the pdf class, and the map is a tree of

- ``CE answer``: a constant (the pdf id);
- ``TE key size ( child ... )``: a table on the value of ``key`` (a missing or NULL child
  means the event has no answer);
- ``SE key [ yes-set ] { yes no }``: a split on whether the value of ``key`` is in the set.
"""

from __future__ import annotations

from dataclasses import dataclass

from hclg.errors import GraphBuildError
from hclg.graph.kaldi_io import KaldiObjectReader

PDF_CLASS_KEY = -1  # Kaldi's kPdfClass


@dataclass(frozen=True)
class KaldiTree:
    """Kaldi's ContextDependency.

    Attributes:
        path: the file it was read from.
        context_width: N, the phones in a window (1: monophone, 3: triphone).
        central_position: P, the window position of the phone the HMM belongs to.
        root: the EventMap as nested tuples: ``("CE", pdf)``, ``("TE", key, children)``
            (children a tuple, None for NULL), ``("SE", key, frozenset, yes, no)``.
    """

    path: str
    context_width: int
    central_position: int
    root: tuple

    def pdf(self, window: tuple[int, ...], pdf_class: int) -> int | None:
        """The pdf of ``pdf_class`` of the central phone of ``window`` (Kaldi's
        ContextDependency::Compute); None where the tree has no answer for it."""
        node = self.root
        while node is not None:
            kind = node[0]
            if kind == "CE":
                return node[1]
            key = node[1]
            value = pdf_class if key == PDF_CLASS_KEY else window[key]
            if kind == "TE":
                children = node[2]
                node = children[value] if 0 <= value < len(children) else None
            else:
                node = node[3] if value in node[2] else node[4]
        return None

    def pdfs(self, window: tuple[int, ...], hmm_states) -> tuple[tuple[int, int], ...]:
        """:func:`window_pdfs` of this tree."""
        return window_pdfs(self, window, hmm_states)


def window_pdfs(tree, window: tuple[int, ...], hmm_states) -> tuple[tuple[int, int], ...]:
    """(forward pdf, self-loop pdf) of each emitting state of the central phone's HMM, as
    ``tree`` (a KaldiTree, or anything with its ``pdf`` and ``path``: a context table's,
    :class:`hclg.graph.context.TableTree`) gives them.

    Args:
        window: the phone window (Kaldi phone ids; 0 at a boundary).
        hmm_states: the emitting states of the phone's topology entry, each with
            ``forward_pdf_class`` and ``self_loop_pdf_class``.

    Raises:
        GraphBuildError: the tree has no pdf for one of them.
    """
    out = []
    for s, st in enumerate(hmm_states):
        fwd = tree.pdf(window, st.forward_pdf_class)
        loop = fwd if st.self_loop_pdf_class == st.forward_pdf_class else tree.pdf(window, st.self_loop_pdf_class)
        if fwd is None or loop is None:
            raise GraphBuildError(f"{tree.path}: the tree has no pdf for phone window {list(window)}, "
                                  f"HMM state {s} (is it this model's tree?)")
        out.append((fwd, loop))
    return tuple(out)


def left_questions(tree: KaldiTree, center: int) -> tuple:
    """What ``tree`` (a triphone tree: left phone key 0, central key 1) asks of the left
    phone on the paths of central phone ``center`` (a Kaldi phone id), any pdf class and
    right phone: the yes-sets of its splits on key 0, and ``"value"`` for a table on it.
    Two left phones that answer them all alike give the central phone the same pdfs
    before every right phone: a sufficient test, not the finest, of one HMM."""
    found: dict = {}
    todo = [tree.root]
    while todo:
        node = todo.pop()
        if node is None or node[0] == "CE":
            continue
        key = node[1]
        if node[0] == "TE":
            children = node[2]
            if key == 1:
                todo.append(children[center] if 0 <= center < len(children) else None)
                continue
            if key == 0:
                found.setdefault("value", None)
            todo.extend(children)
        elif key == 1:
            todo.append(node[3] if center in node[2] else node[4])
        else:
            if key == 0:
                found.setdefault(node[2], None)
            todo.extend((node[3], node[4]))
    return tuple(found)


def _event_map(r: KaldiObjectReader, depth: int = 0):
    if depth > 10000:
        r.fail("the tree is nested too deeply")
    t = r.expect("NULL", "CE", "TE", "SE")
    if t == "NULL":
        return None
    if t == "CE":
        return ("CE", r.int32())
    key = r.int32()
    if t == "TE":
        size = r.uint32()
        if size > 10_000_000:
            r.fail(f"impossible table size {size}")
        r.expect("(")
        children = tuple(_event_map(r, depth + 1) for _ in range(size))
        r.expect(")")
        return ("TE", key, children)
    yes_set = frozenset(r.int_vector().tolist())
    r.expect("{")
    yes = _event_map(r, depth + 1)
    no = _event_map(r, depth + 1)
    r.expect("}")
    return ("SE", key, yes_set, yes, no)


def read_kaldi_tree(path) -> KaldiTree:
    """Reads a Kaldi ``tree`` file (binary or text), as Kaldi's ContextDependency::Read.

    Raises:
        InputFormatError: naming the file and where it stopped making sense.
    """
    r = KaldiObjectReader(path)
    r.expect("ContextDependency")
    n, p = r.int32(), r.int32()
    if not (0 < n <= 10 and 0 <= p < n):
        r.fail(f"context width {n} and central position {p} are not a Kaldi tree's")
    t = r.expect("ToLength", "ToPdf")
    if t == "ToLength":  # an old tree: the number of pdf classes per phone, not needed
        _event_map(r)
        r.expect("ToPdf")
    root = _event_map(r)
    r.expect("EndContextDependency")
    return KaldiTree(str(path), n, p, root)
