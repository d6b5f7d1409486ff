"""What a published version's answers need besides its tables, loaded once per version: the
cold-start model, the ranker, the most popular tracks, the similar-title index and the song
vectors the ranker's embedding features read."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import numpy as np
from psycopg import AsyncConnection

from algorhythms_store.coldstart import ColdStartModel, unpack_arrays
from algorhythms_store.ranking import POPULAR_KEPT, Ranker
from algorhythms_store.title_index import TitleIndex
from serving import published

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionModels:
    version: int
    coldstart: ColdStartModel | None
    ranker: Ranker | None
    popular: np.ndarray  # track ids, most popular first (POPULAR_KEPT of them)
    titles: TitleIndex
    vectors: np.ndarray | None  # the song vectors the ranker reads (published.load_song_vectors)


async def load(conn: AsyncConnection, version: int) -> VersionModels:
    """The models of `version` (VersionChanged if another one is live by now)."""
    spec, arrays, ranker_text = await published.models(conn, version)
    coldstart = None
    if spec is not None and arrays is not None:
        coldstart = ColdStartModel(arrays=await asyncio.to_thread(unpack_arrays, arrays), spec=spec)
    ranker = None
    if ranker_text is not None:
        try:
            ranker = await asyncio.to_thread(Ranker, ranker_text)
        except ValueError:  # trained on other features: a version published by older code
            log.warning("the ranker of version %s does not match this service's features", version)
    popular = await published.popular(conn, version, POPULAR_KEPT)
    keys, playlists, tracks, scores = await published.whole_titles(conn, version)
    titles = await asyncio.to_thread(TitleIndex.from_keys, keys, playlists, tracks, scores)
    vectors = await published.load_song_vectors(conn, version) if ranker is not None else None
    return VersionModels(version, coldstart, ranker, popular, titles, vectors)


async def _compile(ranker: Ranker, version: int) -> None:
    """Compile the ranker in a thread; requests score with LightGBM meanwhile (compiling takes
    seconds: no request waits for it)."""
    started = time.perf_counter()
    try:
        await asyncio.to_thread(ranker.compile)
    except Exception:
        log.exception("the ranker of version %s could not be compiled; LightGBM scores it", version)
        return
    log.info("compiled the ranker of version %s in %.1f s", version, time.perf_counter() - started)


class ModelCache:
    """The live version's models, loaded by the first request that needs them; a new version
    replaces them (older versions are no longer asked for)."""

    def __init__(self) -> None:
        self._models: VersionModels | None = None
        self._lock = asyncio.Lock()
        self._compiling: asyncio.Task | None = None

    async def get(self, conn: AsyncConnection, version: int) -> VersionModels:
        models = self._models
        if models is not None and models.version == version:
            return models
        async with self._lock:
            if self._models is None or self._models.version != version:
                self._models = await load(conn, version)
                if self._models.ranker is not None:
                    self._compiling = asyncio.create_task(_compile(self._models.ranker, version))
            return self._models
