"""Checked OpenFst operations of a graph recipe: composition, encoded minimization (Kaldi's
fstminimizeencoded) and relabelling to epsilon (Kaldi's fstrmsymbols), each a logged step."""

from __future__ import annotations

import time

import pywrapfst as fst

from hclg.fst.memory import release_free_heap
from hclg.fst.steps import log_step

#: Kaldi's kDelta: weights are quantized to it before an encoded minimization.
MINIMIZE_DELTA = 1.0 / 1024


def compose(a: fst.Fst, b: fst.Fst, step: str, hint: str = "") -> fst.VectorFst:
    """a o b, trimmed; raises GraphBuildError naming ``step`` if the result is empty."""
    t0 = time.perf_counter()
    a = a.copy().arcsort("olabel")
    c = fst.compose(a, b, connect=True)
    return log_step(step, c, t0, hint)


def minimize_encoded(f: fst.Fst, step: str, consume: bool = False) -> fst.VectorFst:
    """Minimizes with labels and weights encoded, so no weight is pushed: as Kaldi's
    ``fstminimizeencoded`` (quantize weights by delta, encode, minimize, decode).

    With ``consume``, ``f`` is emptied once its quantized copy is made, so that the
    minimization does not run beside it."""
    t0 = time.perf_counter()
    g = fst.arcmap(f, delta=MINIMIZE_DELTA, map_type="quantize")
    if consume:
        f.delete_states()
        release_free_heap()
    enc = fst.EncodeMapper(g.arc_type(), encode_labels=True, encode_weights=True)
    g.encode(enc)
    g.minimize(delta=MINIMIZE_DELTA)
    g.decode(enc)
    return log_step(step, g, t0)


def relabel_to_epsilon(f: fst.Fst, labels, side: str, step: str) -> fst.VectorFst:
    """Replaces ``labels`` by epsilon on one side, as Kaldi's ``fstrmsymbols``."""
    t0 = time.perf_counter()
    pairs = [(int(x), 0) for x in labels]
    g = f.copy()
    if pairs:
        if side == "input":
            g.relabel_pairs(ipairs=pairs)
        else:
            g.relabel_pairs(opairs=pairs)
    return log_step(step, g, t0)
