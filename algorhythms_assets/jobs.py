import time

import dagster as dg
import psutil

from algorhythms_assets.partitions import mpd_slices
from algorhythms_ml.allocator import release_freed_memory


def _release(context: dg.HookContext) -> None:
    process = psutil.Process()
    before, started = process.memory_info().rss, time.perf_counter()
    release_freed_memory()
    freed = before - process.memory_info().rss
    context.log.debug(
        f"{context.step_key}: {freed / 2**20:,.0f} MB of freed memory returned to the system "
        f"in {time.perf_counter() - started:.2f} s"
    )


@dg.success_hook(name="release_memory_after_step")
def _released_on_success(context: dg.HookContext) -> None:
    _release(context)


@dg.failure_hook(name="release_memory_after_failure")
def _released_on_failure(context: dg.HookContext) -> None:
    _release(context)


# After each step its freed memory goes back to the kernel: a run in one process (`algorhythms
# materialize`) would otherwise carry the largest step's peak into every later step.
RELEASE_MEMORY = {_released_on_success, _released_on_failure}

# Ingest any set of slice partitions (a single run per backfill: one Spark session).
ingest_job = dg.define_asset_job(
    "ingest_mpd",
    selection=dg.AssetSelection.assets("raw_mpd_slices"),
    partitions_def=mpd_slices,
    hooks=RELEASE_MEMORY,
)
# Everything downstream of ingestion, which reads every partition.
build_job = dg.define_asset_job(
    "build_from_slices",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("raw_mpd_slices"),
    hooks=RELEASE_MEMORY,
)
