"""Chunks of work on forked workers: the results of one process, in order, and a worker that
dies fails the call instead of hanging it."""

import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest

from algorhythms_ml.recommend import forked
from algorhythms_ml.recommend.forked import chunk_results
from algorhythms_ml.recommend.ranker import (
    RankerConfig,
    evaluate,
    fit_ranker,
    random_queries,
    standard_recommenders,
    training_rows,
)
from algorhythms_store.memory_store import MemoryStore
from tests.catalogue import playlists, ranking_tables

pytestmark = pytest.mark.skipif(not forked.can_fork(), reason="needs fork")

TABLE = list(range(1000))  # what the workers read from the caller's memory


def test_results_come_in_chunk_order_from_the_callers_memory():
    results = list(chunk_results(lambda c: (os.getpid(), TABLE[c * 10 : c * 10 + 10]), 40, 2))
    assert [r for _, r in results] == [TABLE[c * 10 : c * 10 + 10] for c in range(40)]
    assert os.getpid() not in {pid for pid, _ in results}  # the workers did the work
    assert forked._WORK is None
    assert [r for _, r in chunk_results(lambda c: (os.getpid(), c), 3, 1)] == [0, 1, 2]


def test_a_worker_killed_fails_the_call():
    def work(c: int) -> int:
        if c == 5:
            os.kill(os.getpid(), signal.SIGKILL)
        return c

    with pytest.raises(BrokenProcessPool):
        list(chunk_results(work, 20, 2))
    assert forked._WORK is None
    assert list(chunk_results(lambda c: c, 4, 2)) == [0, 1, 2, 3]  # and the next call works


def test_the_evaluation_is_the_same_on_workers():
    lists = playlists()
    store = MemoryStore(ranking_tables(lists))
    queries = random_queries(lists, {p: "rock" for p in lists}, seed=1)
    ranker = fit_ranker(*training_rows(store, queries), RankerConfig(rounds=5, min_data_in_leaf=5))
    recommenders = standard_recommenders(store, ranker)
    alone = evaluate(store, queries, lambda t: t % 7, recommenders).frame()
    on_workers = evaluate(store, queries, lambda t: t % 7, recommenders, workers=2).frame()
    assert len(alone) == 3 * len(queries) and alone.equals(on_workers)


def test_the_default_workers_follow_the_cgroup_quota(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    cores = len(os.sched_getaffinity(0))
    cpu_max.write_text("max 100000\n")
    assert forked.available_cores(cpu_max) == cores
    cpu_max.write_text("50000 100000\n")  # half a core: one worker
    assert forked.available_cores(cpu_max) == 1
    cpu_max.write_text(f"{100000 * (cores + 8)} 100000\n")  # a quota above the affinity
    assert forked.available_cores(cpu_max) == cores
    assert forked.available_cores(tmp_path / "absent") == cores
