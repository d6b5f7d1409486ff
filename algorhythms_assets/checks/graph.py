"""Checks of the co-occurrence graph: one property each, all guarding what trains the GCN."""

import dagster as dg
from dagster_pyspark import PySparkResource
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.graph.cooccurrence import COOCCURRENCE_EDGES
from algorhythms_ml.mpd.tracks import TRACK_METADATA


def _edges(pyspark: PySparkResource, warehouse: WarehouseResource) -> DataFrame:
    return pyspark.spark_session.read.parquet(warehouse.warehouse().table(COOCCURRENCE_EDGES))


def _none_expected(actual: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=actual == 0, metadata={"actual": actual, "threshold": 0})


@dg.asset_check(asset=COOCCURRENCE_EDGES, blocking=True)
def check_cooccurrence_edges_no_self_loops(
    pyspark: PySparkResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """No track is linked to itself."""
    return _none_expected(_edges(pyspark, warehouse).where(F.col("src") == F.col("dst")).count())


@dg.asset_check(asset=COOCCURRENCE_EDGES, blocking=True)
def check_cooccurrence_edges_weights_positive_finite(
    pyspark: PySparkResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Every weight is a positive finite number and every count at least 1."""
    w = F.col("weight")
    bad = w.isNull() | F.isnan(w) | (w <= 0) | (w == float("inf")) | (F.col("count") < 1)
    return _none_expected(_edges(pyspark, warehouse).where(bad).count())


@dg.asset_check(asset=COOCCURRENCE_EDGES, blocking=True)
def check_cooccurrence_edges_endpoints_known(
    pyspark: PySparkResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Every edge endpoint is a track_id in track_metadata."""
    spark = pyspark.spark_session
    ids = spark.read.parquet(warehouse.warehouse().table(TRACK_METADATA)).select("track_id")
    return _none_expected(unknown_endpoints(_edges(pyspark, warehouse), ids))


def unknown_endpoints(edges: DataFrame, ids: DataFrame) -> int:
    """How many distinct endpoints (src or dst) of `edges` are not among `ids` (track_id).

    The track ids (2.26M at the full MPD, a few MB as a hash table) are broadcast, so each
    endpoint is looked up where it is read and only the unknown ones, none in a sound table, are
    shuffled to be counted. A distinct over every endpoint first shuffled them all: the check
    grew 11x for 2x the playlists that way."""
    ends = edges.select(F.col("src").alias("track_id")).union(
        edges.select(F.col("dst").alias("track_id"))
    )
    return ends.join(F.broadcast(ids), "track_id", "left_anti").distinct().count()


@dg.asset_check(asset=COOCCURRENCE_EDGES, blocking=True)
def check_cooccurrence_edges_symmetric(
    pyspark: PySparkResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Each edge (a, b) is stored as (b, a) too, with the same count and weight."""
    return _none_expected(rows_without_mirror(_edges(pyspark, warehouse)))


def rows_without_mirror(edges: DataFrame) -> int:
    """The rows (src, dst, count, weight) of `edges` that have no row (dst, src, count, weight)
    to match them (each row matches one), 0 for a symmetric table.

    A symmetric table is recognised in one aggregation, without a shuffle: the hash of each
    undirected row, added for (a, b) with a < b and subtracted for (b, a), sums to zero (a
    table that is not symmetric sums to zero only through a 64-bit hash collision). Only a table
    that fails it is compared row by row, to count its unmatched rows."""
    undirected = F.xxhash64(F.least("src", "dst"), F.greatest("src", "dst"), "count", "weight")
    sign = F.when(F.col("src") < F.col("dst"), 1).when(F.col("src") > F.col("dst"), -1)
    balance = edges.agg(
        F.sum(undirected.cast("decimal(38,0)") * F.coalesce(sign, F.lit(0)))
    ).first()[0]
    if not balance:
        return 0
    mirrored = edges.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "count", "weight")
    return edges.exceptAll(mirrored).count()
