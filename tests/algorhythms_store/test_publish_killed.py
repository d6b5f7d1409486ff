"""A publisher killed (SIGKILL) while it copies rows and while it builds the HNSW index: the live
version answers throughout, the dead client's backend lets go of the publish lock within
seconds, and the sweep (or the next publish) clears what it left."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from algorhythms_store.publish import sweep_abandoned
from tests.catalogue import catalogue, coldstart, publish_catalogue

ROOT = Path(__file__).resolve().parents[2]
PUBLISHER = """
import sys
from tests.catalogue import catalogue, coldstart, publish_catalogue
publish_catalogue(sys.argv[1], catalogue("v2", n=int(sys.argv[2])), coldstart=coldstart())
"""


def _one(url: str, statement: str, params=()):
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement, params).fetchone()


def _publisher_backend(url: str, phase: str) -> int | None:
    """The backend pid of a statement of the publisher that matches `phase` (ILIKE)."""
    row = _one(
        url,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND state = 'active' AND query ILIKE %s AND pid <> pg_backend_pid()",
        [phase],
    )
    return row[0] if row else None


@pytest.mark.parametrize(
    "phase, rows", [("COPY %", 400_000), ("CREATE INDEX %hnsw%", 60_000)], ids=["copy", "index"]
)
def test_a_publisher_killed_midway_leaves_the_live_version_serving(database, phase, rows):
    publish_catalogue(database, catalogue("v1"), coldstart=coldstart())
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, database, str(rows)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        backend = None
        while backend is None and time.monotonic() < deadline:
            assert publisher.poll() is None, "the publisher ended before it was killed"
            backend = _publisher_backend(database, phase)
            time.sleep(0.02)
        assert backend is not None, f"never saw the publisher at {phase}"
        os.killpg(publisher.pid, signal.SIGKILL)
        publisher.wait(timeout=30)
        # the live version answers all along
        assert _one(database, "SELECT version FROM track_model")[0] == 1
        assert _one(database, "SELECT count(*) FROM track_vectors")[0] == 2000
        # the dead client's backend gives up its work and the lock within seconds
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = _one(
                database, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend]
            )
            locks = _one(database, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            if alive[0] == 0 and locks[0] == 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the killed publisher's backend still runs or holds the lock")
    finally:
        if publisher.poll() is None:
            os.killpg(publisher.pid, signal.SIGKILL)
    assert sweep_abandoned(database) == 1
    with psycopg.connect(database) as conn:
        statuses = conn.execute("SELECT version, status FROM model_versions ORDER BY 1").fetchall()
        staging = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE '%\\_staging'"
        ).fetchone()[0]
    assert statuses == [(1, "live"), (2, "failed")] and staging == 0
    assert publish_catalogue(database, catalogue("v3"), coldstart=coldstart()).version == 3
