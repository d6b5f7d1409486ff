"""Publish a version of the recommender's tables, and roll back to the previous one.

`publish` loads every table of the registry (algorhythms_store.schema.PUBLISHED_TABLES) into
staging tables with binary COPY, builds the keys and indexes after the load, runs ANALYZE,
then swaps all tables in by rename inside one transaction; the replaced tables are kept as
`<name>_previous` for `rollback`. Readers never see a half-loaded or mixed set: until the swap
commits they read the old tables, afterwards the new ones. A failure before the swap drops the
staging tables, records the version as failed and leaves the live version serving.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import psycopg
from psycopg import sql
from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from algorhythms_store import binary_arrays
from algorhythms_store.database import connect, ensure_extension
from algorhythms_store.progress import Progress, log_progress
from algorhythms_store.schema import (
    MODEL_VERSIONS,
    MODEL_VERSIONS_DDL,
    PREVIOUS,
    PUBLISHED_TABLES,
    STAGING,
    TRACK_MODEL,
    TRACK_VECTORS,
    Table,
)

PUBLISH_LOCK = 0x616C676F  # pg advisory lock key: one publisher at a time
ABANDONED = "abandoned: its publisher ended before the version went live"
PUBLISHED = tuple(t.name for t in PUBLISHED_TABLES)  # lock order

T = TypeVar("T")


# A run-time configuration like algorhythms_ml's (frozen, validated, unknown keys refused): the
# publishing asset derives its launchpad configuration from it.
@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class HnswConfig:
    """How the vector index is built (pgvector HNSW)."""

    m: int = Field(16, ge=2, description="HNSW links per node")
    ef_construction: int = Field(
        128,
        ge=4,
        description="candidate list while building; 128 gives recall@10 0.95 at ef_search 64 "
        "(benchmarks/serving.py)",
    )
    maintenance_work_mem: str | None = Field(
        None,
        description="PostgreSQL memory for the builds; an HNSW build is fast only while its "
        "graph fits in it. None: 512MB for the keys, and for each HNSW index the graph's "
        "estimated size (hnsw_build_memory), between 512MB and 8GB",
    )
    parallel_workers: int | None = Field(
        None, ge=0, description="max_parallel_maintenance_workers; None: the server's setting"
    )


@dataclass(frozen=True)
class SwapConfig:
    """How a swap (or rollback) waits for readers: each try waits at most `lock_timeout_ms`
    for the table locks, so a reader never queues behind it for long; it gives up after
    `attempts` tries."""

    lock_timeout_ms: int = 200
    attempts: int = 50


@dataclass(frozen=True)
class PublishOptions:
    hnsw: HnswConfig = field(default_factory=HnswConfig)
    swap: SwapConfig = field(default_factory=SwapConfig)


@dataclass(frozen=True)
class TrackModel:
    """The values of the version's `track_model` row; publish adds the version number."""

    dimension: int
    coldstart_spec: dict | None = None
    coldstart_arrays: bytes | None = None  # as algorhythms_store.coldstart.pack_arrays writes
    ranker: str | None = None

    def row(self, version: int) -> tuple:
        """The row in the registry's column order (published_at is PostgreSQL's default)."""
        return (version, self.dimension, self.coldstart_spec, self.coldstart_arrays, self.ranker)


@dataclass
class Tracks:
    """What `track_vectors` holds: per-track columns and their vectors, row-aligned."""

    ids: np.ndarray
    uris: list[str]
    names: list[str | None]
    artists: list[str | None]
    albums: list[str | None]
    duration_ms: list[int | None]
    num_playlists: np.ndarray
    degree: np.ndarray
    vectors: np.ndarray  # (n, dim) float32

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    def rows(self) -> Iterable[tuple]:
        for i in range(len(self.ids)):
            yield (
                int(self.ids[i]),
                self.uris[i],
                self.names[i],
                self.artists[i],
                self.albums[i],
                None if self.duration_ms[i] is None else int(self.duration_ms[i]),
                int(self.num_playlists[i]),
                int(self.degree[i]),
                self.vectors[i],
            )


@dataclass
class PublishResult:
    version: int
    dimension: int
    rows: dict[str, int]  # published table -> rows loaded
    seconds: dict[str, float] = field(default_factory=dict)  # step -> seconds


def ensure_schema(url: str) -> None:
    ensure_extension(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(MODEL_VERSIONS_DDL)


def _name(table: str, suffix: str = "") -> sql.Identifier:
    return sql.Identifier(table + suffix)


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]


def _rename(conn: psycopg.Connection, table: str, to: str) -> None:
    conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(_name(table), _name(to)))


def _lock(conn: psycopg.Connection, tables: list[str]) -> None:
    conn.execute(
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(_name(t) for t in tables)
        )
    )


@contextmanager
def _publisher_lock(conn: psycopg.Connection) -> Iterator[None]:
    """Hold the advisory lock that lets one publisher (or rollback) run at a time."""
    conn.execute("SELECT pg_advisory_lock(%s)", [PUBLISH_LOCK])
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", [PUBLISH_LOCK])


@contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    seconds[step] = time.perf_counter() - started


def _retried_on_lock_timeout(
    conn: psycopg.Connection, swap: SwapConfig, work: Callable[[], T]
) -> T:
    """Run `work` in a transaction with a short lock timeout, retried with backoff while
    a lock is not available: a swap never holds a lock while a reader waits on it for long."""
    for attempt in range(swap.attempts):
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(swap.lock_timeout_ms))
                return work()
        except psycopg.errors.LockNotAvailable:
            time.sleep(min(0.05 * 2**attempt, 1.0))
    raise TimeoutError(f"could not lock the published tables in {swap.attempts} attempts")


def _create_version(
    conn: psycopg.Connection, run_id: str | None, dimension: int, metrics: dict | None
) -> int:
    """Record a new version as loading (one left loading by a publisher that died is
    abandoned); its number."""
    conn.execute(
        f"UPDATE {MODEL_VERSIONS} SET status = 'failed', error = %s WHERE status = 'loading'",
        [ABANDONED],
    )
    return conn.execute(
        f"INSERT INTO {MODEL_VERSIONS} (run_id, status, dimension, metrics) "
        "VALUES (%s, 'loading', %s, %s) RETURNING version",
        [run_id, dimension, json.dumps(metrics or {})],
    ).fetchone()[0]


def sweep_abandoned(url: str) -> int:
    """What a publisher that died leaves: its version still `loading` (marked failed) and its
    staging tables (dropped). Nothing is touched while a publisher runs (it holds the lock);
    how many versions were swept."""
    with psycopg.connect(url, autocommit=True) as conn:
        if not _exists(conn, MODEL_VERSIONS):
            return 0
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", [PUBLISH_LOCK]).fetchone()[0]:
            return 0
        try:
            swept = conn.execute(
                f"UPDATE {MODEL_VERSIONS} SET status = 'failed', error = %s "
                "WHERE status = 'loading'",
                [ABANDONED],
            ).rowcount
            _drop_staging(conn)
            return swept
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [PUBLISH_LOCK])


def _watch_client(conn: psycopg.Connection) -> None:
    """Have the publishing backend check every second that its client is still there: a
    publisher killed during an index build would otherwise leave its backend building, holding
    the publish lock and the staging tables, until the build ends."""
    if conn.info.server_version >= 140000:
        conn.execute("SET client_connection_check_interval = '1s'")


def _drop_staging(conn: psycopg.Connection) -> None:
    for table in PUBLISHED:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_name(table, STAGING)))


def _copy(conn: psycopg.Connection, table: Table, rows: Iterable[tuple]) -> int:
    """Binary COPY of `rows` into the table's staging copy; how many rows."""
    columns = table.row_columns
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
        _name(table.name, STAGING), sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    )
    n = 0
    with conn.cursor() as cur:
        binary_arrays.register(cur)
        with cur.copy(statement) as copy:
            copy.set_types([c.type.copy for c in columns])
            for row in rows:
                copy.write_row(row)
                n += 1
    return n


def _load_staging(
    conn: psycopg.Connection, rows: Mapping[str, Iterable[tuple]], dimension: int
) -> dict[str, int]:
    """Create fresh staging tables and load every published table's rows (none where
    `rows` has no entry) in one transaction; rows loaded per table."""
    _drop_staging(conn)
    for table in PUBLISHED_TABLES:
        conn.execute(table.staging_ddl(dimension))
    with conn.transaction():
        return {
            table.name: _copy(conn, table, rows.get(table.name, ())) for table in PUBLISHED_TABLES
        }


def _record_rows(conn: psycopg.Connection, version: int, rows: int) -> None:
    conn.execute(f"UPDATE {MODEL_VERSIONS} SET rows = %s WHERE version = %s", [rows, version])


@contextmanager
def _index_build_progress(
    url: str,
    pid: int,
    rows: int,
    label: str,
    memory: str,
    log: logging.Logger,
    every_seconds: float = 15.0,
) -> Iterator[None]:
    """While the block runs, log how many of `rows` tuples the index build in backend `pid`
    (given `memory` of maintenance_work_mem) has loaded, read from
    pg_stat_progress_create_index on a connection of its own."""
    progress = Progress(rows, label, log, every_seconds=every_seconds)
    stop = threading.Event()

    def poll() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as watcher:
                while not stop.wait(every_seconds):
                    done = watcher.execute(
                        "SELECT tuples_done FROM pg_stat_progress_create_index WHERE pid = %s",
                        [pid],
                    ).fetchone()
                    # The last line is the build's own, once the statement has returned.
                    if done and done[0]:
                        progress.update(min(int(done[0]), rows - 1))
        except psycopg.Error as error:
            log.warning("%s progress is not available: %s", label, error)

    log_progress(
        log,
        "%s: building over %s vectors in %s of maintenance_work_mem",
        label,
        f"{rows:,}",
        memory,
    )
    watcher = threading.Thread(target=poll, name="hnsw-index-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
    progress.update(rows)


# What maintenance_work_mem the keys' builds get when HnswConfig leaves it to the publisher.
KEY_BUILD_MEMORY = "512MB"


def hnsw_build_memory(rows: int, dimension: int, m: int) -> str:
    """maintenance_work_mem for an HNSW build of `rows` vectors: pgvector holds the graph in it
    while it builds, and past it goes on tuple by tuple on disk, many times slower (1,085,211
    vectors of 64 dimensions, m 16, on 2 cores: 570,000 in 3 min within 512MB, then about 200
    a second). The estimate per vector: its values, 2m level-0 links of 24 bytes and 100 bytes
    of bookkeeping (about 20% above the 940 bytes that measurement implies), plus 64MB; between
    512MB and 8GB."""
    per_vector = 4 * dimension + 48 * m + 100
    megabytes = math.ceil((rows * per_vector + (64 << 20)) / (1 << 20))
    return f"{min(max(megabytes, 512), 8192)}MB"


def _set_build_memory(conn: psycopg.Connection, memory: str) -> None:
    conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(memory)))


def _build_indexes(
    conn: psycopg.Connection,
    url: str,
    version: int,
    hnsw: HnswConfig,
    rows: Mapping[str, int],
    dimension: int,
    seconds: dict[str, float],
    log: logging.Logger,
) -> None:
    """Keys and indexes on the loaded staging tables (`rows` per table); each HNSW build's
    time goes in `seconds["hnsw_index_<table>"]` and its progress in the log."""
    key_memory = hnsw.maintenance_work_mem or KEY_BUILD_MEMORY
    _set_build_memory(conn, key_memory)
    if hnsw.parallel_workers is not None:
        conn.execute(
            sql.SQL("SET max_parallel_maintenance_workers = {}").format(hnsw.parallel_workers)
        )
    for table in PUBLISHED_TABLES:
        for statement in table.index_ddl(version, hnsw.m, hnsw.ef_construction):
            if "USING hnsw" not in statement:
                conn.execute(statement)
                continue
            memory = hnsw.maintenance_work_mem or hnsw_build_memory(
                rows[table.name], dimension, hnsw.m
            )
            _set_build_memory(conn, memory)
            started = time.perf_counter()
            label = f"hnsw index on {table.name}"
            pid = conn.info.backend_pid
            with _index_build_progress(url, pid, rows[table.name], label, memory, log):
                conn.execute(statement)
            seconds[f"hnsw_index_{table.name}"] = time.perf_counter() - started
            _set_build_memory(conn, key_memory)


def _analyze(conn: psycopg.Connection) -> None:
    for table in PUBLISHED:
        conn.execute(sql.SQL("ANALYZE {}").format(_name(table, STAGING)))


def _swap(conn: psycopg.Connection, version: int, swap: SwapConfig) -> None:
    """Rename live -> previous and staging -> live for every published table, in one
    transaction, locking the live tables in the readers' order (track_model first); mark
    the version live and the one it replaces previous."""

    def rename_all() -> None:
        live = [t for t in PUBLISHED if _exists(conn, t)]
        if live:
            _lock(conn, live)
        for table in PUBLISHED:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_name(table, PREVIOUS)))
            if table in live:
                _rename(conn, table, table + PREVIOUS)
            _rename(conn, table + STAGING, table)
        conn.execute(
            f"""UPDATE {MODEL_VERSIONS} SET status = CASE
                WHEN version = %(v)s THEN 'live'
                WHEN status = 'live' THEN 'previous'
                ELSE 'retired' END,
                published_at = CASE WHEN version = %(v)s THEN now() ELSE published_at END
            WHERE version = %(v)s OR status IN ('live', 'previous')""",
            {"v": version},
        )

    _retried_on_lock_timeout(conn, swap, rename_all)


def _mark_failed(
    conn: psycopg.Connection, version: int, error: BaseException, log: logging.Logger
) -> None:
    """Undo a failed publish: drop the staging tables and record the version as failed."""
    log.error("publish of version %d failed: %s", version, error)
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.rollback()
    _drop_staging(conn)
    conn.execute(
        f"UPDATE {MODEL_VERSIONS} SET status = 'failed', error = %s WHERE version = %s",
        [str(error)[:2000], version],
    )


def publish(
    url: str,
    rows: Mapping[str, Iterable[tuple]],
    model: TrackModel,
    options: PublishOptions | None = None,
    run_id: str | None = None,
    metrics: dict | None = None,
    log: logging.Logger | None = None,
) -> PublishResult:
    """Load, index and swap in a new version; the previous one is kept for `rollback`.

    `rows` maps each published table (algorhythms_store.schema.PUBLISHED_TABLES, but
    `track_model`) to its rows, tuples in the registry's column order; a table it leaves out
    is published empty. `model` is the `track_model` row."""
    log = log or logging.getLogger(__name__)
    options = options or PublishOptions()
    unknown = set(rows) - (set(PUBLISHED) - {TRACK_MODEL})
    if unknown:
        raise ValueError(f"not published tables with rows: {sorted(unknown)}")
    ensure_schema(url)
    seconds: dict[str, float] = {}
    with connect(url, autocommit=True) as conn, _publisher_lock(conn):
        _watch_client(conn)
        version = _create_version(conn, run_id, model.dimension, metrics)
        try:
            with _timed(seconds, "copy"):
                counts = _load_staging(
                    conn, {**rows, TRACK_MODEL: [model.row(version)]}, model.dimension
                )
            _record_rows(conn, version, counts[TRACK_VECTORS])
            log.info("copied %s", ", ".join(f"{n} rows into {t}" for t, n in counts.items()))
            with _timed(seconds, "indexes"):
                _build_indexes(
                    conn, url, version, options.hnsw, counts, model.dimension, seconds, log
                )
            with _timed(seconds, "analyze"):
                _analyze(conn)
            with _timed(seconds, "swap"):
                _swap(conn, version, options.swap)
        except BaseException as error:
            _mark_failed(conn, version, error, log)
            raise
    log.info("version %d live: %s", version, {k: round(v, 2) for k, v in seconds.items()})
    return PublishResult(version, model.dimension, counts, seconds)


def rollback(url: str, swap: SwapConfig | None = None) -> int:
    """Swap the previous version back in (the replaced one becomes the previous); its number."""
    swap = swap or SwapConfig()

    def swap_back() -> int:
        _lock(conn, list(PUBLISHED))
        for table in PUBLISHED:
            _rename(conn, table, table + "_rollback")
            _rename(conn, table + PREVIOUS, table)
            _rename(conn, table + "_rollback", table + PREVIOUS)
        version = conn.execute(f"SELECT version FROM {TRACK_MODEL}").fetchone()[0]
        conn.execute(
            f"""UPDATE {MODEL_VERSIONS} SET status = CASE
                WHEN version = %s THEN 'live' ELSE 'previous' END
            WHERE status IN ('live', 'previous')""",
            [version],
        )
        return version

    with connect(url, autocommit=True) as conn, _publisher_lock(conn):
        if any(not _exists(conn, t + PREVIOUS) for t in PUBLISHED):
            raise LookupError("there is no previous version to roll back to")
        return _retried_on_lock_timeout(conn, swap, swap_back)


def live_version(url: str) -> int | None:
    with psycopg.connect(url, autocommit=True) as conn:
        if not _exists(conn, TRACK_MODEL):
            return None
        row = conn.execute(f"SELECT version FROM {TRACK_MODEL}").fetchone()
        return row[0] if row else None
