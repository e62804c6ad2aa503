"""From network outputs to scaled log-likelihoods, and priors.

Hybrid recipe: log p(x|s) = log p(s|x) - prior_scale * log p(s), times the acoustic scale.
The decoder turns these into acoustic costs (-scaled log-likelihood) per frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import njit

from hclg.errors import DecodeError, InputFormatError

#: posteriors and priors are floored here before their log, as Kaldi's DecodableAmNnet floors
#: posteriors (1e-20)
POSTERIOR_FLOOR = 1e-20


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    y = x - m
    return y - np.log(np.exp(y).sum(axis=1, keepdims=True))


def as_array(matrix) -> np.ndarray:
    """numpy view of a matrix given as numpy, or as anything with ``.numpy()`` (torch)."""
    if isinstance(matrix, np.ndarray):
        return matrix
    if hasattr(matrix, "detach"):
        matrix = matrix.detach().cpu()
    return np.asarray(matrix.numpy() if hasattr(matrix, "numpy") else matrix)


def scaled_loglikes(matrix, kind: str, acoustic_scale: float, log_priors: np.ndarray | None = None,
                    prior_scale: float = 1.0, blank_column: int | None = None, blank_penalty: float = 0.0,
                    utt: str = "") -> np.ndarray:
    """Turns a [frames, columns] network output into scaled log-likelihoods.

    Args:
        matrix: [frames, columns] array (numpy, or anything with ``.numpy()``).
        kind: ``log-posteriors``, ``posteriors``, ``logits`` (log-softmax applied) or
            ``log-likelihoods`` (used as they are; priors ignored).
        acoustic_scale: multiplies the result.
        log_priors: float [columns] log prior of each column, or None.
        prior_scale: scale on log_priors.
        blank_column: CTC blank column for ``blank_penalty``.
        blank_penalty: subtracted from the blank's log-likelihood (a cost on blank).
        utt: utterance id for error messages.

    Returns:
        float32 [frames, columns], C-contiguous.

    Raises:
        DecodeError: not 2-D, no frames, NaN or inf, or negative posteriors.
    """
    x = as_array(matrix)
    if kind in ("log-posteriors", "log-likelihoods") and x.ndim == 2 and x.shape[0] and x.dtype.kind == "f":
        lp = None if kind == "log-likelihoods" else log_priors
        if lp is None or lp.shape[0] == x.shape[1]:  # one pass; on anything wrong, the checks below say what
            out, ok = _log_scores(x, kind == "log-posteriors", acoustic_scale, lp, prior_scale,
                                  -1 if blank_column is None or not blank_penalty else blank_column, blank_penalty,
                                  NORMALIZATION_TOLERANCE)
            if ok:
                return out
    if x.ndim != 2:
        raise DecodeError(f"utterance {utt!r}: expected a [frames, columns] matrix, got shape {x.shape}")
    if x.shape[0] == 0:
        raise DecodeError(f"utterance {utt!r}: has 0 frames")
    x = x.astype(np.float64)
    if kind == "posteriors":
        if not np.isfinite(x).all() or (x < 0).any():
            raise DecodeError(f"utterance {utt!r}: posteriors must be finite and >= 0 (wrong --input-kind?)")
        check_kind(x, kind, utt)
        x = np.log(np.maximum(x, POSTERIOR_FLOOR))
    elif kind == "logits":
        if not np.isfinite(x).all():
            raise DecodeError(f"utterance {utt!r}: logits contain NaN or inf")
        x = log_softmax(x)
    else:
        bad = ~np.isfinite(x)
        if np.isnan(x).any() or (bad & (x > 0)).any():
            t = int(np.argwhere(bad)[0][0])
            raise DecodeError(f"utterance {utt!r}: NaN or +inf at frame {t}")
        check_kind(x, kind, utt)
    if kind != "log-likelihoods" and log_priors is not None:
        if log_priors.shape[0] != x.shape[1]:
            raise DecodeError(f"utterance {utt!r}: {x.shape[1]} columns but {log_priors.shape[0]} priors")
        x = x - prior_scale * log_priors[None, :]
    if blank_column is not None and blank_penalty:
        x[:, blank_column] -= blank_penalty
    return np.ascontiguousarray(x * acoustic_scale, dtype=np.float32)


#: how far a row's sum (posteriors) or log-sum-exp (log-posteriors) may be from 1 or 0
NORMALIZATION_TOLERANCE = 0.01


@njit(cache=True)
def _log_scores(x, check_lse, acoustic_scale, log_priors, prior_scale, blank_column, blank_penalty, tol):
    """:func:`scaled_loglikes` of log-posteriors or log-likelihoods in one pass, the same
    arithmetic (float64, then float32); ``ok`` False at the first NaN or +inf, or a row of
    log-posteriors that does not normalize (the caller's checks then say what is wrong).
    A stream calls this for every chunk: one pass instead of a dozen numpy ones."""
    T, C = x.shape
    out = np.empty((T, C), np.float32)
    for t in range(T):
        m = -np.inf
        for c in range(C):
            v = x[t, c]
            if v != v or v == np.inf:
                return out, False
            if v > m:
                m = v
        if check_lse:
            if m == -np.inf:
                return out, False
            acc = 0.0
            for c in range(C):
                acc += np.exp(np.float64(x[t, c]) - m)
            if not abs(m + np.log(acc)) <= tol:
                return out, False
        for c in range(C):
            v = np.float64(x[t, c])
            if log_priors is not None:
                v = v - prior_scale * log_priors[c]
            if c == blank_column:
                v = v - blank_penalty
            out[t, c] = v * acoustic_scale
    return out, True


def _row_lse(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


def fitting_kind(x: np.ndarray) -> str:
    """What a matrix looks like: posteriors (rows of probabilities summing to 1),
    log-posteriors (rows whose log-sum-exp is 0), or else logits or log-likelihoods."""
    tol = NORMALIZATION_TOLERANCE
    if np.isfinite(x).all() and (x >= 0).all() and (np.abs(x.sum(axis=1) - 1.0) <= tol).all():
        return "posteriors"
    if not np.isnan(x).any() and (x <= tol).all() and (np.abs(_row_lse(x)) <= tol).all():
        return "log-posteriors"
    return "logits or log-likelihoods"


def check_kind(x: np.ndarray, kind: str, utt: str = "") -> None:
    """Raises DecodeError when a matrix is not what its declared kind says: posteriors whose
    rows do not sum to 1, log-posteriors whose rows' log-sum-exp is not 0 (decoding them
    anyway gives a silent wrong answer). Logits and log-likelihoods are unbounded."""
    tol = NORMALIZATION_TOLERANCE
    if kind == "posteriors":
        s = x.sum(axis=1)
        bad = np.nonzero(~(np.abs(s - 1.0) <= tol))[0]
        what = f"sum to {s[bad[0]]:.4g}" if len(bad) else ""
    elif kind == "log-posteriors":
        if np.isnan(x).any():
            return  # reported as NaN by the caller
        s = _row_lse(x)
        bad = np.nonzero(~(np.abs(s) <= tol))[0]
        what = f"have log-sum-exp {s[bad[0]]:.4g}" if len(bad) else ""
    else:
        return
    if len(bad):
        raise DecodeError(f"utterance {utt!r}: declared {kind}, but row {int(bad[0])} does not normalize (its values "
                          f"{what}); the matrix looks like {fitting_kind(x)}: set --input-kind (input_kind) to match")


def read_priors(path) -> np.ndarray:
    """Reads priors and returns log priors (float64 [columns]).

    Accepts a ``.npy`` vector, a Kaldi vector (text ``[ a b c ]`` or binary, read with
    kaldi-native-io), a Kaldi nnet2/nnet3 ``final.mdl`` (the priors stored after its
    network), or whitespace-separated numbers. Counts are normalised; values that
    are all <= 0 are taken as log priors already.
    """
    path = Path(path)
    if path.suffix == ".npy":
        v = np.load(path).astype(np.float64).ravel()
    else:
        raw = path.read_bytes()
        if raw.lstrip(b"\0B \n")[:17] == b"<TransitionModel>":  # a Kaldi model: its nnet's priors
            from hclg.graph.kaldi_model import read_nnet_priors

            v = read_nnet_priors(path)
        elif raw[:2] == b"\0B":
            import kaldi_native_io as kio

            reader = kio.DoubleVector if raw[2:4] == b"DV" else kio.FloatVector
            try:
                v = np.asarray(reader.read(str(path)).numpy(), dtype=np.float64)
            except Exception as e:  # noqa: BLE001 - kaldi-native-io raises RuntimeError
                raise InputFormatError(path, None, f"binary Kaldi vector could not be read: {e}") from None
        else:
            text = raw.decode("utf-8", errors="replace").replace("[", " ").replace("]", " ")
            try:
                v = np.array([float(t) for t in text.split()], dtype=np.float64)
            except ValueError as e:
                raise InputFormatError(path, None, f"expected numbers: {e}") from None
    if v.size == 0:
        raise InputFormatError(path, None, "no priors in file")
    if (v <= 0).all():
        return v
    if (v < 0).any():
        raise InputFormatError(path, None, "priors mix negative and positive values")
    v = v / v.sum()
    return np.log(np.maximum(v, POSTERIOR_FLOOR))


def estimate_priors(matrices, kind: str = "log-posteriors") -> np.ndarray:
    """Average posterior over all frames of the given utterances (``hclg priors``).

    Args:
        matrices: iterable of [frames, columns] network outputs.
        kind: how to read them (as :func:`scaled_loglikes`; not ``log-likelihoods``).

    Returns:
        float64 [columns] priors (summing to 1).
    """
    total, frames = None, 0
    for m in matrices:
        lp = scaled_loglikes(m, kind, 1.0)
        p = np.exp(lp.astype(np.float64)).sum(axis=0)
        total = p if total is None else total + p
        frames += lp.shape[0]
    if total is None:
        raise DecodeError("no utterances to estimate priors from")
    return total / total.sum()


def blank_skip_frames(ll: np.ndarray, blank_post: np.ndarray, blank_column: int, threshold: float):
    """The frames a CTC search reads with blank skipping, and what it reads on them.

    A frame whose blank posterior exceeds ``threshold`` is dropped. CTC needs a blank only
    between two copies of the same token ("a <b> a" is two a's, "a a" one), so a run of
    dropped frames keeps one frame exactly when the tokens on either side of it may be
    the same: when the two best non-blank columns of the frame before the run and of the
    frame after it share a token. That frame stands for the whole run: it holds the sum of
    the run's log-likelihoods, so a path that crosses the run on the blank, or holds the
    token through it, pays what it pays without skipping (with the run's first frame
    alone, one weak blank frame was all that kept "A A" from being read "A", and was not
    enough). Runs at the start or end go whole. Between different tokens the search then
    reads no blank frame at all, which is where the speed-up comes from.

    Args:
        ll: float32 [T, C] scaled log-likelihoods.
        blank_post: float [T] blank posterior per frame (unscaled).
        blank_column: the blank's column.
        threshold: in (0, 1].

    Returns:
        (int64 [T'] increasing frame indices, at least one; float32 [T', C] the rows read
        there).
    """
    ll = np.ascontiguousarray(ll, dtype=np.float32)
    keep, span = kept_frames(ll, np.asarray(blank_post, dtype=np.float64), blank_column, threshold)
    return keep, run_rows(ll, keep, span)


@njit(cache=True)
def kept_frames(ll, blank_post, blank_column, threshold):
    """:func:`blank_skip_frames`'s frames, and how many input frames each stands for (a
    numpy version cost ~45 us an utterance: as much as the search it saves on short ones)."""
    T = ll.shape[0]
    keep = np.empty(T, np.bool_)
    span = np.ones(T, np.int64)
    for t in range(T):
        keep[t] = not blank_post[t] > threshold
    t = 0
    while t < T:
        if keep[t]:
            t += 1
            continue
        s = t
        while t < T and not keep[t]:
            t += 1
        if s > 0 and t < T and may_repeat(ll[s - 1], ll[t], blank_column):
            keep[s] = True
            span[s] = t - s
    if not keep.any():
        keep[0] = True
    idx = np.nonzero(keep)[0].astype(np.int64)
    return idx, span[idx]


@njit(cache=True)
def run_rows(ll, keep, span):
    """The rows read at frames ``keep``: each the sum of the ``span`` frames from there
    (added in frame order, in single precision, as a stream adds them)."""
    out = np.empty((keep.shape[0], ll.shape[1]), np.float32)
    for i in range(keep.shape[0]):
        out[i] = ll[keep[i]]
        for t in range(keep[i] + 1, keep[i] + span[i]):
            out[i] += ll[t]
    return out


@njit(cache=True)
def top_two(row, blank_column):
    """The best and second best non-blank columns of ``row`` (ties: the lower column; -1
    for the second when there is one token only)."""
    b1, b2 = -1, -1
    for c in range(row.shape[0]):
        if c == blank_column:
            continue
        if b1 < 0 or row[c] > row[b1]:
            b2, b1 = b1, c
        elif b2 < 0 or row[c] > row[b2]:
            b2 = c
    return b1, b2


@njit(cache=True)
def may_repeat(before, after, blank_column):
    """Whether the tokens of frames ``before`` and ``after`` may be the same: their two best
    non-blank columns share one."""
    a1, a2 = top_two(before, blank_column)
    b1, b2 = top_two(after, blank_column)
    return a1 == b1 or (a2 >= 0 and (a2 == b1 or a2 == b2)) or (b2 >= 0 and a1 == b2)


class BlankSkipper:
    """:func:`blank_skip_frames` on frames as they arrive (a stream): each call gives the
    frames decided so far, and :meth:`finish` the rest, so that a stream reads exactly the
    frames the whole utterance's decode reads. A run of skipped frames waits for the frame
    after it (one frame holding its sum is kept when the tokens on either side may be the
    same); a run at the end goes whole.

    Args:
        blank_column: the blank's column.
        threshold: in (0, 1].
    """

    def __init__(self, blank_column: int, threshold: float):
        self.blank_column, self.threshold = blank_column, threshold
        self.seen = 0  # frames pushed
        self.fed = 0  # frames given out
        self.run_start = -1  # the pending run of skipped frames (-1: none) and its first row
        self.run_row = None
        self.prev_row = None  # the last frame given out that was not skipped
        self.first_row = None

    def push(self, ll: np.ndarray, blank_post: np.ndarray) -> tuple[list, list]:
        """(rows, their frame numbers) to read now, of the frames seen so far."""
        rows, idx = [], []
        if self.first_row is None and len(ll):
            self.first_row = np.array(ll[0])
        skip = blank_post > self.threshold
        for t in range(len(ll)):
            a = self.seen + t
            if skip[t]:
                if self.run_start < 0:
                    self.run_start, self.run_row = a, np.array(ll[t], dtype=np.float32)
                else:  # the run's sum, as the whole utterance's frames (run_rows)
                    self.run_row += ll[t]
                continue
            if self.run_start >= 0 and self.prev_row is not None and may_repeat(self.prev_row, ll[t], self.blank_column):
                rows.append(self.run_row)
                idx.append(self.run_start)
            self.run_start = -1
            rows.append(ll[t])
            idx.append(a)
            self.prev_row = np.array(ll[t])
        self.seen += len(ll)
        self.fed += len(rows)
        return rows, idx

    def finish(self) -> tuple[list, list]:
        """The frames still to read at the end: none (a final run goes whole), or frame 0
        when every frame was skipped."""
        if self.fed == 0 and self.first_row is not None:
            self.fed = 1
            return [self.first_row], [0]
        return [], []
