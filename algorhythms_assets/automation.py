"""When downstream assets rebuild by themselves: after anything upstream updates.

Like Dagster's `eager()`, without its rule that every upstream partition must exist: one slice
file that failed to ingest must not stop the rest of the data reaching the published vectors.
Waits while an upstream run is in progress, so a burst of new slices leads to one rebuild.
"""

import dagster as dg

ON_UPSTREAM_UPDATE = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("rebuild after upstream updates")

# Evaluates the conditions of every asset (the daemon runs it; on by default).
rebuild_downstream = dg.AutomationConditionSensorDefinition(
    "rebuild_downstream",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
)
