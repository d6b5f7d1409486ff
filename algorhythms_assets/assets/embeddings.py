"""The co-occurrence graph -> GCN song vectors -> the cold-start feature model."""

import time

import dagster as dg
import numpy as np

from algorhythms_assets.assets.graph import cooccurrence_edges
from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.config import launchpad_config
from algorhythms_assets.plots import lines
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.artefacts import COLDSTART_DIR
from algorhythms_ml.embeddings.coldstart import ColdStartConfig
from algorhythms_ml.embeddings.pipeline import (
    GCN_EMBEDDINGS,
    read_vectors,
    train_feature_mlp,
    train_gcn_embeddings,
)
from algorhythms_ml.embeddings.train import GCNConfig
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.warehouse import read_parquet

# Kubernetes run launchers read these tags: the training step asks for one GPU.
GPU_TAGS = {
    "dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}},
}


GcnEmbeddingsConfig = launchpad_config("GcnEmbeddingsConfig", GCNConfig)


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
    h = result.history
    return dg.MaterializeResult(
        metadata={
            "nodes": result.nodes,
            "undirected_edges": result.edges,
            "isolated_tracks": result.isolated,
            "dimension": result.dim,
            "device": h.device,
            "mode": h.mode,
            "epochs": len(h.loss),
            "best_epoch": h.best_epoch,
            "resumed_from_epoch": h.resumed_from_epoch,
            "seconds_per_epoch": round(float(np.mean(h.epoch_seconds)), 2)
            if h.epoch_seconds
            else 0,
            "seconds": round(time.perf_counter() - started, 2),
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
            "path": dg.MetadataValue.path(wh.table(GCN_EMBEDDINGS)),
        }
    )


@dg.asset_check(asset=gcn_embeddings, blocking=True)
def check_gcn_embeddings_finite(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Every vector component is a finite number."""
    _, vectors = read_vectors(warehouse.warehouse())
    bad = int((~np.isfinite(vectors)).any(axis=1).sum())
    return dg.AssetCheckResult(passed=bad == 0, metadata={"actual": bad, "threshold": 0})


@dg.asset_check(asset=gcn_embeddings, blocking=True)
def check_gcn_embeddings_dimension(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Vectors have the configured dimension (the latest materialisation's)."""
    _, vectors = read_vectors(warehouse.warehouse())
    event = context.instance.get_latest_materialization_event(gcn_embeddings.key)
    expected = event.asset_materialization.metadata["dimension"].value if event else 64
    return dg.AssetCheckResult(
        passed=vectors.shape[1] == expected,
        metadata={"actual": vectors.shape[1], "threshold": expected},
    )


@dg.asset_check(asset=gcn_embeddings, blocking=True)
def check_gcn_embeddings_one_per_track(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Exactly one vector for every track in track_metadata, and none for any other id."""
    wh = warehouse.warehouse()
    frame, _ = read_vectors(wh)
    tracks = read_parquet(wh.table(TRACK_METADATA), ["track_id"])
    expected = set(tracks["track_id"].tolist())
    got = frame["track_id"].tolist()
    mismatched = len(expected.symmetric_difference(got)) + (len(got) - len(set(got)))
    return dg.AssetCheckResult(
        passed=mismatched == 0,
        metadata={"actual": mismatched, "threshold": 0, "tracks": len(expected)},
    )


FeatureMlpConfig = launchpad_config("FeatureMlpConfig", ColdStartConfig)


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
    return dg.MaterializeResult(
        metadata={
            **{k: round(v, 4) for k, v in result.metrics.items()},
            "external_features": dg.MetadataValue.json(result.spec.external),
            "epochs": len(result.loss),
            "final_loss": round(result.loss[-1], 4),
            "seconds": round(time.perf_counter() - started, 2),
            "loss_curve": lines({"1 - cosine": result.loss}, "cold-start training", "epoch"),
            "path": dg.MetadataValue.path(f"{wh.root}/{COLDSTART_DIR}"),
        }
    )
