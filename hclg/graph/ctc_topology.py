"""T, the CTC topology: label ``k + 1`` reads posterior column ``k`` (label 0 is epsilon), so
the blank is label ``blank_id + 1``; a token is output on its first frame, its repeats and
blanks output nothing."""

from __future__ import annotations

import numpy as np

from hclg.fst.convert import arrays_to_fst


def make_ctc_topo(num_tokens: int, blank_id: int, compact: bool = False):
    """T: CTC frame labels to tokens (repeats collapse, blanks vanish), as k2's ctc_topo.

    Token ``k`` is label ``k + 1``. The standard topology has a state per token and an
    arc between every pair ((N)^2 arcs); the compact one (k2's ``modified=True``) has
    O(N) arcs via epsilons, at the price of also reading ``a a`` as two tokens.

    Args:
        num_tokens: posterior columns, blank included.
        blank_id: column of the blank.
        compact: build the compact variant.

    Returns:
        T as a tropical VectorFst (every state final).
    """
    if not 0 <= blank_id < num_tokens:
        raise ValueError(f"blank_id {blank_id} outside 0..{num_tokens - 1}")
    b = blank_id + 1
    labels = np.arange(1, num_tokens + 1)
    if not compact:
        # state k-1 = "last frame was token k" (blank state = b - 1)
        i, j = np.meshgrid(labels, labels, indexing="ij")
        i, j = i.ravel(), j.ravel()
        olab = np.where((i == j) | (j == b), 0, j)
        src, dst, ilab = i - 1, j - 1, j
        ns = num_tokens
        start = b - 1
        final = np.zeros(ns, dtype=np.float32)
    else:
        toks = labels[labels != b]
        # state 0: after blank/start; state t: inside token t.
        ns = num_tokens
        st = np.arange(1, ns)
        src = np.concatenate([[0], np.zeros(len(toks), int), st, st])
        ilab = np.concatenate([[b], toks, toks, np.zeros(len(toks), int)])
        olab = np.concatenate([[0], toks, np.zeros(len(toks), int), np.zeros(len(toks), int)])
        dst = np.concatenate([[0], st, st, np.zeros(len(toks), int)])
        start = 0
        final = np.zeros(ns, dtype=np.float32)
    return arrays_to_fst(ns, start, src, ilab, olab, np.zeros(len(src), np.float32), dst, final)
