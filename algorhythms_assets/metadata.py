"""What each asset records for a person reading the Dagster UI: counts, timings, losses, metric
values and plots, assembled from the results the ML code returns."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from algorhythms_assets.plots import grouped_bars, histogram, lines, scatter
from algorhythms_ml.embeddings.coldstart import ColdStartResult
from algorhythms_ml.embeddings.pipeline import GCNResult
from algorhythms_ml.embeddings.playlist_vectors import PlaylistVectorStats
from algorhythms_ml.embeddings.track_map import QUALITY_K, TrackMapResult
from algorhythms_ml.graph.cooccurrence import EdgeStats
from algorhythms_ml.mpd.ingest import SliceStats
from algorhythms_ml.mpd.tracks import TrackMetadataStats
from algorhythms_ml.recommend.ranker import CATEGORIES
from algorhythms_ml.recommend.training import TrainingResult
from algorhythms_store.publish import PublishResult

METRICS = ("r_precision", "ndcg", "clicks")
# The entry that counts the rows an asset wrote, by preference: the table's own rows, the
# graph's edges, the ranker's training rows, the track table's tracks, the ingested
# memberships, the embedded nodes. An asset with none of them but `rows_<table>` entries
# wrote their sum.
ROW_COUNTS = ("rows", "edges_directed", "training_rows", "tracks", "playlist_tracks", "nodes")
# Histograms are drawn from a sample of this many values at most.
HISTOGRAM_SAMPLE = 200_000


def rows_of(metadata: Mapping[str, object]) -> int | None:
    """How many rows the asset with this (plain-valued) metadata wrote, if it says."""
    for name in ROW_COUNTS:
        if isinstance(metadata.get(name), int):
            return metadata[name]
    tables = [v for k, v in metadata.items() if k.startswith("rows_") and isinstance(v, int)]
    return sum(tables) if tables else None


def slices(stats: list[SliceStats], seconds: float) -> dict[str, object]:
    """Files, playlists, tracks and quarantine reasons of ingested slices."""
    lengths = [n for s in stats for n in s.lengths]
    reasons: dict[str, int] = {}
    for s in stats:
        for reason, n in s.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    metadata: dict[str, object] = {
        "files": dg.MetadataValue.json([s.file for s in stats]),
        "playlists": sum(s.playlists for s in stats),
        "playlist_tracks": sum(s.tracks for s in stats),
        "quarantined": sum(s.quarantined for s in stats),
        "quarantine_reasons": dg.MetadataValue.json(reasons),
        "seconds": round(seconds, 2),
    }
    if lengths:
        metadata["mean_playlist_length"] = round(sum(lengths) / len(lengths), 2)
        metadata["playlist_length_histogram"] = histogram(
            lengths, "playlist length", "tracks in playlist"
        )
    return metadata


def table(
    counts: dict[str, int], seconds: float, path: str | None = None, config: dict | None = None
) -> dict[str, object]:
    """Row counts of a table an asset wrote, its seconds, its path and its configuration."""
    metadata: dict[str, object] = {**counts, "seconds": round(seconds, 2)}
    if config is not None:
        metadata["config"] = dg.MetadataValue.json(config)
    if path is not None:
        metadata["path"] = dg.MetadataValue.path(path)
    return metadata


def track_table(
    stats: TrackMetadataStats, tracks: DataFrame, quarantined: int, seconds: float, path: str
) -> dict[str, object]:
    """Track counts and the popularity histogram of `track_metadata`."""
    popularity = [r[0] for r in tracks.select(F.log10("num_playlists")).collect()]
    return {
        "tracks": stats.tracks,
        "new_tracks": stats.new_tracks,
        "playlist_tracks": stats.playlist_tracks,
        "quarantined_records": quarantined,
        "feature_columns": dg.MetadataValue.json(stats.feature_columns),
        "tracks_with_features": stats.tracks_with_features,
        "seconds": round(seconds, 2),
        "popularity_histogram": histogram(
            popularity,
            "playlists per track",
            "log10(playlists containing the track)",
            log_y=True,
        ),
        "path": dg.MetadataValue.path(path),
    }


def edges(
    stats: EdgeStats, written: DataFrame, config: dict, seconds: float, path: str
) -> dict[str, object]:
    """Sizes, degrees and weight distribution of the co-occurrence graph."""
    degrees = [r[0] for r in written.groupBy("src").count().select(F.log10("count")).collect()]
    fraction = min(1.0, HISTOGRAM_SAMPLE / max(stats.edges, 1))
    weights = [r[0] for r in written.sample(fraction=fraction, seed=0).select("weight").collect()]
    return {
        "nodes": stats.nodes,
        "edges_directed": stats.edges,
        "playlists": stats.playlists,
        "raw_pairs": stats.raw_pairs,
        "distinct_pairs_before_pruning": stats.unpruned_pairs,
        "degree": dg.MetadataValue.json({k: round(v, 2) for k, v in stats.degree.items()}),
        "config": dg.MetadataValue.json(config),
        "seconds": round(seconds, 2),
        "degree_histogram": histogram(degrees, "node degree", "log10(degree)", log_y=True),
        "weight_histogram": histogram(weights, f"edge weight ({config['weight']})", "weight"),
        "path": dg.MetadataValue.path(path),
    }


def gcn(result: GCNResult, seconds: float, path: str, config: dict) -> dict[str, object]:
    """Graph size, training mode, test metrics and learning curves of the GCN, and its
    configuration (what the ranker's fold GCNs are trained with)."""
    h = result.history
    return {
        "config": dg.MetadataValue.json(config),
        "nodes": result.nodes,
        "undirected_edges": result.edges,
        "isolated_tracks": result.isolated,
        "dimension": result.dim,
        "device": h.device,
        "mode": h.mode,
        "edges_per_step": h.batch_size,
        "steps": sum(h.steps),
        "epochs": len(h.loss),
        "best_epoch": h.best_epoch,
        "resumed_from_epoch": h.resumed_from_epoch,
        "seconds_per_epoch": round(float(np.mean(h.epoch_seconds)), 2) if h.epoch_seconds else 0,
        "seconds": round(seconds, 2),
        "final_loss": round(h.loss[-1], 4) if h.loss else None,
        "test_auc_uniform": round(h.test["auc_uniform"], 4),
        "test_auc_popularity_matched": round(h.test["auc_popularity"], 4),
        "test_recall@100": round(h.test["recall@100"], 4),
        "curves": lines(
            {
                "loss": h.loss,
                "val AUC": h.val_auc,
                "val AUC (popularity-matched)": h.val_auc_popularity,
            },
            "training",
            "epoch",
        ),
        "path": dg.MetadataValue.path(path),
    }


def coldstart(result: ColdStartResult, seconds: float, path: str) -> dict[str, object]:
    """Held-out metrics and the loss curve of the cold-start model."""
    return {
        **{k: round(v, 4) for k, v in result.metrics.items()},
        "external_features": dg.MetadataValue.json(result.spec.external),
        "epochs": len(result.loss),
        "final_loss": round(result.loss[-1], 4),
        "seconds": round(seconds, 2),
        "loss_curve": lines({"1 - cosine": result.loss}, "cold-start training", "epoch"),
        "path": dg.MetadataValue.path(path),
    }


def playlist_vectors(stats: PlaylistVectorStats, config: dict, path: str) -> dict[str, object]:
    """Playlists with a vector, memberships summed and seconds of `playlist_vectors`."""
    return {
        "rows": stats.playlists,
        "playlists_ingested": stats.ingested,
        "playlists_without_catalogue_tracks": stats.ingested - stats.playlists,
        "memberships": stats.memberships,
        "mean_playlist_length": round(stats.mean_length, 2),
        "dimension": stats.dimension,
        "seconds": round(stats.seconds, 2),
        "config": dg.MetadataValue.json(config),
        "path": dg.MetadataValue.path(path),
    }


def track_map(result: TrackMapResult, config: dict, path: str) -> dict[str, object]:
    """Tracks drawn, seconds, neighbour preservation (against plain PCA) and a picture of the
    embedding map."""
    drawn = result.track_map
    return {
        "rows": len(drawn.track_ids),
        "seconds": round(result.seconds, 2),
        f"neighbours_kept_at_{QUALITY_K}": round(drawn.preservation, 4),
        f"neighbours_kept_at_{QUALITY_K}_pca": round(drawn.pca_preservation, 4),
        "map": scatter(
            drawn.layout[:, 0],
            drawn.layout[:, 1],
            np.log10(np.maximum(result.popularity, 1)),
            f"the {len(drawn.track_ids):,} most popular tracks",
            "log10(playlists containing the track)",
        ),
        "config": dg.MetadataValue.json(config),
        "path": dg.MetadataValue.path(path),
    }


def ranker(result: TrainingResult, config: dict, path: str) -> dict[str, object]:
    """Training set sizes and the feature gains of the learned ranker."""
    gain = result.ranker.booster.feature_importance("gain")
    names = result.ranker.booster.feature_name()
    return {
        "training_queries": result.queries,
        "training_rows": result.rows,
        "positives": result.positives,
        "seconds": round(result.seconds, 2),
        "fold_gcn_seconds": [round(g.seconds, 2) for g in result.fold_gcns],
        "fold_gcn_test_auc_popularity_matched": [
            round(g.history.test.get("auc_popularity", float("nan")), 4) for g in result.fold_gcns
        ],
        "feature_gain": dg.MetadataValue.json(
            {n: round(float(g), 1) for n, g in zip(names, gain, strict=True)}
        ),
        "config": dg.MetadataValue.json(config),
        "path": dg.MetadataValue.path(path),
    }


def metric_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The evaluation summary with its metrics rounded for reading."""
    table = summary.copy()
    for metric in METRICS:
        table[metric] = table[metric].round(4)
    return table


def ablation(summary: pd.DataFrame, report: str) -> dict[str, object]:
    """What each part of the ranker is worth: overall metrics of the model and of each ranker
    trained without one part, with the change in R-precision, and the per-category table."""
    overall = summary[summary["category"] == "all"].copy()
    model = overall.loc[overall["recommender"] == "model", "r_precision"]
    base = float(model.iloc[0]) if len(model) else float("nan")
    overall["r_precision_change"] = (overall["r_precision"] - base).round(4)
    table = metric_table(overall)[["recommender", *METRICS, "r_precision_change"]]
    return {
        "ablation": dg.MetadataValue.md(table.to_markdown(index=False)),
        "ablation_by_category": dg.MetadataValue.md(metric_table(summary).to_markdown(index=False)),
        "ablation_report": dg.MetadataValue.path(report),
    }


def evaluation(summary: pd.DataFrame, seconds: float, report: str) -> dict[str, object]:
    """Overall metrics per recommender (`<recommender>.<metric>`), the per-category table and
    a plot of R-precision by challenge category."""
    metadata: dict[str, object] = {"seconds": round(seconds, 2)}
    for row in summary.itertuples():
        if row.category == "all":
            for metric in METRICS:
                metadata[f"{row.recommender}.{metric}"] = round(float(getattr(row, metric)), 4)
            metadata["playlists"] = int(row.playlists)
    metadata["table"] = dg.MetadataValue.md(metric_table(summary).to_markdown(index=False))
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
    metadata["report"] = dg.MetadataValue.path(report)
    return metadata


def numeric_metadata(instance: dg.DagsterInstance, assets: list[dg.AssetsDefinition]) -> dict:
    """Numeric metadata of the latest materialisation of each asset, as `<asset>.<name>`."""
    metrics = {}
    for asset in assets:
        event = instance.get_latest_materialization_event(asset.key)
        if event is None:
            continue
        for name, value in event.asset_materialization.metadata.items():
            if isinstance(value.value, int | float) and not isinstance(value.value, bool):
                metrics[f"{asset.key.to_user_string()}.{name}"] = value.value
    return metrics


def published(result: PublishResult, config: dict, seconds: float) -> dict[str, object]:
    """Version, rows per table and seconds per step of a publish."""
    return {
        "version": result.version,
        "dimension": result.dimension,
        **{f"rows_{table}": rows for table, rows in result.rows.items()},
        **{f"seconds_{k}": round(v, 2) for k, v in result.seconds.items()},
        "seconds": round(seconds, 2),
        "config": dg.MetadataValue.json(config),
    }
