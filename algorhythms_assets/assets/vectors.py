"""Playlist titles -> title table; vectors, models and titles -> the published pgvector tables."""

import time

import dagster as dg
from dagster_pyspark import PySparkResource

from algorhythms_assets.assets.embeddings import feature_mlp, gcn_embeddings
from algorhythms_assets.assets.graph import track_neighbors
from algorhythms_assets.assets.mpd import track_metadata
from algorhythms_assets.assets.ranking import playlist_ranker, playlist_tables
from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.config import launchpad_config
from algorhythms_assets.resources import DatabaseResource, WarehouseResource
from algorhythms_ml.published_tables import publish_warehouse, published_tracks
from algorhythms_ml.recommend.titles import TitleConfig, build_title_tracks
from algorhythms_store.publish import HnswConfig, PublishOptions
from algorhythms_store.schema import TITLE_TRACKS, TRACK_MODEL, TRACK_VECTORS

TitleTracksConfig = launchpad_config("TitleTracksConfig", TitleConfig)


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[track_metadata],
    group_name="recommend",
    kinds={"spark", "parquet"},
    pool="spark",
)
def title_tracks(
    context: dg.AssetExecutionContext,
    config: TitleTracksConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """For each playlist-title word, emoji or whole title: the tracks such playlists hold."""
    wh = warehouse.warehouse()
    started = time.perf_counter()
    stats = build_title_tracks(pyspark.spark_session, wh, config.to(TitleConfig), log=context.log)
    return dg.MaterializeResult(
        metadata={
            "keys": stats.keys,
            "rows": stats.rows,
            "playlists_with_title": stats.playlists_with_title,
            "seconds": round(time.perf_counter() - started, 2),
            "path": dg.MetadataValue.path(wh.table(TITLE_TRACKS)),
        }
    )


class TrackVectorsConfig(dg.Config):
    """How the vector index is built (pgvector HNSW)."""

    hnsw_m: int = 16
    hnsw_ef_construction: int = 128
    maintenance_work_mem: str = "512MB"


def _upstream_metrics(context: dg.AssetExecutionContext) -> dict:
    """Numeric metadata of the latest gcn_embeddings and feature_mlp materialisations."""
    metrics = {}
    for asset in (gcn_embeddings, feature_mlp):
        event = context.instance.get_latest_materialization_event(asset.key)
        if event is None:
            continue
        for name, value in event.asset_materialization.metadata.items():
            if isinstance(value.value, int | float) and not isinstance(value.value, bool):
                metrics[f"{asset.key.to_user_string()}.{name}"] = value.value
    return metrics


@dg.asset(
    deps=[
        gcn_embeddings,
        feature_mlp,
        title_tracks,
        track_neighbors,
        playlist_tables,
        playlist_ranker,
    ],
    automation_condition=ON_UPSTREAM_UPDATE,
    group_name="recommend",
    kinds={"postgres"},
)
def track_vectors(
    context: dg.AssetExecutionContext,
    config: TrackVectorsConfig,
    warehouse: WarehouseResource,
    database: DatabaseResource,
) -> dg.MaterializeResult:
    """The published version the service reads: vectors (HNSW), cold-start model, ranker, and
    the title, kNN, playlist and artist tables."""
    hnsw = HnswConfig(
        m=config.hnsw_m,
        ef_construction=config.hnsw_ef_construction,
        maintenance_work_mem=config.maintenance_work_mem,
    )
    started = time.perf_counter()
    result = publish_warehouse(
        warehouse.warehouse(),
        database.resolve_url(),
        PublishOptions(hnsw=hnsw),
        run_id=context.run_id,
        metrics=_upstream_metrics(context),
        log=context.log,
    )
    return dg.MaterializeResult(
        metadata={
            "version": result.version,
            "dimension": result.dimension,
            **{f"rows_{table}": rows for table, rows in result.rows.items()},
            **{f"seconds_{k}": round(v, 2) for k, v in result.seconds.items()},
            "seconds": round(time.perf_counter() - started, 2),
            "config": dg.MetadataValue.json(config.model_dump()),
        }
    )


def _live(database: DatabaseResource):
    import psycopg

    return psycopg.connect(database.resolve_url(), autocommit=True)


@dg.asset_check(asset=track_vectors, blocking=True)
def check_track_vectors_one_row_per_track(
    warehouse: WarehouseResource, database: DatabaseResource
) -> dg.AssetCheckResult:
    """The live table has exactly the warehouse's tracks, each once."""
    expected = len(published_tracks(warehouse.warehouse()))
    with _live(database) as conn:
        rows, distinct = conn.execute(
            f"SELECT count(*), count(DISTINCT uri) FROM {TRACK_VECTORS}"
        ).fetchone()
    return dg.AssetCheckResult(
        passed=rows == expected == distinct,
        metadata={"actual": rows, "distinct_uris": distinct, "threshold": expected},
    )


@dg.asset_check(asset=track_vectors, blocking=True)
def check_track_vectors_nearest_neighbour_uses_index(
    database: DatabaseResource,
) -> dg.AssetCheckResult:
    """The service's nearest-neighbour query is answered by the HNSW index, not a scan."""
    with _live(database) as conn:
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                f"EXPLAIN WITH published AS (SELECT version FROM {TRACK_MODEL}) "
                f"SELECT uri FROM {TRACK_VECTORS} ORDER BY embedding <=> "
                f"(SELECT embedding FROM {TRACK_VECTORS} LIMIT 1) LIMIT 10"
            )
        )
    used = "_embedding" in plan
    return dg.AssetCheckResult(
        passed=used,
        metadata={
            "actual": used,
            "threshold": True,
            "plan": dg.MetadataValue.md(f"```\n{plan}\n```"),
        },
    )
