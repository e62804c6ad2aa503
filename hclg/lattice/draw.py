"""Drawing lattices with Graphviz (the ``graphviz`` package builds the DOT; its ``dot``
program renders SVG or PNG): arcs show the word, graph and acoustic cost; states their
frame, final states a double circle."""

from __future__ import annotations

import graphviz
import numpy as np

from hclg.errors import DecodeError

FORMATS = ("dot", "svg", "png")


def to_graphviz(lat, words=None) -> graphviz.Digraph:
    """The lattice as a ``graphviz.Digraph``.

    Args:
        lat: a Lattice.
        words: the word table for arc labels (default: the lattice's own, else word ids).
    """
    words = words if words is not None else getattr(lat, "words", None)
    sym = words.symbols if words is not None else None
    t = lat.state_times()
    g = graphviz.Digraph("lattice", graph_attr={"rankdir": "LR", "label": lat.utt},
                         node_attr={"shape": "circle", "fontsize": "10"}, edge_attr={"fontsize": "10"})
    for s in range(lat.num_states):
        shape = "doublecircle" if np.isfinite(lat.final_graph[s]) else "circle"
        g.node(str(s), f"{s}\nt={t[s]}", shape=shape)
    for k in range(lat.num_arcs):
        w = int(lat.word[k])
        name = (sym[w] if sym and w < len(sym) else str(w)) if w else "<eps>"
        g.edge(str(lat.src[k]), str(lat.dst[k]), f"{name}\n{lat.graph[k]:.2f},{lat.acoustic[k]:.2f}")
    return g


def draw(lat, words=None, fmt: str = "dot") -> bytes:
    """The lattice as DOT text, or rendered (``svg``, ``png``) by Graphviz's ``dot``.

    Raises:
        DecodeError: ``svg``/``png`` asked for and Graphviz's ``dot`` is not installed.
        ValueError: an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown drawing format {fmt!r}: use one of {FORMATS}")
    g = to_graphviz(lat, words)
    if fmt == "dot":
        return g.source.encode()
    try:
        return g.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise DecodeError("drawing as svg/png needs Graphviz's `dot` program (e.g. apt install graphviz); "
                          "--format dot writes the DOT text without it") from None
