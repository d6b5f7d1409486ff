"""What the terminal shows while `algorhythms materialize` runs: each asset as it starts and as
it ends (seconds, rows), failures as they happen, and the progress lines of long loops; the
rest of the run's log stays in the Dagster UI."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import TextIO

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType

from algorhythms_assets.metadata import rows_of
from algorhythms_store.progress import PROGRESS_RECORD, duration

# The run-config key of the logger; its record attribute for Dagster's structured metadata.
LOGGER = "progress"
DAGSTER_META = "dagster_meta"


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


class StepLines(logging.Handler):
    """Turns a run's log records into timestamped lines: `asset: started`, `asset: done in
    54 s, 412,331 rows`, `asset: FAILED ...`, failed checks, progress lines and warnings."""

    def __init__(self, out: TextIO):
        super().__init__(logging.DEBUG)
        self._out = out
        # Rows by step and asset: a run over many partitions records each partition with the
        # whole run's metadata, so the last one per asset counts, not their sum.
        self._rows: dict[str, dict[str, int]] = {}
        self.failed_checks: list[str] = []  # every failed asset check, as printed

    def _print(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", file=self._out, flush=True)

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, DAGSTER_META, None) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        if event is not None:
            self._event(step, event)
        elif getattr(record, PROGRESS_RECORD, False):
            self._print(meta.get("orig_message", record.getMessage()))
        elif record.levelno >= logging.WARNING:
            level = record.levelname.lower()
            self._print(f"{step}: {level}: {last_line(meta.get('orig_message', ''))}")

    def _event(self, step: str, event: DagsterEvent) -> None:
        data = event.event_specific_data
        if event.event_type == DagsterEventType.STEP_START:
            self._print(f"{step}: started")
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = data.materialization
            rows = rows_of(_plain(materialization.metadata))
            if rows is not None:
                asset = materialization.asset_key.to_user_string()
                self._rows.setdefault(step, {})[asset] = rows
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            text = f"{step}: done in {duration(data.duration_ms / 1000)}"
            if step in self._rows:
                text += f", {sum(self._rows[step].values()):,} rows"
            self._print(text)
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            # The innermost cause is the user's exception; the outer ones say where it rose.
            error = data.error
            while error.cause is not None:
                error = error.cause
            self._print(f"{step}: FAILED: {last_line(error.message)}")
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION and not data.passed:
            severity = getattr(getattr(data, "severity", None), "value", "ERROR")
            text = f"check {data.check_name} on {data.asset_key.to_user_string()} failed"
            text += f" ({severity.lower()})"
            description = last_line(getattr(data, "description", None) or "")
            if description:
                text += f": {description}"
            self.failed_checks.append(text)
            self._print(f"{step}: {text}")


def _plain(metadata: Mapping[str, dg.MetadataValue]) -> dict[str, object]:
    return {name: value.value for name, value in metadata.items()}


def with_terminal_logger(
    job: dg.JobDefinition, out: TextIO = sys.stdout, failed_checks: list[str] | None = None
) -> dg.JobDefinition:
    """`job` with the terminal logger available under the run-config key LOGGER; the asset
    checks that fail are appended to `failed_checks`."""
    return job.with_logger_defs({**job.loggers, LOGGER: terminal_logger(out, failed_checks)})


def terminal_logger(
    out: TextIO = sys.stdout, failed_checks: list[str] | None = None
) -> dg.LoggerDefinition:
    """A Dagster logger that writes StepLines to `out` as the run goes."""

    @dg.logger(description="asset starts and ends, failures and progress, for a terminal")
    def progress_lines(_: dg.InitLoggerContext) -> logging.Logger:
        log = logging.Logger(LOGGER, logging.DEBUG)
        handler = StepLines(out)
        if failed_checks is not None:
            handler.failed_checks = failed_checks
        log.addHandler(handler)
        return log

    return progress_lines
