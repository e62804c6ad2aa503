"""Kaldi's rules for reading its own outputs, written out here from Kaldi's source (not
with hclg's code): the best path of a Kaldi lattice at a scoring scale, SplitToPhones on a
reordered alignment, and word times as lattice-align-words."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hclg.lattice.archives import read_lattices
from hclg.search.options import DecoderOptions

#: the decode options of the real recipe in tests/data (both its systems):
#: gmm-latgen-faster --max-active=7000 --beam=13.0 --acoustic-scale=0.083333
KALDI_OPTIONS = DecoderOptions(beam=13.0, max_active=7000, acoustic_scale=0.083333, input_kind="log-likelihoods",
                               alignment=True)


def lattice_best_paths(lats, lmwt: float = 12.0, word_penalty: float = 0.0, with_cost: bool = False):
    """utt -> (word ids, transition ids per frame) of the best path of Kaldi's own
    lattice at Kaldi's scoring scale (graph + acoustic / LMWT, plus ``word_penalty`` a word
    as lattice-add-penalty): plain Viterbi over the topologically sorted states."""
    out = {}
    for lat in read_lattices(f"ark:{lats}"):
        S = lat.num_states
        best, back = np.full(S, np.inf), [None] * S
        best[0] = 0.0
        cost = lat.graph + lat.acoustic / lmwt + word_penalty * (lat.word != 0)
        for k in np.argsort(lat.src, kind="stable"):
            s, d = lat.src[k], lat.dst[k]
            if best[s] + cost[k] < best[d]:
                best[d], back[d] = best[s] + cost[k], k
        fin = lat.final_graph + lat.final_acoustic / lmwt
        s = int(np.argmin(best + fin))
        words, ali = [], [lat.final_labels(s).tolist()]
        while back[s] is not None:
            k = back[s]
            ali.append(lat.arc_align(k).tolist())
            if lat.word[k]:
                words.append(int(lat.word[k]))
            s = int(lat.src[k])
        out[lat.utt] = (words[::-1], [t for part in ali[::-1] for t in part])
        if with_cost:
            out[lat.utt] += (float(np.min(best + fin)),)
    return out


def read_word_boundary(path) -> dict[int, str]:
    """phones/word_boundary.int: phone id -> nonword, begin, end, internal or singleton."""
    lines = Path(path).read_text().splitlines()
    return {int(p): k for p, k in (line.split() for line in lines)}


def kaldi_split_to_phones(ali, table):
    """(phone id, first frame, last frame) per phone, as Kaldi's SplitToPhones on a
    reordered alignment: a phone ends after the self-loops that follow its final
    transition."""
    phones, i = [], 0
    while i < len(ali):
        j = i
        while not table.is_final[ali[j]]:
            j += 1
        while j + 1 < len(ali) and table.to_state[ali[j + 1]] == table.hmm_state[ali[j + 1]] \
                and table.trans_state[ali[j + 1]] == table.trans_state[ali[j]]:
            j += 1
        phones.append((int(table.phone[ali[i]]), i, j))
        i = j + 1
    return phones


def kaldi_word_times(ali, words, tm, word_boundary):
    """(start, end) frames per word as Kaldi: SplitToPhones, then phones grouped into
    words by word_boundary.int (begin ... end, or singleton), as lattice-align-words."""
    times, start = [], None
    for ph, a, b in kaldi_split_to_phones(ali, tm.transition_table()):
        kind = word_boundary[ph]
        if kind in ("begin", "singleton"):
            start = a
        if kind in ("end", "singleton"):
            times.append((start, b))
    assert len(times) == len(words)
    return times


def read_decode_log(path) -> dict[str, dict]:
    """utt -> {"words": 1-best words, "loglike": "Log-like per frame"} of a Kaldi decode log
    (gmm-latgen-faster's ``decode.N.log``)."""
    log: dict[str, dict] = {}
    text = Path(path).read_text()
    for m in re.finditer(r"^(R\S+) (.*)$", text, re.MULTILINE):
        log.setdefault(m.group(1), {})["words"] = m.group(2).split()
    for m in re.finditer(r"Log-like per frame for utterance (\S+) is (\S+) over (\d+) frames", text):
        log[m.group(1)]["loglike"] = float(m.group(2))
    return log


def assert_same_graph(mine, kaldis, ll):
    """Graph ``mine`` (compiled by hclg) decodes as Kaldi's own (imported): the same words,
    frame alignments and word times on every utterance, costs within Kaldi's weight
    rounding, the same sum over all paths (forward algorithm, within 0.02: Kaldi's weight
    quantisation over ~400 frames), and it is no larger."""
    import pytest

    from hclg.search.decoder import Decoder
    from hclg.transcript.forward import forward_backward

    a, b = Decoder(mine, KALDI_OPTIONS), Decoder(kaldis, KALDI_OPTIONS)
    for utt in sorted(ll):
        ra, rb = a.decode(ll[utt], utt), b.decode(ll[utt], utt)
        assert ra.words == rb.words and ra.alignment == rb.alignment, utt
        assert ra.cost == pytest.approx(rb.cost, abs=0.01), utt
        assert (ra.start_frames, ra.end_frames) == (rb.start_frames, rb.end_frames), utt
    mine_n, kaldis_n = a.graph.manifest["counts"], b.graph.manifest["counts"]
    assert mine_n["states"] <= kaldis_n["states"] and mine_n["arcs"] <= kaldis_n["arcs"]
    for utt in sorted(ll)[:10]:
        x = a.loglikes(ll[utt], utt)
        assert forward_backward(a.search_graph, x).log_likelihood == pytest.approx(
            forward_backward(b.search_graph, x).log_likelihood, abs=0.02), utt


def assert_decodes_as_kaldi(graph, ll, log, best, times=None) -> int:
    """Decoding ``ll`` on ``graph`` gives Kaldi's decode-log words and "Log-like per frame"
    (printed with 6 digits), and the words and frame alignment of the best path of Kaldi's
    lattices (``best``); with ``times`` = (transition model, word_boundary), also Kaldi's
    word times. Returns the words checked."""
    import pytest

    from hclg.search.decoder import Decoder

    dec = Decoder(graph, KALDI_OPTIONS)
    wsym = dec.graph.words.symbols
    assert len(ll) == len(best) == 55
    checked = 0
    for utt in sorted(ll):
        r = dec.decode(ll[utt], utt)
        assert list(r.words) == log[utt]["words"], utt
        assert -r.cost / r.frames == pytest.approx(log[utt]["loglike"], abs=6e-5), utt
        words, ali = best[utt]
        assert [wsym[w] for w in words] == list(r.words), utt
        assert list(r.alignment) == ali, utt
        if times is not None:
            assert list(zip(r.start_frames, r.end_frames)) == kaldi_word_times(ali, words, *times), utt
        checked += len(words)
    return checked
