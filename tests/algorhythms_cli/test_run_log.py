"""The terminal lines of a run: each asset's start and end, failures and progress."""

import io
import re

import dagster as dg

from algorhythms_cli.run_log import LOGGER, with_terminal_logger
from algorhythms_store.progress import Progress


@dg.asset
def counted(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    with Progress(3, "counting", context.log) as progress:
        for _ in range(3):
            progress.advance()
    context.log.info("a detail the terminal leaves to the UI")
    return dg.MaterializeResult(metadata={"rows_a": 1200, "rows_b": 34, "seconds": 0.1})


@dg.asset(deps=[counted])
def broken() -> None:
    raise ValueError("the input has no playlists\nsecond line of the reason")


def test_the_terminal_shows_each_step_its_rows_progress_and_failure_as_it_happens():
    out = io.StringIO()
    # Resolved inside the instance's context, which makes its storage the current one (a
    # storage left current by an earlier instance would be resolved otherwise).
    with dg.DagsterInstance.ephemeral() as instance:
        job = dg.Definitions(
            assets=[counted, broken], jobs=[dg.define_asset_job("both")]
        ).resolve_job_def("both")
        result = with_terminal_logger(job, out).execute_in_process(
            run_config={"loggers": {LOGGER: {}}}, instance=instance, raise_on_error=False
        )
        assert not result.success
    lines = [re.sub(r"^\[\d\d:\d\d:\d\d\] ", "", line) for line in out.getvalue().splitlines()]
    assert lines[0] == "counted: started"
    assert lines[1].startswith("counting: 1/3 (33%), elapsed ")
    assert lines[2].startswith("counting: 3/3 (100%) in ")
    assert re.fullmatch(r"counted: done in [\d.]+ s, 1,234 rows", lines[3])
    assert lines[4:] == ["broken: started", "broken: FAILED: second line of the reason"]


@dg.asset(check_specs=[dg.AssetCheckSpec("has_rows", asset="checked")])
def checked() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        check_results=[
            dg.AssetCheckResult(
                check_name="has_rows", passed=False, description="0 rows in slice mpd.slice.0-9"
            )
        ]
    )


@dg.asset_check(asset=checked)
def symmetric() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity.WARN, description="3 edges lack a twin"
    )


def test_failed_asset_checks_are_shown_with_why_and_collected():
    out, failed = io.StringIO(), []
    with dg.DagsterInstance.ephemeral() as instance:
        job = dg.Definitions(
            assets=[checked], asset_checks=[symmetric], jobs=[dg.define_asset_job("checks")]
        ).resolve_job_def("checks")
        with_terminal_logger(job, out, failed).execute_in_process(
            run_config={"loggers": {LOGGER: {}}}, instance=instance, raise_on_error=False
        )
    assert failed == [
        "check has_rows on checked failed (error): 0 rows in slice mpd.slice.0-9",
        "check symmetric on checked failed (warn): 3 edges lack a twin",
    ]
    assert "checked: check has_rows on checked failed (error): 0 rows" in out.getvalue()
