"""Checks of the recommender's evaluation."""

import dagster as dg

from algorhythms_assets.assets.recommend import recommendation_eval
from algorhythms_assets.metadata import METRICS


@dg.asset_check(asset=recommendation_eval)
def check_recommendation_eval_beats_item_knn(
    context: dg.AssetCheckExecutionContext,
) -> dg.AssetCheckResult:
    """The model beats item-kNN on R-precision, NDCG and clicks overall."""
    event = context.instance.get_latest_materialization_event(recommendation_eval.key)
    meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    model = {m: meta[f"model.{m}"] for m in METRICS}
    knn = {m: meta[f"item_knn.{m}"] for m in METRICS}
    passed = (
        model["r_precision"] > knn["r_precision"]
        and model["ndcg"] > knn["ndcg"]
        and model["clicks"] < knn["clicks"]
    )
    return dg.AssetCheckResult(
        passed=passed,
        metadata={f"model.{m}": model[m] for m in model} | {f"item_knn.{m}": knn[m] for m in knn},
    )
