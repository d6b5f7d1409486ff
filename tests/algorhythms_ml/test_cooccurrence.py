import collections
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from algorhythms_ml.graph.cooccurrence import (
    EdgeConfig,
    block_pairs,
    build_cooccurrence_edges,
    cooccurrence_counts,
    weighted_edges,
)
from algorhythms_ml.mpd.ingest import ingest_slices
from algorhythms_ml.mpd.tracks import build_track_metadata
from algorhythms_ml.warehouse import Warehouse
from tests.conftest import load_playlists


def rows_frame(spark, playlists: dict[int, list[int]]):
    """(pid, track_id, pos), de-duplicated at the first position, as the pipeline does."""
    rows = []
    for pid, tracks in playlists.items():
        seen = set()
        for pos, t in enumerate(tracks):
            if t not in seen:
                seen.add(t)
                rows.append((pid, t, pos))
    return spark.createDataFrame(rows, "pid long, track_id long, pos int")


def as_dict(frame) -> dict[tuple[int, int], int]:
    return {(r["src"], r["dst"]): r["count"] for r in frame.collect()}


def test_block_pairs_counts_each_pair_once_per_playlist():
    # playlist 0: 1 2 3 ; playlist 1: 2 3 ; playlist 2: 5 (one track)
    pids = np.array([0, 0, 0, 1, 1, 2])
    tracks = np.array([1, 2, 3, 2, 3, 5])
    got = block_pairs(pids, tracks, None, None)
    assert {(a, b): c for a, b, c in got.itertuples(index=False)} == {
        (1, 2): 1,
        (1, 3): 1,
        (2, 3): 2,
    }


def test_repeated_tracks_and_one_track_playlists(spark):
    playlists = {0: [7, 8, 7, 7, 9], 1: [8, 7], 2: [4], 3: [9, 9]}
    got = as_dict(cooccurrence_counts(spark, rows_frame(spark, playlists), blocks=3))
    assert got == {(7, 8): 2, (7, 9): 1, (8, 9): 1}


def test_window_limits_pairs_in_long_playlists_only():
    # Long playlist 0 (length 5 > window 2): only neighbours; short playlist 1 keeps all pairs.
    pids = np.array([0] * 5 + [1] * 2)
    tracks = np.array([10, 11, 12, 13, 14, 10, 14])
    pos = np.array([0, 1, 2, 3, 4, 0, 1])
    got = block_pairs(pids, tracks, pos, window=2)
    pairs = {(a, b): c for a, b, c in got.itertuples(index=False)}
    assert pairs == {(10, 11): 1, (11, 12): 1, (12, 13): 1, (13, 14): 1, (10, 14): 1}


def test_weights_by_hand(spark):
    counts = spark.createDataFrame([(1, 2, 2), (1, 3, 1)], "src long, dst long, count long")
    n = spark.createDataFrame([(1, 4), (2, 2), (3, 1)], "track_id long, n long")
    for weight, expected in {
        "count": {(1, 2): 2.0, (1, 3): 1.0},
        "cosine": {(1, 2): 2 / math.sqrt(8), (1, 3): 1 / math.sqrt(4)},
        "pmi": {(1, 2): math.log(2 * 10 / 8), (1, 3): math.log(1 * 10 / 4)},
    }.items():
        edges = weighted_edges(counts, n, 10, EdgeConfig(weight=weight, top_k=None))
        got = {(r.src, r.dst): r.weight for r in edges.collect()}
        assert set(got) == {(1, 2), (2, 1), (1, 3), (3, 1)}
        for key, value in expected.items():
            assert got[key] == pytest.approx(value) and got[key[::-1]] == pytest.approx(value)


def test_pmi_drops_pairs_that_cooccur_less_than_chance(spark):
    counts = spark.createDataFrame([(1, 2, 1)], "src long, dst long, count long")
    n = spark.createDataFrame([(1, 8), (2, 8)], "track_id long, n long")
    assert weighted_edges(counts, n, 10, EdgeConfig(weight="pmi", top_k=None)).count() == 0


def test_min_count_and_top_k_with_ties(spark):
    # Track 1 has four neighbours with equal counts: top-1 keeps the smallest id (2).
    counts = spark.createDataFrame(
        [(1, 2, 3), (1, 3, 3), (1, 4, 3), (1, 5, 3), (2, 3, 1)], "src long, dst long, count long"
    )
    n = spark.createDataFrame([(i, 5) for i in range(1, 6)], "track_id long, n long")
    edges = weighted_edges(counts, n, 10, EdgeConfig(weight="count", top_k=1, min_count=2))
    got = {(r.src, r.dst) for r in edges.collect()}
    # 1's top-1 is 2; 3, 4 and 5 each have 1 as their only (hence top) neighbour; (2,3) < min_count.
    assert got == {(1, 2), (2, 1), (1, 3), (3, 1), (1, 4), (4, 1), (1, 5), (5, 1)}
    edges = weighted_edges(counts, n, 10, EdgeConfig(weight="count", top_k=1, min_count=4))
    assert edges.count() == 0


def test_edges_agree_with_an_independent_count_on_generated_data(spark, generated_mpd, tmp_path):
    warehouse = Warehouse.at(tmp_path / "warehouse")
    path = generated_mpd / "mpd.slice.0-999.json"
    ingest_slices(spark, [path.as_uri()], warehouse)
    build_track_metadata(spark, warehouse)
    stats = build_cooccurrence_edges(
        spark, warehouse, EdgeConfig(weight="count", top_k=None, blocks=5)
    )
    ids = pd.read_parquet(warehouse.local_path("track_metadata")).set_index("track_uri").track_id
    expected: collections.Counter = collections.Counter()
    raw = 0
    for p in load_playlists(path):
        tracks = sorted({int(ids[t["track_uri"]]) for t in p["tracks"]})
        raw += len(tracks) * (len(tracks) - 1) // 2
        expected.update(itertools.combinations(tracks, 2))
    edges = pd.read_parquet(warehouse.local_path("cooccurrence_edges"))
    upper = edges[edges.src < edges.dst]
    pairs = zip(upper.src, upper.dst, strict=True)
    assert dict(zip(pairs, upper["count"], strict=True)) == dict(expected)
    assert len(edges) == 2 * len(expected) == stats.edges
    assert stats.raw_pairs == raw and stats.unpruned_pairs == len(expected)
    assert (edges.src != edges.dst).all()
