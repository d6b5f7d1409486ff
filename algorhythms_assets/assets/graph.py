"""Ingested playlists -> the weighted song-song co-occurrence graph."""

import time

import dagster as dg
from dagster_pyspark import PySparkResource

from algorhythms_assets import metadata
from algorhythms_assets.assets.mpd import track_metadata
from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.config import launchpad_config
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.graph.cooccurrence import (
    COOCCURRENCE_EDGES,
    EdgeConfig,
    build_cooccurrence_edges,
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
    path = wh.table(COOCCURRENCE_EDGES)
    written = spark.read.parquet(path)
    return dg.MaterializeResult(
        metadata=metadata.edges(stats, written, config.model_dump(), seconds, path)
    )
