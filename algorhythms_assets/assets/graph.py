"""Ingested playlists -> the weighted song-song co-occurrence graph."""

import time

import dagster as dg
from dagster_pyspark import PySparkResource
from pyspark.sql import functions as F

from algorhythms_assets.assets.mpd import track_metadata
from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.config import launchpad_config
from algorhythms_assets.plots import histogram
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.graph.cooccurrence import (
    COOCCURRENCE_EDGES,
    EdgeConfig,
    build_cooccurrence_edges,
)
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.recommend.neighbors import (
    TRACK_NEIGHBORS,
    NeighborConfig,
    build_track_neighbors,
)

CooccurrenceConfig = launchpad_config("CooccurrenceConfig", EdgeConfig)


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[track_metadata],
    group_name="graph",
    kinds={"spark", "parquet"},
    pool="spark",
)
def cooccurrence_edges(
    context: dg.AssetExecutionContext,
    config: CooccurrenceConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Weighted song-song edges: how often two tracks share a playlist, both directions stored."""
    spark = pyspark.spark_session
    wh = warehouse.warehouse()
    started = time.perf_counter()
    stats = build_cooccurrence_edges(spark, wh, config.to(EdgeConfig), log=context.log)
    seconds = time.perf_counter() - started
    edges = spark.read.parquet(wh.table(COOCCURRENCE_EDGES))
    degrees = [r[0] for r in edges.groupBy("src").count().select(F.log10("count")).collect()]
    weights = [
        r[0]
        for r in edges.sample(fraction=min(1.0, 200_000 / max(stats.edges, 1)), seed=0)
        .select("weight")
        .collect()
    ]
    return dg.MaterializeResult(
        metadata={
            "nodes": stats.nodes,
            "edges_directed": stats.edges,
            "playlists": stats.playlists,
            "raw_pairs": stats.raw_pairs,
            "distinct_pairs_before_pruning": stats.unpruned_pairs,
            "degree": dg.MetadataValue.json({k: round(v, 2) for k, v in stats.degree.items()}),
            "config": dg.MetadataValue.json(config.model_dump()),
            "seconds": round(seconds, 2),
            "degree_histogram": histogram(degrees, "node degree", "log10(degree)", log_y=True),
            "weight_histogram": histogram(weights, f"edge weight ({config.weight})", "weight"),
            "path": dg.MetadataValue.path(wh.table(COOCCURRENCE_EDGES)),
        }
    )


def _edges(pyspark: PySparkResource, warehouse: WarehouseResource):
    return pyspark.spark_session.read.parquet(warehouse.warehouse().table(COOCCURRENCE_EDGES))


@dg.asset_check(asset=cooccurrence_edges, blocking=True)
def check_cooccurrence_edges_no_self_loops(
    pyspark: PySparkResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """No track is linked to itself."""
    loops = _edges(pyspark, warehouse).where(F.col("src") == F.col("dst")).count()
    return dg.AssetCheckResult(passed=loops == 0, metadata={"actual": loops, "threshold": 0})


@dg.asset_check(asset=cooccurrence_edges, blocking=True)
def check_cooccurrence_edges_weights_positive_finite(
    pyspark: PySparkResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Every weight is a positive finite number and every count at least 1."""
    w = F.col("weight")
    bad = (
        _edges(pyspark, warehouse)
        .where(w.isNull() | F.isnan(w) | (w <= 0) | (w == float("inf")) | (F.col("count") < 1))
        .count()
    )
    return dg.AssetCheckResult(passed=bad == 0, metadata={"actual": bad, "threshold": 0})


@dg.asset_check(asset=cooccurrence_edges, blocking=True)
def check_cooccurrence_edges_endpoints_known(
    pyspark: PySparkResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Every edge endpoint is a track_id in track_metadata."""
    spark = pyspark.spark_session
    ids = spark.read.parquet(warehouse.warehouse().table(TRACK_METADATA)).select("track_id")
    edges = _edges(pyspark, warehouse)
    ends = edges.select(F.col("src").alias("track_id")).union(
        edges.select(F.col("dst").alias("track_id"))
    )
    unknown = ends.distinct().join(ids, "track_id", "left_anti").count()
    return dg.AssetCheckResult(passed=unknown == 0, metadata={"actual": unknown, "threshold": 0})


@dg.asset_check(asset=cooccurrence_edges, blocking=True)
def check_cooccurrence_edges_symmetric(
    pyspark: PySparkResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Each edge (a, b) is stored as (b, a) too, with the same count and weight."""
    edges = _edges(pyspark, warehouse)
    mirrored = edges.select(F.col("dst").alias("src"), F.col("src").alias("dst"), "count", "weight")
    unmatched = edges.exceptAll(mirrored).count()
    return dg.AssetCheckResult(
        passed=unmatched == 0, metadata={"actual": unmatched, "threshold": 0}
    )


TrackNeighborsConfig = launchpad_config("TrackNeighborsConfig", NeighborConfig)


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[track_metadata],
    group_name="graph",
    kinds={"spark", "parquet"},
    pool="spark",
)
def track_neighbors(
    context: dg.AssetExecutionContext,
    config: TrackNeighborsConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Item-kNN lists: each track's most frequent co-occurring tracks, with cosine weights."""
    wh = warehouse.warehouse()
    started = time.perf_counter()
    stats = build_track_neighbors(
        pyspark.spark_session, wh, config.to(NeighborConfig), log=context.log
    )
    return dg.MaterializeResult(
        metadata={
            "tracks": stats.tracks,
            "rows": stats.rows,
            "config": dg.MetadataValue.json(config.model_dump()),
            "seconds": round(time.perf_counter() - started, 2),
            "path": dg.MetadataValue.path(wh.table(TRACK_NEIGHBORS)),
        }
    )
