"""Spark session settings from the environment, shared by the pipeline, CLI and benchmarks."""

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
    4 min 2 s, about 6 min 44 s left`, tasks done of its tasks) up to its last (`(100%) in ...`,
    or where it stopped). Stages that end between two looks say nothing, so a short step logs
    nothing more. The watcher only reads; it ends with the block."""
    stop = threading.Event()
    watcher = threading.Thread(
        target=_watch_stages,
        args=(spark.sparkContext, label, log, every_seconds, stop),
        name=f"stage-progress {label}",
        daemon=True,
    )
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(timeout=every_seconds)


def _watch_stages(
    context: SparkContext,
    label: str,
    log: logging.Logger,
    every_seconds: float,
    stop: threading.Event,
) -> None:
    tracker = context.statusTracker()
    first_seen: dict[int, float] = {}  # running stages, when first seen
    shown: dict[int, Progress] = {}
    while True:
        ending = stop.wait(every_seconds)  # the block ended: one last look closes its stages
        try:
            active = set(tracker.getActiveStageIds())
            for stage in sorted(active | shown.keys()):
                info = tracker.getStageInfo(stage)
                if stage not in active:  # ended since the last look
                    progress = shown.pop(stage)
                    if info is not None and info.numCompletedTasks >= info.numTasks:
                        progress.update(progress.total)
                    progress.end()
                    continue
                if info is None or stage not in first_seen:
                    first_seen.setdefault(stage, time.monotonic())
                    continue
                if stage not in shown:
                    shown[stage] = Progress(
                        info.numTasks,
                        f"{label}: Spark stage {stage}",
                        log,
                        every_seconds=0,  # the watcher's looks set the pace
                        started=first_seen[stage],
                    )
                shown[stage].update(min(info.numCompletedTasks, info.numTasks))
            for stage in first_seen.keys() - active:
                del first_seen[stage]
        except Exception:  # noqa: BLE001 - the context is stopping; progress is not the job
            return
        if ending:
            return
