"""The item-kNN table: for every track, its `neighbor_top_k` most frequent co-occurring tracks,
weighted by cosine (count / sqrt(n_a n_b)).

Neighbours are chosen by count and scored by cosine: on real playlists (mpd_dev) that beats both
ranking by cosine, which favours rare tracks that happened to share one playlist, and keeping
every pair. The service sums the weights over a playlist's tracks (item-kNN candidates).

The lists are chosen inside the co-occurrence block pass, from each track's whole row, so they
can come out of the same pass as the co-occurrence edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pandas as pd
from pydantic import Field
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from algorhythms_ml.config import config_class
from algorhythms_ml.graph.cooccurrence import (
    RowSelector,
    WholeRows,
    block_pass,
    chosen_rows,
    edge_weights,
    top_per_source,
)


@config_class
class NeighborConfig:
    """Neighbours kept per track for item-kNN."""

    neighbor_top_k: int = Field(
        100,
        ge=1,
        description="neighbours kept per track, by count (on mpd_dev 100 scored as 200 did, "
        "50 lost 1.2% of R-precision)",
    )


@dataclass
class NeighborStats:
    tracks: int
    rows: int


def neighbor_rows(rows: WholeRows, top_k: int) -> pd.DataFrame:
    """(src, dst, count, weight): each src's `top_k` dst by count (ties: higher cosine weight,
    then smaller id), weighted by cosine."""
    weight = edge_weights(rows.count, rows.n_src, rows.n_dst, rows.n_playlists, "cosine")
    keep = top_per_source(rows.src, top_k, -rows.count, -weight, rows.dst)
    return rows.chosen(keep, weight)


def neighbor_selector(top_k: int) -> RowSelector:
    """The block-pass selector of the item-kNN lists."""
    return partial(neighbor_rows, top_k=top_k)


def neighbor_table(chosen: DataFrame) -> DataFrame:
    """The published columns (src, dst, weight) of the rows `neighbor_rows` chose."""
    return chosen.select(
        F.col("src").cast("int"), F.col("dst").cast("int"), F.col("weight").cast("float")
    )


def top_neighbors(spark: SparkSession, rows: DataFrame, top_k: int) -> DataFrame:
    """(src, dst, weight) from de-duplicated (pid, track_id, pos): each track's `top_k` most
    frequent co-occurring tracks, cosine-weighted, from a block pass of their own."""
    passed = block_pass(spark, rows, [neighbor_selector(top_k)])
    return neighbor_table(chosen_rows(passed, 0))
