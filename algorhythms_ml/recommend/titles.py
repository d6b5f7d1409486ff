"""The title table: which tracks playlists with a given title key hold.

For every key of a playlist's title (algorhythms_store.text.title_keys: the whole normalised
title, its words, its emoji), score(key, track) = playlists with the key holding the track /
playlists with the key, and key_playlists = playlists with the key. Word and emoji keys held by
fewer than `min_playlists` playlists are dropped and keep their `top_k` tracks; every whole
title is kept, even of one playlist, with its `whole_title_top_k` tracks: the similar-title
model (algorhythms_store.title_index) matches a new title to them. The ranker's title features
(algorhythms_store.ranking) sum them over a request title's keys and its similar titles.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import Field
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from algorhythms_ml.config import config_class
from algorhythms_ml.graph.cooccurrence import playlist_track_ids
from algorhythms_ml.mpd.ingest import (
    PLAYLIST_TRACKS,
    PLAYLIST_TRACKS_SCHEMA,
    PLAYLISTS,
    PLAYLISTS_SCHEMA,
)
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.warehouse import Staging, Warehouse, clustered, read_table
from algorhythms_store.schema import TITLE_TRACKS
from algorhythms_store.text import title_keys
from algorhythms_store.title_index import WHOLE


@config_class
class TitleConfig:
    """Which title keys are kept."""

    min_playlists: int = Field(
        2, ge=1, description="drop word keys held by fewer playlists (whole titles are all kept)"
    )
    top_k: int = Field(100, ge=1, description="tracks kept per word key")
    whole_title_top_k: int = Field(300, ge=1, description="tracks kept per whole title")


@dataclass
class TitleStats:
    keys: int
    rows: int
    playlists_with_title: int


def title_track_scores(
    playlists: DataFrame, rows: DataFrame, config: TitleConfig = TitleConfig()
) -> DataFrame:
    """(key, track_id, score, key_playlists) from playlists (pid, name) and de-duplicated
    (pid, track_id)."""
    keys_udf = F.udf(lambda name: title_keys(name), T.ArrayType(T.StringType()))
    keyed = (
        playlists.select("pid", F.explode(keys_udf("name")).alias("key"))
        .distinct()
        .withColumn("n_key", F.count(F.lit(1)).over(Window.partitionBy("key")))
        .where(F.col("key").startswith(WHOLE) | (F.col("n_key") >= config.min_playlists))
    )
    counts = (
        keyed.join(rows.select("pid", "track_id"), "pid")
        .groupBy("key", "track_id")
        .agg(F.count(F.lit(1)).alias("count"), F.first("n_key").alias("n_key"))
    )
    rank = Window.partitionBy("key").orderBy(F.desc("count"), F.asc("track_id"))
    return (
        counts.withColumn("rank", F.row_number().over(rank))
        .where(
            F.col("rank")
            <= F.when(F.col("key").startswith(WHOLE), config.whole_title_top_k).otherwise(
                config.top_k
            )
        )
        .select(
            "key",
            F.col("track_id").cast("int").alias("track_id"),
            (F.col("count") / F.col("n_key")).cast("float").alias("score"),
            F.col("n_key").cast("int").alias("key_playlists"),
        )
    )


def build_title_tracks(
    spark: SparkSession,
    warehouse: Warehouse,
    config: TitleConfig = TitleConfig(),
    log: logging.Logger | None = None,
) -> TitleStats:
    """Compute `title_tracks` from the warehouse's playlists, playlist_tracks and track_metadata."""
    log = log or logging.getLogger(__name__)
    playlists = read_table(spark, warehouse.table(PLAYLISTS), PLAYLISTS_SCHEMA)
    tracks = read_table(spark, warehouse.table(PLAYLIST_TRACKS), PLAYLIST_TRACKS_SCHEMA)
    meta = spark.read.parquet(warehouse.table(TRACK_METADATA))
    scores = title_track_scores(playlists, playlist_track_ids(tracks, meta), config)
    with Staging(spark, warehouse) as staging:
        written = staging.write_tables({TITLE_TRACKS: clustered(scores, "key")})[TITLE_TRACKS]
        stats = TitleStats(
            keys=written.frame.select("key").distinct().count(),
            rows=written.rows,
            playlists_with_title=playlists.where(F.length(F.trim("name")) > 0).count(),
        )
    log.info("title_tracks: %d keys, %d rows", stats.keys, stats.rows)
    return stats
