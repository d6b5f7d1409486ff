"""The tables behind the ranker's playlist-kNN and artist features, computed with Spark.

- `playlist_members` (pid, track_id, length): which tracks each playlist holds, and how many.
- `track_stats` (track_id, artist_id, popularity, artist_popularity, artist_tracks_popularity):
  playlists holding the track, playlists holding any track of its artist, and the sum of the
  artist's tracks' popularity.
- `artist_neighbors` (src, dst, weight): each artist's `artist_top_k` most frequent
  co-occurring artists (playlists holding both), cosine-weighted, as `track_neighbors` is for
  tracks.

Artists are keyed by URI, or by name where the data has no artist URI; `artist_id` numbers
the keys in sorted order, so the same catalogue gives the same ids.

`ranking_tables` computes these together with `track_neighbors` and `title_tracks` from any set
of playlists: the ranker's training runs it on each fold's playlists, with the published
tables' rules, so its features are those the service reads from tables without the query.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import Field
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from algorhythms_ml.config import config_class
from algorhythms_ml.graph.cooccurrence import staged_playlist_rows, track_playlist_counts
from algorhythms_ml.mpd.ingest import PLAYLISTS, PLAYLISTS_SCHEMA
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.recommend.neighbors import neighbor_table, top_neighbors
from algorhythms_ml.recommend.titles import TitleConfig, title_track_scores
from algorhythms_ml.warehouse import Staging, Warehouse, read_table
from algorhythms_store.schema import (
    ARTIST_NEIGHBORS,
    PLAYLIST_MEMBERS,
    TITLE_TRACKS,
    TRACK_NEIGHBORS,
    TRACK_STATS,
)


@config_class
class PlaylistTableConfig:
    """Artist neighbours kept per artist."""

    artist_top_k: int = Field(
        100, ge=1, description="co-occurring artists kept per artist, by count"
    )


def track_artists(meta: DataFrame) -> DataFrame:
    """(track_id, artist_id) for every catalogue track."""
    keyed = meta.select(
        "track_id", F.coalesce("artist_uri", "artist_name", F.lit("")).alias("artist_key")
    )
    ids = (
        keyed.select("artist_key")
        .distinct()
        .withColumn("artist_id", F.row_number().over(Window.orderBy("artist_key")) - 1)
    )
    return keyed.join(ids, "artist_key").select(
        F.col("track_id").cast("int"), F.col("artist_id").cast("int")
    )


def playlist_tables(
    spark: SparkSession,
    rows: DataFrame,
    artists: DataFrame,
    config: PlaylistTableConfig = PlaylistTableConfig(),
) -> dict[str, DataFrame]:
    """The three tables from de-duplicated (pid, track_id, pos) and (track_id, artist_id)."""
    lengths = rows.groupBy("pid").agg(F.count(F.lit(1)).alias("length"))
    members = rows.join(lengths, "pid").select(
        F.col("pid").cast("int"), F.col("track_id").cast("int"), F.col("length").cast("int")
    )
    popularity = track_playlist_counts(rows).withColumnRenamed("n", "popularity")
    artist_rows = (
        rows.join(F.broadcast(artists), "track_id")
        .groupBy("pid", "artist_id")
        .agg(F.min("pos").alias("pos"))
        .withColumnRenamed("artist_id", "track_id")
    )
    artist_n = track_playlist_counts(artist_rows)
    with_artist = popularity.join(F.broadcast(artists), "track_id")
    artist_sum = with_artist.groupBy("artist_id").agg(
        F.sum("popularity").alias("artist_tracks_popularity")
    )
    stats = (
        with_artist.join(artist_sum, "artist_id")
        .join(artist_n.withColumnRenamed("track_id", "artist_id"), "artist_id")
        .select(
            F.col("track_id").cast("int"),
            F.col("artist_id").cast("int"),
            F.col("popularity").cast("int"),
            F.col("n").cast("int").alias("artist_popularity"),
            F.col("artist_tracks_popularity").cast("long"),
        )
    )
    return {
        PLAYLIST_MEMBERS: members,
        TRACK_STATS: stats,
        ARTIST_NEIGHBORS: top_neighbors(spark, artist_rows, config.artist_top_k),
    }


def ranking_tables(
    spark: SparkSession,
    rows: DataFrame,
    playlists: DataFrame,
    artists: DataFrame,
    neighbor_rows: DataFrame,
    titles: TitleConfig | None = None,
    tables: PlaylistTableConfig = PlaylistTableConfig(),
) -> dict[str, DataFrame]:
    """Every table the ranker reads, from (pid, track_id, pos) rows and (pid, name) playlists.
    `neighbor_rows`: the rows `neighbor_selector` chose in the caller's block pass over the
    same rows (with other selectors beside it), which become `track_neighbors`."""
    titles = titles or TitleConfig()
    out = {
        TRACK_NEIGHBORS: neighbor_table(neighbor_rows),
        TITLE_TRACKS: title_track_scores(playlists, rows, titles),
    }
    out.update(playlist_tables(spark, rows, artists, tables))
    return out


@dataclass
class PlaylistTableStats:
    rows: dict[str, int]


def build_playlist_tables(
    spark: SparkSession,
    warehouse: Warehouse,
    config: PlaylistTableConfig = PlaylistTableConfig(),
    log: logging.Logger | None = None,
) -> PlaylistTableStats:
    """Write the three tables to the warehouse from its playlist_tracks and track_metadata."""
    log = log or logging.getLogger(__name__)
    with Staging(spark, warehouse) as staging:
        rows = staged_playlist_rows(spark, warehouse, staging)
        artists = track_artists(spark.read.parquet(warehouse.table(TRACK_METADATA)))
        written = staging.write_tables(playlist_tables(spark, rows, artists, config))
        counts = {name: table.rows for name, table in written.items()}
    log.info("playlist tables: %s", counts)
    return PlaylistTableStats(rows=counts)


def read_playlists(spark: SparkSession, warehouse: Warehouse) -> DataFrame:
    return read_table(spark, warehouse.table(PLAYLISTS), PLAYLISTS_SCHEMA)
