"""What each graph input label marks in a path, for word and unit (phone, token) times:
the ``event_kind`` the 1-best search records its traceback events by
(:mod:`hclg.search.kernel_state`' ``EVENT_*``), and the unit each label belongs to."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from hclg import constants
from hclg.graph.graph_dir import Graph
from hclg.search.kernel_state import (
    EVENT_BLANK,
    EVENT_NONE,
    EVENT_PHONE_END,
    EVENT_TOKEN,
)


class LabelEvents(NamedTuple):
    """The events of a graph's input labels."""

    event_kind: np.ndarray  # int8 [labels]: EVENT_* of each input label
    unit_of_label: np.ndarray  # int [labels]: the unit (units.txt id) each label belongs to
    blank_column: int | None  # CTC: the blank's posterior column
    nonword_units: frozenset  # units that may stand between words (silence, fillers, word delimiter)


def label_events(g: Graph, reordered: bool) -> LabelEvents:
    """The events of graph ``g``'s input labels.

    - CTC: a token label is an event where the label before it differs (a new token, not
      a repeat); the blank never. On the compact topology, whose repeats read labels of
      their own (manifest ``ctc_repeat_labels``, see :func:`hclg.graph.ctc_topology.make_ctc_topo`),
      a token label is always an event and a repeat never.
    - HMM: a transition into a phone's final state (its last frame), or with Kaldi's
      reordered self-loops (``reordered``) a forward transition out of its first state
      (its first frame).
    """
    gopts = g.manifest.get("options", {})
    n_labels = len(g.ilabel_to_column)
    kind = np.zeros(n_labels, dtype=np.int8)
    blank_column = None
    nonword = set(gopts.get("nonword_units", ()))
    if g.topology == "ctc":
        blank = gopts.get("blank", constants.CTC_BLANK)
        blank_column = g.units.id(blank) - 1
        kind[1:] = EVENT_TOKEN
        kind[g.units.id(blank)] = EVENT_BLANK
        kind[g.ilabel_to_column < 0] = EVENT_NONE
        if gopts.get("word_delimiter"):
            nonword.add(gopts["word_delimiter"])
        unit_of_label = np.arange(n_labels)
        rb = g.manifest.get("ctc_repeat_labels")
        if rb is not None:
            kind[:rb][kind[:rb] == EVENT_TOKEN] = EVENT_PHONE_END
            kind[rb:] = EVENT_NONE
            unit_of_label[rb:] = np.arange(1, n_labels - rb + 1)
    else:
        tr = g.transitions()
        if reordered:  # Kaldi's graphs: a phone starts with a forward transition out of its first state
            starts = (tr["hmm_state"] == 0) & (tr["to_state"] != tr["hmm_state"])
            starts[0] = False
            kind[starts[:n_labels]] = EVENT_PHONE_END
        else:  # a phone ends with the transition into its final state
            kind[tr["is_final"][:n_labels]] = EVENT_PHONE_END
        unit_of_label = tr["phone"]
        sil = gopts.get("sil_phone")
        if sil:
            nonword |= {sil} | {sil + s for s in ("_B", "_I", "_E", "_S")}
    return LabelEvents(kind, unit_of_label, blank_column, frozenset(nonword))
