"""How far a long loop has come and about how long it has left, as log lines a person can follow
in a terminal or in the Dagster UI's run log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")

# The LogRecord attribute that marks a progress line, so a terminal that hides the rest of the
# run's log can still show these.
PROGRESS_RECORD = "algorhythms_progress"


def duration(seconds: float) -> str:
    """`42 s`, `12 min 3 s` or `2 h 5 min`: precise while short, readable while long."""
    seconds = max(0.0, seconds)
    if seconds < 100:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def log_progress(log: logging.Logger, message: str, *args: object) -> None:
    """An INFO line marked as progress (see PROGRESS_RECORD)."""
    log.info(message, *args, extra={PROGRESS_RECORD: True})


class Progress:
    """Counts the steps of a loop of `total` steps and logs `label: i/total (p%), elapsed X,
    about Y left`: at the first step, then at most every `every_seconds`, and at the last
    step. Used as a context manager it also logs where a loop that ended before its last step
    (an early stop, an error) stopped."""

    def __init__(
        self,
        total: int,
        label: str,
        log: logging.Logger,
        every_seconds: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        started: float | None = None,
    ):
        """`started`: when the loop began, on `clock` (default: now)."""
        self.total = total
        self.label = label
        self.done = 0
        self._log = log
        self._every = every_seconds
        self._clock = clock
        self._started = clock() if started is None else started
        self._logged_at: float | None = None

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    def advance(self, steps: int = 1) -> None:
        self.update(self.done + steps)

    def each(self, items: Iterable[T]) -> Iterator[T]:
        """The items, each counted as a step once the loop body that took it has run."""
        for item in items:
            yield item
            self.advance()

    def update(self, done: int) -> None:
        """`done` steps of `total` are finished."""
        self.done = done
        now = self._clock()
        due = self._logged_at is None or now - self._logged_at >= self._every
        if due or done >= self.total:
            self._emit(now)

    def _message(self, now: float) -> str:
        elapsed = now - self._started
        count = f"{self.label}: {self.done:,}/{self.total:,}"
        if self.done >= self.total:
            return f"{count} (100%) in {duration(elapsed)}"
        text = f"{count} ({self.done / self.total:.0%}), elapsed {duration(elapsed)}"
        if self.done:
            text += f", about {duration(elapsed / self.done * (self.total - self.done))} left"
        return text

    def _emit(self, now: float) -> None:
        log_progress(self._log, "%s", self._message(now))
        self._logged_at = now

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.end()

    def end(self) -> None:
        """The loop is over: say where it stopped if that was before its last step."""
        if self.done < self.total:
            log_progress(
                self._log,
                "%s: stopped at %s/%s after %s",
                self.label,
                f"{self.done:,}",
                f"{self.total:,}",
                duration(self.elapsed),
            )
