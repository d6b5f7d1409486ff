"""The code location: every asset of the `assets` package (one module per asset group) and
every check of the `checks` package, the jobs, sensors, schedule and resources.

Every process that runs the assets loads this module (`algorhythms materialize`, a run the UI or
the daemon launches, a Kubernetes run pod), so it also sets the C allocator for the build
(algorhythms_ml.allocator)."""

import dagster as dg

from algorhythms_assets import assets, checks
from algorhythms_assets.automation import rebuild_downstream
from algorhythms_assets.jobs import build_job, ingest_job
from algorhythms_assets.resources import build_resources
from algorhythms_assets.schedules import weekly_rebuild
from algorhythms_assets.sensors import mpd_slice_sensor
from algorhythms_ml.allocator import keep_freed_blocks

keep_freed_blocks()

defs = dg.Definitions(
    assets=dg.load_assets_from_package_module(assets),
    asset_checks=dg.load_asset_checks_from_package_module(checks),
    jobs=[ingest_job, build_job],
    sensors=[mpd_slice_sensor, rebuild_downstream],
    schedules=[weekly_rebuild],
    resources=build_resources(),
)
