"""Spark session settings from the environment, shared by the pipeline, CLI and benchmarks, and
the progress lines of a step's long Spark stages."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyspark import SparkContext
from pyspark.sql import SparkSession

from algorhythms_store.progress import Progress

DEFAULT_MASTER = "local[*]"
# The throughput collector for a local driver, which is also its only executor: the pipeline's
# Spark steps are batch work with short-lived rows, where G1's concurrent bookkeeping costs
# time on a few cores (7% of the demo's build: README, `SPARK_DRIVER_JAVA_OPTIONS`).
LOCAL_GC = "-XX:+UseParallelGC"
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


def driver_host(env) -> str:
    """Where executors reach the driver: `SPARK_DRIVER_HOST`; "auto" means this machine's own
    address (a run container whose name other containers cannot resolve)."""
    host = env.get("SPARK_DRIVER_HOST", env.get("SPARK_LOCAL_IP", "127.0.0.1"))
    if host == "auto":
        import socket

        return socket.gethostbyname(socket.gethostname())
    return host


def spark_conf_from_env(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Spark config: `SPARK_MASTER` (default local[*]), memory from `SPARK_DRIVER_MEMORY` and
    `SPARK_EXECUTOR_MEMORY`, shuffle partitions from `SPARK_SHUFFLE_PARTITIONS`, the driver's
    addresses from `SPARK_DRIVER_BIND_ADDRESS` and `SPARK_DRIVER_HOST`, the driver JVM's own
    options from `SPARK_DRIVER_JAVA_OPTIONS` (default: the parallel collector in local mode,
    the JVM's default on a cluster)."""
    env = os.environ if environ is None else environ
    master = env.get("SPARK_MASTER", DEFAULT_MASTER)
    local = master.startswith("local")
    conf: dict[str, Any] = {
        "spark.master": master,
        "spark.app.name": "algorhythms",
        "spark.driver.memory": env.get("SPARK_DRIVER_MEMORY", "4g"),
        "spark.executor.memory": env.get("SPARK_EXECUTOR_MEMORY", "4g"),
        # Few cores locally: a handful of shuffle partitions beats the default 200.
        "spark.sql.shuffle.partitions": env.get(
            "SPARK_SHUFFLE_PARTITIONS", "8" if local else "400"
        ),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": env.get("SPARK_UI_ENABLED", "false"),
        "spark.driver.extraJavaOptions": " ".join(
            filter(
                None,
                [
                    f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()}",
                    env.get("SPARK_DRIVER_JAVA_OPTIONS", LOCAL_GC if local else ""),
                ],
            )
        ),
        "spark.driver.bindAddress": env.get("SPARK_DRIVER_BIND_ADDRESS", "127.0.0.1"),
        "spark.driver.host": driver_host(env),
    }
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if local:  # Python workers run this interpreter (its venv); a cluster sets PYSPARK_PYTHON
        conf["spark.pyspark.python"] = env.get("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_PYTHON", conf["spark.pyspark.python"])
    return conf


def build_spark_session(conf: dict[str, Any] | None = None) -> SparkSession:
    """Create (or reuse) the process's SparkSession with `conf` (default: from the environment)."""
    builder = SparkSession.builder
    for key, value in (conf or spark_conf_from_env()).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@contextmanager
def stage_progress(
    spark: SparkSession, label: str, log: logging.Logger, every_seconds: float = 30.0
) -> Iterator[None]:
    """While the block runs, log how far the long Spark stages have come: every `every_seconds`
    a watcher thread reads the running stages from Spark's status tracker, and each stage still
    running at a second look gets `Progress` lines (`label: Spark stage 14: 3/8 (38%), elapsed
    4 min 2 s, about 6 min 44 s left`: its tasks done of its tasks, timed from the look that
    first saw it) up to its last (`(100%) in ...`, or where it stopped). Stages that end between
    two looks say nothing, so a short step logs nothing more. The watcher only reads."""
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch_stages,
        args=(spark.sparkContext, StageLines(label, log), every_seconds, stop),
        name=f"stage-progress {label}",
        daemon=True,
    )
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=10)


class StageLines:
    """What `stage_progress` says at each look at the running stages: a stage (attempt) seen
    running at two looks gets a `Progress` of its tasks, updated at every later look and closed
    when it ends (a retried stage's new attempt gets one of its own)."""

    def __init__(self, label: str, log: logging.Logger, clock=time.monotonic):
        self.label = label
        self.log = log
        self.clock = clock
        self.first_seen: dict[tuple[int, int], float] = {}  # (stage, attempt): running since
        self.shown: dict[tuple[int, int], Progress] = {}

    def look(self, tracker, final: bool = False) -> bool:
        """Read the running stages from `tracker` (a pyspark StatusTracker) and log; `final`:
        the block has ended, so only close the stages that ended (Spark's status trails its
        jobs by a moment). Whether a shown stage is still running."""
        active = set(tracker.getActiveStageIds())
        info = {s: tracker.getStageInfo(s) for s in active | {s for s, _ in self.shown}}
        for key in list(self.shown):
            stage, attempt = key
            now = info.get(stage)
            if stage in active and now is not None and now.currentAttemptId == attempt:
                continue
            progress = self.shown.pop(key)
            done = now is not None and now.currentAttemptId == attempt and stage not in active
            if done and now.numCompletedTasks >= now.numTasks and progress.done < progress.total:
                progress.update(progress.total)
            progress.end()
        for stage in sorted(active):
            now = info[stage]
            if now is None:
                continue
            key = (stage, now.currentAttemptId)
            if key in self.shown:
                progress = self.shown[key]
                if not final and progress.done < progress.total:  # 100% is said once
                    progress.update(min(now.numCompletedTasks, now.numTasks))
            elif key in self.first_seen and not final:
                attempt = f" (attempt {now.currentAttemptId})" if now.currentAttemptId else ""
                self.shown[key] = Progress(
                    now.numTasks,
                    f"{self.label}: Spark stage {stage}{attempt}",
                    self.log,
                    every_seconds=0,  # the looks set the pace
                    clock=self.clock,
                    started=self.first_seen[key],
                )
                self.shown[key].update(min(now.numCompletedTasks, now.numTasks))
            else:
                self.first_seen.setdefault(key, self.clock())
        self.first_seen = {k: t for k, t in self.first_seen.items() if k[0] in active}
        return any(stage in active for stage, _ in self.shown)

    def close(self) -> None:
        """Say where the stages still shown stopped."""
        for progress in self.shown.values():
            progress.end()
        self.shown.clear()


def _watch_stages(
    context: SparkContext,
    lines: StageLines,
    every_seconds: float,
    stop: threading.Event,
    settle_seconds: float = 2.0,
) -> None:
    try:
        tracker = context.statusTracker()
        while not stop.wait(every_seconds):
            lines.look(tracker)
        # The block has ended: its stages end in the tracker a moment after their jobs return.
        deadline = time.monotonic() + settle_seconds
        while lines.look(tracker, final=True) and time.monotonic() < deadline:
            time.sleep(0.05)
        lines.close()
    except Exception:  # the context stopped under the watcher: progress is not the job
        lines.log.debug("stage progress: the watcher stopped", exc_info=True)
