import dagster as dg

from algorhythms_assets.assets import mpd
from algorhythms_assets.jobs import build_job, ingest_job
from algorhythms_assets.resources import build_resources
from algorhythms_assets.sensors import mpd_slice_sensor

defs = dg.Definitions(
    assets=[mpd.raw_mpd_slices, mpd.track_metadata],
    asset_checks=[
        mpd.check_track_metadata_covers_playlist_tracks,
        mpd.check_track_metadata_unique_ids,
    ],
    jobs=[ingest_job, build_job],
    sensors=[mpd_slice_sensor],
    resources=build_resources(),
)
