import logging
import re
import time

import dagster as dg

from algorhythms_ml.spark import stage_progress


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _logger(name: str) -> tuple[logging.Logger, Lines]:
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    lines = Lines()
    log.addHandler(lines)
    return log, lines


def _slow_tasks(spark, tasks: int = 6) -> list[int]:
    """`tasks` tasks of 0.8 s each (a closure, so the Python workers need not import this
    module)."""

    def slow(x: int) -> int:
        time.sleep(0.8)
        return x

    return spark.sparkContext.parallelize(range(tasks), tasks).map(slow).collect()


def test_a_long_stage_logs_its_tasks_done_up_to_its_last(spark):
    log, lines = _logger("test_stage_progress.long")
    with stage_progress(spark, "slow step", log, every_seconds=0.2):
        result = _slow_tasks(spark)
    assert result == list(range(6))
    shown = [line for line in lines.lines if line.startswith("slow step: Spark stage ")]
    counts = [int(m.group(1)) for m in map(re.compile(r": (\d)/6 ").search, shown) if m]
    # 6 tasks of 0.8 s on 2 cores: seen running at several looks, counted up, then closed
    assert len(counts) >= 2 and counts == sorted(counts) and counts[0] < 6
    assert "about" in " ".join(shown)  # time left, once a task has finished
    assert re.search(r": 6/6 \(100%\) in ", shown[-1])


def test_a_short_step_logs_nothing(spark):
    log, lines = _logger("test_stage_progress.short")
    with stage_progress(spark, "quick step", log, every_seconds=5):
        assert spark.range(10).count() == 10
    assert lines.lines == []


def test_a_stage_that_fails_says_where_it_stopped(spark):
    log, lines = _logger("test_stage_progress.failed")

    def fail_late(x: int) -> int:
        time.sleep(0.8)
        if x == 5:
            raise ValueError("bad row")
        return x

    try:
        with stage_progress(spark, "failing step", log, every_seconds=0.2):
            spark.sparkContext.parallelize(range(6), 6).map(fail_late).collect()
    except Exception as error:  # Spark wraps the worker's error
        assert "bad row" in str(error)
    else:
        raise AssertionError("the job should have failed")
    assert any(re.search(r"failing step: Spark stage \d+: stopped at \d/6", s) for s in lines.lines)


def test_the_lines_reach_the_dagster_run_log(spark):
    @dg.asset
    def slow_asset(context: dg.AssetExecutionContext) -> None:
        with stage_progress(spark, "slow_asset", context.log, every_seconds=0.2):
            _slow_tasks(spark)

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([slow_asset], instance=instance)
    assert result.success
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    shown = [m for m in messages if "slow_asset: Spark stage" in m]
    assert shown and "(100%) in" in shown[-1]
