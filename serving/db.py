"""The connection pool, the per-request connection dependency, and the cold-start model cache."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from pgvector.psycopg import register_vector_async
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from algorhythms_store.coldstart import ColdStartModel, unpack_arrays
from algorhythms_store.database import resolve_url
from serving import sql
from serving.settings import Settings


class NotPublished(Exception):
    """The database has no published version yet."""


class VersionChanged(Exception):
    """A new version went live between two statements of one request."""


def database_url(settings: Settings) -> str:
    """The settings' URL, or the embedded server in the data folder (started if need be)."""
    return resolve_url(settings.database_url, settings.data_dir)


async def _register_vector(conn: AsyncConnection) -> bool:
    """Register pgvector's types on `conn` once the database has them (nothing may be published
    yet: then the connection is still good for /ready to say so)."""
    if conn.adapters.types.get("vector") is not None:
        return True
    row = await (await conn.execute("SELECT to_regtype('vector') IS NOT NULL")).fetchone()
    if row[0]:
        await register_vector_async(conn)
    return row[0]


async def configure_connection(conn: AsyncConnection, settings: Settings) -> None:
    """Autocommit, pgvector's types, and the session settings every service query assumes."""
    await conn.set_autocommit(True)
    await _register_vector(conn)
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


def make_pool(url: str, settings: Settings) -> AsyncConnectionPool:
    async def configure(conn: AsyncConnection) -> None:
        await configure_connection(conn, settings)

    return AsyncConnectionPool(
        url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout_s,
        configure=configure,
        open=False,
        name="algorhythms",
    )


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        if not await _register_vector(conn):
            raise NotPublished
        yield conn


Connection = Annotated[AsyncConnection, Depends(get_connection)]


class ModelCache:
    """The published cold-start model, loaded once per version (and the ranker's cache)."""

    def __init__(self) -> None:
        from serving.ranking import RankerCache

        self._models: dict[int, ColdStartModel | None] = {}
        self._lock = asyncio.Lock()
        self.ranking = RankerCache()

    async def get(self, conn: AsyncConnection, version: int) -> ColdStartModel | None:
        if version in self._models:
            return self._models[version]
        async with self._lock:
            if version not in self._models:
                row = await (await conn.execute(sql.COLDSTART_MODEL)).fetchone()
                if row is None:
                    raise NotPublished
                if row[0] != version:
                    raise VersionChanged
                model = None
                if row[1] is not None and row[2] is not None:
                    arrays = await asyncio.to_thread(unpack_arrays, row[2])
                    model = ColdStartModel(arrays=arrays, spec=row[1])
                self._models = {version: model}  # older versions are no longer needed
            return self._models[version]


def get_models(request: Request) -> ModelCache:
    return request.app.state.models


Models = Annotated[ModelCache, Depends(get_models)]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
