"""Kaldi's GMM acoustic scores, recomputed in numpy from a real Kaldi recipe's files:
``apply-cmvn`` (means only, per speaker) | ``add-deltas`` (order 2, window 2) |
``gmm-compute-likes`` (AmDiagGmm: log-sum-exp over each pdf's Gaussians). A test oracle:
hclg never computes acoustic scores. Checked against the "Log-like per frame" lines of
the recipe's own decode log (see tests/search/test_kaldi_graph.py)."""

from __future__ import annotations

import kaldi_native_io
import numpy as np

from hclg.graph.kaldi_io import KaldiObjectReader


def read_am_diag_gmm(path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per pdf: (gconsts [G], means_invvars [G, D], inv_vars [G, D]) of a GMM final.mdl."""
    r = KaldiObjectReader(path)
    if not r.skip_to("</TransitionModel>"):
        raise ValueError(f"{path}: no TransitionModel")
    r.expect("<DIMENSION>")
    r.int32()
    r.expect("<NUMPDFS>")
    out = []
    for _ in range(r.int32()):
        r.expect("<DiagGMM>")
        r.expect("<GCONSTS>")
        gconsts = r.float_vector()
        r.expect("<WEIGHTS>")
        r.float_vector()
        r.expect("<MEANS_INVVARS>")
        mi = r.float_matrix()
        r.expect("<INV_VARS>")
        iv = r.float_matrix()
        r.expect("</DiagGMM>")
        out.append((gconsts, mi, iv))
    return out


def add_deltas(x: np.ndarray, order: int = 2, window: int = 2) -> np.ndarray:
    """Kaldi's DeltaFeatures (feat/feature-functions.cc): edge frames repeated."""
    scales = [np.array([1.0])]
    for _ in range(order):
        prev = scales[-1]
        po = (len(prev) - 1) // 2
        cur = np.zeros(len(prev) + 2 * window)
        co = po + window
        norm = 0.0
        for j in range(-window, window + 1):
            norm += j * j
            for k in range(-po, po + 1):
                cur[j + k + co] += j * prev[k + po]
        scales.append(cur / norm)
    T = len(x)
    outs = []
    for sc in scales:
        m = (len(sc) - 1) // 2
        acc = np.zeros_like(x)
        for j in range(-m, m + 1):
            acc += sc[j + m] * x[np.clip(np.arange(T) + j, 0, T - 1)]
        outs.append(acc)
    return np.concatenate(outs, axis=1)


def gmm_loglikes(feats: np.ndarray, gmms) -> np.ndarray:
    """[T, num_pdfs] log-likelihoods (float32, as gmm-compute-likes writes)."""
    x = feats.astype(np.float64)
    out = np.empty((len(x), len(gmms)), dtype=np.float64)
    for p, (gc, mi, iv) in enumerate(gmms):
        ll = gc[None, :] + x @ mi.T - 0.5 * (x * x) @ iv.T
        mx = ll.max(axis=1, keepdims=True)
        out[:, p] = (mx + np.log(np.exp(ll - mx).sum(axis=1, keepdims=True)))[:, 0]
    return out.astype(np.float32)


def recipe_loglikes(feats_ark, cmvn_ark, utt2spk: dict[str, str], model) -> dict[str, np.ndarray]:
    """utt -> GMM log-likelihoods of the recipe's test features (raw MFCC archive)."""
    cmvn = {k: np.array(m) for k, m in kaldi_native_io.SequentialDoubleMatrixReader(f"ark:{cmvn_ark}")}
    gmms = read_am_diag_gmm(model)
    out = {}
    for utt, m in kaldi_native_io.SequentialFloatMatrixReader(f"ark:{feats_ark}"):
        st = cmvn[utt2spk[utt]]
        d = st.shape[1] - 1
        x = np.array(m, dtype=np.float64) - st[0, :d] / st[0, d]
        out[utt] = gmm_loglikes(add_deltas(x.astype(np.float32).astype(np.float64)), gmms)
    return out


def recipe_test_loglikes(model) -> dict[str, np.ndarray]:
    """The GMM scores of ``model`` on the 55 test utterances of the real recipe in
    tests/data (its mono and tri systems decoded the same features)."""
    from pathlib import Path

    feats = Path(__file__).resolve().parents[1] / "data" / "kaldi_mono_system" / "features"
    u2s = dict(line.split() for line in (feats / "utt2spk").read_text().splitlines())
    return recipe_loglikes(feats / "raw_mfcc_test.1.ark", feats / "cmvn_test.ark", u2s, model)
