"""The warehouse's rows for each published table, and publishing them as a new version.

The ranking tables (`title_tracks`, `playlist_members`, `track_stats`, `artist_neighbors`) are
warehouse tables of the same name and columns; `track_neighbors` groups the warehouse's
(src, dst, weight) rows of the same name into one row of arrays per src
(algorhythms_store.neighbor_lists); `whole_titles` groups the whole-title rows of
`title_tracks`; `track_vectors` joins the GCN vectors with the track
metadata; `playlist_vectors` and `track_map` are the warehouse tables of the same name, the
playlist vectors read in batches; `track_model` holds the cold-start model and the ranker as
the pipeline wrote them (algorhythms_ml.artefacts).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd

from algorhythms_ml.artefacts import read_coldstart, read_ranker
from algorhythms_ml.embeddings.pipeline import read_vectors
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.warehouse import Warehouse, arrow_dataset, read_parquet
from algorhythms_store.neighbor_lists import NotClustered, neighbor_list_rows
from algorhythms_store.publish import PublishOptions, PublishResult, TrackModel, Tracks, publish
from algorhythms_store.schema import (
    ARTIST_NEIGHBORS,
    PLAYLIST_MEMBERS,
    PLAYLIST_VECTORS,
    TITLE_TRACKS,
    TRACK_MAP,
    TRACK_NEIGHBORS,
    TRACK_STATS,
    TRACK_VECTORS,
    WHOLE_TITLES,
    published_table,
)
from algorhythms_store.title_index import WHOLE, whole_title_rows

# Published as the warehouse holds them.
WAREHOUSE_TABLES = (
    TITLE_TRACKS,
    PLAYLIST_MEMBERS,
    TRACK_STATS,
    ARTIST_NEIGHBORS,
    TRACK_MAP,
)
# Rows read from the warehouse at once when publishing: a bounded share of any table.
BATCH_ROWS = 65_536


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


def table_rows(warehouse: Warehouse, name: str) -> Iterable[tuple]:
    """The rows of a warehouse table as tuples of Python values (None for null), in the
    published table's column order, read a batch at a time: as Python objects a whole table
    would take several times its size in Parquet (`playlist_members` of 1,000,000 playlists,
    66M rows, several GB)."""
    columns = [c.name for c in published_table(name).row_columns]
    table = arrow_dataset(warehouse.table(name))
    for batch in table.to_batches(columns=columns, batch_size=BATCH_ROWS):
        yield from zip(*(batch[c].to_pylist() for c in columns), strict=True)


def track_neighbors(warehouse: Warehouse) -> Iterator[tuple]:
    """`track_neighbors`: (src, dst ids, weights) per source track, from the warehouse's rows
    (clustered by src, as the co-occurrence pass writes them) read a batch at a time."""
    table = arrow_dataset(warehouse.table(TRACK_NEIGHBORS))
    columns = ["src", "dst", "weight"]
    batches = (
        batch
        for fragment in table.get_fragments()  # file by file, each in its own order
        for batch in fragment.to_batches(columns=columns, batch_size=BATCH_ROWS)
    )
    try:
        yield from neighbor_list_rows(tuple(b[c].to_numpy() for c in columns) for b in batches)
    except NotClustered as error:
        raise NotClustered(
            f"{error}. Materialise cooccurrence_edges again: it writes track_neighbors "
            "clustered by src (a warehouse table written by an older release may not be)"
        ) from error


def playlist_vectors(warehouse: Warehouse) -> Iterable[tuple]:
    """`playlist_vectors`: (pid, name, length, track_ids, vector) per playlist, read from the
    warehouse a batch at a time."""
    table = arrow_dataset(warehouse.table(PLAYLIST_VECTORS))
    for batch in table.to_batches(batch_size=BATCH_ROWS):
        column = batch["vector"]
        vectors = column.flatten().to_numpy().reshape(-1, column.type.list_size)
        columns = [batch[c].to_pylist() for c in ("pid", "name", "length", "track_ids")]
        yield from zip(*columns, vectors, strict=True)


def whole_titles(warehouse: Warehouse) -> Iterable[tuple]:
    """`whole_titles`: the whole-title rows of `title_tracks`, grouped by key."""
    import pyarrow.compute as pc

    table = read_parquet(
        warehouse.table(TITLE_TRACKS),
        ["key", "track_id", "score", "key_playlists"],
        where=pc.starts_with(pc.field("key"), WHOLE),
    )
    return whole_title_rows(
        table["key"].to_numpy(),
        table["track_id"].to_numpy(),
        table["score"].to_numpy(),
        table["key_playlists"].to_numpy(),
    )


def ranker_text(warehouse: Warehouse) -> str | None:
    try:
        return read_ranker(warehouse).text
    except FileNotFoundError:
        return None


def track_model(warehouse: Warehouse, dimension: int) -> TrackModel:
    arrays, spec = read_coldstart(warehouse)
    return TrackModel(
        dimension=dimension,
        coldstart_spec=spec,
        coldstart_arrays=arrays,
        ranker=ranker_text(warehouse),
    )


def publish_warehouse(
    warehouse: Warehouse,
    url: str,
    options: PublishOptions | None = None,
    run_id: str | None = None,
    metrics: dict | None = None,
    log: logging.Logger | None = None,
) -> PublishResult:
    """Publish the warehouse's current vectors, tables and models as a new live version."""
    tracks = published_tracks(warehouse)
    rows = {TRACK_VECTORS: tracks.rows()}
    rows.update({name: table_rows(warehouse, name) for name in WAREHOUSE_TABLES})
    rows[TRACK_NEIGHBORS] = track_neighbors(warehouse)
    rows[WHOLE_TITLES] = whole_titles(warehouse)
    rows[PLAYLIST_VECTORS] = playlist_vectors(warehouse)
    return publish(
        url,
        rows,
        track_model(warehouse, tracks.dimension),
        options,
        run_id=run_id,
        metrics=metrics,
        log=log,
    )
