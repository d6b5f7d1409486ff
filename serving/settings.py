"""Service settings, read from the environment."""

import os
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """`DATABASE_URL` names the published database; without it the service starts (or joins) the
    embedded server under `ALGORHYTHMS_DATA_DIR/postgres`. Other knobs: `ALGORHYTHMS_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="ALGORHYTHMS_", extra="ignore")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "ALGORHYTHMS_DATABASE_URL")
    )
    data_dir: Path = Path("data")
    pool_min_size: int = Field(default=2, ge=0)
    # More connections than about twice the database's cores only add contention (on two cores,
    # 16 connections doubled p99 latency against 4 under the same load).
    pool_max_size: int = Field(default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)), ge=1)
    # How long a request waits for a pooled connection, and how many may wait at once: beyond
    # the first, 503 "busy"; beyond the second, 503 "busy" at once, without queueing. (2 s made
    # 1% of 16 clients' requests fail while a publish built its index on the same 2 cores.)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    pool_max_waiting: int = Field(default=32, ge=0)
    # Connecting to the database (a stopped or frozen one) gives up after this long.
    connect_timeout_s: int = Field(default=3, ge=1)
    statement_timeout_ms: int = Field(default=5000, ge=0)
    # Every request is answered within this long: past it, 503 (see serving.limits).
    request_timeout_s: float = Field(default=5.0, gt=0)
    # Request bodies: at most this many bytes (413 beyond it; the largest valid request, every
    # list and text at its limit in 4-byte UTF-8 characters, is about 6.7 MB), sent within
    # body_timeout_s (408 beyond it).
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(default=30.0, gt=0)
    # Connections (serving.server): a connection that has not sent a request's headers this
    # long after opening or after its previous answer is closed; idle keep-alive connections
    # after keep_alive_s; connections and requests beyond max_connections get 503.
    header_timeout_s: float = Field(default=10.0, gt=0)
    keep_alive_s: int = Field(default=5, ge=1)
    max_connections: int = Field(default=512, ge=1)
    ef_search: int = Field(default=64, ge=1, le=1000)
    max_scan_tuples: int = Field(default=20000, ge=1)
    dislike_weight: float = Field(default=0.5, ge=0)
    # Candidate score = item-kNN score (best = 1) + embedding_weight * cosine to the query.
    embedding_weight: float = Field(default=1.0, ge=0)
    retry_after_s: int = Field(default=5, ge=1)
