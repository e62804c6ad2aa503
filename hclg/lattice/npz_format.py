"""hclg's own lattice files: one ``UTT.npz`` per utterance holding the :class:`Lattice`
arrays as they are (and the acoustic scale and frame length of the decode), loaded without
pickles."""

from __future__ import annotations

import numpy as np

from hclg.errors import InputFormatError
from hclg.lattice.lattice import Lattice


def to_npz(lat: Lattice, path) -> None:
    np.savez(path, src=lat.src, dst=lat.dst, word=lat.word, graph=lat.graph, acoustic=lat.acoustic,
             align_off=lat.align_off, align=lat.align, final_graph=lat.final_graph,
             final_acoustic=lat.final_acoustic, final_align_off=lat.final_align_off, final_align=lat.final_align,
             acoustic_scale=np.float64(lat.acoustic_scale), frame_seconds=np.float64(lat.frame_seconds),
             utt=np.str_(lat.utt))


def from_npz(path) -> Lattice:
    try:
        with np.load(path, allow_pickle=False) as z:
            return Lattice(str(z["utt"]), z["src"], z["dst"], z["word"], z["graph"], z["acoustic"], z["align_off"],
                           z["align"], z["final_graph"], z["final_acoustic"], z["final_align_off"], z["final_align"],
                           float(z["acoustic_scale"]), float(z["frame_seconds"]))
    except (KeyError, ValueError, OSError) as e:
        raise InputFormatError(str(path), None, f"not an hclg lattice (.npz): {e}") from None
