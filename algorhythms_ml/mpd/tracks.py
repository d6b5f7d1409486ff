"""The track table: one row per distinct track URI, with a dense integer id that never changes.

Ids live in `track_ids`, a table that only grows: a track seen before keeps its id, a new one
gets the next free ids in URI order, so re-runs over the same data give the same ids and new
slices never renumber old tracks. `track_metadata` is rebuilt from all ingested partitions on
every run, and optionally joined with an external per-track features file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import Field
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from algorhythms_ml.config import config_class
from algorhythms_ml.mpd.ingest import PLAYLIST_TRACKS, PLAYLIST_TRACKS_SCHEMA, TRACK_FIELDS
from algorhythms_ml.warehouse import FileSystem, Warehouse, read_table

TRACK_IDS = "track_ids"
TRACK_METADATA = "track_metadata"
FEATURE_PREFIX = "feature_"
# Every ingested track field but the key and the position in its playlist.
DESCRIPTIVE_COLUMNS = tuple(f for f in TRACK_FIELDS if f not in ("pos", "track_uri"))

TRACK_IDS_SCHEMA = T.StructType(
    [T.StructField("track_uri", T.StringType()), T.StructField("track_id", T.LongType())]
)


@config_class
class TrackTableConfig:
    """Optional external per-track features joined into the track table."""

    features_path: str | None = Field(
        None,
        description="CSV or Parquet file keyed by track_uri whose other columns become "
        "feature_* columns; None: no external features",
    )


@dataclass
class TrackMetadataStats:
    tracks: int
    new_tracks: int
    playlist_tracks: int
    feature_columns: list[str]
    tracks_with_features: int


def read_features(spark: SparkSession, uri: str) -> DataFrame:
    """A per-track features file (CSV with a header, or Parquet) keyed by `track_uri`; every
    other column is cast to double and prefixed `feature_`."""
    lower = uri.lower()
    if lower.endswith(".csv"):
        frame = spark.read.option("header", True).csv(uri)
    elif lower.endswith(".parquet") or lower.endswith("/") or "." not in lower.rsplit("/", 1)[-1]:
        frame = spark.read.parquet(uri)
    else:
        raise ValueError(f"features file {uri}: expected a .csv or .parquet file")
    if "track_uri" not in frame.columns:
        raise ValueError(f"features file {uri} has no track_uri column")
    others = [c for c in frame.columns if c != "track_uri"]
    if not others:
        raise ValueError(f"features file {uri} has no feature columns")
    return frame.select(
        "track_uri", *[F.col(f"`{c}`").cast("double").alias(FEATURE_PREFIX + c) for c in others]
    ).dropDuplicates(["track_uri"])


def assign_track_ids(known: DataFrame, uris: DataFrame) -> DataFrame:
    """`known` ids plus new ids, in URI order after the largest known id, for unseen `uris`."""
    start = known.agg(F.coalesce(F.max("track_id"), F.lit(-1))).first()[0] + 1
    new = uris.join(known, "track_uri", "left_anti").orderBy("track_uri")
    # zipWithIndex numbers a sorted frame densely without moving it into one partition.
    numbered = new.rdd.zipWithIndex().map(lambda pair: (pair[0][0], pair[1] + start))
    return known.unionByName(known.sparkSession.createDataFrame(numbered, TRACK_IDS_SCHEMA))


def count_track_uses(tracks: DataFrame) -> DataFrame:
    """One row per track URI of playlist-track rows `tracks`: its descriptive columns, the
    number of playlists that hold it and its number of occurrences in them."""
    # The largest value is a deterministic pick where copies of a track disagree on a name.
    described = [F.max(c).alias(c) for c in DESCRIPTIVE_COLUMNS]
    per_playlist = tracks.groupBy("track_uri", "pid").agg(
        F.count(F.lit(1)).alias("occurrences"), *described
    )
    return per_playlist.groupBy("track_uri").agg(
        *described,
        F.count(F.lit(1)).cast("int").alias("num_playlists"),
        F.sum("occurrences").cast("int").alias("num_occurrences"),
    )


def _stage_track_ids(
    spark: SparkSession, warehouse: Warehouse, uris: DataFrame, staging: str
) -> tuple[DataFrame, int]:
    """Write the known ids plus new ids for unseen `uris` under `staging`; return them as
    read back from there, and how many are new."""
    known = read_table(spark, warehouse.table(TRACK_IDS), TRACK_IDS_SCHEMA)
    n_known = known.count()
    ids = assign_track_ids(known, uris)
    ids.repartition(max(1, spark.sparkContext.defaultParallelism)).write.parquet(
        f"{staging}/{TRACK_IDS}"
    )
    ids = spark.read.parquet(f"{staging}/{TRACK_IDS}")
    return ids, ids.count() - n_known


def _metadata_columns(per_track: DataFrame, ids: DataFrame) -> DataFrame:
    """The columns of the track table, in order, for every track that has an id."""
    return per_track.join(ids, "track_uri").select(
        "track_id",
        "track_uri",
        *DESCRIPTIVE_COLUMNS,
        "num_playlists",
        "num_occurrences",
    )


def _join_features(
    spark: SparkSession, table: DataFrame, features_uri: str | None
) -> tuple[DataFrame, list[str]]:
    """`table` left-joined with the features file at `features_uri`, with `has_features`
    marking the tracks it covers, and the feature columns; `table` as is without a file."""
    if not features_uri:
        return table, []
    features = read_features(spark, features_uri)
    feature_columns = [c for c in features.columns if c != "track_uri"]
    table = table.join(features, "track_uri", "left").withColumn(
        "has_features", F.col(feature_columns[0]).isNotNull()
    )
    return table, feature_columns


def _stage_metadata(
    spark: SparkSession, table: DataFrame, staging: str, with_features: bool
) -> Row:
    """Write `table` in id order under `staging`; return the number of tracks, of
    playlist-track rows and of tracks with features in what was written."""
    table.orderBy("track_id").write.parquet(f"{staging}/{TRACK_METADATA}")
    written = spark.read.parquet(f"{staging}/{TRACK_METADATA}")
    return written.agg(
        F.count(F.lit(1)).alias("tracks"),
        F.coalesce(F.sum("num_occurrences"), F.lit(0)).alias("rows"),
        (F.sum(F.col("has_features").cast("int")) if with_features else F.lit(0)).alias(
            "with_features"
        ),
    ).first()


def build_track_metadata(
    spark: SparkSession,
    warehouse: Warehouse,
    config: TrackTableConfig = TrackTableConfig(),
    log: logging.Logger | None = None,
) -> TrackMetadataStats:
    """Rebuild `track_metadata` from every ingested playlist track, extending `track_ids`
    with ids for new tracks and joining the configured features file if any. Both
    tables are written to staging first and replace the published ones only once complete."""
    log = log or logging.getLogger(__name__)
    fs = FileSystem(spark)
    tracks = read_table(spark, warehouse.table(PLAYLIST_TRACKS), PLAYLIST_TRACKS_SCHEMA)
    per_track = count_track_uses(tracks)

    staging = warehouse.staging()
    try:
        ids, new_tracks = _stage_track_ids(spark, warehouse, per_track.select("track_uri"), staging)
        table, feature_columns = _join_features(
            spark, _metadata_columns(per_track, ids), config.features_path
        )
        counts = _stage_metadata(spark, table, staging, with_features=bool(feature_columns))
        for name in (TRACK_IDS, TRACK_METADATA):
            fs.move(f"{staging}/{name}", warehouse.table(name))
    finally:
        fs.delete(staging)
    stats = TrackMetadataStats(
        tracks=int(counts["tracks"]),
        new_tracks=int(new_tracks),
        playlist_tracks=int(counts["rows"]),
        feature_columns=feature_columns,
        tracks_with_features=int(counts["with_features"] or 0),
    )
    log.info(
        "track_metadata: %d tracks (%d new), %d playlist-track rows",
        stats.tracks,
        stats.new_tracks,
        stats.playlist_tracks,
    )
    return stats
