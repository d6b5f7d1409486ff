"""The weighted song-song co-occurrence graph, computed with Spark.

`count(a, b)` is the number of playlists that contain both tracks `a` and `b` (a playlist counts
once per pair, however often a track repeats in it). The plan never materialises raw pairs and
never shuffles them:

1. `(pid, track_id)` rows are de-duplicated; tracks are split into `blocks` by id;
2. each playlist's rows are sent to every block that owns one of its tracks (a playlist-track
   row is copied at most `min(length, blocks)` times; rows are small next to pairs);
3. each block computes, with a scipy sparse product inside `applyInPandas`, the final counts of
   its own source tracks: `X[:, S_b]^T X`, upper triangle (src < dst). Every pair is counted in
   exactly one block, so the output needs no aggregation and no shuffle.

Raw pairs grow with the square of playlist length (about 2 billion for the full MPD); here the
shuffle carries playlist-track rows only, and each block holds only its own playlists and
output, so no step gathers all pairs on the driver or one executor. More blocks mean smaller
tasks and more row copies.

With `window` set, a playlist longer than `window` contributes only pairs of tracks whose
positions are less than `window` apart (neighbours in listening order) instead of all pairs:
it bounds the quadratic cost of very long playlists at the price of ignoring their long-range
co-occurrence. Playlists no longer than `window` are unaffected.

Weights: `count`; `cosine` = count / sqrt(n_a * n_b) with n the number of playlists holding the
track; `pmi` = positive PMI, log(count * N / (n_a * n_b)), with edges of PMI <= 0 dropped.
Pruning: `min_count`, then `top_k` neighbours per track by weight (ties broken by count, then
smaller id). An edge survives pruning if it is in the top K of either endpoint. Both directions
are stored: every undirected edge appears as (a, b) and (b, a).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from algorhythms_ml.config import config_class
from algorhythms_ml.mpd.ingest import PLAYLIST_TRACKS, PLAYLIST_TRACKS_SCHEMA
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.warehouse import Staging, Warehouse, clustered, read_table

Weighting = Literal["count", "cosine", "pmi"]

PAIR_SCHEMA = T.StructType(
    [
        T.StructField("src", T.LongType()),
        T.StructField("dst", T.LongType()),
        T.StructField("count", T.LongType()),
    ]
)


@config_class
class EdgeConfig:
    """How pairs are weighted and pruned."""

    weight: Weighting = Field(
        "cosine",
        description="count; cosine = count / sqrt(n_a n_b); pmi = positive PMI, "
        "log(count N / (n_a n_b)), pairs with PMI <= 0 dropped",
    )
    min_count: int = Field(1, ge=1, description="drop pairs seen in fewer playlists")
    top_k: int | None = Field(
        50,
        ge=1,
        description="keep an edge if it is among the K heaviest of either endpoint "
        "(ties: higher count, then smaller id); None keeps every pair",
    )
    window: int | None = Field(
        None,
        ge=2,
        description="a playlist longer than this pairs only tracks less than `window` "
        "positions apart; None pairs every two tracks",
    )
    blocks: int | None = Field(
        None, ge=1, description="source-track blocks of the sparse product; None: 2 per core"
    )


def block_pair_chunks(
    pids: np.ndarray,
    tracks: np.ndarray,
    positions: np.ndarray | None = None,
    window: int | None = None,
    owned: np.ndarray | None = None,
    max_pairs: int = 4_000_000,
) -> Iterator[pd.DataFrame]:
    """Upper-triangle co-occurrence counts (src < dst) among these playlist-track rows, in
    chunks of source tracks whose output is bounded by about `max_pairs` rows.

    `pids`, `tracks` (and `positions`) are aligned arrays of de-duplicated rows. With `owned`
    (a function from track ids to a boolean mask), only pairs whose src is owned are returned:
    the block's share of the whole product.
    """
    if pids.size == 0:
        return
    uniq_tracks, col = np.unique(tracks, return_inverse=True)
    uniq_pids, row = np.unique(pids, return_inverse=True)
    owns = np.ones(uniq_tracks.size, bool) if owned is None else owned(uniq_tracks)

    def named(a: np.ndarray, b: np.ndarray, count: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {"src": uniq_tracks[a], "dst": uniq_tracks[b], "count": count.astype(np.int64)}
        )

    if window is not None and positions is not None:
        lengths = np.bincount(row)
        is_long = np.isin(row, np.flatnonzero(lengths > window))
        if is_long.any():
            pairs = _windowed_pairs(row[is_long], col[is_long], positions[is_long], window)
            pairs = pairs[owns[pairs["a"].to_numpy()]]
            yield named(pairs["a"].to_numpy(), pairs["b"].to_numpy(), pairs["count"].to_numpy())
            row, col = row[~is_long], col[~is_long]
    x = sp.csr_matrix(
        (np.ones(row.size, dtype=np.float32), (row, col)),
        shape=(uniq_pids.size, uniq_tracks.size),
    )
    xt = x.T.tocsr()
    sources = np.flatnonzero(owns)
    # A source's output is at most the summed length of its playlists: chunk by that bound.
    bound = np.asarray(xt[sources] @ np.asarray(x.sum(1)).ravel()).ravel()
    edges = np.searchsorted(
        np.cumsum(bound), np.arange(max_pairs, bound.sum() + max_pairs, max_pairs)
    )
    start = 0
    for stop in np.unique(np.append(np.minimum(edges + 1, sources.size), sources.size)):
        chunk = sources[start:stop]
        start = stop
        if chunk.size == 0:
            continue
        product = (xt[chunk] @ x).tocoo()
        a = chunk[product.row]
        upper = product.col > a
        yield named(a[upper], product.col[upper], np.rint(product.data[upper]))


def block_pairs(
    pids: np.ndarray,
    tracks: np.ndarray,
    positions: np.ndarray | None = None,
    window: int | None = None,
    owned: np.ndarray | None = None,
) -> pd.DataFrame:
    """All of `block_pair_chunks` in one frame."""
    chunks = list(block_pair_chunks(pids, tracks, positions, window, owned))
    if not chunks:
        return pd.DataFrame({"src": [], "dst": [], "count": []}, dtype=np.int64)
    return pd.concat(chunks, ignore_index=True)


def _windowed_pairs(row: np.ndarray, col: np.ndarray, pos: np.ndarray, window: int) -> pd.DataFrame:
    """Pairs of tracks less than `window` positions apart, once per playlist (a < b)."""
    order = np.lexsort((pos, row))
    row, col = row[order], col[order]
    a_parts, b_parts, r_parts = [], [], []
    for offset in range(1, window):
        same = row[offset:] == row[:-offset]
        a, b = col[:-offset][same], col[offset:][same]
        r_parts.append(row[offset:][same])
        a_parts.append(np.minimum(a, b))
        b_parts.append(np.maximum(a, b))
    pairs = pd.DataFrame(
        {"r": np.concatenate(r_parts), "a": np.concatenate(a_parts), "b": np.concatenate(b_parts)}
    )
    pairs = pairs[pairs.a != pairs.b].drop_duplicates()
    return pairs.groupby(["a", "b"], as_index=False).size().rename(columns={"size": "count"})


def playlist_track_ids(playlist_tracks: DataFrame, track_metadata: DataFrame) -> DataFrame:
    """(pid, track_id, pos) with each track once per playlist, at its first position."""
    ids = track_metadata.select("track_uri", "track_id")
    joined = playlist_tracks.join(ids, "track_uri")
    return joined.groupBy("pid", "track_id").agg(F.min("pos").alias("pos"))


def cooccurrence_counts(
    spark: SparkSession, rows: DataFrame, window: int | None = None, blocks: int | None = None
) -> DataFrame:
    """Unpruned upper-triangle counts (src < dst) from de-duplicated (pid, track_id, pos)."""
    blocks = blocks or 2 * spark.sparkContext.defaultParallelism

    def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        frames = list(batches)
        if not frames:
            return
        frame = pd.concat(frames, ignore_index=True)
        for block, part in frame.groupby("block", sort=True):
            yield from block_pair_chunks(
                part["pid"].to_numpy(),
                part["track_id"].to_numpy(),
                part["pos"].to_numpy(),
                window,
                owned=lambda ids, b=int(block): ids % blocks == b,
            )

    rows = rows.select("pid", "track_id", "pos")
    touched = rows.groupBy("pid").agg(
        F.collect_set(F.pmod("track_id", F.lit(blocks))).alias("blocks")
    )
    replicated = rows.join(touched, "pid").select(
        "pid", "track_id", "pos", F.explode("blocks").alias("block")
    )
    # One block per partition (range partitioning over the block ids); a task streams its
    # block's output in bounded chunks.
    return replicated.repartitionByRange(blocks, "block").mapInPandas(per_partition, PAIR_SCHEMA)


def weighted_edges(
    counts: DataFrame, track_playlists: DataFrame, n_playlists: int, config: EdgeConfig
) -> DataFrame:
    """Weighted, pruned, symmetric edges (src, dst, count, weight) from upper-triangle counts.

    `track_playlists` holds (track_id, n): the number of playlists containing each track.
    """
    edges = counts.where(F.col("count") >= config.min_count)
    if config.weight != "count":
        # One row per track (2.26M for the full MPD): broadcast, so the pairs are not shuffled.
        n = F.broadcast(track_playlists.select("track_id", "n"))
        edges = edges.join(
            n.withColumnRenamed("track_id", "src").withColumnRenamed("n", "n_src"), "src"
        ).join(n.withColumnRenamed("track_id", "dst").withColumnRenamed("n", "n_dst"), "dst")
    if config.weight == "count":
        weight = F.col("count").cast("double")
    elif config.weight == "cosine":
        weight = F.col("count") / F.sqrt(F.col("n_src").cast("double") * F.col("n_dst"))
    elif config.weight == "pmi":
        weight = F.log(
            F.col("count") * F.lit(float(n_playlists)) / (F.col("n_src") * F.col("n_dst"))
        )
    else:
        raise ValueError(f"unknown weight {config.weight!r}: use count, cosine or pmi")
    edges = edges.select("src", "dst", "count", weight.alias("weight")).where(
        (F.col("weight") > 0) & ~F.isnan("weight")
    )
    both = edges.unionByName(
        edges.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "count", "weight")
    )
    if config.top_k is None:
        return both
    rank = F.row_number().over(
        Window.partitionBy("src").orderBy(F.desc("weight"), F.desc("count"), F.asc("dst"))
    )
    kept = both.withColumn("rank", rank).where(F.col("rank") <= config.top_k)
    # Keep an undirected edge if either endpoint ranks it in its top K; store both directions.
    undirected = kept.select(
        F.least("src", "dst").alias("src"),
        F.greatest("src", "dst").alias("dst"),
        "count",
        "weight",
    ).dropDuplicates(["src", "dst"])
    return undirected.unionByName(
        undirected.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "count", "weight")
    )


def degree_summary(edges: DataFrame) -> dict[str, float]:
    degrees = edges.groupBy("src").count()
    row = degrees.agg(
        F.count(F.lit(1)).alias("nodes"),
        F.min("count").alias("min"),
        F.expr("percentile_approx(count, 0.5)").alias("median"),
        F.mean("count").alias("mean"),
        F.max("count").alias("max"),
    ).first()
    return {k: (float(row[k]) if row[k] is not None else 0.0) for k in row.asDict()}


COOCCURRENCE_EDGES = "cooccurrence_edges"


@dataclass
class EdgeStats:
    nodes: int
    edges: int  # directed rows: twice the undirected edges
    playlists: int
    raw_pairs: int
    unpruned_pairs: int
    degree: dict[str, float]


def staged_playlist_rows(spark: SparkSession, warehouse: Warehouse, staging: Staging) -> DataFrame:
    """The warehouse's de-duplicated (pid, track_id, pos), kept in `staging`: counting reads them
    more than once, and the join behind them should run only once."""
    tracks = read_table(spark, warehouse.table(PLAYLIST_TRACKS), PLAYLIST_TRACKS_SCHEMA)
    meta = spark.read.parquet(warehouse.table(TRACK_METADATA))
    return staging.stage("rows", playlist_track_ids(tracks, meta))


def track_playlist_counts(rows: DataFrame) -> DataFrame:
    """(track_id, n): the number of playlists holding each track, from de-duplicated rows."""
    return rows.groupBy("track_id").agg(F.count(F.lit(1)).alias("n"))


def build_cooccurrence_edges(
    spark: SparkSession,
    warehouse: Warehouse,
    config: EdgeConfig,
    log: logging.Logger | None = None,
) -> EdgeStats:
    """Compute `cooccurrence_edges` from the warehouse's playlist_tracks and track_metadata."""
    log = log or logging.getLogger(__name__)
    with Staging(spark, warehouse) as staging:
        rows = staged_playlist_rows(spark, warehouse, staging)
        per_playlist = rows.groupBy("pid").count()
        sizes = per_playlist.agg(
            F.count(F.lit(1)).alias("playlists"),
            F.sum(F.col("count") * (F.col("count") - 1) / 2).alias("raw_pairs"),
        ).first()
        n_playlists = int(sizes["playlists"])
        counts = staging.stage(
            "counts", cooccurrence_counts(spark, rows, config.window, config.blocks)
        )
        edges = weighted_edges(counts, track_playlist_counts(rows), n_playlists, config)
        written = staging.write_tables(
            {COOCCURRENCE_EDGES: clustered(edges, "src", sort=("src", "dst"))}
        )[COOCCURRENCE_EDGES]
        degree = degree_summary(written.frame)
        stats = EdgeStats(
            nodes=int(degree.pop("nodes")),
            edges=written.rows,
            playlists=n_playlists,
            raw_pairs=int(sizes["raw_pairs"] or 0),
            unpruned_pairs=counts.count(),
            degree=degree,
        )
    log.info(
        "cooccurrence_edges: %d nodes, %d directed edges from %d raw pairs (%d distinct)",
        stats.nodes,
        stats.edges,
        stats.raw_pairs,
        stats.unpruned_pairs,
    )
    return stats
