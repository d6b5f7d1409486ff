"""The weighted song-song co-occurrence graph, computed with Spark in one pass of blocks.

`count(a, b)` is the number of playlists that contain both tracks `a` and `b` (a playlist counts
once per pair, however often a track repeats in it). The plan never materialises raw pairs and
never shuffles or sorts pairs:

1. `(pid, track_id)` rows are de-duplicated; tracks are split into `blocks` by id;
2. each playlist's rows are sent to every block that owns one of its tracks (a playlist-track
   row is copied at most `min(length, blocks)` times; rows are small next to pairs);
3. each block computes, with a scipy sparse product inside `mapInPandas`, the whole rows of its
   own source tracks, `X[:, S_b]^T X` without the diagonal, in chunks of sources, weights them
   (the playlists holding every track travel with the task as an array) and keeps what each
   table needs, e.g. each source's top K edges. Only those rows leave the block.

Raw pairs grow with the square of playlist length (about 2 billion for the full MPD); here the
shuffle carries playlist-track rows only, and each block holds only its own playlists and one
chunk of rows at a time, so no step gathers all pairs on the driver or one executor. More blocks
mean smaller tasks and more row copies.

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

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import Field
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from algorhythms_ml.config import config_class
from algorhythms_ml.mpd.ingest import PLAYLIST_TRACKS, PLAYLIST_TRACKS_SCHEMA
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.warehouse import Staging, Warehouse, read_table

Weighting = Literal["count", "cosine", "pmi"]


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
        "positions apart; None pairs every two tracks (the edges and the item-kNN lists)",
    )
    blocks: int | None = Field(
        None, ge=1, description="source-track blocks of the sparse product; None: 2 per core"
    )


PASS_SCHEMA = T.StructType(
    [
        T.StructField("table", T.IntegerType()),
        T.StructField("src", T.LongType()),
        T.StructField("dst", T.LongType()),
        T.StructField("count", T.LongType()),
        T.StructField("weight", T.DoubleType()),
    ]
)
# The `table` tag of the rows that count the distinct pairs (src < dst) a chunk saw.
DISTINCT_PAIRS = -1


@dataclass(frozen=True)
class WholeRows:
    """Complete rows of the co-occurrence matrix for some source tracks: every (src, dst, count)
    with dst != src and count >= 1, and the playlists holding each end (`n_src`, `n_dst`)."""

    src: np.ndarray
    dst: np.ndarray
    count: np.ndarray
    n_src: np.ndarray
    n_dst: np.ndarray
    n_playlists: int

    def chosen(self, keep: np.ndarray, weight: np.ndarray) -> pd.DataFrame:
        """(src, dst, count, weight) of the rows at `keep`, with `weight` given for every row."""
        return pd.DataFrame(
            {
                "src": self.src[keep],
                "dst": self.dst[keep],
                "count": self.count[keep],
                "weight": weight[keep],
            }
        )


# Chooses, from whole rows, the rows one table keeps: a frame (src, dst, count, weight).
RowSelector = Callable[[WholeRows], pd.DataFrame]


def block_rows(
    pids: np.ndarray,
    tracks: np.ndarray,
    positions: np.ndarray | None = None,
    window: int | None = None,
    owned: Callable[[np.ndarray], np.ndarray] | None = None,
    max_pairs: int = 4_000_000,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Whole co-occurrence rows (src, dst, count), dst != src, of the owned source tracks among
    these playlist-track rows, in chunks of sources whose output is bounded by about
    `max_pairs` rows; each source's row lies whole in one chunk.

    `pids`, `tracks` (and `positions`) are aligned arrays of de-duplicated rows. With `owned`
    (a function from track ids to a boolean mask), only rows of owned sources are returned: the
    block's share of the whole product.

    Memory: a block holds nearly every playlist (a long one touches every block), so what it
    keeps per playlist-track row is what bounds a task: the 32-bit codes of both ends while the
    matrix is built, then the matrix in both orientations (12 bytes a row each).
    """
    if pids.size == 0:
        return
    uniq_tracks, col = dense_codes(tracks)
    uniq_pids, row = dense_codes(pids)
    owns = np.ones(uniq_tracks.size, bool) if owned is None else owned(uniq_tracks)
    windowed = None
    if window is not None and positions is not None:
        is_long = np.isin(row, np.flatnonzero(np.bincount(row) > window))
        if is_long.any():
            windowed = _windowed_counts(
                row[is_long], col[is_long], positions[is_long], window, uniq_tracks.size
            )
            row, col = row[~is_long], col[~is_long]
    x = sp.coo_matrix(
        (np.ones(row.size, dtype=np.float32), (row, col)),
        shape=(uniq_pids.size, uniq_tracks.size),
    ).tocsr()
    del row, col
    xt = x.T.tocsr()
    sources = np.flatnonzero(owns)
    # A source's row is at most the summed length of its playlists: chunk by that bound.
    bound = np.asarray(xt[sources] @ np.asarray(x.sum(1)).ravel()).ravel()
    if windowed is not None:
        bound += np.diff(windowed.indptr)[sources]
    edges = np.searchsorted(
        np.cumsum(bound), np.arange(max_pairs, bound.sum() + max_pairs, max_pairs)
    )
    start = 0
    for stop in np.unique(np.append(np.minimum(edges + 1, sources.size), sources.size)):
        chunk = sources[start:stop]
        start = stop
        if chunk.size == 0:
            continue
        product = xt[chunk] @ x
        if windowed is not None:
            product = product + windowed[chunk]
        product = product.tocoo()
        src = chunk[product.row]
        off_diagonal = product.col != src
        yield (
            uniq_tracks[src[off_diagonal]],
            uniq_tracks[product.col[off_diagonal]],
            np.rint(product.data[off_diagonal]).astype(np.int64),
        )


def _windowed_counts(
    row: np.ndarray, col: np.ndarray, pos: np.ndarray, window: int, n_tracks: int
) -> sp.csr_matrix:
    """Symmetric counts of tracks less than `window` positions apart, once per playlist."""
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
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    ones = np.ones(2 * a.size, dtype=np.float32)
    both = (np.concatenate([a, b]), np.concatenate([b, a]))
    return sp.csr_matrix((ones, both), shape=(n_tracks, n_tracks))  # duplicates are summed


def top_per_source(src: np.ndarray, k: int, *keys: np.ndarray) -> np.ndarray:
    """Indices of each source's first `k` rows, ordered by `keys` (ascending, the first key
    most significant)."""
    # pandas sorts on several keys by factorising each into dense codes and sorting their
    # combination: the same order as np.lexsort((*reversed(keys), src)), about 1.7x faster on
    # a chunk of millions of rows with a float key.
    columns = pd.DataFrame({i: key for i, key in enumerate((src, *keys))}, copy=False)
    order = columns.sort_values(list(columns.columns)).index.to_numpy()
    ordered = src[order]
    rank = np.arange(ordered.size) - np.searchsorted(ordered, ordered, side="left")
    return order[rank < k]


def edge_weights(
    count: np.ndarray, n_src: np.ndarray, n_dst: np.ndarray, n_playlists: int, weight: Weighting
) -> np.ndarray:
    """The weight of each pair in float64, as Spark SQL computes it (the integer product
    n_src * n_dst in 64 bits for PMI)."""
    if weight == "count":
        return count.astype(np.float64)
    if weight == "cosine":
        return count / np.sqrt(n_src.astype(np.float64) * n_dst.astype(np.float64))
    if weight == "pmi":
        return np.log(count * float(n_playlists) / (n_src * n_dst))
    raise ValueError(f"unknown weight {weight!r}: use count, cosine or pmi")


def pruned_edge_rows(rows: WholeRows, config: EdgeConfig) -> pd.DataFrame:
    """The rows `config` keeps from whole rows: weighted, at least `min_count`, positive weight,
    and with `top_k` each source's K heaviest (ties: higher count, then smaller dst)."""
    weight = edge_weights(rows.count, rows.n_src, rows.n_dst, rows.n_playlists, config.weight)
    keep = np.flatnonzero((rows.count >= config.min_count) & (weight > 0))
    if config.top_k is not None:
        by = (-weight[keep], -rows.count[keep], rows.dst[keep])
        keep = keep[top_per_source(rows.src[keep], config.top_k, *by)]
    return rows.chosen(keep, weight)


def edge_selector(config: EdgeConfig) -> RowSelector:
    """The block-pass selector of `cooccurrence_edges`' rows (`symmetric_edges` finishes
    them)."""
    return partial(pruned_edge_rows, config=config)


def upper_triangle(rows: WholeRows) -> pd.DataFrame:
    """Every pair once (src < dst), weighted by its count: the unpruned counts."""
    return rows.chosen(rows.src < rows.dst, rows.count.astype(np.float64))


def playlist_track_ids(playlist_tracks: DataFrame, track_metadata: DataFrame) -> DataFrame:
    """(pid, track_id, pos) with each track once per playlist, at its first position."""
    ids = track_metadata.select("track_uri", "track_id")
    joined = playlist_tracks.join(ids, "track_uri")
    return joined.groupBy("pid", "track_id").agg(F.min("pos").alias("pos"))


def block_pass(
    spark: SparkSession,
    rows: DataFrame,
    selectors: Sequence[RowSelector],
    window: int | None = None,
    blocks: int | None = None,
) -> DataFrame:
    """One pass over de-duplicated (pid, track_id, pos): every block computes the whole rows of
    its own source tracks and keeps what each selector chooses from them, tagged `table` with
    the selector's index (PASS_SCHEMA). Only the chosen rows leave a block, with one row per
    chunk tagged DISTINCT_PAIRS whose `count` is the distinct pairs (src < dst) it saw.

    The playlists holding each track, needed for the weights of any pair, travel to every task
    as an array indexed by track id (one integer per track).
    """
    blocks = blocks or 2 * spark.sparkContext.defaultParallelism
    counts = track_playlist_counts(rows).toPandas()
    n_by_track = np.zeros(int(counts["track_id"].max()) + 1 if len(counts) else 0, np.int64)
    n_by_track[counts["track_id"].to_numpy()] = counts["n"].to_numpy()
    n_playlists = rows.select("pid").distinct().count()

    chosen = row_chooser(selectors, n_by_track, n_playlists)

    def per_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return partition_rows(batches, blocks, window, chosen)

    rows = rows.select("pid", "track_id", "pos")
    touched = rows.groupBy("pid").agg(
        F.collect_set(F.pmod("track_id", F.lit(blocks))).alias("blocks")
    )
    replicated = rows.join(touched, "pid").select(
        "pid", "track_id", "pos", F.explode("blocks").alias("block")
    )
    # One block per partition (range partitioning over the block ids); a task streams its
    # block's output in bounded chunks.
    return replicated.repartitionByRange(blocks, "block").mapInPandas(per_partition, PASS_SCHEMA)


Chooser = Callable[[np.ndarray, np.ndarray, np.ndarray], Iterator[pd.DataFrame]]


def row_chooser(
    selectors: Sequence[RowSelector], n_by_track: np.ndarray, n_playlists: int
) -> Chooser:
    """From a chunk's whole rows (src, dst, count): each selector's rows tagged with its index,
    then a DISTINCT_PAIRS row counting the chunk's pairs src < dst."""

    def chosen(src: np.ndarray, dst: np.ndarray, count: np.ndarray) -> Iterator[pd.DataFrame]:
        whole = WholeRows(src, dst, count, n_by_track[src], n_by_track[dst], n_playlists)
        for table, select in enumerate(selectors):
            yield select(whole).assign(table=np.int32(table))
        distinct = np.count_nonzero(src < dst)
        yield pd.DataFrame({"table": [DISTINCT_PAIRS], "src": -1, "dst": -1, "count": distinct})

    return chosen


def partition_rows(
    batches: Iterator[pd.DataFrame],
    blocks: int,
    window: int | None,
    chosen: Chooser,
) -> Iterator[pd.DataFrame]:
    """What one task of the block pass writes (PASS_SCHEMA): the rows `chosen` keeps from the
    whole rows of each block among its (pid, track_id, pos, block) batches.

    The batches are kept as compact arrays, not frames (a block's rows are nearly all the
    playlist-track rows, so bytes per row are the task's memory); `pos` only with a window."""
    names = ["pid", "track_id", "block"] + (["pos"] if window is not None else [])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for batch in batches:
        for name in names:
            parts[name].append(compact_ints(batch[name].to_numpy()))
    if not parts["pid"]:
        return
    columns = {}
    for name in names:  # one column's pieces and its whole at a time
        columns[name] = np.concatenate(parts.pop(name))
    block_of = columns.pop("block")
    for block in np.unique(block_of):
        mine = block_of == block
        mine = slice(None) if mine.all() else mine
        for src, dst, count in block_rows(
            columns["pid"][mine],
            columns["track_id"][mine],
            columns["pos"][mine] if "pos" in columns else None,
            window,
            owned=lambda ids, b=int(block): ids % blocks == b,
        ):
            for out in chosen(src, dst, count):
                yield out.reindex(columns=PASS_SCHEMA.fieldNames(), fill_value=0.0)


def compact_ints(values: np.ndarray) -> np.ndarray:
    """Integer `values` as int32 when they all fit (the same numbers in half the bytes)."""
    if values.dtype.kind in "iu" and values.dtype.itemsize > 4 and values.size:
        if values.min() >= np.iinfo(np.int32).min and values.max() <= np.iinfo(np.int32).max:
            return values.astype(np.int32)
    return values


def dense_codes(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct ids in order as int64, each id's index among them as int32), as `np.unique`
    with `return_inverse` gives them. Ids that are non-negative and no larger than a few times their
    count (track ids, pids) are coded through a table indexed by id, without sorting; others
    through `np.unique`."""
    if ids.size and ids.dtype.kind in "iu" and ids.min() >= 0 and ids.max() < 4 * ids.size + 2**20:
        present = np.zeros(int(ids.max()) + 1, bool)
        present[ids] = True
        code = np.cumsum(present, dtype=np.int32) - 1
        return np.flatnonzero(present), code[ids]
    distinct, inverse = np.unique(ids, return_inverse=True)
    return distinct.astype(np.int64, copy=False), inverse.astype(np.int32).reshape(-1)


def chosen_rows(passed: DataFrame, table: int) -> DataFrame:
    """(src, dst, count, weight): the rows the `table`-th selector of a block pass kept."""
    return passed.where(F.col("table") == table).select("src", "dst", "count", "weight")


def distinct_pairs(passed: DataFrame) -> int:
    """The distinct pairs (src < dst) a block pass saw, before any selector pruned them."""
    total = passed.where(F.col("table") == DISTINCT_PAIRS).agg(F.sum("count")).first()[0]
    return int(total or 0)


def cooccurrence_counts(
    spark: SparkSession, rows: DataFrame, window: int | None = None, blocks: int | None = None
) -> DataFrame:
    """Unpruned upper-triangle counts (src, dst, count), src < dst, from de-duplicated
    (pid, track_id, pos)."""
    passed = block_pass(spark, rows, [upper_triangle], window, blocks)
    return chosen_rows(passed, 0).drop("weight")


def symmetric_edges(kept: DataFrame, config: EdgeConfig) -> DataFrame:
    """The edge table from the rows each source kept: an edge survives if either endpoint kept
    it, and both directions are stored. Without `top_k` the whole rows already hold both."""
    if config.top_k is None:
        return kept
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
