"""The same graph recipes done with Kaldi's own fstext code (kaldifst): the oracle that
tests and benchmarks compare hclg against. Never imported by hclg itself."""

from __future__ import annotations

import os
import tempfile

import kaldifst
import pywrapfst as fst


def to_kaldi(f) -> "kaldifst.StdVectorFst":
    """pywrapfst FST -> kaldifst FST (through an OpenFst file)."""
    fd, path = tempfile.mkstemp(suffix=".fst")
    os.close(fd)
    try:
        g = f.copy()
        g.set_input_symbols(None)
        g.set_output_symbols(None)
        g.write(path)
        return kaldifst.StdVectorFst.read(path)
    finally:
        os.unlink(path)


def to_pywrapfst(k) -> fst.Fst:
    fd, path = tempfile.mkstemp(suffix=".fst")
    os.close(fd)
    try:
        k.write(path)
        return fst.Fst.read(path)
    finally:
        os.unlink(path)


def kaldi_lg(L, G) -> "kaldifst.StdVectorFst":
    """mkgraph.sh's LG: fsttablecompose | fstdeterminizestar --use-log=true | fstminimizeencoded."""
    kL, kG = to_kaldi(L), to_kaldi(G)
    kaldifst.arcsort(kL, sort_type="olabel")
    lg = kaldifst.compose(kL, kG)
    if kaldifst.determinize_star(lg, use_log=True):
        raise RuntimeError("determinize_star stopped early")
    kaldifst.minimize_encoded(lg)
    return lg


def kaldi_halg(Ha, LG) -> "kaldifst.StdVectorFst":
    """mkgraph.sh's HCLGa (monophone): Ha o LG | fstdeterminizestar --use-log=true |
    fstminimizeencoded (before the disambiguation ids are removed)."""
    kH, kLG = to_kaldi(Ha), to_kaldi(LG)
    kaldifst.arcsort(kH, sort_type="olabel")
    h = kaldifst.compose(kH, kLG)
    if kaldifst.determinize_star(h, use_log=True):
        raise RuntimeError("determinize_star stopped early")
    kaldifst.minimize_encoded(h)
    return h


def kaldi_tlg(T, LG_nodisambig) -> "kaldifst.StdVectorFst":
    """TLG as icefall/EESEN: T o LG with LG's disambiguation symbols already removed."""
    kT, kLG = to_kaldi(T), to_kaldi(LG_nodisambig)
    kaldifst.arcsort(kT, sort_type="olabel")
    return kaldifst.compose(kT, kLG)


def expand_columns(loglikes, ilabel_to_column):
    """[T, columns] -> [T, labels-1]: column i-1 holds what input label i reads, the
    layout kaldi-decoder's DecodableCtc wants (it reads label i from column i-1)."""
    import numpy as np

    cols = np.maximum(ilabel_to_column[1:], 0)
    return np.ascontiguousarray(loglikes[:, cols], dtype=np.float32)


def kaldi_faster_decode(decoder, expanded):
    """Runs a kaldi_decoder.FasterDecoder; returns (word ids, total cost, reached final)."""
    import kaldi_decoder

    decoder.decode(kaldi_decoder.DecodableCtc(expanded))
    final = decoder.reached_final()
    ok, lat = decoder.get_best_path()
    ok2, _isyms, osyms, w = kaldifst.get_linear_symbol_sequence(lat)
    return list(osyms), float(w.value1 + w.value2), final
