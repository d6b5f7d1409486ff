"""Publish a version of the recommender's tables, and roll back to the previous one.

`publish` loads everything into staging tables with binary COPY, builds the indexes after the
load (HNSW last), runs ANALYZE, then swaps all tables in by rename inside one transaction; the
replaced tables are kept as `<name>_previous` for `rollback`. Readers never see a half-loaded or
mixed set: until the swap commits they read the old tables, afterwards the new ones. A failure
before the swap drops the staging tables, records the version as failed and leaves the live
version serving.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg import sql

from algorhythms_store.coldstart import pack_arrays
from algorhythms_store.database import connect, ensure_extension
from algorhythms_store.schema import (
    ARTIST_NEIGHBORS,
    MEMBER_COLUMNS,
    MEMBER_TYPES,
    MODEL_VERSIONS,
    MODEL_VERSIONS_DDL,
    NEIGHBOR_COLUMNS,
    NEIGHBOR_TYPES,
    PLAYLIST_MEMBERS,
    PREVIOUS,
    PUBLISHED,
    STAGING,
    STATS_COLUMNS,
    STATS_TYPES,
    TITLE_COLUMNS,
    TITLE_TRACKS,
    TITLE_TYPES,
    TRACK_COLUMNS,
    TRACK_MODEL,
    TRACK_NEIGHBORS,
    TRACK_STATS,
    TRACK_TYPES,
    TRACK_VECTORS,
    index_ddl,
    staging_ddl,
)

PUBLISH_LOCK = 0x616C676F  # pg advisory lock key: one publisher at a time
COPY_BATCH = 10_000


@dataclass(frozen=True)
class HnswConfig:
    m: int = 16
    ef_construction: int = 128  # recall@10 0.95 at ef_search 64 (benchmarks/serving.py)
    maintenance_work_mem: str = "512MB"  # the build is fast only while the graph fits in it
    parallel_workers: int | None = None  # None: PostgreSQL's default


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
    rows: int
    dimension: int
    title_rows: int
    neighbor_rows: int
    member_rows: int = 0
    stats_rows: int = 0
    artist_neighbor_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def ensure_schema(url: str) -> None:
    ensure_extension(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(MODEL_VERSIONS_DDL)


def _name(table: str, suffix: str = "") -> sql.Identifier:
    return sql.Identifier(table + suffix)


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]


def _drop_staging(conn: psycopg.Connection) -> None:
    for table in PUBLISHED:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_name(table, STAGING)))


def _copy(conn: psycopg.Connection, table: str, columns, types, rows: Iterable[tuple]) -> int:
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
        _name(table, STAGING), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    n = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _swap(conn: psycopg.Connection, version: int, lock_timeout_ms: int, attempts: int) -> None:
    """Rename live -> previous and staging -> live for every published table, in one
    transaction. Locks are taken in the readers' order (track_model first) with a short
    lock timeout, retried: a swap never holds a lock while a reader waits on it for long."""
    for attempt in range(attempts):
        try:
            with conn.transaction():
                conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(lock_timeout_ms))
                live = [t for t in PUBLISHED if _exists(conn, t)]
                if live:
                    conn.execute(
                        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                            sql.SQL(", ").join(_name(t) for t in live)
                        )
                    )
                for table in PUBLISHED:
                    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_name(table, PREVIOUS)))
                    if table in live:
                        conn.execute(
                            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                                _name(table), _name(table, PREVIOUS)
                            )
                        )
                    conn.execute(
                        sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                            _name(table, STAGING), _name(table)
                        )
                    )
                conn.execute(
                    f"""UPDATE {MODEL_VERSIONS} SET status = CASE
                        WHEN version = %(v)s THEN 'live'
                        WHEN status = 'live' THEN 'previous'
                        ELSE 'retired' END,
                        published_at = CASE WHEN version = %(v)s THEN now() ELSE published_at END
                    WHERE version = %(v)s OR status IN ('live', 'previous')""",
                    {"v": version},
                )
            return
        except psycopg.errors.LockNotAvailable:
            time.sleep(min(0.05 * 2**attempt, 1.0))
    raise TimeoutError(f"could not lock the published tables in {attempts} attempts")


def publish(
    url: str,
    tracks: Tracks,
    coldstart: tuple[dict[str, np.ndarray], dict] | None = None,
    titles: Iterable[tuple[str, int, float]] = (),
    neighbors: Iterable[tuple[int, int, float]] = (),
    members: Iterable[tuple[int, int, int]] = (),
    stats: Iterable[tuple[int, int, int, int, int]] = (),
    artist_neighbors: Iterable[tuple[int, int, float]] = (),
    ranker: str | None = None,
    hnsw: HnswConfig | None = None,
    run_id: str | None = None,
    metrics: dict | None = None,
    log: logging.Logger | None = None,
    lock_timeout_ms: int = 200,
    swap_attempts: int = 50,
) -> PublishResult:
    """Load, index and swap in a new version; the previous one is kept for `rollback`."""
    log = log or logging.getLogger(__name__)
    hnsw = hnsw or HnswConfig()
    dimension = int(tracks.vectors.shape[1])
    ensure_schema(url)
    seconds: dict[str, float] = {}
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [PUBLISH_LOCK])
        try:
            conn.execute(
                f"UPDATE {MODEL_VERSIONS} SET status = 'failed', error = 'abandoned' "
                "WHERE status = 'loading'"
            )
            version = conn.execute(
                f"INSERT INTO {MODEL_VERSIONS} (run_id, status, rows, dimension, metrics) "
                "VALUES (%s, 'loading', %s, %s, %s) RETURNING version",
                [run_id, len(tracks), dimension, json.dumps(metrics or {})],
            ).fetchone()[0]
            try:
                _drop_staging(conn)
                for statement in staging_ddl(dimension).values():
                    conn.execute(statement)
                started = time.perf_counter()
                with conn.transaction():
                    rows = _copy(conn, TRACK_VECTORS, TRACK_COLUMNS, TRACK_TYPES, tracks.rows())
                    title_rows = _copy(conn, TITLE_TRACKS, TITLE_COLUMNS, TITLE_TYPES, titles)
                    neighbor_rows = _copy(
                        conn, TRACK_NEIGHBORS, NEIGHBOR_COLUMNS, NEIGHBOR_TYPES, neighbors
                    )
                    member_rows = _copy(
                        conn, PLAYLIST_MEMBERS, MEMBER_COLUMNS, MEMBER_TYPES, members
                    )
                    stats_rows = _copy(conn, TRACK_STATS, STATS_COLUMNS, STATS_TYPES, stats)
                    artist_rows = _copy(
                        conn, ARTIST_NEIGHBORS, NEIGHBOR_COLUMNS, NEIGHBOR_TYPES, artist_neighbors
                    )
                    spec, blob = (None, None)
                    if coldstart is not None:
                        spec, blob = json.dumps(coldstart[1]), pack_arrays(coldstart[0])
                    conn.execute(
                        sql.SQL(
                            "INSERT INTO {} (version, dimension, coldstart_spec, coldstart_arrays,"
                            " ranker) VALUES (%s, %s, %s, %s, %s)"
                        ).format(_name(TRACK_MODEL, STAGING)),
                        [version, dimension, spec, blob, ranker],
                    )
                seconds["copy"] = time.perf_counter() - started
                log.info(
                    "copied %d tracks, %d title rows, %d neighbour rows, %d playlist rows, "
                    "%d track stats, %d artist neighbour rows",
                    rows,
                    title_rows,
                    neighbor_rows,
                    member_rows,
                    stats_rows,
                    artist_rows,
                )
                started = time.perf_counter()
                conn.execute(
                    sql.SQL("SET maintenance_work_mem = {}").format(
                        sql.Literal(hnsw.maintenance_work_mem)
                    )
                )
                if hnsw.parallel_workers is not None:
                    conn.execute(
                        sql.SQL("SET max_parallel_maintenance_workers = {}").format(
                            hnsw.parallel_workers
                        )
                    )
                statements = index_ddl(version, hnsw.m, hnsw.ef_construction)
                for statement in statements:
                    step = time.perf_counter()
                    conn.execute(statement)
                    if "hnsw" in statement:
                        seconds["hnsw_index"] = time.perf_counter() - step
                seconds["indexes"] = time.perf_counter() - started
                started = time.perf_counter()
                for table in PUBLISHED:
                    conn.execute(sql.SQL("ANALYZE {}").format(_name(table, STAGING)))
                seconds["analyze"] = time.perf_counter() - started
                started = time.perf_counter()
                _swap(conn, version, lock_timeout_ms, swap_attempts)
                seconds["swap"] = time.perf_counter() - started
            except BaseException as error:
                log.error("publish of version %d failed: %s", version, error)
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.rollback()
                _drop_staging(conn)
                conn.execute(
                    f"UPDATE {MODEL_VERSIONS} SET status = 'failed', error = %s WHERE version = %s",
                    [str(error)[:2000], version],
                )
                raise
        finally:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", [PUBLISH_LOCK])
    log.info("version %d live: %s", version, {k: round(v, 2) for k, v in seconds.items()})
    return PublishResult(
        version,
        rows,
        dimension,
        title_rows,
        neighbor_rows,
        member_rows,
        stats_rows,
        artist_rows,
        seconds,
    )


def rollback(url: str, lock_timeout_ms: int = 200, attempts: int = 50) -> int:
    """Swap the previous version back in (the replaced one becomes the previous); its number."""
    with connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [PUBLISH_LOCK])
        try:
            missing = [t for t in PUBLISHED if not _exists(conn, t + PREVIOUS)]
            if missing:
                raise LookupError("there is no previous version to roll back to")
            for attempt in range(attempts):
                try:
                    with conn.transaction():
                        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(lock_timeout_ms))
                        conn.execute(
                            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                                sql.SQL(", ").join(_name(t) for t in PUBLISHED)
                            )
                        )
                        for table in PUBLISHED:
                            for src, dst in (
                                (table, table + "_rollback"),
                                (table + PREVIOUS, table),
                                (table + "_rollback", table + PREVIOUS),
                            ):
                                conn.execute(
                                    sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                                        sql.Identifier(src), sql.Identifier(dst)
                                    )
                                )
                        version = conn.execute(f"SELECT version FROM {TRACK_MODEL}").fetchone()[0]
                        conn.execute(
                            f"""UPDATE {MODEL_VERSIONS} SET status = CASE
                                WHEN version = %s THEN 'live' ELSE 'previous' END
                            WHERE status IN ('live', 'previous')""",
                            [version],
                        )
                    return version
                except psycopg.errors.LockNotAvailable:
                    time.sleep(min(0.05 * 2**attempt, 1.0))
            raise TimeoutError(f"could not lock the published tables in {attempts} attempts")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [PUBLISH_LOCK])


def live_version(url: str) -> int | None:
    with psycopg.connect(url, autocommit=True) as conn:
        if not _exists(conn, TRACK_MODEL):
            return None
        row = conn.execute(f"SELECT version FROM {TRACK_MODEL}").fetchone()
        return row[0] if row else None
