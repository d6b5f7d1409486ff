"""`make demo` end to end on a small sample, in a data folder of its own."""

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_make_demo_builds_every_asset_from_generated_data(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALGORHYTHMS_", "DAGSTER_"))}
    env.update({"ALGORHYTHMS_DATA_DIR": str(tmp_path / "data"), "DEMO_PLAYLISTS": "2000"})
    run = subprocess.run(
        ["make", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "wrote 2 slice files (2000 playlists)" in run.stdout
    assert "materialised track_metadata" in run.stdout
    assert "make ui" in run.stdout
    warehouse = tmp_path / "data" / "warehouse"
    assert len(pd.read_parquet(warehouse / "playlists")) == 2000
    tracks = pd.read_parquet(warehouse / "track_metadata")
    assert tracks.track_id.is_unique and len(tracks) > 10_000
    # The runs are recorded in the demo's Dagster instance, for the UI.
    assert (tmp_path / "data" / "dagster_home" / "dagster.yaml").exists()
    assert any((tmp_path / "data" / "dagster_home").rglob("*.db"))
