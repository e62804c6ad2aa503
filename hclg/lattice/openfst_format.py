"""Lattices for pynini users: an OpenFst tropical acceptor over word ids whose weights are
total costs at the lattice's acoustic scale (the frame labels are not kept)."""

from __future__ import annotations

import numpy as np
import pywrapfst as fst

from hclg.lattice.lattice import Lattice


def to_openfst(lat: Lattice, acoustic_scale: float | None = None, lm_scale: float = 1.0):
    """The lattice as a pywrapfst tropical acceptor over word ids (those of the graph's
    words.txt; weights: total costs)."""
    c, f = lat.arc_costs(acoustic_scale, lm_scale)
    out = fst.VectorFst()
    one = fst.Weight.one(out.weight_type())
    for _ in range(lat.num_states):
        out.add_state()
    if lat.num_states:
        out.set_start(0)
    for k in range(lat.num_arcs):
        out.add_arc(int(lat.src[k]), fst.Arc(int(lat.word[k]), int(lat.word[k]), fst.Weight(out.weight_type(), float(c[k])), int(lat.dst[k])))
    for s in range(lat.num_states):
        if np.isfinite(f[s]):
            out.set_final(s, fst.Weight(out.weight_type(), float(f[s])) if f[s] != 0 else one)
    return out
