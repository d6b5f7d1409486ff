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
    pool_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(default=5000, ge=0)
    ef_search: int = Field(default=64, ge=1, le=1000)
    max_scan_tuples: int = Field(default=20000, ge=1)
    dislike_weight: float = Field(default=0.5, ge=0)
    # Candidate score = item-kNN score (best = 1) + embedding_weight * cosine to the query.
    embedding_weight: float = Field(default=1.0, ge=0)
    retry_after_s: int = Field(default=5, ge=1)
