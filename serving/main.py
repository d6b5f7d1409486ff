"""The FastAPI application: `create_app(settings)`; nothing is built at import time."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout, TooManyRequests
from threadpoolctl import threadpool_limits

from serving.api.routes import health, model, page, playlists, recommendations, tracks
from serving.errors import NotPublished, VersionChanged
from serving.limits import RequestLimits
from serving.models import ModelCache
from serving.pool import DatabaseHealth, connect, database_url, make_pool
from serving.settings import Settings

log = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "the database is unavailable"
BUSY = "the service is at capacity: every database connection is in use"
MAX_ERRORS = 20  # validation errors listed in a 422


def _short(value, limit: int = 200) -> str:
    """Text safe to answer with: cut to `limit` characters, lone surrogates escaped."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def validation_errors(errors: list[dict]) -> list[dict]:
    """The location, message and type of each error, without the input it was given (which
    may be large, or not encodable: NaN, lone surrogates)."""
    out = [
        {
            "loc": [e if isinstance(e, int) else _short(e, 64) for e in error.get("loc", ())],
            "msg": _short(error.get("msg", "")),
            "type": _short(error.get("type", ""), 64),
        }
        for error in errors[:MAX_ERRORS]
    ]
    if len(errors) > MAX_ERRORS:
        out.append({"loc": [], "msg": f"and {len(errors) - MAX_ERRORS} more", "type": "more"})
    return out


NOT_PUBLISHED = "no model version is published yet"
VERSION_CHANGING = "a new model version is going live"
INVALID_TEXT = "the request holds text the database cannot store (e.g. NUL characters)"


def _add_error_handlers(app: FastAPI, settings: Settings, database_health: DatabaseHealth) -> None:
    """How a request that cannot be answered is answered: 503 with Retry-After when the database
    cannot answer (busy, unavailable, nothing published, a version going live), 422 when the
    request cannot be taken (never echoing it)."""

    def unavailable(detail: str) -> JSONResponse:
        return JSONResponse(
            status_code=503,
            content={"detail": detail},
            headers={"Retry-After": str(settings.retry_after_s)},
        )

    def busy() -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": BUSY}, headers={"Retry-After": "1"})

    @app.exception_handler(TooManyRequests)
    async def too_many_waiting(request: Request, error: Exception) -> JSONResponse:
        return busy()

    @app.exception_handler(PoolTimeout)
    async def no_connection(request: Request, error: Exception) -> JSONResponse:
        """Busy when every connection is in use and the database has not failed lately;
        otherwise it is unavailable (stopped, restarting, refusing connections)."""
        pool = request.app.state.pool
        stats = pool.get_stats()
        in_use = stats.get("pool_size", 0) > 0 and stats.get("pool_available", 0) == 0
        if in_use and not database_health.recently_failed(pool):
            return busy()
        log.warning("database unavailable: %s", error)
        return unavailable(DATABASE_UNAVAILABLE)

    @app.exception_handler(psycopg.OperationalError)
    async def database_down(request: Request, error: Exception) -> JSONResponse:
        database_health.failed()
        log.warning("database unavailable: %s", error)
        return unavailable(DATABASE_UNAVAILABLE)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": validation_errors(error.errors())})

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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    database_health = DatabaseHealth()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        url = await asyncio.to_thread(database_url, settings)
        pool = make_pool(url, settings, database_health)
        await pool.open(wait=False)
        app.state.pool = pool

        app.state.models = ModelCache(lambda: connect(url, settings))
        # A request's matrix products are small (a thousand candidates by 64 dimensions):
        # more BLAS threads only spin between them, taking the cores that the other requests
        # and PostgreSQL need (twice the service's CPU per continuation on two cores).
        with threadpool_limits(limits=1, user_api="blas"):
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

    _add_error_handlers(app, settings, database_health)
    for module in (health, recommendations, playlists, tracks, model, page):
        app.include_router(module.router)
    app.add_middleware(
        RequestLimits,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        request_timeout_s=settings.request_timeout_s,
        retry_after_s=settings.retry_after_s,
    )
    return app
