"""Song vectors the ranker's training queries may see: the GCN trained per fold.

The ranker's embedding features (algorhythms_store.ranking) compare candidates with the seeds'
GCN vectors. A vector trained on a playlist's own co-occurrences knows its held-out tracks, so
a training query must read vectors from a GCN that never saw its playlist: as the fold tables
are built from the other folds, the fold's vectors come from a GCN trained on the other folds'
playlists only, with the edge rule (`EdgeConfig`) and the training budget (`GCNConfig`, counted
in passes over the edges) of the published GCN. The evaluation hold-out is in no fold, so its
queries read the vectors of any fold's GCN.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from algorhythms_ml.embeddings.graph import TrackGraph
from algorhythms_ml.embeddings.pipeline import node_features
from algorhythms_ml.embeddings.train import GCNConfig, History, embeddings_of, fit
from algorhythms_ml.graph.cooccurrence import (
    EdgeConfig,
    symmetric_edges,
    track_playlist_counts,
)


@dataclass
class FoldVectors:
    vectors: np.ndarray  # (tracks, dim) float32, a row per track id
    history: History
    edges: int  # undirected edges trained on
    seconds: float


def playlists_rows(spark: SparkSession, rows: DataFrame, pids: Collection[int]) -> DataFrame:
    """The rows of `rows` (any frame with a `pid` column) of the playlists `pids`."""
    keep = spark.createDataFrame(
        [(int(p),) for p in sorted(pids)], T.StructType([T.StructField("pid", T.LongType())])
    )
    return rows.join(F.broadcast(keep), "pid")


def edge_table(chosen: DataFrame, config: EdgeConfig) -> pd.DataFrame:
    """`cooccurrence_edges` (src, dst, weight; both directions) from the rows `edge_selector`
    chose in a block pass."""
    return symmetric_edges(chosen, config).select("src", "dst", "weight").toPandas()


def fold_vectors(
    rows: DataFrame,
    edges: pd.DataFrame,
    tracks: pd.DataFrame,
    gcn: GCNConfig,
    log: logging.Logger | None = None,
) -> FoldVectors:
    """GCN vectors of every track in `tracks` (track_metadata) trained on the playlist rows
    `rows` only: their co-occurrence `edges` (`edge_table` of a block pass over them)
    and their playlist counts (the popularity-matched negatives), the external features of
    every track."""
    log = log or logging.getLogger(__name__)
    started = time.perf_counter()
    counts = track_playlist_counts(rows).toPandas()
    nodes = tracks[["track_id"]].merge(counts, on="track_id", how="left")
    nodes["num_playlists"] = nodes["n"].fillna(0).astype(np.int64)
    graph = TrackGraph.from_frames(edges, nodes, node_features(tracks))
    log.info(
        "fold GCN: %d tracks, %d undirected edges",
        graph.num_nodes,
        graph.edge_index.size(1),
    )
    model, history, _ = fit(gcn, graph, log=log)
    vectors = embeddings_of(model, graph, gcn.device)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return FoldVectors(
        vectors=vectors,
        history=history,
        edges=int(graph.edge_index.size(1)),
        seconds=time.perf_counter() - started,
    )
