"""`cooccurrence_edges` and `track_neighbors` from one block pass over the warehouse's playlists.

Both tables keep, for every track, a few of the tracks it shares playlists with: the edges its
top K by weight (an edge kept by either endpoint, both directions stored), the item-kNN lists
its top N by count. Each block of the pass computes its source tracks' whole rows once and
chooses both from them, so neither the unpruned pairs nor a second product is ever needed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from algorhythms_ml.graph.cooccurrence import (
    COOCCURRENCE_EDGES,
    EdgeConfig,
    EdgeStats,
    block_pass,
    chosen_rows,
    degree_summary,
    distinct_pairs,
    edge_selector,
    staged_playlist_rows,
    symmetric_edges,
)
from algorhythms_ml.recommend.neighbors import (
    NeighborConfig,
    NeighborStats,
    neighbor_selector,
    neighbor_table,
)
from algorhythms_ml.warehouse import Staging, Warehouse, clustered
from algorhythms_store.schema import TRACK_NEIGHBORS

TABLES = (COOCCURRENCE_EDGES, TRACK_NEIGHBORS)


@dataclass
class CooccurrenceStats:
    """What was written: None for a table that was not asked for."""

    edges: EdgeStats | None
    neighbors: NeighborStats | None


def build_cooccurrence_tables(
    spark: SparkSession,
    warehouse: Warehouse,
    edges: EdgeConfig | None = None,
    neighbors: NeighborConfig | None = None,
    tables: Collection[str] = TABLES,
    log: logging.Logger | None = None,
) -> CooccurrenceStats:
    """Write the `tables` asked for (of TABLES) from the warehouse's playlist_tracks and
    track_metadata; `edges.window` and `edges.blocks` shape the pass both share."""
    log = log or logging.getLogger(__name__)
    edges = edges or EdgeConfig()
    neighbors = neighbors or NeighborConfig()
    unknown = set(tables) - set(TABLES)
    if unknown or not tables:
        raise ValueError(f"tables must be some of {TABLES}, not {sorted(tables)}")
    asked = [name for name in TABLES if name in tables]
    selector = {
        COOCCURRENCE_EDGES: edge_selector(edges),
        TRACK_NEIGHBORS: neighbor_selector(neighbors.neighbor_top_k),
    }
    with Staging(spark, warehouse) as staging:
        rows = staged_playlist_rows(spark, warehouse, staging)
        # The pass's output is small (at most the kept rows per track) and read several times.
        passed = staging.stage(
            "pass",
            block_pass(spark, rows, [selector[n] for n in asked], edges.window, edges.blocks),
        )
        frames = {}
        if COOCCURRENCE_EDGES in asked:
            kept = chosen_rows(passed, asked.index(COOCCURRENCE_EDGES))
            frames[COOCCURRENCE_EDGES] = clustered(
                symmetric_edges(kept, edges), "src", sort=("src", "dst")
            )
        if TRACK_NEIGHBORS in asked:
            kept = chosen_rows(passed, asked.index(TRACK_NEIGHBORS))
            frames[TRACK_NEIGHBORS] = clustered(neighbor_table(kept), "src", sort=("src",))
        written = staging.write_tables(frames)
        edge_stats = neighbor_stats = None
        if COOCCURRENCE_EDGES in written:
            edge_stats = _edge_stats(rows, passed, written[COOCCURRENCE_EDGES])
            log.info(
                "cooccurrence_edges: %d nodes, %d directed edges from %d raw pairs (%d distinct)",
                edge_stats.nodes,
                edge_stats.edges,
                edge_stats.raw_pairs,
                edge_stats.unpruned_pairs,
            )
        if TRACK_NEIGHBORS in written:
            table = written[TRACK_NEIGHBORS]
            neighbor_stats = NeighborStats(
                tracks=table.frame.select("src").distinct().count(), rows=table.rows
            )
            log.info("track_neighbors: %d tracks, %d rows", neighbor_stats.tracks, table.rows)
    return CooccurrenceStats(edges=edge_stats, neighbors=neighbor_stats)


def _edge_stats(rows, passed, written) -> EdgeStats:
    lengths = rows.groupBy("pid").count()
    sizes = lengths.agg(
        F.count(F.lit(1)).alias("playlists"),
        F.sum(F.col("count") * (F.col("count") - 1) / 2).alias("raw_pairs"),
    ).first()
    degree = degree_summary(written.frame)
    return EdgeStats(
        nodes=int(degree.pop("nodes")),
        edges=written.rows,
        playlists=int(sizes["playlists"]),
        raw_pairs=int(sizes["raw_pairs"] or 0),
        unpruned_pairs=distinct_pairs(passed),
        degree=degree,
    )
