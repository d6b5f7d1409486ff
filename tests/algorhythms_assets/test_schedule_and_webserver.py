"""The weekly schedule, and the Dagster webserver serving every asset over GraphQL."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest

from algorhythms_assets.definitions import defs
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_weekly_schedule_rebuilds_everything_downstream_of_ingestion():
    schedule = defs.resolve_schedule_def("weekly_rebuild")
    assert schedule.cron_schedule == "0 3 * * 0"
    assert schedule.job_name == "build_from_slices"
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=dt.datetime(2026, 11, 22, 3, tzinfo=dt.UTC),
        )
        requests = list(schedule.evaluate_tick(context).run_requests)
    assert len(requests) == 1
    job = defs.resolve_job_def("build_from_slices")
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert keys == {
        "track_metadata",
        "cooccurrence_edges",
        "track_neighbors",
        "title_tracks",
        "gcn_embeddings",
        "feature_mlp",
        "playlist_vectors",
        "embedding_map",
        "playlist_tables",
        "playlist_ranker",
        "published_version",
        "recommendation_eval",
    }


@pytest.mark.slow
def test_webserver_serves_and_lists_every_asset_over_graphql(tmp_path):
    port = free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "ALGORHYTHMS_DATA_DIR": str(tmp_path)}
    webserver = Path(sys.executable).parent / "dagster-webserver"
    process = subprocess.Popen(
        [str(webserver), "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "webserver.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    query = "{ assetNodes { assetKey { path } } }"
    try:
        deadline = time.monotonic() + 180
        nodes = None
        while time.monotonic() < deadline and nodes is None:
            assert process.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=10
                )
                if response.status_code == 200 and response.json().get("data"):
                    nodes = response.json()["data"]["assetNodes"]
            except httpx.HTTPError:
                pass
            if nodes is None or not nodes:  # the code location may still be loading
                nodes = None
                time.sleep(1)
        assert httpx.get(f"http://127.0.0.1:{port}/server_info").status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert nodes is not None, (tmp_path / "webserver.log").read_text()[-3000:]
    served = {"/".join(n["assetKey"]["path"]) for n in nodes}
    expected = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert served == expected
