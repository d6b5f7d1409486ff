import logging
import re
import time

import dagster as dg
import pytest
from pyspark.core.status import SparkStageInfo

from algorhythms_ml.spark import StageLines, stage_progress

LOG = "test_stage_progress"


def _slow_tasks(spark, tasks: int = 6, fail_at: int | None = None) -> list[int]:
    """`tasks` tasks of 0.8 s each (a closure, so the Python workers need not import this
    module); the task `fail_at` raises."""

    def slow(x: int) -> int:
        time.sleep(0.8)
        if x == fail_at:
            raise ValueError("bad row")
        return x

    return spark.sparkContext.parallelize(range(tasks), tasks).map(slow).collect()


def _stage_lines(caplog, label: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(label)]


def test_a_long_stage_logs_its_tasks_done_up_to_its_last(spark, caplog):
    caplog.set_level(logging.INFO, LOG)
    with stage_progress(spark, "slow step", logging.getLogger(LOG), every_seconds=0.2):
        assert _slow_tasks(spark) == list(range(6))
    shown = _stage_lines(caplog, "slow step: Spark stage ")
    counts = [int(m.group(1)) for m in map(re.compile(r": (\d)/6 ").search, shown) if m]
    # 6 tasks of 0.8 s on 2 cores: seen running at several looks, counted up, then closed
    assert len(counts) >= 2 and counts == sorted(counts) and counts[0] < 6
    assert "about" in " ".join(shown)  # time left, once a task has finished
    assert re.search(r": 6/6 \(100%\) in ", shown[-1])
    assert sum("(100%)" in line for line in shown) == 1


def test_a_stage_that_fails_says_where_it_stopped(spark, caplog):
    caplog.set_level(logging.INFO, LOG)
    with pytest.raises(Exception, match="bad row"):
        with stage_progress(spark, "failing step", logging.getLogger(LOG), every_seconds=0.2):
            _slow_tasks(spark, fail_at=5)
    shown = _stage_lines(caplog, "failing step: Spark stage ")
    assert re.search(r": stopped at \d/6 after ", shown[-1])


def test_the_lines_reach_the_dagster_run_log(spark):
    @dg.asset
    def slow_asset(context: dg.AssetExecutionContext) -> None:
        with stage_progress(spark, "slow_asset", context.log, every_seconds=0.2):
            _slow_tasks(spark)

    with dg.instance_for_test() as instance:
        result = dg.materialize([slow_asset], instance=instance)
        assert result.success
        messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    shown = [m for m in messages if "slow_asset: Spark stage" in m]
    assert shown and "(100%) in" in shown[-1]


class Tracker:
    """A status tracker that answers from a script: each look, the running stages as
    {stage: (attempt, tasks, completed)}, and what it says of stages that have ended."""

    def __init__(self):
        self.running: dict[int, tuple[int, int, int]] = {}
        self.ended: dict[int, tuple[int, int, int]] = {}

    def getActiveStageIds(self) -> list[int]:
        return list(self.running)

    def getStageInfo(self, stage: int) -> SparkStageInfo | None:
        known = self.running.get(stage) or self.ended.get(stage)
        if known is None:
            return None
        attempt, tasks, completed = known
        running = tasks - completed if stage in self.running else 0
        return SparkStageInfo(stage, attempt, f"stage {stage}", tasks, running, completed, 0)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def script(caplog):
    caplog.set_level(logging.INFO, LOG)
    clock = Clock()
    lines = StageLines("step", logging.getLogger(LOG), clock=clock)
    tracker = Tracker()

    def look(final: bool = False) -> list[str]:
        clock.now += 30
        caplog.clear()
        lines.look(tracker, final=final)
        return [r.getMessage() for r in caplog.records]

    return tracker, lines, look


def test_a_stage_seen_at_one_look_says_nothing(script):
    tracker, _, look = script
    tracker.running = {3: (0, 4, 1)}
    assert look() == []
    del tracker.running[3]
    tracker.ended = {3: (0, 4, 4)}
    assert look() == [] and look(final=True) == []


def test_a_stage_is_timed_from_its_first_look_and_closed_once(script):
    tracker, lines, look = script
    tracker.running = {3: (0, 4, 0)}
    assert look() == []
    tracker.running = {3: (0, 4, 2)}
    assert look() == ["step: Spark stage 3: 2/4 (50%), elapsed 30 s, about 30 s left"]
    tracker.running = {3: (0, 4, 4)}  # every task done, the stage not yet marked ended
    assert look() == ["step: Spark stage 3: 4/4 (100%) in 60 s"]
    del tracker.running[3]
    tracker.ended = {3: (0, 4, 4)}
    assert look() == [] and lines.shown == {}


def test_the_last_look_closes_what_ended_and_opens_nothing(script, caplog):
    tracker, lines, look = script
    tracker.running = {3: (0, 4, 0), 5: (0, 2, 0)}
    look()
    tracker.running = {3: (0, 4, 1), 5: (0, 2, 0), 6: (0, 8, 0)}
    look()
    tracker.running = {5: (0, 2, 1), 6: (0, 8, 1)}
    tracker.ended = {3: (0, 4, 4)}
    # stage 3 ended; 5 still runs (no new line at the last look); 6 was seen once only
    assert look(final=True) == ["step: Spark stage 3: 4/4 (100%) in 60 s"]
    caplog.clear()
    lines.close()  # what the tracker still calls running after the settling time
    assert [r.getMessage() for r in caplog.records] == [
        "step: Spark stage 5: stopped at 0/2 after 60 s"
    ]


def test_a_retried_stage_closes_its_attempt_and_counts_the_next(script):
    tracker, _, look = script
    tracker.running = {7: (0, 8, 0)}
    look()
    tracker.running = {7: (0, 8, 6)}
    look()
    tracker.running = {7: (1, 2, 0)}  # attempt 1 reruns the 2 partitions lost
    assert look() == ["step: Spark stage 7: stopped at 6/8 after 60 s"]
    tracker.running = {7: (1, 2, 1)}
    assert look() == ["step: Spark stage 7 (attempt 1): 1/2 (50%), elapsed 30 s, about 30 s left"]
