"""The checks of `raw_mpd_slices`: they read only the partitions a run has just written, so
they are declared as check specs of that asset and computed inside its materialisation."""

import dagster as dg
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from algorhythms_ml.mpd.ingest import PLAYLIST_TRACKS, PLAYLISTS
from algorhythms_ml.warehouse import PARTITION_COLUMN, Warehouse

RAW_UNIQUE_PID = "check_raw_mpd_slices_unique_pid"
RAW_NO_NULL_TRACK_URI = "check_raw_mpd_slices_no_null_track_uri"
RAW_CHECKS = [
    dg.AssetCheckSpec(RAW_UNIQUE_PID, asset="raw_mpd_slices"),
    dg.AssetCheckSpec(RAW_NO_NULL_TRACK_URI, asset="raw_mpd_slices"),
]


def raw_slice_checks(
    spark: SparkSession, warehouse: Warehouse, keys: list[str], keys_with_tracks: list[str]
) -> list[dg.AssetCheckResult]:
    """Each playlist once per slice, and every playlist track with a URI, over the written
    partitions `keys` (`keys_with_tracks`: those that hold any playlist track)."""
    duplicates = (
        spark.read.option("basePath", warehouse.table(PLAYLISTS))
        .parquet(*[warehouse.partition(PLAYLISTS, k) for k in keys])
        .groupBy(PARTITION_COLUMN, "pid")
        .count()
        .where("count > 1")
        .count()
    )
    track_paths = [warehouse.partition(PLAYLIST_TRACKS, k) for k in keys_with_tracks]
    null_uris = (
        spark.read.parquet(*track_paths).where(F.col("track_uri").isNull()).count()
        if track_paths
        else 0
    )
    return [
        dg.AssetCheckResult(
            check_name=name, passed=actual == 0, metadata={"actual": actual, "threshold": 0}
        )
        for name, actual in ((RAW_UNIQUE_PID, duplicates), (RAW_NO_NULL_TRACK_URI, null_uris))
    ]
