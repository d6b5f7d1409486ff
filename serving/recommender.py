"""Answers from the published version, one path per request over one resolved `Query`.

Playlists (`continue_playlist`): the learned ranker over the playlist's catalogue tracks and
title when the version has one (algorhythms_store.ranking, the code training and evaluation
use); else its songs; else its title; every answer topped up with the most popular tracks.
Songs (`recommend_songs`): the query is the normalised sum of the seeds' unit vectors
(catalogue songs by their published vector, unknown songs with features by the cold-start
model); candidates are its item-kNN neighbours and nearest tracks (HNSW), scored
knn + embedding_weight * cosine, less dislike_weight * the highest cosine to a dislike.
Titles: tracks of playlists with the same title keys, by the ranking's title score.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from psycopg import AsyncConnection

from algorhythms_store.ranking import candidate_scores, feature_matrix, rank, title_scores, top_up
from serving import published
from serving.errors import NoUsableSongs, VersionChanged
from serving.models import ModelCache, VersionModels
from serving.published import TrackFields
from serving.query import Query, SongSeed

MAX_FETCH = 1000
EMBEDDING_WEIGHT = 1.0  # candidate score = knn + EMBEDDING_WEIGHT * cosine (tuned on mpd_dev)
DISLIKE_WEIGHT = 0.5


@dataclass
class Item:
    uri: str
    name: str | None
    artist: str | None
    album: str | None
    score: float


@dataclass
class Result:
    version: int
    source: str
    items: list[Item]
    skipped: list[str] = field(default_factory=list)


Scored = list[tuple[int, float]]  # track id, score; best first


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def _pool(count: int, left_out: int) -> int:
    """Candidates to draw from each source: enough to fill `count` after leaving some out."""
    return min(MAX_FETCH, count + left_out)


def _cold_start(query: Query, models: VersionModels) -> tuple[np.ndarray | None, list[str]]:
    """(the sum of the cold-start model's unit vectors for the described unknown songs, or None;
    the unknown songs it cannot use, in request order)."""
    model = models.coldstart
    usable = [s for s in query.unknown if s.features and model and model.usable(s.features)]
    skipped = [s.uri for s in query.unknown if s not in usable]
    if not usable:
        return None, skipped
    vectors = _unit(np.asarray(model.embed([s.features for s in usable]), np.float32))
    return vectors.sum(axis=0), skipped


async def _songs(
    conn: AsyncConnection,
    query: Query,
    models: VersionModels,
    count: int,
    embedding_weight: float,
    dislike_weight: float,
) -> tuple[list[tuple[int, TrackFields, float]], list[str]]:
    """(the tracks that go best with the query's songs as (id, fields, score), the songs left
    unused); NoUsableSongs when none is usable."""
    cold, skipped = _cold_start(query, models)
    if not query.seed_ids and cold is None:
        raise NoUsableSongs(skipped)
    wanted = 2 * count if query.ids(query.dislikes) else count
    pool = _pool(wanted, len(query.excluded_ids))
    rows = await published.songs(conn, query, cold, count, pool, embedding_weight, dislike_weight)
    return rows, skipped


async def _ranked(conn: AsyncConnection, query: Query, models: VersionModels, count: int) -> Scored:
    """The learned ranker's best `count` candidates for the playlist, with their scores."""
    similar = models.titles.similar_rows(query.name)
    ev = await published.evidence(conn, query, models.popular, similar)
    candidates, scores = candidate_scores(ev)
    candidates, stats = await published.track_stats(conn, query.version, candidates)
    X = feature_matrix(ev, candidates, scores, stats)
    order, values = rank(ev, candidates, X, models.ranker)
    return list(zip(order[:count].tolist(), values[:count].tolist(), strict=True))


async def _titled(conn: AsyncConnection, query: Query, count: int) -> Scored:
    """The best `count` tracks of playlists with the query's title keys, by the title score."""
    if not query.title_keys:
        return []
    tracks, scores = title_scores(*await published.title_rows(conn, query))
    keep = ~np.isin(tracks, query.seed_ids)
    tracks, scores = tracks[keep], scores[keep]
    order = np.lexsort((tracks, -scores))[:count]
    return list(zip(tracks[order].tolist(), scores[order].tolist(), strict=True))


def _topped_up(scored: Scored, popular: np.ndarray, exclude: set[int], count: int) -> Scored:
    """The first `count` of `scored`, filled up with popular tracks scored below them."""
    score = dict(scored)
    chosen = top_up([t for t, _ in scored], popular, exclude, count)
    ranked = [(t, score[t]) for t in chosen if t in score]
    floor = min((s for _, s in ranked), default=0.0) - 1.0
    extra = [t for t in chosen if t not in score]
    return ranked + [(t, floor - i) for i, t in enumerate(extra)]


async def _continuation(
    conn: AsyncConnection, query: Query, models: VersionModels, count: int, embedding_weight: float
) -> tuple[str, Scored, dict[int, TrackFields], list[str]]:
    """(source, tracks best first, the fields known of them, skipped songs) of the first path
    that applies: ranker, songs, title."""
    if models.ranker is not None and (query.seed_ids or query.title_keys):
        return "ranker", await _ranked(conn, query, models, count), {}, query.skipped
    skipped: list[str] = []
    if query.seeds:
        try:
            rows, skipped = await _songs(
                conn, query, models, count, embedding_weight, DISLIKE_WEIGHT
            )
            return "songs", [(t, s) for t, _, s in rows], {t: f for t, f, _ in rows}, skipped
        except NoUsableSongs as error:
            skipped = error.skipped
    return "title", await _titled(conn, query, count), {}, skipped


async def continue_playlist(
    conn: AsyncConnection,
    models: ModelCache,
    name: str | None,
    seeds: list[SongSeed],
    count: int,
    embedding_weight: float = EMBEDDING_WEIGHT,
) -> Result:
    """The next `count` tracks of a playlist, never one of its tracks."""
    query = await published.resolve(conn, seeds, name)
    version_models = await models.get(conn, query.version)
    source, scored, fields, skipped = await _continuation(
        conn, query, version_models, count, embedding_weight
    )
    chosen = _topped_up(scored, version_models.popular, set(query.seed_ids), count)
    if source == "title":
        filled = len(chosen) > min(len(scored), count)
        source = "title+popularity" if scored and filled else "title" if scored else "popularity"
    missing = [t for t, _ in chosen if t not in fields]
    fields.update(await published.tracks(conn, query.version, missing))
    items = [Item(*fields[t], score) for t, score in chosen if t in fields]
    return Result(query.version, source, items, skipped)


async def recommend_songs(
    conn: AsyncConnection,
    models: ModelCache,
    seeds: list[SongSeed],
    count: int,
    exclude: list[str] = (),
    dislikes: list[str] = (),
    dislike_weight: float = DISLIKE_WEIGHT,
    embedding_weight: float = EMBEDDING_WEIGHT,
) -> Result:
    """The `count` tracks that go best with `seeds`, none of them excluded or disliked."""
    query = await published.resolve(conn, seeds, exclude=exclude, dislikes=dislikes)
    version_models = await models.get(conn, query.version)
    rows, skipped = await _songs(
        conn, query, version_models, count, embedding_weight, dislike_weight
    )
    return Result(query.version, "songs", [Item(*f, s) for _, f, s in rows], skipped)


async def similar_tracks(conn: AsyncConnection, uri: str, count: int) -> Result | None:
    """Nearest tracks to one catalogue track; None when it is not in the catalogue."""
    found = await published.nearest_to_track(conn, uri, count)
    if found is None:
        return None
    version, rows = found
    items = sorted((Item(*f, s) for _, f, s in rows), key=lambda item: -item.score)
    return Result(version, "songs", items)


T = TypeVar("T")


async def with_retry(answer: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Run `answer()` again when a new version went live between its statements."""
    for attempt in range(attempts):
        try:
            return await answer()
        except VersionChanged:
            if attempt == attempts - 1:
                raise
