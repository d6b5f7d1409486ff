"""The co-occurrence graph -> GCN song vectors -> the cold-start feature model, the playlist
vectors and the embedding map."""

import time

import dagster as dg
from dagster_pyspark import PySparkResource

from algorhythms_assets import metadata
from algorhythms_assets.assets.graph import cooccurrence_edges
from algorhythms_assets.assets.mpd import track_metadata
from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.config import launchpad_config
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.artefacts import COLDSTART_DIR
from algorhythms_ml.embeddings.coldstart import ColdStartConfig
from algorhythms_ml.embeddings.pipeline import (
    GCN_EMBEDDINGS,
    train_feature_mlp,
    train_gcn_embeddings,
)
from algorhythms_ml.embeddings.playlist_vectors import (
    PlaylistVectorConfig,
    build_playlist_vectors,
)
from algorhythms_ml.embeddings.track_map import TrackMapConfig, build_track_map
from algorhythms_ml.embeddings.train import GCNConfig
from algorhythms_ml.spark import stage_progress
from algorhythms_store.schema import PLAYLIST_VECTORS, TRACK_MAP

# Kubernetes run launchers read these tags: the training step asks for one GPU.
GPU_TAGS = {
    "dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}},
}

GcnEmbeddingsConfig = launchpad_config("GcnEmbeddingsConfig", GCNConfig)
FeatureMlpConfig = launchpad_config("FeatureMlpConfig", ColdStartConfig)
PlaylistVectorsConfig = launchpad_config("PlaylistVectorsConfig", PlaylistVectorConfig)
EmbeddingMapConfig = launchpad_config("EmbeddingMapConfig", TrackMapConfig)


@dg.asset(
    deps=[cooccurrence_edges],
    automation_condition=ON_UPSTREAM_UPDATE,
    group_name="embeddings",
    kinds={"pytorch", "parquet"},
    op_tags=GPU_TAGS,
    pool="gpu",
)
def gcn_embeddings(
    context: dg.AssetExecutionContext, config: GcnEmbeddingsConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """One vector per track from a GCN trained for link prediction on the co-occurrence graph."""
    wh = warehouse.warehouse()
    started = time.perf_counter()
    result = train_gcn_embeddings(wh, config.to(GCNConfig), log=context.log)
    seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata=metadata.gcn(result, seconds, wh.table(GCN_EMBEDDINGS), config.model_dump())
    )


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[gcn_embeddings],
    group_name="embeddings",
    kinds={"pytorch", "numpy"},
)
def feature_mlp(
    context: dg.AssetExecutionContext, config: FeatureMlpConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """A model from a track's content features to its GCN vector, for tracks outside the graph."""
    wh = warehouse.warehouse()
    started = time.perf_counter()
    result = train_feature_mlp(wh, config.to(ColdStartConfig), log=context.log)
    seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata=metadata.coldstart(result, seconds, f"{wh.root}/{COLDSTART_DIR}")
    )


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[gcn_embeddings, track_metadata],
    group_name="embeddings",
    kinds={"spark", "numpy", "parquet"},
    pool="spark",
)
def playlist_vectors(
    context: dg.AssetExecutionContext,
    config: PlaylistVectorsConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """One vector per ingested playlist: the normalised mean of its tracks' unit GCN vectors."""
    wh = warehouse.warehouse()
    spark = pyspark.spark_session
    with stage_progress(spark, "playlist_vectors", context.log):
        stats = build_playlist_vectors(spark, wh, config.to(PlaylistVectorConfig), log=context.log)
    return dg.MaterializeResult(
        metadata=metadata.playlist_vectors(stats, config.model_dump(), wh.table(PLAYLIST_VECTORS))
    )


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[gcn_embeddings, track_metadata],
    group_name="embeddings",
    kinds={"numpy", "parquet"},
)
def embedding_map(
    context: dg.AssetExecutionContext, config: EmbeddingMapConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """A 2D map of the most popular tracks' GCN vectors that keeps cosine neighbours near."""
    wh = warehouse.warehouse()
    result = build_track_map(wh, config.to(TrackMapConfig), log=context.log)
    return dg.MaterializeResult(
        metadata=metadata.track_map(result, config.model_dump(), wh.table(TRACK_MAP))
    )
