"""Drawing lattices with Graphviz: arcs show the word, graph and acoustic cost; states
their frame."""

from __future__ import annotations

import subprocess

import numpy as np

from hclg.errors import DecodeError


def draw(lat, words=None, fmt: str = "dot", acoustic_scale: float | None = None) -> bytes:
    """The lattice as Graphviz DOT, or rendered (``svg``, ``png``) by Graphviz's ``dot``.
    Arcs show the word, graph and acoustic cost; states their frame.

    Raises:
        DecodeError: ``svg``/``png`` asked for and Graphviz's ``dot`` is not installed.
    """
    sym = words.symbols if words is not None else None
    t = lat.state_times()
    lines = ["digraph lattice {", "  rankdir=LR;", f'  label="{lat.utt}";',
             '  node [shape=circle, fontsize=10]; edge [fontsize=10];']
    for s in range(lat.num_states):
        shape = "doublecircle" if np.isfinite(lat.final_graph[s]) else "circle"
        lines.append(f'  {s} [label="{s}\\nt={t[s]}", shape={shape}];')
    for k in range(lat.num_arcs):
        w = int(lat.word[k])
        name = (sym[w] if sym and w < len(sym) else str(w)) if w else "<eps>"
        name = name.replace('"', '\\"')
        lines.append(f'  {lat.src[k]} -> {lat.dst[k]} [label="{name}\\n{lat.graph[k]:.2f},{lat.acoustic[k]:.2f}"];')
    lines.append("}")
    dot = ("\n".join(lines) + "\n").encode()
    if fmt == "dot":
        return dot
    try:
        return subprocess.run(["dot", f"-T{fmt}"], input=dot, capture_output=True, check=True).stdout
    except FileNotFoundError:
        raise DecodeError("drawing as svg/png needs Graphviz's `dot` program (e.g. apt install graphviz); "
                          "--format dot writes the DOT text without it") from None
