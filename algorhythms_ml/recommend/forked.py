"""Chunks of single-threaded work on forked processes that read the caller's memory.

The ranker's training queries and the evaluation's queries each compute a candidate list and
its features in Python and numpy, one query at a time, on one core. Forked workers share the
caller's in-memory tables page by page (copy-on-write: a page is copied only where a worker
writes to it, as Python's reference counts do for the objects it reads) and return only their
results, so the queries of a fold run on every core. Where the platform cannot fork, the
chunks run in the calling process.
"""

from __future__ import annotations

import gc
import math
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
PR_SET_PDEATHSIG = 1

# The work of the call in progress, set just before its workers fork and cleared after: the
# workers inherit it, so it is never pickled (only the chunk numbers and results are).
_WORK: Callable[[int], object] | None = None


def can_fork() -> bool:
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def available_cores(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may use: its CPU affinity, capped by its cgroup's CPU quota (a
    container limited to 4 CPUs on a 64-core host gets 4)."""
    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def worker_count(requested: int | None = None) -> int:
    """`requested`, else `available_cores()`; 1 where the platform cannot fork."""
    if not can_fork():
        return 1
    return requested if requested is not None else available_cores()


def _worker_start(parent: int) -> None:
    """A worker ends with its parent (a parent killed for memory would otherwise leave its
    workers waiting for work forever, holding their pages), and its numpy (and OpenMP, as in
    LightGBM) run on one thread: the workers are the parallelism, and library threads beside
    them would spin for the same cores."""
    import ctypes

    from threadpoolctl import threadpool_limits

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    threadpool_limits(1)


def _run(chunk: int) -> object:
    return _WORK(chunk)


def chunk_results(work: Callable[[int], T], chunks: int, workers: int | None = 1) -> Iterator[T]:
    """work(0), ..., work(chunks - 1), in that order, computed by `workers` forked processes
    (None: one per available core; 1: in this process). `work` may read anything in memory;
    its results must be picklable. A worker that dies (killed for memory) fails the call
    instead of hanging it."""
    workers = min(worker_count(workers), chunks)
    if workers <= 1:
        for chunk in range(chunks):
            yield work(chunk)
        return
    global _WORK
    if _WORK is not None:
        raise RuntimeError("chunk_results does not nest")
    _WORK = work
    # The objects that exist now move out of the collector's sight, so that a collection in a
    # worker does not write to (and so copy) every page that holds one of them.
    gc.collect()
    gc.freeze()
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_start, initargs=(os.getpid(),)
        ) as pool:
            yield from pool.map(_run, range(chunks))
    finally:
        gc.unfreeze()
        _WORK = None
