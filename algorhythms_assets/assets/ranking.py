"""Playlist tables, the learned ranker, and the challenge-style evaluation of the recommender."""

import time

import dagster as dg
from dagster_pyspark import PySparkResource

from algorhythms_assets.assets.mpd import track_metadata
from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.config import launchpad_config
from algorhythms_assets.plots import grouped_bars
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.artefacts import read_ranker, write_ranker
from algorhythms_ml.recommend.playlist_tables import (
    PlaylistTableConfig,
    build_playlist_tables,
)
from algorhythms_ml.recommend.ranker import CATEGORIES, RankerConfig
from algorhythms_ml.recommend.training import (
    HoldoutConfig,
    run_evaluation,
    train,
    with_playlists,
)
from algorhythms_ml.warehouse import write_bytes

EVAL_REPORT = "reports/recommendation_eval.csv"


PlaylistTablesConfig = launchpad_config("PlaylistTablesConfig", PlaylistTableConfig)


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[track_metadata],
    group_name="graph",
    kinds={"spark", "parquet"},
    pool="spark",
)
def playlist_tables(
    context: dg.AssetExecutionContext,
    config: PlaylistTablesConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Playlist members, per-track popularity and artist, and artist co-occurrence neighbours:
    what the ranker's playlist-kNN and artist features read."""
    started = time.perf_counter()
    stats = build_playlist_tables(
        pyspark.spark_session,
        warehouse.warehouse(),
        config.to(PlaylistTableConfig),
        log=context.log,
    )
    return dg.MaterializeResult(
        metadata={
            **{f"rows_{name}": n for name, n in stats.rows.items()},
            "seconds": round(time.perf_counter() - started, 2),
        }
    )


RecommendationEvalConfig = launchpad_config("RecommendationEvalConfig", HoldoutConfig)
PlaylistRankerConfig = launchpad_config("PlaylistRankerConfig", RankerConfig, HoldoutConfig)


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[track_metadata],
    group_name="recommend",
    kinds={"spark", "lightgbm"},
    pool="spark",
)
def playlist_ranker(
    context: dg.AssetExecutionContext,
    config: PlaylistRankerConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """The learned ranker, trained on challenge-style hold-outs of fold playlists whose tables
    are computed from the other folds (the evaluation hold-out is left out)."""
    wh = warehouse.warehouse()
    holdout = config.to(HoldoutConfig)
    result = with_playlists(
        pyspark.spark_session,
        wh,
        lambda data: train(data, config.to(RankerConfig), holdout, log=context.log),
        holdout.max_playlists,
    )
    uri = write_ranker(wh, result.ranker)
    gain = result.ranker.booster.feature_importance("gain")
    names = result.ranker.booster.feature_name()
    return dg.MaterializeResult(
        metadata={
            "training_queries": result.queries,
            "training_rows": result.rows,
            "positives": result.positives,
            "seconds": round(result.seconds, 2),
            "feature_gain": dg.MetadataValue.json(
                {n: round(float(g), 1) for n, g in zip(names, gain, strict=True)}
            ),
            "config": dg.MetadataValue.json(config.model_dump()),
            "path": dg.MetadataValue.path(uri),
        }
    )


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[playlist_ranker],
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
    challenge categories), for the model and the popularity and item-kNN baselines, with
    tables built from the other playlists only."""
    wh = warehouse.warehouse()
    started = time.perf_counter()
    ranker = read_ranker(wh)
    holdout = config.to(HoldoutConfig)
    evaluation = with_playlists(
        pyspark.spark_session,
        wh,
        lambda data: run_evaluation(data, ranker, holdout),
        holdout.max_playlists,
    )
    summary = evaluation.summary()
    metadata: dict = {"seconds": round(time.perf_counter() - started, 2)}
    for row in summary.itertuples():
        if row.category == "all":
            for metric in ("r_precision", "ndcg", "clicks"):
                metadata[f"{row.recommender}.{metric}"] = round(float(getattr(row, metric)), 4)
            metadata["playlists"] = int(row.playlists)
    table = summary.copy()
    for metric in ("r_precision", "ndcg", "clicks"):
        table[metric] = table[metric].round(4)
    metadata["table"] = dg.MetadataValue.md(table.to_markdown(index=False))
    categories = [c[0] for c in CATEGORIES]
    by = summary.set_index(["recommender", "category"])
    metadata["r_precision_by_category"] = grouped_bars(
        categories,
        {
            r: [
                float(by.loc[(r, c), "r_precision"]) if (r, c) in by.index else 0.0
                for c in categories
            ]
            for r in summary["recommender"].unique()
        },
        "R-precision by challenge category",
        "R-precision",
    )
    report = f"{wh.root}/{EVAL_REPORT}"
    write_bytes(report, table.to_csv(index=False).encode())
    metadata["report"] = dg.MetadataValue.path(report)
    context.log.info("recommendation_eval:\n%s", table.to_string(index=False))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset_check(asset=recommendation_eval)
def check_recommendation_eval_beats_item_knn(
    context: dg.AssetCheckExecutionContext,
) -> dg.AssetCheckResult:
    """The model beats item-kNN on R-precision, NDCG and clicks overall."""
    event = context.instance.get_latest_materialization_event(recommendation_eval.key)
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    model = {m: meta[f"model.{m}"] for m in ("r_precision", "ndcg", "clicks")}
    knn = {m: meta[f"item_knn.{m}"] for m in ("r_precision", "ndcg", "clicks")}
    passed = (
        model["r_precision"] > knn["r_precision"]
        and model["ndcg"] > knn["ndcg"]
        and model["clicks"] < knn["clicks"]
    )
    return dg.AssetCheckResult(
        passed=passed,
        metadata={f"model.{m}": model[m] for m in model} | {f"item_knn.{m}": knn[m] for m in knn},
    )
