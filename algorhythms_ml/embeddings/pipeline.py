"""Warehouse in, warehouse out: train the GCN and the cold-start model on the published tables."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from algorhythms_ml.allocator import release_freed_memory
from algorhythms_ml.artefacts import gcn_checkpoint, write_coldstart, write_gcn_model
from algorhythms_ml.embeddings.coldstart import (
    ColdStartConfig,
    ColdStartResult,
    export,
    fit_coldstart,
)
from algorhythms_ml.embeddings.graph import TrackGraph
from algorhythms_ml.embeddings.train import GCNConfig, History, embeddings_of, fit
from algorhythms_ml.graph.cooccurrence import COOCCURRENCE_EDGES
from algorhythms_ml.mpd.tracks import FEATURE_PREFIX, TRACK_METADATA
from algorhythms_ml.warehouse import Warehouse, arrow_dataset, read_parquet, write_parquet

GCN_EMBEDDINGS = "gcn_embeddings"


def node_features(tracks: pd.DataFrame) -> np.ndarray | None:
    """External `feature_*` columns of track_metadata as a (num_nodes, F) matrix indexed by
    track id, standardised, missing values 0; None when there are none."""
    columns = [c for c in tracks.columns if c.startswith(FEATURE_PREFIX)]
    if not columns:
        return None
    values = tracks[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    mean, std = np.nanmean(values, 0), np.nanstd(values, 0)
    values = np.nan_to_num((values - mean) / np.where(std > 0, std, 1.0))
    out = np.zeros((int(tracks["track_id"].max()) + 1, len(columns)), dtype=np.float32)
    out[tracks["track_id"].to_numpy()] = values
    return out


def load_graph(warehouse: Warehouse) -> tuple[TrackGraph, pd.DataFrame]:
    """The co-occurrence graph with each undirected edge once, and `track_metadata`. The
    edges are filtered (src < dst) as Parquet is read and go straight to arrays: half the table,
    never a whole frame of both directions (80M rows, 7 GB of frames at 200,000 playlists)."""
    import pyarrow.dataset as ds

    tracks = read_parquet(warehouse.table(TRACK_METADATA))
    batches = [
        batch
        for batch in arrow_dataset(warehouse.table(COOCCURRENCE_EDGES)).to_batches(
            columns=["src", "dst", "weight"], filter=ds.field("src") < ds.field("dst")
        )
        if batch.num_rows
    ]
    columns = {
        name: np.concatenate([b.column(name).to_numpy() for b in batches])
        if batches
        else np.zeros(0, dtype=np.float64 if name == "weight" else np.int64)
        for name in ("src", "dst", "weight")
    }
    del batches
    release_freed_memory()  # the scan's buffers, kept by Arrow's pool: 2.3 GB at 200k playlists
    return TrackGraph.from_upper(**columns, tracks=tracks, features=node_features(tracks)), tracks


def vectors_table(tracks: pd.DataFrame, vectors: np.ndarray, degree: np.ndarray) -> pa.Table:
    ids = tracks["track_id"].to_numpy()
    flat = pa.array(vectors[ids].reshape(-1), type=pa.float32())
    return pa.table(
        {
            "track_id": pa.array(ids, type=pa.int64()),
            "track_uri": pa.array(tracks["track_uri"].to_numpy()),
            "degree": pa.array(degree[ids], type=pa.int32()),
            "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]),
        }
    )


@dataclass
class GCNResult:
    history: History
    nodes: int
    edges: int
    dim: int
    isolated: int


def train_gcn_embeddings(
    warehouse: Warehouse,
    config: GCNConfig,
    log: logging.Logger | None = None,
) -> GCNResult:
    """Train on `cooccurrence_edges`, write `gcn_embeddings` (one vector per track in
    `track_metadata`, from propagation over the whole graph) and the model file."""
    log = log or logging.getLogger(__name__)
    graph, tracks = load_graph(warehouse)
    checkpoint = gcn_checkpoint(warehouse) if config.resume else None
    model, history, _ = fit(config, graph, log=log, checkpoint=checkpoint)
    vectors = embeddings_of(model, graph, config.device)
    degree = torch.bincount(graph.edge_index.flatten(), minlength=graph.num_nodes).numpy()
    write_parquet(warehouse.table(GCN_EMBEDDINGS), vectors_table(tracks, vectors, degree))
    write_gcn_model(warehouse, model, config)
    if checkpoint is not None and checkpoint.exists():
        checkpoint.unlink()  # finished: the next run starts afresh on the new graph
    return GCNResult(
        history=history,
        nodes=graph.num_nodes,
        edges=int(graph.edge_index.size(1)),
        dim=vectors.shape[1],
        isolated=int((degree[tracks["track_id"].to_numpy()] == 0).sum()),
    )


def read_vectors(warehouse: Warehouse) -> tuple[pd.DataFrame, np.ndarray]:
    """`gcn_embeddings` as (frame without vectors, (num_nodes, dim) array indexed by id)."""
    import pyarrow.dataset as ds

    from algorhythms_ml.warehouse import _arrow_fs

    fs, path = _arrow_fs(warehouse.table(GCN_EMBEDDINGS))
    table = ds.dataset(path, filesystem=fs, format="parquet").to_table()
    ids = table["track_id"].to_numpy()
    column = table["vector"].combine_chunks()
    dim = column.type.list_size
    flat = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, dim)
    vectors = np.zeros((int(ids.max()) + 1, dim), dtype=np.float32)
    vectors[ids] = flat
    return table.drop_columns(["vector"]).to_pandas(), vectors


def train_feature_mlp(
    warehouse: Warehouse, config: ColdStartConfig, log: logging.Logger | None = None
) -> ColdStartResult:
    """Train the cold-start model on tracks that have graph neighbours; write its arrays
    (`arrays.npz`) and spec (`spec.json`) under models/feature_mlp."""
    log = log or logging.getLogger(__name__)
    frame, vectors = read_vectors(warehouse)
    tracks = read_parquet(warehouse.table(TRACK_METADATA))
    tracks = tracks.merge(frame[["track_id", "degree"]], on="track_id")
    trainable = tracks[tracks["degree"] > 0].reset_index(drop=True)
    external = [c for c in tracks.columns if c.startswith(FEATURE_PREFIX)]

    def neighbours(ids: np.ndarray) -> dict[int, set[int]]:
        """The graph neighbours of `ids` (the tracks the recall is measured on), read for
        those tracks only."""
        edges = read_parquet(
            warehouse.table(COOCCURRENCE_EDGES), ["src", "dst"], where=("src", ids.tolist())
        )
        return {
            int(src): set(group.to_numpy().tolist()) for src, group in edges.groupby("src")["dst"]
        }

    result = fit_coldstart(config, trainable, vectors, neighbours, external, log=log)
    write_coldstart(warehouse, *export(result))
    return result
