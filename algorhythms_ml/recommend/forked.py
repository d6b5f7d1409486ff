"""Chunks of single-threaded work on forked processes that read the caller's memory.

The ranker's training queries and the evaluation's queries each compute a candidate list and
its features in Python and numpy, one query at a time, on one core. Forked workers read the
caller's in-memory tables without a copy (copy-on-write) and return only their results, so the
queries of a fold run on every core. Where the platform cannot fork, the chunks run in the
calling process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")

# The work of the call in progress, set just before its workers fork and cleared after: the
# workers inherit it, so it is never pickled (only the chunk numbers and results are).
_WORK: Callable[[int], object] | None = None


def can_fork() -> bool:
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


def worker_count(requested: int | None = None) -> int:
    """`requested`, else the cores this process may use; 1 where the platform cannot fork."""
    if not can_fork():
        return 1
    if requested is not None:
        return requested
    return max(1, len(os.sched_getaffinity(0)))


def _one_thread() -> None:
    """A worker's numpy (and OpenMP, as in LightGBM) run on one thread: the workers are the
    parallelism, and library threads beside them would spin for the same cores."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _run(chunk: int) -> object:
    return _WORK(chunk)


def chunk_results(work: Callable[[int], T], chunks: int, workers: int | None = 1) -> Iterator[T]:
    """work(0), ..., work(chunks - 1), in that order, computed by `workers` forked processes
    (None: one per core; 1: in this process). `work` may read anything in memory; its results
    must be picklable. A worker that dies (killed for memory) fails the call instead of
    hanging it."""
    workers = min(worker_count(workers), chunks)
    if workers <= 1:
        for chunk in range(chunks):
            yield work(chunk)
        return
    global _WORK
    if _WORK is not None:
        raise RuntimeError("chunk_results does not nest")
    _WORK = work
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
            yield from pool.map(_run, range(chunks))
    finally:
        _WORK = None
