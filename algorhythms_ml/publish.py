"""The warehouse's vectors, track table, models and ranking tables -> a published version."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd

from algorhythms_ml.embeddings.pipeline import COLDSTART_DIR, read_vectors
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.recommend.neighbors import TRACK_NEIGHBORS
from algorhythms_ml.recommend.playlist_tables import (
    ARTIST_NEIGHBORS,
    PLAYLIST_MEMBERS,
    TRACK_STATS,
)
from algorhythms_ml.recommend.titles import TITLE_TRACKS
from algorhythms_ml.recommend.training import read_ranker
from algorhythms_ml.warehouse import Warehouse, read_bytes, read_parquet
from algorhythms_store.coldstart import unpack_arrays
from algorhythms_store.publish import HnswConfig, PublishResult, Tracks, publish
from algorhythms_store.schema import STATS_COLUMNS


def _optional(values: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in values]


def published_tracks(warehouse: Warehouse) -> Tracks:
    frame, vectors = read_vectors(warehouse)
    meta = read_parquet(
        warehouse.table(TRACK_METADATA),
        ["track_id", "track_uri", "track_name", "artist_name", "album_name", "duration_ms"]
        + ["num_playlists"],
    )
    rows = frame[["track_id", "degree"]].merge(meta, on="track_id", how="inner")
    rows = rows.sort_values("track_id").reset_index(drop=True)
    ids = rows["track_id"].to_numpy()
    return Tracks(
        ids=ids,
        uris=rows["track_uri"].tolist(),
        names=_optional(rows["track_name"]),
        artists=_optional(rows["artist_name"]),
        albums=_optional(rows["album_name"]),
        duration_ms=_optional(rows["duration_ms"]),
        num_playlists=rows["num_playlists"].fillna(0).to_numpy(),
        degree=rows["degree"].to_numpy(),
        vectors=np.ascontiguousarray(vectors[ids], dtype=np.float32),
    )


def coldstart_model(warehouse: Warehouse) -> tuple[dict[str, np.ndarray], dict]:
    root = f"{warehouse.root}/{COLDSTART_DIR}"
    return unpack_arrays(read_bytes(f"{root}/arrays.npz")), json.loads(
        read_bytes(f"{root}/spec.json")
    )


def table_rows(warehouse: Warehouse, name: str, columns: list[str]):
    """The rows of a warehouse table as tuples of Python values, in `columns` order."""
    table = read_parquet(warehouse.table(name), columns)
    return zip(*(table[c].tolist() for c in columns), strict=True)


def title_rows(warehouse: Warehouse):
    return table_rows(warehouse, TITLE_TRACKS, ["key", "track_id", "score", "key_playlists"])


def neighbor_rows(warehouse: Warehouse):
    return table_rows(warehouse, TRACK_NEIGHBORS, ["src", "dst", "weight"])


def ranker_text(warehouse: Warehouse) -> str | None:
    try:
        return read_ranker(warehouse).text
    except FileNotFoundError:
        return None


def publish_warehouse(
    warehouse: Warehouse,
    url: str,
    hnsw: HnswConfig | None = None,
    run_id: str | None = None,
    metrics: dict | None = None,
    log: logging.Logger | None = None,
) -> PublishResult:
    """Publish the warehouse's current vectors and models as a new live version."""
    return publish(
        url,
        published_tracks(warehouse),
        coldstart=coldstart_model(warehouse),
        titles=title_rows(warehouse),
        neighbors=neighbor_rows(warehouse),
        members=table_rows(warehouse, PLAYLIST_MEMBERS, ["pid", "track_id", "length"]),
        stats=table_rows(warehouse, TRACK_STATS, list(STATS_COLUMNS)),
        artist_neighbors=table_rows(warehouse, ARTIST_NEIGHBORS, ["src", "dst", "weight"]),
        ranker=ranker_text(warehouse),
        hnsw=hnsw or HnswConfig(),
        run_id=run_id,
        metrics=metrics,
        log=log,
    )
