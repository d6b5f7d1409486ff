"""The edge asset on a real standalone Spark cluster (master and worker on loopback, started
from the pyspark installation) gives exactly the local-mode result."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pyspark
import pytest

from algorhythms_ml.graph.cooccurrence import COOCCURRENCE_EDGES, EdgeConfig
from algorhythms_ml.graph.cooccurrence_tables import build_cooccurrence_tables
from algorhythms_ml.mpd.ingest import ingest_slices
from algorhythms_ml.mpd.tracks import build_track_metadata
from algorhythms_ml.warehouse import Warehouse
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(SPARK_CLASS), *args],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_workers(ui_port: int, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as r:
                if json.load(r).get("aliveworkers", 0) >= count:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError("the Spark worker did not register with the master")


def edges(warehouse: Path) -> pd.DataFrame:
    frame = pd.read_parquet(warehouse / COOCCURRENCE_EDGES)
    return frame.sort_values(["src", "dst"]).reset_index(drop=True)


@pytest.mark.slow
def test_edges_on_a_standalone_cluster_equal_local_mode(spark, generated_mpd, tmp_path):
    local = tmp_path / "local"
    warehouse = Warehouse.at(local)
    ingest_slices(spark, [(generated_mpd / "mpd.slice.0-999.json").as_uri()], warehouse)
    build_track_metadata(spark, warehouse)
    cluster = tmp_path / "cluster"
    shutil.copytree(local, cluster)
    build_cooccurrence_tables(spark, warehouse, EdgeConfig(top_k=20), tables=[COOCCURRENCE_EDGES])

    port, ui, worker_ui = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_CLASS.parent.parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    master = start(
        ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port)]
        + ["--webui-port", str(ui)],
        env,
        tmp_path / "master.log",
    )
    worker = None
    try:
        worker = start(
            ["org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}"]
            + ["--host", "127.0.0.1", "--cores", "2", "--memory", "2g"]
            + ["--webui-port", str(worker_ui), "--work-dir", str(tmp_path / "work")],
            env,
            tmp_path / "worker.log",
        )
        wait_for_workers(ui, 1)
        run = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "spark_cluster_driver.py"), str(cluster)],
            env={
                **env,
                "SPARK_MASTER": f"spark://127.0.0.1:{port}",
                "SPARK_EXECUTOR_MEMORY": "1g",
                "SPARK_DRIVER_MEMORY": "1g",
                "SPARK_SHUFFLE_PARTITIONS": "4",
                "PYTHONPATH": str(ROOT),
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "success=True" in run.stdout
        # The work ran on the cluster: the master saw an application with executor cores.
        with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=5) as r:
            state = json.load(r)
        apps = state.get("activeapps", []) + state.get("completedapps", [])
        assert apps and all(app["cores"] > 0 for app in apps), state
    finally:
        if worker is not None:
            stop(worker)
        stop(master)
    local_edges, cluster_edges = edges(local), edges(cluster)
    assert len(local_edges) > 1000
    pd.testing.assert_frame_equal(local_edges, cluster_edges, check_dtype=False)
