"""Everything the service reads, published to PostgreSQL + pgvector as one version."""

import time

import dagster as dg

from algorhythms_assets import metadata
from algorhythms_assets.assets.embeddings import (
    embedding_map,
    feature_mlp,
    gcn_embeddings,
    playlist_vectors,
)
from algorhythms_assets.assets.recommend import (
    playlist_ranker,
    playlist_tables,
    recommendation_eval,
    title_tracks,
)
from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.config import launchpad_config
from algorhythms_assets.resources import DatabaseResource, WarehouseResource
from algorhythms_ml.published_tables import publish_warehouse
from algorhythms_store.publish import HnswConfig, PublishOptions
from algorhythms_store.schema import TRACK_NEIGHBORS

PublishedVersionConfig = launchpad_config("PublishedVersionConfig", HnswConfig)


@dg.asset(
    deps=[
        gcn_embeddings,
        feature_mlp,
        title_tracks,
        TRACK_NEIGHBORS,  # written with the co-occurrence edges
        playlist_tables,
        playlist_ranker,
        playlist_vectors,
        embedding_map,
        recommendation_eval,  # its figures are recorded with the version
    ],
    automation_condition=ON_UPSTREAM_UPDATE,
    group_name="published",
    kinds={"postgres"},
)
def published_version(
    context: dg.AssetExecutionContext,
    config: PublishedVersionConfig,
    warehouse: WarehouseResource,
    database: DatabaseResource,
) -> dg.MaterializeResult:
    """The version the service reads, swapped in atomically: track and playlist vectors
    (HNSW), cold-start model, ranker, the title, kNN, playlist and artist tables, the map."""
    started = time.perf_counter()
    result = publish_warehouse(
        warehouse.warehouse(),
        database.resolve_url(),
        PublishOptions(hnsw=config.to(HnswConfig)),
        run_id=context.run_id,
        metrics=metadata.numeric_metadata(
            context.instance, [gcn_embeddings, feature_mlp, recommendation_eval, embedding_map]
        ),
        log=context.log,
    )
    seconds = time.perf_counter() - started
    return dg.MaterializeResult(metadata=metadata.published(result, config.model_dump(), seconds))
