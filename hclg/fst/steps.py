"""Step logging for graph recipes: each step logs its result's size and time, and an empty
result stops the recipe at once, naming the step (as icefall's compile_hlg.py logs)."""

from __future__ import annotations

import contextvars
import logging
import sys
import time

import pywrapfst as fst

from hclg.errors import GraphBuildError
from hclg.fst.arrays import FstArrays


log = logging.getLogger("hclg")


#: (step, states, arcs, seconds) of each logged step, for whoever set a list here
#: (compile_graph does, for its manifest); context-local, not global state.
STEP_RECORD: contextvars.ContextVar[list | None] = contextvars.ContextVar("hclg_step_record", default=None)


def peak_rss_mb() -> int:
    """The process's peak resident memory so far, in MB (0 where the platform has no
    getrusage)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return 0
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(kb // (1 << 20) if sys.platform == "darwin" else kb // 1024)  # macOS gives bytes


def size(f: fst.Fst) -> tuple[int, int]:
    """(states, arcs) of an FST."""
    n = f.num_states()
    return n, sum(map(f.num_arcs, range(n)))


def log_step(step: str, f: fst.Fst, t0: float, hint: str = "") -> fst.Fst:
    """Logs the size of a step's result and raises at once if it is empty.

    Args:
        step: name of the step ("LG = L o G").
        f: its result (an FST or FstArrays).
        t0: time.perf_counter() when the step began.
        hint: the likely cause, said when the result is empty.

    Returns:
        f, unchanged.
    """
    if isinstance(f, FstArrays):
        if f.start < 0 or f.num_states == 0:
            raise GraphBuildError(f"Composition failure: step {step!r} produced an empty FST. {hint}".strip())
        n, a = f.num_states, f.num_arcs
    else:
        if f.start() == fst.NO_STATE_ID or f.num_states() == 0:
            raise GraphBuildError(f"Composition failure: step {step!r} produced an empty FST. {hint}".strip())
        n, a = size(f)
    dt = time.perf_counter() - t0
    log.info("%-34s %10d states %11d arcs %8.2fs", step, n, a, dt)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%-34s peak memory of the process so far: %d MB", step, peak_rss_mb())
    rec = STEP_RECORD.get()
    if rec is not None:
        rec.append((step, n, a, round(dt, 3)))
    return f
