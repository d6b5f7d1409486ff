import contextlib
import json
import os
from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> str:
    """An embedded PostgreSQL with pgvector for the whole session; its admin URL."""
    from algorhythms_store.database import embedded_url

    return embedded_url(tmp_path_factory.mktemp("pg") / "data")


def database_url_for(server_url: str, name: str) -> str:
    """The same server, another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database(server_url: str, name: str) -> str:
    """A fresh, empty database `name` on the server (dropped first if it exists); its URL."""
    import re

    import psycopg

    name = re.sub(r"[^a-z0-9]+", "_", name.lower())[:60]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url_for(server_url, name)


@pytest.fixture
def database(postgres_server, request) -> str:
    """A fresh, empty database on the session's server, for one test."""
    return create_database(postgres_server, "t_" + request.node.name)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ApiServer:
    """`algorhythms serve` under uvicorn on a local port, in its own process group."""

    def __init__(self, env: dict[str, str], log: Path):
        import subprocess
        import sys

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "algorhythms_cli.main", "serve", "--port", str(self.port)],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until_up(self, timeout: float = 60) -> None:
        import time

        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError("the API did not come up")

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        self._log.close()


@pytest.fixture
def api_server(tmp_path):
    """Start API servers with extra environment; all are stopped after the test."""
    servers = []

    def start(env: dict[str, str]) -> ApiServer:
        server = ApiServer(env, tmp_path / f"api-{len(servers)}.log")
        servers.append(server)
        server.wait_until_up()
        return server

    yield start
    for server in servers:
        server.stop()


@contextlib.contextmanager
def api_client(url: str, log: Path) -> Iterator:
    """An httpx client of a real API (`algorhythms serve`) on the database `url`, stopped after."""
    import httpx

    server = ApiServer({"DATABASE_URL": url}, log)
    try:
        server.wait_until_up()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        server.stop()
