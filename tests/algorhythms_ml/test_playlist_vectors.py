import logging

import numpy as np
import pandas as pd
import pyarrow as pa

from algorhythms_ml.embeddings.pipeline import vectors_table
from algorhythms_ml.embeddings.playlist_vectors import (
    PlaylistVectorConfig,
    build_playlist_vectors,
    mean_vectors,
)
from algorhythms_ml.embeddings.track_map import TrackMapConfig, build_track_map
from algorhythms_ml.published_tables import playlist_vectors as published_playlist_vectors
from algorhythms_ml.warehouse import Warehouse, write_parquet

TRACKS = 8
DIM = 4


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def small_warehouse(root) -> tuple[Warehouse, np.ndarray]:
    """Eight catalogue tracks t0..t7 with known vectors (of different lengths), and playlists:
    10 holds t2, t0, t2 again, t4 and a track outside the catalogue; 11 holds seven tracks
    whose rows are not in playlist order; 12 holds only an unknown track; 13 holds nothing."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(TRACKS, DIM)).astype(np.float32) * rng.uniform(0.5, 3, (TRACKS, 1))
    wh = Warehouse.at(root)
    tracks = pd.DataFrame(
        {
            "track_id": np.arange(TRACKS, dtype=np.int64),
            "track_uri": [f"spotify:track:t{i}" for i in range(TRACKS)],
            "num_playlists": np.array([1, 2, 3, 9, 5, 6, 7, 8], dtype=np.int64),
        }
    )
    write_parquet(wh.table("track_metadata"), pa.Table.from_pandas(tracks, preserve_index=False))
    write_parquet(
        wh.table("gcn_embeddings"), vectors_table(tracks, vectors, np.ones(TRACKS, dtype=int))
    )
    rows = [(10, 0, "t2"), (10, 1, "t0"), (10, 2, "t2"), (10, 3, "t4"), (10, 4, "nope")]
    rows += [(11, pos, f"t{t}") for pos, t in [(6, 7), (0, 3), (5, 6), (1, 1), (4, 5), (2, 2)]]
    rows += [(11, 3, "t0"), (12, 0, "nope")]
    members = pd.DataFrame(rows, columns=["pid", "pos", "track_uri"])
    members["track_uri"] = "spotify:track:" + members["track_uri"]
    members = members.astype({"pid": "int64", "pos": "int32"})
    write_parquet(wh.table("playlist_tracks"), pa.Table.from_pandas(members, preserve_index=False))
    playlists = pd.DataFrame({"pid": [10, 11, 12, 13], "name": ["mix", "road trip", "x", None]})
    write_parquet(wh.table("playlists"), pa.Table.from_pandas(playlists, preserve_index=False))
    return wh, vectors


def test_playlist_vector_is_the_normalised_mean_of_its_tracks_unit_vectors(spark, tmp_path):
    wh, vectors = small_warehouse(tmp_path / "warehouse")
    # Two memberships a batch: the sums cross batches.
    stats = build_playlist_vectors(spark, wh, PlaylistVectorConfig(batch_rows=2))
    table = pd.read_parquet(tmp_path / "warehouse" / "playlist_vectors")
    assert table["pid"].tolist() == [10, 11]  # 12 and 13 hold no catalogue track
    assert (stats.playlists, stats.ingested, stats.memberships, stats.dimension) == (2, 4, 10, 4)
    mix, trip = table.itertuples()
    assert (mix.name, mix.length, list(mix.track_ids)) == ("mix", 3, [2, 0, 4])
    expected = unit(unit(vectors[2]) + unit(vectors[0]) + unit(vectors[4]))
    assert np.allclose(mix.vector, expected, atol=1e-6)
    assert (trip.name, trip.length, list(trip.track_ids)) == ("road trip", 7, [3, 1, 2, 0, 5])
    expected = unit(sum(unit(vectors[t]) for t in (3, 1, 2, 0, 5, 6, 7)))
    assert np.allclose(trip.vector, expected, atol=1e-6)

    # What is published: the same rows, read back a batch at a time.
    published = list(published_playlist_vectors(wh))
    assert [r[:4] for r in published] == [
        (10, "mix", 3, [2, 0, 4]),
        (11, "road trip", 7, [3, 1, 2, 0, 5]),
    ]
    assert np.allclose(published[0][4], mix.vector) and np.allclose(published[1][4], trip.vector)

    # The map of the most popular tracks is written next to them.
    result = build_track_map(wh, TrackMapConfig(tracks=5), logging.getLogger("test"))
    drawn = pd.read_parquet(tmp_path / "warehouse" / "track_map")
    assert drawn["track_id"].tolist() == [3, 7, 6, 5, 4]
    assert np.isfinite(drawn[["x", "y"]].to_numpy()).all() and result.seconds > 0


def test_playlist_sums_do_not_depend_on_the_batch_size():
    rng = np.random.default_rng(0)
    unit_vectors = rng.normal(size=(50, 8)).astype(np.float32)
    unit_vectors /= np.linalg.norm(unit_vectors, axis=1, keepdims=True)
    pid = rng.integers(0, 30, size=1000) * 7  # sparse playlist ids, rows in no order
    track = rng.integers(0, 50, size=1000)
    pids = np.unique(pid)[:-1]  # the last playlist's rows belong to no listed playlist

    def batched(size: int):
        return ((pid[i : i + size], track[i : i + size]) for i in range(0, len(pid), size))

    whole = mean_vectors(pids, batched(len(pid)), unit_vectors)
    for size in (1, 7, 333):
        assert np.allclose(mean_vectors(pids, batched(size), unit_vectors), whole, atol=1e-6)
    by_hand = np.stack([unit_vectors[track[pid == p]].sum(0) for p in pids])
    assert np.allclose(whole, by_hand / np.linalg.norm(by_hand, axis=1, keepdims=True), atol=1e-6)
