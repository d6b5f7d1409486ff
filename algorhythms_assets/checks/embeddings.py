"""Checks of the GCN vectors, which the published table and the cold-start model are made of."""

import dagster as dg
import numpy as np

from algorhythms_assets.assets.embeddings import gcn_embeddings
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.embeddings.pipeline import read_vectors
from algorhythms_ml.embeddings.train import GCNConfig
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.warehouse import read_parquet


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
    expected = event.asset_materialization.metadata["dimension"].value if event else GCNConfig().dim
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
