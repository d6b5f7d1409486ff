"""A weekly rebuild of everything downstream of ingestion (graph, embeddings, published vectors)."""

import dagster as dg

from algorhythms_assets.jobs import build_job

weekly_rebuild = dg.ScheduleDefinition(
    name="weekly_rebuild",
    job=build_job,
    cron_schedule="0 3 * * 0",  # Sundays 03:00
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Rebuild the graph, the embeddings and the published version from every slice.",
)
