"""Checks of the track table (the ingested slices' checks run inside their materialisation:
algorhythms_assets.slice_checks)."""

import dagster as dg
from dagster_pyspark import PySparkResource
from pyspark.sql import functions as F

from algorhythms_assets.assets.mpd import track_metadata
from algorhythms_assets.resources import WarehouseResource
from algorhythms_ml.mpd.ingest import PLAYLIST_TRACKS, PLAYLIST_TRACKS_SCHEMA
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.warehouse import read_table


@dg.asset_check(asset=track_metadata, blocking=True)
def check_track_metadata_covers_playlist_tracks(
    pyspark: PySparkResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Every track in playlist_tracks has a row in track_metadata."""
    spark = pyspark.spark_session
    wh = warehouse.warehouse()
    tracks = read_table(spark, wh.table(PLAYLIST_TRACKS), PLAYLIST_TRACKS_SCHEMA)
    meta = spark.read.parquet(wh.table(TRACK_METADATA))
    missing = tracks.select("track_uri").distinct().join(meta, "track_uri", "left_anti").count()
    return dg.AssetCheckResult(passed=missing == 0, metadata={"actual": missing, "threshold": 0})


@dg.asset_check(asset=track_metadata, blocking=True)
def check_track_metadata_unique_ids(
    pyspark: PySparkResource, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    """Track ids and track URIs are each unique."""
    meta = pyspark.spark_session.read.parquet(warehouse.warehouse().table(TRACK_METADATA))
    row = meta.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("track_id").alias("ids"),
        F.countDistinct("track_uri").alias("uris"),
        F.max("track_id").alias("max_id"),
    ).first()
    duplicates = (row["rows"] - row["ids"]) + (row["rows"] - row["uris"])
    return dg.AssetCheckResult(
        passed=duplicates == 0,
        metadata={"actual": duplicates, "threshold": 0, "max_id": row["max_id"]},
    )
