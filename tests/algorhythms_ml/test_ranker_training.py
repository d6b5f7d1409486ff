"""The ranker's training rows: every positive kept, a seeded share of the negatives."""

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
