"""A sensor that turns new or changed slice files in the MPD folder into partitions and runs."""

import json

import dagster as dg

from algorhythms_assets.assets.mpd import raw_mpd_slices
from algorhythms_assets.partitions import mpd_slices, unregistered_slices
from algorhythms_assets.resources import MpdSourceResource


@dg.sensor(
    asset_selection=[raw_mpd_slices],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def mpd_slice_sensor(
    context: dg.SensorEvaluationContext, mpd_source: MpdSourceResource
) -> dg.SensorResult:
    """Registers each new slice file as a partition and requests its ingestion; a file that
    changed since it was last seen (by size and modification time) is ingested again."""
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current: dict[str, str] = {}
    for key, path in mpd_source.slice_files().items():
        stat = path.stat()
        current[key] = f"{stat.st_size}:{stat.st_mtime_ns}"
    new_keys = unregistered_slices(context.instance, current)
    changed = sorted(
        k for k in current if k not in new_keys and seen.get(k) not in (None, current[k])
    )
    requests = [
        dg.RunRequest(run_key=f"{key}:{current[key]}", partition_key=key)
        for key in new_keys + changed
    ]
    if not requests:
        return dg.SensorResult(
            skip_reason="no new or changed slice files", cursor=json.dumps(current)
        )
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[mpd_slices.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(current),
    )
