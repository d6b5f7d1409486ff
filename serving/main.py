"""The FastAPI application: `create_app(settings)`; nothing is built at import time."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

from serving.api.routes import health, playlists, recommendations, tracks
from serving.errors import NotPublished, VersionChanged
from serving.models import ModelCache
from serving.pool import database_url, make_pool
from serving.settings import Settings

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "the database is unavailable"
NOT_PUBLISHED = "no model version is published yet"
VERSION_CHANGING = "a new model version is going live"
INVALID_TEXT = "the request holds text the database cannot store (e.g. NUL characters)"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        url = await asyncio.to_thread(database_url, settings)
        pool = make_pool(url, settings)
        await pool.open(wait=False)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="AlgoRhythms",
        summary="Playlist continuation and song recommendations from the published vectors.",
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.models = ModelCache()

    def unavailable(detail: str) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": detail},
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    @app.exception_handler(PoolTimeout)
    @app.exception_handler(psycopg.OperationalError)
    async def database_down(request: Request, error: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", error)
        return unavailable(DATABASE_UNAVAILABLE)

    @app.exception_handler(NotPublished)
    @app.exception_handler(psycopg.errors.UndefinedTable)
    async def not_published(request: Request, error: Exception) -> JSONResponse:
        return unavailable(NOT_PUBLISHED)

    @app.exception_handler(VersionChanged)
    async def version_changing(request: Request, error: Exception) -> JSONResponse:
        return unavailable(VERSION_CHANGING)

    @app.exception_handler(psycopg.DataError)
    async def invalid_text(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": INVALID_TEXT})

    for module in (health, recommendations, playlists, tracks):
        app.include_router(module.router)
    return app
