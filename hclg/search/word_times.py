"""Word times from a phone (HMM) or token (CTC) alignment, split into words through the
lexicon, as Kaldi's ``lattice-align-words-lexicon``."""

from __future__ import annotations


def word_times(words, wframes, units, num_frames, is_ctc, unit_symbols, word_symbols, prons, nonword_units,
               phone_starts=False, word_boundary=None):
    """(first frames, last frames) of each word.

    Args:
        words: word ids of the path.
        wframes: the frame at which each word was output (the fallback times).
        units: (unit label, frame) events of the path: HMM, each phone's last frame (its
            first with ``phone_starts``); CTC, each token's first frame.
        num_frames: frames of the utterance.
        is_ctc: the graph's topology is CTC.
        unit_symbols: the unit table (symbol of each unit label).
        word_symbols: the word table.
        prons: word -> its pronunciations (tuples of unit symbols).
        nonword_units: units that may stand between words (silence, word delimiter).
        phone_starts: the HMM events are phone starts: the graph has Kaldi's reordered
            self-loops (a phone's last frames are self-loops after its final transition).
        word_boundary: phone -> word position (Kaldi's word_boundary.txt), used when the
            lexicon gives no split (as Kaldi's lattice-align-words).

    Returns:
        Lists of first and last frames; when no split through the lexicon exists, the
        frames where the words were output.
    """
    if not words:
        return [], []
    segs = unit_segments(units, num_frames, is_ctc, unit_symbols, phone_starts)
    got = align_words(words, segs, word_symbols, prons, nonword_units)
    if got is None and word_boundary:
        got = split_by_word_boundary(segs, word_boundary, len(words))
    if got is None:
        ends = [f for f in wframes[1:]] + [num_frames - 1]
        return list(wframes), [max(s, e) for s, e in zip(wframes, ends)]
    return got


def unit_segments(units, num_frames, is_ctc, unit_symbols, phone_starts=False) -> list[tuple[str, int, int]]:
    """(unit symbol, first frame, last frame) of each phone (HMM) or token (CTC) of a
    path, from its unit events (see :func:`word_times`)."""
    if is_ctc:
        # units: (token label, first frame); a token lasts until the next unit starts
        return [(unit_symbols[u], f, f) for u, f in units]
    if phone_starts:
        # units: (phone id, first frame); a phone ends where the next starts (as Kaldi's SplitToPhones)
        nexts = [f for _, f in units[1:]] + [num_frames]
        return [(unit_symbols[u], f, n - 1) for (u, f), n in zip(units, nexts)]
    # units: (phone id, last frame); a phone starts after the previous one ends
    segs, prev = [], -1
    for u, f in units:
        segs.append((unit_symbols[u], prev + 1, f))
        prev = f
    return segs


def align_words(words, segs, word_symbols, prons, nonword_units):
    """Splits ``segs`` (unit, start, end) into the words: each word takes one of its
    pronunciations, non-word units (silence, delimiter) may stand between words; where
    several splits exist, each word takes its first pronunciation that leads to one, as
    early as it can. None if no split exists.

    Dynamic programming over the (word, unit) positions reachable from the start only: a
    narrow band (linear in the utterance), not the whole table (quadratic: an hour-long
    stream has ~10^4 words and ~10^5 units)."""
    skip = [u in nonword_units for u, _, _ in segs]
    units = [u for u, _, _ in segs]
    n, m = len(words), len(segs)
    word_prons = [prons.get(word_symbols[w], []) for w in words]

    def fits(i, j):  # the pronunciations of word i that match the units from j on
        return [j + len(p) for p in word_prons[i] if j + len(p) <= m and tuple(units[j:j + len(p)]) == p]

    reach = [set() for _ in range(m + 1)]  # reach[j]: the words i such that (i, j) is reachable
    reach[0].add(0)
    for j in range(m + 1):
        for i in reach[j]:
            if j < m and skip[j]:
                reach[j + 1].add(i)
            if i < n:
                for e in fits(i, j):
                    reach[e].add(i + 1)
    if n not in reach[m]:
        return None
    ok = {(n, m)}  # reachable (i, j) from which words[i:] can take segs[j:]
    for j in range(m, -1, -1):
        for i in reach[j]:
            if (j < m and skip[j] and (i, j + 1) in ok) or (i < n and any((i + 1, e) in ok for e in fits(i, j))):
                ok.add((i, j))
    starts, ends = [], []
    i = j = 0
    while i < n:
        for e in fits(i, j):
            if (i + 1, e) in ok:
                starts.append(segs[j][1])
                ends.append(segs[e - 1][2])
                i, j = i + 1, e
                break
        else:  # a non-word unit before the next word
            j += 1
    return starts, ends


def split_by_word_boundary(segs, word_boundary, n_words):
    """Word spans from word-position phones, as Kaldi's ``lattice-align-words``: a word
    runs from a ``begin`` phone to the next ``end`` phone, or is one ``singleton`` phone;
    ``nonword`` phones (silence) stand between words. None if the phones do not make
    ``n_words`` words that way."""
    starts, ends, open_at = [], [], None
    for unit, first, last in segs:
        kind = word_boundary.get(unit, "nonword")
        if kind in ("begin", "singleton"):
            if open_at is not None:
                return None
            open_at = first
        elif kind in ("internal", "end") and open_at is None:
            return None
        if kind in ("end", "singleton"):
            starts.append(open_at)
            ends.append(last)
            open_at = None
        elif kind == "nonword" and open_at is not None:
            return None
    if open_at is not None or len(starts) != n_words:
        return None
    return starts, ends
