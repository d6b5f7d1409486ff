"""MPD slice files -> ingested Parquet tables -> the track table."""

import time

import dagster as dg
from dagster_pyspark import PySparkResource

from algorhythms_assets import metadata
from algorhythms_assets.automation import ON_UPSTREAM_UPDATE
from algorhythms_assets.config import launchpad_config
from algorhythms_assets.partitions import mpd_slices
from algorhythms_assets.resources import MpdSourceResource, WarehouseResource
from algorhythms_assets.slice_checks import RAW_CHECKS, raw_slice_checks
from algorhythms_ml.mpd.ingest import QUARANTINE, QUARANTINE_SCHEMA, IngestResult, ingest_slices
from algorhythms_ml.mpd.tracks import TRACK_METADATA, TrackTableConfig, build_track_metadata
from algorhythms_ml.spark import stage_progress
from algorhythms_ml.warehouse import read_table

TrackMetadataConfig = launchpad_config("TrackMetadataConfig", TrackTableConfig)


def _record_written_slices(
    context: dg.AssetExecutionContext, result: IngestResult, seconds: float
) -> None:
    """Materialisation events for the slices that were written, in a run that fails because
    others could not be: the good slices are recorded, only the bad ones fail."""
    for key, stats in result.written.items():
        context.log_event(
            dg.AssetMaterialization(
                asset_key=context.asset_key,
                partition=key,
                metadata=metadata.slices([stats], seconds),
            )
        )


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
    with stage_progress(spark, "raw_mpd_slices", context.log):
        result = ingest_slices(
            spark,
            # not percent-encoded: Spark takes the text after file:// as the path itself
            [f"file://{path.resolve()}" for key, path in files.items() if key not in missing],
            wh,
            log=context.log,
        )
    seconds = time.perf_counter() - started
    failures = {e.key: f"{e.file}: {e.message}" for e in result.failed.values()}
    failures.update({key: f"{files[key]}: file not found" for key in missing})
    if failures:
        _record_written_slices(context, result, seconds)
        raise dg.Failure(
            description="; ".join(failures[k] for k in sorted(failures)),
            metadata={"failed_partitions": dg.MetadataValue.json(sorted(failures))},
        )
    checks = []
    if result.written:
        with_tracks = [k for k, stats in result.written.items() if stats.tracks]
        try:
            checks = raw_slice_checks(spark, wh, list(result.written), with_tracks)
        except BaseException:
            # the partitions are in the warehouse already: record them before failing
            _record_written_slices(context, result, seconds)
            raise
    return dg.MaterializeResult(
        metadata=metadata.slices([result.written[k] for k in keys], seconds),
        check_results=checks,
    )


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
    with stage_progress(spark, "track_metadata", context.log):
        stats = build_track_metadata(spark, wh, config.to(TrackTableConfig), log=context.log)
    seconds = time.perf_counter() - started
    path = wh.table(TRACK_METADATA)
    quarantined = read_table(spark, wh.table(QUARANTINE), QUARANTINE_SCHEMA).count()
    return dg.MaterializeResult(
        metadata=metadata.track_table(stats, spark.read.parquet(path), quarantined, seconds, path)
    )
