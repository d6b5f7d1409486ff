"""MPD slice files -> ingested Parquet tables -> the track table."""

import time

import dagster as dg
from dagster_pyspark import PySparkResource
from pyspark.sql import functions as F

from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.partitions import mpd_slices
from algorhythms_assets.plots import histogram
from algorhythms_assets.resources import MpdSourceResource, WarehouseResource
from algorhythms_ml.mpd.ingest import (
    PLAYLIST_TRACKS,
    PLAYLIST_TRACKS_SCHEMA,
    PLAYLISTS,
    QUARANTINE,
    QUARANTINE_SCHEMA,
    SliceStats,
    ingest_slices,
)
from algorhythms_ml.mpd.tracks import TRACK_METADATA, build_track_metadata
from algorhythms_ml.warehouse import PARTITION_COLUMN, read_table

RAW_CHECKS = [
    dg.AssetCheckSpec("check_raw_mpd_slices_unique_pid", asset="raw_mpd_slices"),
    dg.AssetCheckSpec("check_raw_mpd_slices_no_null_track_uri", asset="raw_mpd_slices"),
]


def _slice_metadata(stats: list[SliceStats], seconds: float) -> dict[str, object]:
    lengths = [n for s in stats for n in s.lengths]
    reasons: dict[str, int] = {}
    for s in stats:
        for reason, n in s.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    metadata: dict[str, object] = {
        "files": dg.MetadataValue.json([s.file for s in stats]),
        "playlists": sum(s.playlists for s in stats),
        "playlist_tracks": sum(s.tracks for s in stats),
        "quarantined": sum(s.quarantined for s in stats),
        "quarantine_reasons": dg.MetadataValue.json(reasons),
        "seconds": round(seconds, 2),
    }
    if lengths:
        metadata["mean_playlist_length"] = round(sum(lengths) / len(lengths), 2)
        metadata["playlist_length_histogram"] = histogram(
            lengths, "playlist length", "tracks in playlist"
        )
    return metadata


@dg.asset(
    partitions_def=mpd_slices,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=RAW_CHECKS,
    group_name="mpd",
    kinds={"spark", "parquet"},
    pool="spark",
)
def raw_mpd_slices(
    context: dg.AssetExecutionContext,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
    mpd_source: MpdSourceResource,
):
    """MPD slice files parsed into the Parquet tables playlists, playlist_tracks and quarantine."""
    spark = pyspark.spark_session
    wh = warehouse.warehouse()
    keys = list(context.partition_keys)
    files = {key: mpd_source.file_for(key) for key in keys}
    missing = [key for key, path in files.items() if not path.is_file()]
    started = time.perf_counter()
    result = ingest_slices(
        spark,
        [path.resolve().as_uri() for key, path in files.items() if key not in missing],
        wh,
        log=context.log,
    )
    seconds = time.perf_counter() - started
    failures = {e.key: f"{e.file}: {e.message}" for e in result.failed.values()}
    failures.update({key: f"{files[key]}: file not found" for key in missing})

    written_keys = list(result.written)
    checks = []
    if written_keys:
        paths = [wh.partition(PLAYLISTS, k) for k in written_keys]
        dup = (
            spark.read.option("basePath", wh.table(PLAYLISTS))
            .parquet(*paths)
            .groupBy(PARTITION_COLUMN, "pid")
            .count()
            .where("count > 1")
            .count()
        )
        track_paths = [
            wh.partition(PLAYLIST_TRACKS, k) for k in written_keys if result.written[k].tracks
        ]
        null_uris = (
            spark.read.parquet(*track_paths).where(F.col("track_uri").isNull()).count()
            if track_paths
            else 0
        )
        checks = [
            dg.AssetCheckResult(
                check_name="check_raw_mpd_slices_unique_pid",
                passed=dup == 0,
                metadata={"actual": dup, "threshold": 0},
            ),
            dg.AssetCheckResult(
                check_name="check_raw_mpd_slices_no_null_track_uri",
                passed=null_uris == 0,
                metadata={"actual": null_uris, "threshold": 0},
            ),
        ]

    if failures:
        # Slices that were written are recorded as materialised; only the bad ones fail.
        for key in written_keys:
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=context.asset_key,
                    partition=key,
                    metadata=_slice_metadata([result.written[key]], seconds),
                )
            )
        raise dg.Failure(
            description="; ".join(failures[k] for k in sorted(failures)),
            metadata={"failed_partitions": dg.MetadataValue.json(sorted(failures))},
        )
    return dg.MaterializeResult(
        metadata=_slice_metadata([result.written[k] for k in keys], seconds),
        check_results=checks,
    )


class TrackMetadataConfig(dg.Config):
    """Optional external per-track features (CSV or Parquet keyed by track_uri)."""

    features_path: str | None = None


@dg.asset(
    automation_condition=ON_UPSTREAM_UPDATE,
    deps=[raw_mpd_slices],
    group_name="mpd",
    kinds={"spark", "parquet"},
    pool="spark",
)
def track_metadata(
    context: dg.AssetExecutionContext,
    config: TrackMetadataConfig,
    pyspark: PySparkResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """One row per distinct track with a stable dense id, names, counts and optional features."""
    spark = pyspark.spark_session
    wh = warehouse.warehouse()
    started = time.perf_counter()
    stats = build_track_metadata(spark, wh, features_uri=config.features_path, log=context.log)
    seconds = time.perf_counter() - started
    popularity = [
        r[0]
        for r in spark.read.parquet(wh.table(TRACK_METADATA))
        .select(F.log10("num_playlists"))
        .collect()
    ]
    quarantined = read_table(spark, wh.table(QUARANTINE), QUARANTINE_SCHEMA).count()
    return dg.MaterializeResult(
        metadata={
            "tracks": stats.tracks,
            "new_tracks": stats.new_tracks,
            "playlist_tracks": stats.playlist_tracks,
            "quarantined_records": quarantined,
            "feature_columns": dg.MetadataValue.json(stats.feature_columns),
            "tracks_with_features": stats.tracks_with_features,
            "seconds": round(seconds, 2),
            "popularity_histogram": histogram(
                popularity,
                "playlists per track",
                "log10(playlists containing the track)",
                log_y=True,
            ),
            "path": dg.MetadataValue.path(wh.table(TRACK_METADATA)),
        }
    )


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
