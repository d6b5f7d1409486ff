"""Progress lines: what they say, and how often."""

import logging
from collections.abc import Iterator

import pytest

from algorhythms_store.progress import PROGRESS_RECORD, Progress, duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


LOG = logging.getLogger("progress-test")


@pytest.fixture
def lines() -> Iterator[list[logging.LogRecord]]:
    """The records logged to LOG while the test runs."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    yield records
    LOG.removeHandler(handler)


def test_progress_reports_share_elapsed_and_time_left(lines):
    clock = Clock()
    progress = Progress(8, "epochs", LOG, every_seconds=10, clock=clock)
    clock.now += 6
    progress.advance()
    clock.now += 24
    progress.update(3)
    assert [r.getMessage() for r in lines] == [
        "epochs: 1/8 (12%), elapsed 6.0 s, about 42 s left",
        "epochs: 3/8 (38%), elapsed 30 s, about 50 s left",
    ]
    assert all(getattr(r, PROGRESS_RECORD) for r in lines)


def test_progress_logs_at_most_every_interval_but_always_the_first_and_last(lines):
    clock = Clock()
    progress = Progress(100, "slices", LOG, every_seconds=15, clock=clock)
    for _ in range(100):
        clock.now += 1
        progress.advance()
    # Steps 1, 16, 31, 46, 61, 76, 91 (15 s apart) and the last.
    assert [r.getMessage().split(" ")[1] for r in lines] == [
        "1/100",
        "16/100",
        "31/100",
        "46/100",
        "61/100",
        "76/100",
        "91/100",
        "100/100",
    ]
    assert lines[-1].getMessage() == "slices: 100/100 (100%) in 1 min 40 s"


def test_progress_says_where_a_loop_that_ended_early_stopped(lines):
    clock = Clock()
    with Progress(50, "epochs", LOG, every_seconds=1000, clock=clock) as progress:
        for _ in range(12):
            clock.now += 5
            progress.advance()
    assert [r.getMessage() for r in lines] == [
        "epochs: 1/50 (2%), elapsed 5.0 s, about 4 min 5 s left",
        "epochs: stopped at 12/50 after 60 s",
    ]


def test_a_finished_loop_logs_its_last_line_once(lines):
    clock = Clock()
    with Progress(2, "folds", LOG, clock=clock) as progress:
        progress.advance()
        progress.advance()
    assert len(lines) == 2


def test_duration_reads_well_at_every_scale():
    assert duration(3.25) == "3.2 s"
    assert duration(42.4) == "42 s"
    assert duration(723) == "12 min 3 s"
    assert duration(7500) == "2 h 5 min"


def test_each_counts_an_item_once_its_loop_body_has_run(lines):
    clock = Clock()
    progress = Progress(3, "queries", LOG, every_seconds=0, clock=clock)
    seen = []
    for item in progress.each("abc"):
        seen.append((item, progress.done))
        if item == "b":
            continue
    assert seen == [("a", 0), ("b", 1), ("c", 2)]
    assert progress.done == 3
