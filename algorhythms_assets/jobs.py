import dagster as dg

from algorhythms_assets.partitions import mpd_slices

# Ingest any set of slice partitions (a single run per backfill: one Spark session).
ingest_job = dg.define_asset_job(
    "ingest_mpd", selection=dg.AssetSelection.assets("raw_mpd_slices"), partitions_def=mpd_slices
)
# Everything downstream of ingestion, which reads every partition.
build_job = dg.define_asset_job(
    "build_from_slices",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("raw_mpd_slices"),
)
