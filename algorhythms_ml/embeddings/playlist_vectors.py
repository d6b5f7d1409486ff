"""Playlist vectors: each ingested playlist as the normalised mean of its tracks' unit GCN
vectors, what the service's similar-playlist search ranks by cosine.

Spark de-duplicates the memberships (each catalogue track once per playlist, at its first
position) and gives each playlist its name, length and first tracks. The mean is then summed
in one pass over the memberships in batches of `batch_rows`: memory holds one (playlists x
dim) float32 array and one batch, and the cost grows linearly with the rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
from pydantic import Field
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from algorhythms_ml.config import config_class
from algorhythms_ml.embeddings.pipeline import read_vectors
from algorhythms_ml.embeddings.track_map import unit_rows
from algorhythms_ml.graph.cooccurrence import staged_playlist_rows
from algorhythms_ml.recommend.playlist_tables import read_playlists
from algorhythms_ml.warehouse import Staging, Warehouse, arrow_dataset, write_parquet
from algorhythms_store.progress import Progress
from algorhythms_store.schema import PLAYLIST_VECTORS

# Tracks of each playlist kept to show it: its first distinct ones, in playlist order.
HEAD_TRACKS = 5
HEADS_SCHEMA = pa.schema(
    [
        ("pid", pa.int32()),
        ("name", pa.string()),
        ("length", pa.int32()),
        ("track_ids", pa.list_(pa.int32())),
    ]
)
MEMBERS_SCHEMA = pa.schema([("pid", pa.int64()), ("track_id", pa.int64())])


@config_class
class PlaylistVectorConfig:
    """How the playlist vectors are summed."""

    batch_rows: int = Field(
        262_144,
        ge=1,
        description="playlist memberships summed at once (memory: this times the vector "
        "dimension times 4 bytes, besides the playlists' own vectors)",
    )


def playlist_heads(rows: DataFrame, playlists: DataFrame) -> DataFrame:
    """(pid, name, length, track_ids) of every playlist with a catalogue track, from
    de-duplicated (pid, track_id, pos) rows: its distinct tracks and its first HEAD_TRACKS
    of them in playlist order."""
    heads = rows.groupBy("pid").agg(
        F.count(F.lit(1)).cast("int").alias("length"),
        F.slice(F.sort_array(F.collect_list(F.struct("pos", "track_id"))), 1, HEAD_TRACKS)
        .getField("track_id")
        .cast("array<int>")
        .alias("track_ids"),
    )
    return heads.join(playlists.select("pid", "name"), "pid").select(
        F.col("pid").cast("int"), "name", "length", "track_ids"
    )


def membership_batches(uri: str, batch_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(pid, track_id) arrays of the membership table at `uri`, `batch_rows` at a time."""
    table = arrow_dataset(uri, MEMBERS_SCHEMA)
    for batch in table.to_batches(columns=["pid", "track_id"], batch_size=batch_rows):
        if batch.num_rows:
            yield batch["pid"].to_numpy(), batch["track_id"].to_numpy()


def mean_vectors(
    pids: np.ndarray,
    batches: Iterator[tuple[np.ndarray, np.ndarray]],
    unit: np.ndarray,
    progress: Progress | None = None,
) -> np.ndarray:
    """(len(pids), dim) float32: for each playlist of the sorted `pids`, the normalised sum of
    the unit vectors (`unit`, indexed by track id) of the (pid, track_id) pairs in `batches`;
    pairs of other playlists, and of tracks without a vector, are left out."""
    sums = torch.zeros((len(pids), unit.shape[1]), dtype=torch.float32)
    for pid, track_id in batches:
        if len(pids):
            row = np.minimum(np.searchsorted(pids, pid), len(pids) - 1)
            known = (pids[row] == pid) & (track_id < len(unit))
            rows, tracks = torch.from_numpy(row[known]), torch.from_numpy(unit[track_id[known]])
            sums.index_add_(0, rows, tracks)
        if progress is not None:
            progress.advance(len(pid))
    return unit_rows(sums.numpy())


def vector_column(vectors: np.ndarray) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1), pa.float32())
    return pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])


@dataclass
class PlaylistVectorStats:
    playlists: int  # playlists with a vector (rows written)
    ingested: int  # playlists ingested
    memberships: int  # (playlist, catalogue track) pairs summed
    dimension: int
    mean_length: float
    seconds: float


def build_playlist_vectors(
    spark: SparkSession,
    warehouse: Warehouse,
    config: PlaylistVectorConfig,
    log: logging.Logger | None = None,
) -> PlaylistVectorStats:
    """Write `playlist_vectors` (pid, name, length, track_ids, vector) for every ingested
    playlist that holds a catalogue track."""
    log = log or logging.getLogger(__name__)
    started = time.perf_counter()
    unit = unit_rows(read_vectors(warehouse)[1])
    playlists = read_playlists(spark, warehouse)
    with Staging(spark, warehouse) as staging:
        rows = staged_playlist_rows(spark, warehouse, staging)
        members = staging.write("members", rows.select("pid", "track_id"))
        heads = staging.write("heads", playlist_heads(rows, playlists))
        heads = arrow_dataset(heads, HEADS_SCHEMA).to_table().sort_by("pid")
        pids = heads["pid"].to_numpy()
        total = arrow_dataset(members, MEMBERS_SCHEMA).count_rows()
        with Progress(total, "playlist vectors: memberships", log) as progress:
            means = mean_vectors(
                pids, membership_batches(members, config.batch_rows), unit, progress
            )
    write_parquet(
        warehouse.table(PLAYLIST_VECTORS), heads.append_column("vector", vector_column(means))
    )
    lengths = heads["length"]
    return PlaylistVectorStats(
        playlists=heads.num_rows,
        ingested=playlists.count(),
        memberships=total,
        dimension=unit.shape[1],
        mean_length=float(pc.mean(lengths).as_py() or 0.0),
        seconds=time.perf_counter() - started,
    )
