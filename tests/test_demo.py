"""`make demo` end to end on a small sample, in a data folder of its own."""

import json
import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests import web_page
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_make_demo_builds_every_asset_and_leaves_the_api_running(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALGORHYTHMS_", "DAGSTER_"))}
    env.pop("DATABASE_URL", None)
    port = free_port()
    # A smaller ranker than the default: the test checks the chain, benchmarks/quality.py the
    # quality.
    config = tmp_path / "demo_config.yaml"
    config.write_text("ops:\n  playlist_ranker:\n    config:\n      folds: 2\n      rounds: 50\n")
    env.update(
        {
            "ALGORHYTHMS_DATA_DIR": str(tmp_path / "data"),
            "DEMO_PLAYLISTS": "1000",
            "DEMO_CONFIG": str(config),
            "API_PORT": str(port),
        }
    )
    try:
        run = subprocess.run(
            ["make", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        # The printed request works against the running API.
        curl = run.stdout[run.stdout.index("curl -s -X POST") :].split("\n# ")[0]
        answer = subprocess.run(
            curl.replace("\\\n", " "), shell=True, capture_output=True, text=True, timeout=30
        )
        items = json.loads(answer.stdout)["items"]
        assert len(items) == 5 and all(i["uri"].startswith("spotify:track:") for i in items)
        assert httpx.get(f"http://127.0.0.1:{port}/ready").json()["version"] == 1
        # A person's session on the web page, in a real browser, on the demo's version: its
        # evaluation figures, a search, a continuation explained, a dislike replaced, similar
        # songs and playlists, the map.
        artefacts = Path(os.environ.get("ALGORHYTHMS_TEST_ARTEFACTS", tmp_path)) / "demo-page"
        seen = web_page.exercise_page(f"http://127.0.0.1:{port}", artefacts)
        assert (artefacts / "page.png").exists() and seen
        model = httpx.get(f"http://127.0.0.1:{port}/v1/model").json()
        assert model["metrics"]["recommendation_eval.model.r_precision"] > 0
    finally:
        subprocess.run(["make", "stop"], cwd=ROOT, env=env, capture_output=True, timeout=60)
    # Stopping the API stops the embedded PostgreSQL it started.
    postmaster = tmp_path / "data" / "postgres" / "postmaster.pid"
    deadline = time.monotonic() + 30
    while postmaster.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not postmaster.exists()
    assert "the API is running at" in run.stdout
    assert "wrote 1 slice files (1000 playlists)" in run.stdout
    # Each asset is shown as it starts and as it ends, with its rows where it counts them,
    # and long loops show their progress.
    for asset in ("track_metadata", "playlist_ranker", "recommendation_eval", "published_version"):
        assert re.search(rf"^\[\d\d:\d\d:\d\d\] {asset}: started$", run.stdout, re.M), asset
        assert re.search(rf"^\[[\d:]+\] {asset}: done in [\d.]+ s", run.stdout, re.M), asset
    assert re.search(r"\] raw_mpd_slices: done in .*, [\d,]+ rows$", run.stdout, re.M)
    assert re.search(r"\] gcn epochs: 1/\d+ \(\d+%\), elapsed .* left$", run.stdout, re.M)
    assert re.search(r"\] ranker boosting rounds: 50/50 \(100%\) in ", run.stdout)
    assert "make ui" in run.stdout
    warehouse = tmp_path / "data" / "warehouse"
    assert len(pd.read_parquet(warehouse / "playlists")) == 1000
    assert (warehouse / "reports" / "recommendation_eval.csv").exists()
    tracks = pd.read_parquet(warehouse / "track_metadata")
    assert tracks.track_id.is_unique and len(tracks) > 10_000
    # The runs are recorded in the demo's Dagster instance, for the UI.
    assert (tmp_path / "data" / "dagster_home" / "dagster.yaml").exists()
    assert any((tmp_path / "data" / "dagster_home").rglob("*.db"))
