"""Checks of the GCN vectors, which the published table and the cold-start model are made of,
and of the playlist vectors and the map made from them."""

import dagster as dg
import numpy as np

from algorhythms_assets.assets.embeddings import embedding_map, gcn_embeddings, playlist_vectors
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.embeddings.pipeline import read_vectors
from algorhythms_ml.embeddings.train import GCNConfig
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.warehouse import arrow_dataset, read_parquet
from algorhythms_store.schema import PLAYLIST_VECTORS, TRACK_MAP

# How far from length 1 a published playlist vector may be (float32 rounding).
UNIT_TOLERANCE = 1e-3


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


@dg.asset_check(asset=playlist_vectors, blocking=True)
def check_playlist_vectors_unit_length(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Every playlist vector is finite and of length 1, so cosine search over them is sound."""
    table = arrow_dataset(warehouse.warehouse().table(PLAYLIST_VECTORS))
    bad = 0
    for batch in table.to_batches(columns=["vector"]):
        column = batch["vector"]
        vectors = column.flatten().to_numpy().reshape(-1, column.type.list_size)
        norms = np.linalg.norm(vectors, axis=1)
        bad += int((~np.isfinite(norms) | (np.abs(norms - 1) > UNIT_TOLERANCE)).sum())
    return dg.AssetCheckResult(passed=bad == 0, metadata={"actual": bad, "threshold": 0})


@dg.asset_check(asset=embedding_map, blocking=True)
def check_embedding_map_finite(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Every track on the map has finite coordinates."""
    drawn = read_parquet(warehouse.warehouse().table(TRACK_MAP), ["x", "y"])
    bad = int((~np.isfinite(drawn.to_numpy())).any(axis=1).sum())
    return dg.AssetCheckResult(
        passed=bad == 0, metadata={"actual": bad, "threshold": 0, "tracks": len(drawn)}
    )
