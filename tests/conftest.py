import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

TRIMMED_TRACK_FIELDS = ("track_uri", "track_name", "artist_name", "pos")
TRIMMED_DROPPED_PLAYLIST_FIELDS = ("collaborative", "modified_at")


@pytest.fixture(scope="session")
def spark():
    from algorhythms_ml.spark import build_spark_session, spark_conf_from_env

    conf = spark_conf_from_env(
        {"SPARK_MASTER": "local[2]", "SPARK_DRIVER_MEMORY": "2g", "SPARK_SHUFFLE_PARTITIONS": "4"}
    )
    session = build_spark_session(conf)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def generated_mpd(tmp_path_factory) -> Path:
    """Three generated slice files (3,000 playlists), shared read-only by tests."""
    from algorhythms_ml.mpd.generator import GeneratorConfig, generate_mpd

    out = tmp_path_factory.mktemp("mpd")
    generate_mpd(GeneratorConfig(playlists=3000, seed=11), out)
    return out


def load_playlists(path: Path) -> list[dict]:
    return json.loads(path.read_text())["playlists"]


def write_slice(path: Path, playlists: list, info: dict | None = None) -> Path:
    path.write_text(json.dumps({"info": info or {"slice": path.stem}, "playlists": playlists}))
    return path


def trim_playlists(playlists: list[dict]) -> list[dict]:
    """The shape of the trimmed public MPD copy: fewer playlist and track fields."""
    trimmed = []
    for p in playlists:
        q = {k: v for k, v in p.items() if k not in TRIMMED_DROPPED_PLAYLIST_FIELDS}
        q["tracks"] = [{k: t[k] for k in TRIMMED_TRACK_FIELDS} for t in p["tracks"]]
        trimmed.append(q)
    return trimmed
