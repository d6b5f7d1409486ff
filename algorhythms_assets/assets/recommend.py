"""What the playlist continuation is made of: the title table, the playlist tables, the learned
ranker that combines them with the item-kNN lists (written with the co-occurrence edges, in
`graph`), and its challenge-style evaluation on the published tables."""

import time

import dagster as dg
from dagster_pyspark import PySparkResource

from algorhythms_assets import metadata
from algorhythms_assets.assets.embeddings import gcn_embeddings
from algorhythms_assets.assets.mpd import track_metadata
from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.config import built_with, launchpad_config
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.artefacts import (
    ABLATION_REPORT,
    read_ablation,
    read_ranker,
    read_ranker_vectors,
    write_eval_report,
    write_ranker,
)
from algorhythms_ml.embeddings.train import GCNConfig
from algorhythms_ml.graph.cooccurrence import COOCCURRENCE_EDGES, EdgeConfig
from algorhythms_ml.recommend.neighbors import NeighborConfig
from algorhythms_ml.recommend.playlist_tables import PlaylistTableConfig, build_playlist_tables
from algorhythms_ml.recommend.ranker import RankerConfig
from algorhythms_ml.recommend.titles import TitleConfig, build_title_tracks
from algorhythms_ml.recommend.training import (
    HoldoutConfig,
    TableConfigs,
    run_evaluation,
    train,
    with_playlists,
)
from algorhythms_ml.spark import stage_progress
from algorhythms_store.schema import TITLE_TRACKS, TRACK_NEIGHBORS

TitleTracksConfig = launchpad_config("TitleTracksConfig", TitleConfig)
PlaylistTablesConfig = launchpad_config("PlaylistTablesConfig", PlaylistTableConfig)
PlaylistRankerConfig = launchpad_config("PlaylistRankerConfig", RankerConfig, HoldoutConfig)
RecommendationEvalConfig = launchpad_config("RecommendationEvalConfig", HoldoutConfig)

SPARK_TABLE = {
    "automation_condition": ON_UPSTREAM_UPDATE,
    "deps": [track_metadata],
    "group_name": "recommend",
    "kinds": {"spark", "parquet"},
    "pool": "spark",
}


@dg.asset(**SPARK_TABLE)
def title_tracks(
    context: dg.AssetExecutionContext,
    config: TitleTracksConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """For each playlist-title word, emoji or whole title: the tracks such playlists hold."""
    wh = warehouse.warehouse()
    started = time.perf_counter()
    spark = pyspark.spark_session
    with stage_progress(spark, "title_tracks", context.log):
        stats = build_title_tracks(spark, wh, config.to(TitleConfig), log=context.log)
    counts = {
        "keys": stats.keys,
        "rows": stats.rows,
        "playlists_with_title": stats.playlists_with_title,
    }
    seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata=metadata.table(counts, seconds, wh.table(TITLE_TRACKS), config.model_dump())
    )


@dg.asset(**SPARK_TABLE)
def playlist_tables(
    context: dg.AssetExecutionContext,
    config: PlaylistTablesConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Playlist members, per-track popularity and artist, and artist co-occurrence neighbours:
    what the ranker's playlist-kNN and artist features read."""
    started = time.perf_counter()
    spark = pyspark.spark_session
    with stage_progress(spark, "playlist_tables", context.log):
        stats = build_playlist_tables(
            spark, warehouse.warehouse(), config.to(PlaylistTableConfig), log=context.log
        )
    counts = {f"rows_{name}": n for name, n in stats.rows.items()}
    seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata=metadata.table(counts, seconds, config=config.model_dump())
    )


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[track_metadata, TRACK_NEIGHBORS, title_tracks, playlist_tables, gcn_embeddings],
    group_name="recommend",
    kinds={"spark", "lightgbm", "pytorch"},
    pool="spark",
)
def playlist_ranker(
    context: dg.AssetExecutionContext,
    config: PlaylistRankerConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The learned ranker, trained on challenge-style hold-outs of fold playlists whose tables
    and GCN song vectors are computed from the other folds (the evaluation hold-out is left
    out), with the configuration the published tables and vectors were built with."""
    wh = warehouse.warehouse()
    holdout = config.to(HoldoutConfig)
    configs = TableConfigs(
        built_with(context.instance, TRACK_NEIGHBORS, NeighborConfig),
        built_with(context.instance, "title_tracks", TitleConfig),
        built_with(context.instance, "playlist_tables", PlaylistTableConfig),
        built_with(context.instance, COOCCURRENCE_EDGES, EdgeConfig),
        built_with(context.instance, "gcn_embeddings", GCNConfig),
    )
    spark = pyspark.spark_session
    with stage_progress(spark, "playlist_ranker", context.log):
        result = with_playlists(
            spark,
            wh,
            lambda data: train(data, config.to(RankerConfig), holdout, log=context.log),
            holdout.max_playlists,
            configs,
        )
    uri = write_ranker(wh, result.ranker, result.ablation, result.eval_vectors)
    return dg.MaterializeResult(metadata=metadata.ranker(result, config.model_dump(), uri))


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[playlist_ranker, TRACK_NEIGHBORS, title_tracks, playlist_tables],
    group_name="recommend",
    kinds={"spark"},
    pool="spark",
)
def recommendation_eval(
    context: dg.AssetExecutionContext,
    config: RecommendationEvalConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """RecSys Challenge 2018 metrics on a hold-out of the ingested playlists (the ten
    challenge categories), for the model and the popularity and item-kNN baselines, on the
    published tables less each query's own playlist."""
    wh = warehouse.warehouse()
    started = time.perf_counter()
    ranker = read_ranker(wh)
    ablation = read_ablation(wh)
    vectors = read_ranker_vectors(wh)
    holdout = config.to(HoldoutConfig)
    spark = pyspark.spark_session
    with stage_progress(spark, "recommendation_eval", context.log):
        evaluation = with_playlists(
            spark,
            wh,
            lambda data: run_evaluation(data, ranker, holdout, ablation, vectors),
            holdout.max_playlists,
        )
    summary = evaluation.summary()
    ablated = summary["recommender"].isin(list(ablation))
    summary, ablated = summary[~ablated], summary[ablated | (summary["recommender"] == "model")]
    table = metadata.metric_table(summary)
    report = write_eval_report(wh, table)
    context.log.info("recommendation_eval:\n%s", table.to_string(index=False))
    extra = {}
    if ablation:
        ablation_table = metadata.metric_table(ablated)
        ablation_report = write_eval_report(wh, ablation_table, ABLATION_REPORT)
        context.log.info("ablation:\n%s", ablation_table.to_string(index=False))
        extra = metadata.ablation(ablated, ablation_report)
    seconds = time.perf_counter() - started
    return dg.MaterializeResult(metadata=metadata.evaluation(summary, seconds, report) | extra)
