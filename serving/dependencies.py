"""What a route gets from the application: a pooled connection, the model cache, the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from serving.errors import NotPublished
from serving.models import ModelCache
from serving.pool import register_vector
from serving.settings import Settings


async def get_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        if not await register_vector(conn):
            raise NotPublished
        yield conn


Connection = Annotated[AsyncConnection, Depends(get_connection)]


def get_models(request: Request) -> ModelCache:
    return request.app.state.models


Models = Annotated[ModelCache, Depends(get_models)]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
