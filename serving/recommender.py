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

from algorhythms_store.diversity import RANKED, Diversity, rerank
from algorhythms_store.ranking import (
    candidate_scores,
    feature_matrix,
    rank,
    title_scores,
    top_up,
)
from algorhythms_store.reasons import POPULAR as POPULAR_REASON
from algorhythms_store.reasons import SONG_SPACE, Reason, describe, ranked_reasons, seeds_of
from serving import published
from serving.errors import NoUsableSongs, VersionChanged
from serving.models import ModelCache, VersionModels
from serving.published import SongRow, TrackFields
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
    reasons: list[dict] = field(default_factory=list)  # reasons.describe of each


@dataclass
class Result:
    version: int
    source: str
    items: list[Item]
    skipped: list[str] = field(default_factory=list)


Scored = list[tuple[int, float]]  # track id, score; best first
Explain = Callable[[list[int]], dict[int, list[Reason]]]  # the reasons of some answered tracks
POPULAR = [POPULAR_REASON]


@dataclass
class Answer:
    """What one continuation path answered: tracks best first, the fields it already read, the
    songs it could not use, and how to explain its tracks."""

    source: str
    scored: Scored
    fields: dict[int, TrackFields]
    skipped: list[str]
    explain: Explain


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
) -> tuple[list[SongRow], list[str]]:
    """(the tracks that go best with the query's songs, the songs left unused); NoUsableSongs
    when none is usable."""
    cold, skipped = _cold_start(query, models)
    if not query.seed_ids and cold is None:
        raise NoUsableSongs(skipped)
    wanted = 2 * count if query.ids(query.dislikes) else count
    pool = _pool(wanted, len(query.excluded_ids))
    rows = await published.songs(conn, query, cold, count, pool, embedding_weight, dislike_weight)
    return rows, skipped


def _song_reasons(rows: list[SongRow], single_seed: int | None) -> Explain:
    """Reasons of the song path: the seed of the heaviest item-kNN row, and the vector search
    (naming the seed when there is one)."""
    found = {}
    for row in rows:
        reasons = [Reason("co-occurrence", seed=row.best_seed)] if row.best_seed is not None else []
        if row.near:
            reasons.append(Reason(SONG_SPACE, seed=single_seed))
        found[row.id] = reasons

    return lambda tracks: {t: found.get(t) or POPULAR for t in tracks}


async def _ranked(
    conn: AsyncConnection, query: Query, models: VersionModels, count: int
) -> tuple[Scored, Explain]:
    """The learned ranker's best `count` candidates for the playlist with their scores, and
    their reasons from the same evidence."""
    *similar, similar_title = models.titles.similar_rows(query.name)
    ev = await published.evidence(conn, query, models.popular, similar, models.vectors)
    candidates, scores = candidate_scores(ev)
    kept, stats = await published.track_stats(conn, query.version, candidates, models.vectors)
    X = feature_matrix(ev, kept, scores, stats)
    order, values = rank(ev, kept, X, models.ranker)

    def explain(tracks: list[int]) -> dict[int, list[Reason]]:
        artists = (kept, stats.artist)  # kept is sorted, as the candidates are
        return ranked_reasons(ev, candidates, scores, artists, tracks, query.name, similar_title)

    return list(zip(order[:count].tolist(), values[:count].tolist(), strict=True)), explain


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
) -> Answer:
    """The answer of the first path that applies: ranker, songs, title."""
    if models.ranker is not None and (query.seed_ids or query.title_keys):
        scored, explain = await _ranked(conn, query, models, count)
        return Answer("ranker", scored, {}, query.skipped, explain)
    skipped: list[str] = []
    if query.seeds:
        try:
            rows, skipped = await _songs(
                conn, query, models, count, embedding_weight, DISLIKE_WEIGHT
            )
            single = query.seed_ids[0] if len(query.seed_ids) == 1 else None
            scored = [(r.id, r.score) for r in rows]
            fields = {r.id: r.fields for r in rows}
            return Answer("songs", scored, fields, skipped, _song_reasons(rows, single))
        except NoUsableSongs as error:
            skipped = error.skipped
    scored = await _titled(conn, query, count)
    title, titled = [Reason("title", title=query.name)], {t for t, _ in scored}
    return Answer("title", scored, {}, skipped, lambda ts: {t: title for t in ts if t in titled})


def _with_popular(scored: Scored, popular: np.ndarray, exclude: set[int], settings: Diversity):
    """With a cap per artist, the pool followed by every popular track (scored below it), so
    that a pool of few artists still fills the answer."""
    if settings.max_per_artist is None:
        return scored
    return _topped_up(scored, popular, exclude, len(scored) + len(popular))


async def _diversified(
    conn: AsyncConnection,
    version: int,
    scored: Scored,
    fields: dict[int, TrackFields],
    count: int,
    settings: Diversity,
) -> Scored:
    """`count` of the `scored` pool re-ranked for diversity (algorhythms_store.diversity) by
    their vectors and artists; `fields` gains the pool's fields."""
    rows = await published.track_vectors(conn, version, [t for t, _ in scored])
    pool = [(t, s) for t, s in scored if t in rows]
    if not pool:
        return []
    fields.update({t: rows[t][0] for t, _ in pool})
    vectors = np.stack([rows[t][1] for t, _ in pool])
    artists = [rows[t][0][2] for t, _ in pool]
    picks = rerank(len(pool), vectors, artists, count, settings)
    return [pool[i] for i in picks.tolist()]


async def _items(
    conn: AsyncConnection,
    version: int,
    chosen: Scored,
    fields: dict[int, TrackFields],
    explain: Explain,
) -> list[Item]:
    """The answer's items with their fields and reasons, the names the reasons need read with
    the fields still missing in one statement."""
    reasons = explain([t for t, _ in chosen])
    needed = [t for t, _ in chosen] + seeds_of(reasons)
    fields.update(await published.tracks(conn, version, [t for t in needed if t not in fields]))
    # an answer repeats its reasons, as shared objects: each is described once
    described: dict[int, dict] = {}

    def text(reason: Reason) -> dict:
        key = id(reason)
        if key not in described:
            described[key] = describe(reason, fields)
        return described[key]

    return [
        Item(*fields[t], score, [text(r) for r in reasons.get(t) or POPULAR])
        for t, score in chosen
        if t in fields
    ]


async def continue_playlist(
    conn: AsyncConnection,
    models: ModelCache,
    name: str | None,
    seeds: list[SongSeed],
    count: int,
    embedding_weight: float = EMBEDDING_WEIGHT,
    dislikes: list[str] = (),
    settings: Diversity = RANKED,
) -> Result:
    """The next `count` tracks of a playlist, never one of its tracks nor a disliked one."""
    query = await published.resolve(conn, seeds, name, dislikes=dislikes)
    version_models = await models.get(conn, query.version)
    pool = settings.pool(count) + len(query.ids(query.dislikes))
    answer = await _continuation(conn, query, version_models, pool, embedding_weight)
    excluded = set(query.excluded_ids)
    chosen = _topped_up(answer.scored, version_models.popular, excluded, settings.pool(count))
    source = answer.source
    if source == "title":
        scored = [t for t, _ in answer.scored if t not in excluded]
        filled = min(len(chosen), count) > min(len(scored), count)
        source = "title+popularity" if scored and filled else "title" if scored else "popularity"
    if settings.active:
        chosen = _with_popular(chosen, version_models.popular, excluded, settings)
        chosen = await _diversified(conn, query.version, chosen, answer.fields, count, settings)
    fields = {**query.fields, **answer.fields}  # the seeds' names, for the reasons
    items = await _items(conn, query.version, chosen[:count], fields, answer.explain)
    return Result(query.version, source, items, answer.skipped)


async def recommend_songs(
    conn: AsyncConnection,
    models: ModelCache,
    seeds: list[SongSeed],
    count: int,
    exclude: list[str] = (),
    dislikes: list[str] = (),
    dislike_weight: float = DISLIKE_WEIGHT,
    embedding_weight: float = EMBEDDING_WEIGHT,
    settings: Diversity = RANKED,
) -> Result:
    """The `count` tracks that go best with `seeds`, none of them excluded or disliked."""
    query = await published.resolve(conn, seeds, exclude=exclude, dislikes=dislikes)
    version_models = await models.get(conn, query.version)
    rows, skipped = await _songs(
        conn, query, version_models, settings.pool(count), embedding_weight, dislike_weight
    )
    chosen = [(r.id, r.score) for r in rows]
    fields = {**query.fields, **{r.id: r.fields for r in rows}}  # the seeds' names, for reasons
    if settings.active:
        chosen = _with_popular(chosen, version_models.popular, set(query.excluded_ids), settings)
        chosen = await _diversified(conn, query.version, chosen, fields, count, settings)
    single = query.seed_ids[0] if len(query.seed_ids) == 1 else None
    items = await _items(conn, query.version, chosen[:count], fields, _song_reasons(rows, single))
    return Result(query.version, "songs", items, skipped)


async def similar_tracks(conn: AsyncConnection, uri: str, count: int) -> Result | None:
    """Nearest tracks to one catalogue track; None when it is not in the catalogue."""
    found = await published.nearest_to_track(conn, uri, count)
    if found is None:
        return None
    version, (track, fields), rows = found
    near = [describe(Reason(SONG_SPACE, seed=track), {track: fields})]
    items = sorted((Item(*f, s, near) for _, f, s in rows), key=lambda item: -item.score)
    return Result(version, "songs", items)


@dataclass
class PlaylistMatch:
    pid: int
    name: str | None
    size: int
    score: float
    tracks: list[dict]  # uri, name, artist, album


TITLE_TRACKS_FOR_VECTOR = 50  # a title-only playlist's vector: its similar titles' best tracks


async def _query_vector(
    conn: AsyncConnection, models: ModelCache, query: Query
) -> np.ndarray | None:
    """A playlist's vector as the published playlist vectors are made: the normalised mean of
    its catalogue tracks' unit vectors; for a title alone, of the tracks its similar titles
    hold most, weighted by how much they hold them. None when neither gives a track."""
    ids, weights = query.seed_ids, None
    if not ids and query.title_keys:
        version_models = await models.get(conn, query.version)
        tracks, held, _, _ = version_models.titles.similar_rows(query.name)
        ids_array, sums = np.unique(tracks, return_inverse=True)
        sums = np.bincount(sums, weights=held, minlength=len(ids_array))
        best = np.lexsort((ids_array, -sums))[:TITLE_TRACKS_FOR_VECTOR]
        ids = ids_array[best].tolist()
        weights = dict(zip(ids, sums[best].tolist(), strict=True))
    rows = await published.track_vectors(conn, query.version, ids)
    if not rows:
        return None
    vectors = _unit(np.stack([v for _, v in rows.values()]))
    if weights is not None:
        vectors = vectors * np.array([weights[t] for t in rows], np.float32)[:, None]
    return _unit(vectors.sum(axis=0))


async def _playlists(
    conn: AsyncConnection, version: int, found: list[tuple]
) -> list[PlaylistMatch]:
    """The found playlists with the fields of their tracks, read in one statement."""
    ids = list(dict.fromkeys(t for row in found for t in row[3]))
    fields = await published.tracks(conn, version, ids)
    names = ("uri", "name", "artist", "album")
    return [
        PlaylistMatch(
            pid,
            name,
            length,
            score,
            [dict(zip(names, fields[t], strict=True)) for t in tracks if t in fields],
        )
        for pid, name, length, tracks, score in found
    ]


async def similar_playlists(
    conn: AsyncConnection,
    models: ModelCache,
    name: str | None,
    seeds: list[SongSeed],
    count: int,
) -> tuple[int, list[PlaylistMatch]]:
    """(version, the `count` published playlists nearest to the playlist by their vectors);
    NoUsableSongs when neither its tracks nor its title reach the catalogue."""
    query = await published.resolve(conn, seeds, name)
    vector = await _query_vector(conn, models, query)
    if vector is None:
        raise NoUsableSongs(query.skipped)
    found = await published.similar_playlists(conn, query.version, vector, count)
    return query.version, await _playlists(conn, query.version, found)


async def playlists_like(
    conn: AsyncConnection, pid: int, count: int
) -> tuple[int, list[PlaylistMatch]] | None:
    """(version, the `count` playlists nearest to the published playlist `pid`); None when
    there is no such playlist."""
    version, vector = await published.playlist_vector(conn, pid)
    if vector is None:
        return None
    found = await published.similar_playlists(conn, version, vector, count, pid)
    return version, await _playlists(conn, version, found)


T = TypeVar("T")


async def with_retry(answer: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Run `answer()` again when a new version went live between its statements."""
    for attempt in range(attempts):
        try:
            return await answer()
        except VersionChanged:
            if attempt == attempts - 1:
                raise
