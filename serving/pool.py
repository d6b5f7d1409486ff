"""The connection pool: where the database is, and the session every service query assumes."""

from __future__ import annotations

import time

from pgvector.psycopg import register_vector_async
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, pool_async
from psycopg_pool.base import AttemptWithBackoff

from algorhythms_store.database import resolve_url
from serving.arrays import register_numpy_arrays
from serving.settings import Settings


def database_url(settings: Settings) -> str:
    """The settings' URL, or the embedded server in the data folder (started if need be)."""
    return resolve_url(settings.database_url, settings.data_dir)


async def register_vector(conn: AsyncConnection) -> bool:
    """Register pgvector's types on `conn` once the database has them (nothing may be published
    yet: then the connection is still good for /ready to say so)."""
    if conn.adapters.types.get("vector") is not None:
        return True
    row = await (await conn.execute("SELECT to_regtype('vector') IS NOT NULL")).fetchone()
    if row[0]:
        await register_vector_async(conn)
    return row[0]


async def configure_connection(conn: AsyncConnection, settings: Settings) -> None:
    """Autocommit, pgvector's types, numpy arrays, and the session settings every service query
    assumes."""
    await conn.set_autocommit(True)
    register_numpy_arrays(conn)
    await register_vector(conn)
    await conn.execute(
        "SELECT set_config('hnsw.ef_search', %s, false),"
        " set_config('hnsw.iterative_scan', 'relaxed_order', false),"
        " set_config('hnsw.max_scan_tuples', %s, false),"
        " set_config('statement_timeout', %s, false)",
        [
            str(settings.ef_search),
            str(settings.max_scan_tuples),
            str(settings.statement_timeout_ms),
        ],
    )


async def connect(url: str, settings: Settings) -> AsyncConnection:
    """A connection of its own, outside the pool, set up as the pool's are (for work that must
    outlive the request that started it: ModelCache's loads)."""
    conn = await AsyncConnection.connect(url, connect_timeout=settings.connect_timeout_s)
    try:
        await configure_connection(conn, settings)
    except BaseException:
        await conn.close()
        raise
    return conn


class _CappedBackoff(AttemptWithBackoff):
    """psycopg_pool's reconnection backoff, its delay capped at RECONNECT_MAX_DELAY_S: doubling
    without a cap, a database down for 25 s is tried again only about 30 s after it went down,
    and the service stays unavailable for seconds after the database is back."""

    def update_delay(self, now: float) -> None:
        super().update_delay(now)
        self.delay = min(self.delay, RECONNECT_MAX_DELAY_S)


RECONNECT_MAX_DELAY_S = 1.0
# The pool makes its connection attempts through this name.
pool_async.AttemptWithBackoff = _CappedBackoff


class DatabaseHealth:
    """When the database last failed (a connect, a statement): a full pool this soon after is
    not "busy", and pooled connections are checked before use until it has been well for
    RECENT_S (after a restart every pooled connection is dead; checking each one always would
    cost every request a round trip)."""

    RECENT_S = 10.0

    def __init__(self) -> None:
        self.failed_at = -float("inf")
        self._pool_errors = 0

    def failed(self) -> None:
        self.failed_at = time.monotonic()

    def recently_failed(self, pool: AsyncConnectionPool | None = None) -> bool:
        if pool is not None:
            errors = pool.get_stats().get("connections_errors", 0)
            if errors > self._pool_errors:
                self._pool_errors = errors
                self.failed()
        return time.monotonic() - self.failed_at < self.RECENT_S

    async def check(self, conn: AsyncConnection) -> None:
        if self.recently_failed():
            await AsyncConnectionPool.check_connection(conn)


def make_pool(
    url: str, settings: Settings, health: DatabaseHealth | None = None
) -> AsyncConnectionPool:
    health = health or DatabaseHealth()

    async def configure(conn: AsyncConnection) -> None:
        await configure_connection(conn, settings)

    return AsyncConnectionPool(
        url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout_s,
        max_waiting=settings.pool_max_waiting,
        kwargs={"connect_timeout": settings.connect_timeout_s},
        configure=configure,
        # after a failure, a connection the database dropped (a restart) is replaced before a
        # request gets it
        check=health.check,
        open=False,
        name="algorhythms",
    )
