"""Running a batch's work on a Dask cluster: what ``hclg decode --cluster`` and ``hclg align
--cluster`` use (an optional extra: ``pip install 'hclg[cluster]'``, which brings Dask's
``distributed``). No speech knowledge here: the callers say what a worker holds and what
it does with one item.

Why Dask: a pure-Python package that needs no service to start (``local`` makes a
cluster of worker processes on this machine), with a scheduler that reruns the tasks of a
worker that dies, a dashboard, and deployments on SLURM/PBS (``dask-jobqueue``) and
Kubernetes (``dask-kubernetes``) that give a scheduler address. Ray does the same with a
much larger runtime (its own object store and daemons) that hclg does not need.

How a run goes (:func:`map_shards`): the driver reads the inputs in order and sends them
in shards of a few items; each worker holds one object (a worker plugin: a decoder or an
aligner, made once, its graph opened memory-mapped once) for every shard it gets; the
results come back in input order, so the driver writes the files a run in one process
writes, byte for byte, and ``resume`` works as there. A shard whose worker dies is run
again by the scheduler on another worker (twice more at most).

What a cluster needs: the graph directory at the same path on every worker (a shared
filesystem, or a copy per node); each worker checks its ``manifest.json`` against the
driver's (sha256) before it makes its object. The inputs are read by the driver only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import deque
from pathlib import Path

from hclg.errors import HclgError

try:  # the optional extra; without it, opening a client says how to get it
    from distributed import WorkerPlugin
except ImportError:  # pragma: no cover - the test extra installs it
    WorkerPlugin = object

log = logging.getLogger("hclg")

#: the worker plugin's name (one held object per worker process)
PLUGIN = "hclg-worker"


def _distributed():
    try:
        import distributed
    except ImportError:
        raise HclgError("--cluster needs Dask's distributed: pip install 'hclg[cluster]' (or distributed)") from None
    return distributed


def manifest_checksum(graph) -> str:
    """sha256 of a graph directory's manifest.json (which records its arrays' sizes and its
    inputs' checksums): what each worker checks its own copy against."""
    return hashlib.sha256((Path(graph) / "manifest.json").read_bytes()).hexdigest()


def open_client(spec: str):
    """A Dask client for ``spec``: ``local`` (a cluster of worker processes on this
    machine, one per core) or ``local:N`` (N workers), or a scheduler's address
    (``tcp://host:8786``). Returns (client, cluster or None: the local cluster to close)."""
    distributed = _distributed()
    # Dask logs each connection and worker at INFO: hclg's -v shows them, not the default
    if not logging.getLogger("hclg").isEnabledFor(logging.INFO):
        logging.getLogger("distributed").setLevel(logging.WARNING)
    m = re.fullmatch(r"local(?::(\d+))?", spec)
    if m:
        n = int(m.group(1)) if m.group(1) else (os.cpu_count() or 1)
        if n < 1:
            raise ValueError(f"--cluster {spec}: a local cluster needs at least one worker")
        cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.ERROR)
        return distributed.Client(cluster), cluster
    try:
        return distributed.Client(spec, timeout=10), None
    except (OSError, TimeoutError, ValueError) as e:
        raise HclgError(f"--cluster {spec}: no Dask scheduler answered there ({e})") from None


class HeldObject(WorkerPlugin):
    """A Dask worker plugin holding the worker's object (a decoder, an aligner), made once
    at setup by ``make()`` and kept for every shard the worker runs.

    Args:
        graph: the graph directory the object reads.
        checksum: the driver's :func:`manifest_checksum` of it.
        make: a picklable callable (a module-level function, or a partial of one).
    """

    name = PLUGIN

    def __init__(self, graph, checksum: str, make):
        self.graph = str(graph)
        self.checksum = checksum
        self.make = make
        self.obj = None
        self.problem = None

    def setup(self, worker=None):
        where = f"worker {getattr(worker, 'address', '?')}"
        try:
            mine = manifest_checksum(self.graph)
        except OSError as e:
            self.problem = f"{where}: cannot read {self.graph}/manifest.json ({e})"
            return
        if mine != self.checksum:
            self.problem = (f"{where}: {self.graph} is not the driver's graph (manifest.json differs): give every "
                            "worker the same graph directory")
            return
        self.obj = self.make()


def run_shard(items: list, fn, fail) -> list:
    """Runs on a worker: ``fn(obj, item)`` for each item, ``obj`` the worker's held object
    (:class:`HeldObject`); ``fail(item, message)`` for each when the worker could not make it."""
    from distributed import get_worker

    plugin = get_worker().plugins[PLUGIN]
    if plugin.problem:
        return [fail(item, plugin.problem) for item in items]
    return [fn(plugin.obj, item) for item in items]


def map_shards(client, items, graph, make, fn, fail, shard_size: int = 8, window: int | None = None,
               key=lambda item: item[0]):
    """``fn(obj, item)`` for each of ``items`` on the cluster of ``client`` (``obj`` made on
    each worker by ``make()``), yielded in input order.

    Args:
        fn, fail: picklable (module-level) functions: an item's result, and the result
            that reports ``fail(item, message)`` when it cannot be had (its workers died
            every time, or could not make their object).
        shard_size: items a task takes.
        window: shards in flight at a time (bounds the driver's memory); default four per
            worker.
        key: an item's name in messages (the utterance id).
    """
    distributed = _distributed()
    if shard_size < 1:
        raise ValueError(f"shard size must be >= 1, got {shard_size}")
    client.register_plugin(HeldObject(graph, manifest_checksum(graph), make), name=PLUGIN)
    if window is None:
        window = 4 * max(1, len(client.scheduler_info().get("workers", {})))
    pending: deque = deque()  # (future, the shard's items' names), oldest first
    shard: list = []

    def submit():
        fut = client.submit(run_shard, list(shard), fn, fail, pure=False, retries=2)
        pending.append((fut, [(key(item), item) for item in shard]))
        shard.clear()

    def oldest():
        fut, named = pending.popleft()
        try:
            yield from fut.result()
        except distributed.KilledWorker as e:  # the workers running it died every time
            for name, item in named:
                yield fail(item, f"utterance {name!r}: the workers running it died ({e})")

    for item in items:
        shard.append(item)
        if len(shard) == shard_size:
            submit()
        while len(pending) > window:
            yield from oldest()
    if shard:
        submit()
    while pending:
        yield from oldest()


def run_on_cluster(cluster, items, graph, make, fn, fail, shard_size: int, progress: bool = False):
    """:func:`map_shards` on ``cluster`` (a spec for :func:`open_client`, or a
    ``distributed.Client``), the local cluster it opens closed at the end; says where the
    dashboard is."""
    import sys

    client, local = open_client(cluster) if isinstance(cluster, str) else (cluster, None)
    try:
        where = f"running on the Dask cluster {client.scheduler.address} (dashboard: {client.dashboard_link})"
        log.info("%s", where)
        if progress:
            sys.stderr.write(where + "\n")
        yield from map_shards(client, items, graph, make, fn, fail, shard_size)
    finally:
        if local is not None:
            client.close()
            local.close()
