"""Ingested playlists -> the weighted song-song co-occurrence graph, and the item-kNN lists that
come out of the same pass."""

import time
from collections.abc import Iterator

import dagster as dg
from dagster_pyspark import PySparkResource

from algorhythms_assets import metadata
from algorhythms_assets.assets.mpd import track_metadata
from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.config import launchpad_config
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.graph.cooccurrence import COOCCURRENCE_EDGES, EdgeConfig
from algorhythms_ml.graph.cooccurrence_tables import build_cooccurrence_tables
from algorhythms_ml.recommend.neighbors import NeighborConfig
from algorhythms_ml.spark import stage_progress
from algorhythms_store.schema import TRACK_NEIGHBORS

CooccurrenceConfig = launchpad_config("CooccurrenceConfig", EdgeConfig, NeighborConfig)

SPARK_TABLE = {
    "automation_condition": ON_UPSTREAM_UPDATE,
    "deps": [track_metadata],
    "kinds": {"spark", "parquet"},
    "skippable": True,
}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            COOCCURRENCE_EDGES,
            group_name="graph",
            description="Weighted song-song edges: how often two tracks share a playlist, "
            "both directions stored.",
            **SPARK_TABLE,
        ),
        dg.AssetSpec(
            TRACK_NEIGHBORS,
            group_name="recommend",
            description="Item-kNN lists: each track's most frequent co-occurring tracks, "
            "with cosine weights.",
            **SPARK_TABLE,
        ),
    ],
    can_subset=True,
    pool="spark",
)
def cooccurrence_edges(
    context: dg.AssetExecutionContext,
    config: CooccurrenceConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> Iterator[dg.MaterializeResult]:
    """The co-occurrence edges and the item-kNN lists, chosen from one pass over the pairs."""
    spark = pyspark.spark_session
    wh = warehouse.warehouse()
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    started = time.perf_counter()
    with stage_progress(spark, "cooccurrence_edges", context.log):
        stats = build_cooccurrence_tables(
            spark,
            wh,
            config.to(EdgeConfig),
            config.to(NeighborConfig),
            tables=selected,
            log=context.log,
        )
    seconds = time.perf_counter() - started
    if stats.edges is not None:
        path = wh.table(COOCCURRENCE_EDGES)
        yield dg.MaterializeResult(
            asset_key=COOCCURRENCE_EDGES,
            metadata=metadata.edges(
                stats.edges, spark.read.parquet(path), config.model_dump(), seconds, path
            ),
        )
    if stats.neighbors is not None:
        counts = {"tracks": stats.neighbors.tracks, "rows": stats.neighbors.rows}
        yield dg.MaterializeResult(
            asset_key=TRACK_NEIGHBORS,
            metadata=metadata.table(
                counts, seconds, wh.table(TRACK_NEIGHBORS), config.model_dump()
            ),
        )
