"""What a published version's answers need besides its tables, loaded once per version: the
cold-start model, the ranker, the most popular tracks, the similar-title index and the song
vectors the ranker's embedding features read."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
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
    """The live version's models, loaded once per version; a new version replaces them (older
    versions are no longer asked for).

    With `connect` (an async callable giving a configured connection of the loader's own), the
    load runs in a task of its own: a request that gives up while it runs (its timeout, a
    client gone) does not cancel it, and every request for that version waits on the same
    load. At the full MPD the song vectors and whole titles take seconds to read, longer than a
    request may take: loaded within the request, each request's timeout would cancel the load
    and the next would start it again. Without `connect` the first request loads them on its
    own connection."""

    def __init__(self, connect: Callable[[], Awaitable[AsyncConnection]] | None = None) -> None:
        self.connect = connect
        self._models: VersionModels | None = None
        self._lock = asyncio.Lock()
        self._loading: tuple[int, asyncio.Task] | None = None
        self._compiling: asyncio.Task | None = None

    async def get(self, conn: AsyncConnection, version: int) -> VersionModels:
        models = self._models
        if models is not None and models.version == version:
            return models
        if self.connect is None:
            async with self._lock:
                if self._models is None or self._models.version != version:
                    self._set(await self._load(conn, version))
                return self._models
        if self._loading is None or self._loading[0] != version:
            task = asyncio.create_task(self._load_own(version))
            # retrieved here: a failure after every waiting request gave up is no error of its
            # own (the next request loads again)
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            self._loading = (version, task)
        return await asyncio.shield(self._loading[1])

    async def _load_own(self, version: int) -> VersionModels:
        """Load `version` on a connection of the loader's own, closed after; a failed load is
        forgotten, so that the next request tries again."""
        try:
            conn = await self.connect()
            try:
                models = await self._load(conn, version)
            finally:
                await conn.close()
        except BaseException:
            if self._loading is not None and self._loading[0] == version:
                self._loading = None
            raise
        self._set(models)
        return models

    async def _load(self, conn: AsyncConnection, version: int) -> VersionModels:
        log.info("loading the models of version %s", version)
        started = time.perf_counter()
        models = await load(conn, version)
        log.info(
            "loaded the models of version %s in %.1f s", version, time.perf_counter() - started
        )
        return models

    def _set(self, models: VersionModels) -> None:
        """Serve `models` from now on (unless a newer version's are served already) and compile
        their ranker in the background."""
        if self._models is not None and self._models.version > models.version:
            return
        self._models = models
        if models.ranker is not None:
            self._compiling = asyncio.create_task(_compile(models.ranker, models.version))
