"""The ranker's training rows: every positive kept, a seeded share of the negatives."""

import logging

import numpy as np

from algorhythms_ml.recommend.ranker import random_queries, training_rows
from algorhythms_store.memory_store import MemoryStore
from tests.catalogue import playlists, ranking_tables

LISTS = playlists()
STORE = MemoryStore(ranking_tables(LISTS))
QUERIES = random_queries(LISTS, {p: "rock" for p in LISTS}, seed=0)


def _rows(X: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in X}


def test_negative_share_keeps_every_positive_and_that_share_of_the_negatives():
    Xs, ys, groups = training_rows(STORE, QUERIES)
    Xq, yq, gq = training_rows(STORE, QUERIES, negative_share=0.25, seed=3)
    assert len(gq) == len(groups) and [len(y) for y in yq] == gq
    negatives = kept = 0
    for X, y, Xk, yk in zip(Xs, ys, Xq, yq, strict=True):
        # the positives are the same rows; the kept negatives are some of the query's negatives
        assert _rows(Xk[yk > 0]) == _rows(X[y > 0])
        assert _rows(Xk[yk == 0]) <= _rows(X[y == 0])
        negatives += int((y == 0).sum())
        kept += int((yk == 0).sum())
    assert 0.2 < kept / negatives < 0.3
    again = training_rows(STORE, QUERIES, negative_share=0.25, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(Xq, again[0], strict=True))


def test_left_out_rows_are_those_of_the_tables_built_without_each_query():
    """`leave_out`: queries from the tables' own playlists read the tables as if built without
    their playlist, so the rows equal those of such a rebuild, query by query."""
    from tests.algorhythms_store.test_memory_store import LISTS as NAMED
    from tests.algorhythms_store.test_memory_store import NAMES, UNPRUNED, tables

    long = [p for p, t in NAMED.items() if len(t) >= 9][:8]  # the shorter make no query
    queries = random_queries({p: NAMED[p] for p in long}, NAMES, seed=1)
    whole = MemoryStore(tables(NAMED, NAMES), UNPRUNED)
    Xs, ys, groups = training_rows(whole, queries, leave_out=True)
    expected = [[], [], []]
    for q in queries:
        without = {p: t for p, t in NAMED.items() if p != q.pid}
        rows = training_rows(MemoryStore(tables(without, NAMES), UNPRUNED), [q])
        for into, part in zip(expected, rows, strict=True):
            into.extend(part)
    assert groups == expected[2] and len(groups) >= 3
    for X, y, eX, ey in zip(Xs, ys, expected[0], expected[1], strict=True):
        np.testing.assert_array_equal(y, ey)
        np.testing.assert_allclose(X, eX, rtol=1e-5, atol=1e-6)
    # without leaving them out, the queries read their own playlists' counts
    leaky = training_rows(whole, queries)
    assert any(
        X.shape != lX.shape or not np.allclose(X, lX) for X, lX in zip(Xs, leaky[0], strict=False)
    )


def test_rows_do_not_depend_on_the_number_of_worker_processes():
    """Forked workers compute chunks of queries side by side; the rows, the sampled negatives
    and their order are those of one process."""
    from algorhythms_ml.recommend import ranker
    from algorhythms_store.progress import Progress

    assert len(QUERIES) > 2 * ranker.QUERY_CHUNK  # more than one chunk per worker
    alone = training_rows(STORE, QUERIES, negative_share=0.5, seed=5)
    progress = Progress(len(QUERIES), "queries", logging.getLogger(__name__))
    forked = training_rows(STORE, QUERIES, progress=progress, negative_share=0.5, seed=5, workers=2)
    assert progress.done == len(QUERIES)
    assert forked[2] == alone[2]
    for a, b in zip(
        alone[0] + alone[1] + alone.found, forked[0] + forked[1] + forked.found, strict=True
    ):
        assert np.array_equal(a, b)
