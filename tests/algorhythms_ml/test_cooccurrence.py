import collections
import itertools
import math
import shutil

import numpy as np
import pandas as pd
import pytest

from algorhythms_ml.graph.cooccurrence import (
    COOCCURRENCE_EDGES,
    EdgeConfig,
    WholeRows,
    block_rows,
    cooccurrence_counts,
    dense_codes,
    partition_rows,
    pruned_edge_rows,
    symmetric_edges,
)
from algorhythms_ml.graph.cooccurrence_tables import build_cooccurrence_tables
from algorhythms_ml.mpd.generator import GeneratorConfig, generate_mpd
from algorhythms_ml.mpd.ingest import ingest_slices
from algorhythms_ml.mpd.tracks import build_track_metadata
from algorhythms_ml.recommend.neighbors import NeighborConfig
from algorhythms_ml.warehouse import Warehouse
from algorhythms_store.schema import TRACK_NEIGHBORS
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


def whole_rows(pids, tracks, positions=None, window=None) -> dict[tuple[int, int], int]:
    chunks = list(block_rows(np.array(pids), np.array(tracks), positions, window))
    return {
        (int(a), int(b)): int(c)
        for src, dst, count in chunks
        for a, b, c in zip(src, dst, count, strict=True)
    }


def test_block_rows_are_whole_symmetric_rows_without_the_diagonal():
    # playlist 0: 1 2 3 ; playlist 1: 2 3 ; playlist 2: 5 (one track)
    got = whole_rows([0, 0, 0, 1, 1, 2], [1, 2, 3, 2, 3, 5])
    upper = {(1, 2): 1, (1, 3): 1, (2, 3): 2}
    assert got == {**upper, **{(b, a): c for (a, b), c in upper.items()}}


def test_block_rows_of_owned_sources_only_in_small_chunks():
    pids = [0, 0, 0, 1, 1, 1]
    tracks = [1, 2, 3, 1, 2, 4]
    chunks = list(
        block_rows(np.array(pids), np.array(tracks), owned=lambda ids: ids % 2 == 0, max_pairs=1)
    )
    assert [sorted(set(src.tolist())) for src, _, _ in chunks] == [[2], [4]]
    got = {(int(a), int(b)): int(c) for s, d, n in chunks for a, b, c in zip(s, d, n, strict=True)}
    assert got == {(2, 1): 2, (2, 3): 1, (2, 4): 1, (4, 1): 1, (4, 2): 1}


@pytest.mark.parametrize(
    "ids",
    [
        np.array([5, 3, 5, 9, 0, 3], np.int64),  # dense: coded through a table
        np.array([7, 2**40, 7, -3, 2**40 + 1], np.int64),  # sparse, negative: np.unique
        np.array([4, 4, 1], np.int32),
        np.zeros(0, np.int64),
    ],
)
def test_dense_codes_are_what_np_unique_gives(ids):
    distinct, codes = dense_codes(ids)
    want_distinct, want_codes = np.unique(ids, return_inverse=True)
    assert distinct.dtype == np.int64 and codes.dtype == np.int32
    assert distinct.tolist() == want_distinct.tolist()
    assert codes.tolist() == want_codes.reshape(-1).tolist()


def _chosen_all(src, dst, count):
    yield pd.DataFrame({"src": src, "dst": dst, "count": count, "weight": 0.0, "table": 0})


@pytest.mark.parametrize("window", [None, 3])
def test_a_task_holding_several_blocks_writes_each_block_s_whole_rows(window):
    """A task's batches, which may hold rows of more than one block (and ids past int32), give
    the rows each block's own sources have, as block_rows gives them block by block."""
    rng = np.random.default_rng(3)
    pids = np.repeat(np.arange(40), 6) + 2**33  # past int32: kept as they are
    tracks = rng.integers(0, 30, size=pids.size) * 1000  # sparse ids
    pos = np.tile(np.arange(6), 40).astype(np.int32)
    first = pd.DataFrame({"pid": pids, "track_id": tracks, "pos": pos}).drop_duplicates(
        ["pid", "track_id"]
    )
    blocks = 3
    frames = []
    for b in (2, 0):  # the blocks' rows as replicated to them, in two batches each
        part = first.assign(block=b)
        frames += [part.iloc[: len(part) // 2], part.iloc[len(part) // 2 :]]
    got = pd.concat(list(partition_rows(iter(frames), blocks, window, _chosen_all)))
    want = []
    for b in (0, 2):
        for src, dst, count in block_rows(
            first["pid"].to_numpy(),
            first["track_id"].to_numpy(),
            first["pos"].to_numpy(),
            window,
            owned=lambda ids, b=b: ids % blocks == b,
        ):
            want.append(pd.DataFrame({"src": src, "dst": dst, "count": count}))
    key = ["src", "dst"]
    got = got[key + ["count"]].sort_values(key).reset_index(drop=True)
    want = pd.concat(want).sort_values(key).reset_index(drop=True)
    assert len(got) > 0 and got.astype("int64").equals(want.astype("int64"))
    assert set(got["src"] % blocks) == {0, 2}
    assert list(partition_rows(iter([]), blocks, window, _chosen_all)) == []


def test_window_limits_pairs_in_long_playlists_only_and_adds_up_with_short_ones():
    # Long playlist 0 (length 5 > window 3): tracks fewer than 3 places apart; short playlist 1
    # keeps all its pairs, and (10, 11), seen in both, counts twice.
    pids = [0] * 5 + [1] * 3
    tracks = [10, 11, 12, 13, 14, 10, 14, 11]
    pos = np.array([0, 1, 2, 3, 4, 0, 1, 2])
    got = whole_rows(pids, tracks, pos, window=3)
    upper = {(10, 11): 2, (10, 12): 1, (11, 12): 1, (11, 13): 1, (12, 13): 1, (12, 14): 1}
    upper.update({(13, 14): 1, (10, 14): 1, (11, 14): 1})
    assert got == {**upper, **{(b, a): c for (a, b), c in upper.items()}}


def test_repeated_tracks_and_one_track_playlists(spark):
    playlists = {0: [7, 8, 7, 7, 9], 1: [8, 7], 2: [4], 3: [9, 9]}
    got = as_dict(cooccurrence_counts(spark, rows_frame(spark, playlists), blocks=3))
    assert got == {(7, 8): 2, (7, 9): 1, (8, 9): 1}


def rows_of(pairs: dict[tuple[int, int], int], n: dict[int, int], n_playlists: int) -> WholeRows:
    keys = sorted(pairs)
    src = np.array([a for a, _ in keys])
    dst = np.array([b for _, b in keys])
    return WholeRows(
        src=src,
        dst=dst,
        count=np.array([pairs[k] for k in keys]),
        n_src=np.array([n[a] for a in src]),
        n_dst=np.array([n[b] for b in dst]),
        n_playlists=n_playlists,
    )


def test_weights_by_hand():
    rows = rows_of({(1, 2): 2, (1, 3): 1, (2, 1): 2, (3, 1): 1}, {1: 4, 2: 2, 3: 1}, 10)
    for weight, expected in {
        "count": {(1, 2): 2.0, (1, 3): 1.0},
        "cosine": {(1, 2): 2 / math.sqrt(8), (1, 3): 1 / math.sqrt(4)},
        "pmi": {(1, 2): math.log(2 * 10 / 8), (1, 3): math.log(1 * 10 / 4)},
    }.items():
        kept = pruned_edge_rows(rows, EdgeConfig(weight=weight, top_k=None))
        got = {(a, b): w for a, b, w in zip(kept.src, kept.dst, kept.weight, strict=True)}
        assert set(got) == {(1, 2), (2, 1), (1, 3), (3, 1)}
        for key, value in expected.items():
            assert got[key] == pytest.approx(value) and got[key[::-1]] == pytest.approx(value)


def test_pmi_drops_pairs_that_cooccur_less_than_chance():
    rows = rows_of({(1, 2): 1, (2, 1): 1}, {1: 8, 2: 8}, 10)
    assert len(pruned_edge_rows(rows, EdgeConfig(weight="pmi", top_k=None))) == 0


def test_min_count_and_top_k_with_ties(spark):
    # Track 1 has four neighbours with equal counts: top-1 keeps the smallest id (2).
    upper = {(1, 2): 3, (1, 3): 3, (1, 4): 3, (1, 5): 3, (2, 3): 1}
    pairs = {**upper, **{(b, a): c for (a, b), c in upper.items()}}
    rows = rows_of(pairs, dict.fromkeys(range(1, 6), 5), 10)
    config = EdgeConfig(weight="count", top_k=1, min_count=2)
    kept = pruned_edge_rows(rows, config)
    assert set(zip(kept.src, kept.dst, strict=True)) == {(1, 2), (2, 1), (3, 1), (4, 1), (5, 1)}
    frame = spark.createDataFrame(kept)
    got = {(r.src, r.dst) for r in symmetric_edges(frame, config).collect()}
    # 1's top-1 is 2; 3, 4 and 5 each have 1 as their only (hence top) neighbour; (2,3) < min_count.
    assert got == {(1, 2), (2, 1), (1, 3), (3, 1), (1, 4), (4, 1), (1, 5), (5, 1)}
    assert len(pruned_edge_rows(rows, EdgeConfig(weight="count", top_k=1, min_count=4))) == 0


def reference_counts(playlists: list[list[int]], window: int | None) -> dict[tuple[int, int], int]:
    """Upper-triangle counts, pair by pair: a long playlist pairs tracks fewer than `window`
    places apart in its de-duplicated order."""
    counts: collections.Counter = collections.Counter()
    for tracks in playlists:
        if window is None or len(tracks) <= window:
            pairs = itertools.combinations(tracks, 2)
        else:
            pairs = ((a, b) for i, a in enumerate(tracks) for b in tracks[i + 1 : i + window])
        counts.update({(min(a, b), max(a, b)) for a, b in pairs})
    return dict(counts)


def reference_both(counts, n, n_playlists, config) -> pd.DataFrame:
    """Every weighted pair in both directions, pair by pair in pandas."""
    upper = pd.DataFrame(
        [(a, b, c) for (a, b), c in counts.items()], columns=["src", "dst", "count"]
    ).astype("int64")
    edges = upper[upper["count"] >= config.min_count]
    n_src = edges.src.map(n).to_numpy(dtype=np.int64)
    n_dst = edges.dst.map(n).to_numpy(dtype=np.int64)
    count = edges["count"].to_numpy()
    weight = {
        "count": lambda: count.astype(np.float64),
        "cosine": lambda: count / np.sqrt(n_src.astype(np.float64) * n_dst),
        "pmi": lambda: np.log(count * float(n_playlists) / (n_src * n_dst)),
    }[config.weight]()
    edges = edges.assign(weight=weight)
    edges = edges[(edges.weight > 0) & ~np.isnan(edges.weight)]
    mirrored = edges.rename(columns={"src": "dst", "dst": "src"})
    return pd.concat([edges, mirrored[edges.columns]], ignore_index=True)


def top_per_source(both: pd.DataFrame, order: list[str], top_k: int) -> pd.DataFrame:
    """Each source's first `top_k` rows by `order` (descending), ties to the smaller dst."""
    ranked = both.sort_values(["src", *order, "dst"], ascending=[True, False, False, True])
    return ranked[ranked.groupby("src").cumcount() < top_k]


def reference_edges(counts, n, n_playlists, config) -> pd.DataFrame:
    """The edge table by a global ranking of every pair, kept if in either endpoint's top K."""
    both = reference_both(counts, n, n_playlists, config)
    if config.top_k is not None:
        kept = top_per_source(both, ["weight", "count"], config.top_k)
        span = int(both[["src", "dst"]].max().max()) + 1

        def undirected(frame):
            src, dst = frame.src.to_numpy(), frame.dst.to_numpy()
            return np.minimum(src, dst) * span + np.maximum(src, dst)

        both = both[np.isin(undirected(both), undirected(kept))]
    return sorted_frame(both)


def reference_neighbors(counts, n, n_playlists, top_k) -> pd.DataFrame:
    both = reference_both(counts, n, n_playlists, EdgeConfig(weight="cosine"))
    kept = top_per_source(both, ["count", "weight"], top_k)
    return sorted_frame(kept[["src", "dst", "weight"]].astype({"weight": "float32"}))


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"src": "int64", "dst": "int64"})
    return frame.sort_values(["src", "dst"], ignore_index=True)


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    """A warehouse with one generated slice of 400 playlists, and its playlists as
    de-duplicated track ids."""
    out = tmp_path_factory.mktemp("cooccurrence")
    (path,) = generate_mpd(GeneratorConfig(playlists=400, seed=5), out / "mpd")
    warehouse = Warehouse.at(out / "warehouse")
    ingest_slices(spark, [path.as_uri()], warehouse)
    build_track_metadata(spark, warehouse)
    ids = pd.read_parquet(warehouse.local_path("track_metadata")).set_index("track_uri").track_id
    playlists = []
    for p in load_playlists(path):
        order = sorted(p["tracks"], key=lambda t: t["pos"])
        playlists.append(list(dict.fromkeys(int(ids[t["track_uri"]]) for t in order)))
    return warehouse, playlists


@pytest.mark.parametrize(
    "config",
    [
        EdgeConfig(weight="count", top_k=3, blocks=5),
        EdgeConfig(weight="cosine", top_k=5, min_count=2, blocks=3),
        EdgeConfig(weight="pmi", top_k=4, blocks=4),
        EdgeConfig(weight="cosine", top_k=3, window=5, blocks=5),
        EdgeConfig(weight="count", top_k=None, window=8, blocks=2),
    ],
    ids=["count-ties", "cosine-min-count", "pmi", "cosine-window", "count-all-pairs-window"],
)
def test_one_pass_tables_equal_a_global_window_over_every_pair(spark, ingested, config):
    warehouse, playlists = ingested
    neighbors = NeighborConfig(neighbor_top_k=7)
    stats = build_cooccurrence_tables(spark, warehouse, config, neighbors)
    counts = reference_counts(playlists, config.window)
    n = collections.Counter(t for tracks in playlists for t in tracks)
    got = sorted_frame(pd.read_parquet(warehouse.local_path(COOCCURRENCE_EDGES)))
    expected = reference_edges(counts, n, len(playlists), config)
    assert got[["src", "dst", "count"]].equals(expected[["src", "dst", "count"]])
    if config.weight == "pmi":  # the logarithm may differ in the last place between libraries
        np.testing.assert_allclose(got.weight, expected.weight, rtol=1e-14)
    else:
        assert got.weight.equals(expected.weight)
    got = sorted_frame(pd.read_parquet(warehouse.local_path(TRACK_NEIGHBORS)))
    assert got.equals(reference_neighbors(counts, n, len(playlists), 7))
    raw = sum(len(t) * (len(t) - 1) // 2 for t in playlists)
    assert stats.edges.edges == len(expected) and stats.edges.playlists == len(playlists)
    assert stats.edges.raw_pairs == raw and stats.edges.unpruned_pairs == len(counts)
    assert stats.neighbors.rows == len(got)
    if config.top_k is not None:  # ties are common at this size: pruning had to break them
        assert len(expected) < 2 * len(counts)


def test_only_the_tables_asked_for_are_written(spark, ingested, tmp_path):
    warehouse, _ = ingested
    fresh = Warehouse.at(tmp_path / "warehouse")
    for name in ("playlist_tracks", "track_metadata"):
        shutil.copytree(warehouse.local_path(name), fresh.local_path(name))
    stats = build_cooccurrence_tables(spark, fresh, tables=[TRACK_NEIGHBORS])
    assert stats.edges is None and stats.neighbors.rows > 0
    assert not fresh.local_path(COOCCURRENCE_EDGES).exists()
    with pytest.raises(ValueError, match="tables must be some of"):
        build_cooccurrence_tables(spark, fresh, tables=["track_vectors"])
