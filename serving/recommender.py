"""Recommendations from the published tables.

Songs: the query is the mean of the seeds' unit vectors (catalogue songs by their published
vector, unknown songs with features by the cold-start model); the candidates are its nearest
tracks by cosine (HNSW), seeds, exclusions and dislikes left out. Dislikes push down what is
like them: score = cos(q, x) - dislike_weight * max(0, max_d cos(d, x)).
Titles: tracks of playlists with the same title keys; then the most popular tracks.
Playlists (continue_playlist): the learned ranker (serving.ranking) when one is published.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from psycopg import AsyncConnection

from algorhythms_store.text import title_keys
from serving import ranking, sql
from serving.db import ModelCache, NotPublished, VersionChanged

MAX_FETCH = 1000
EMBEDDING_WEIGHT = 1.0  # candidate score = knn + EMBEDDING_WEIGHT * cosine (tuned on mpd_dev)


@dataclass
class SongSeed:
    uri: str
    features: dict | None = None


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


def seed_from_track(
    uri: str,
    name: str | None = None,
    artist: str | None = None,
    album: str | None = None,
    duration_ms: int | None = None,
) -> SongSeed:
    """A playlist track as a seed: its uri, and its names as features for the cold-start model."""
    features = {"name": name, "artist": artist, "album": album, "duration_ms": duration_ms}
    features = {k: v for k, v in features.items() if v is not None}
    return SongSeed(uri, features or None)


class NoUsableSongs(Exception):
    def __init__(self, skipped: list[str]):
        self.skipped = skipped


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def _array(vector) -> np.ndarray:
    """A pgvector value (psycopg returns `pgvector.Vector`) as a float32 array."""
    return np.asarray(vector.to_numpy() if hasattr(vector, "to_numpy") else vector, np.float32)


def _check(version: int | None, expected: int) -> None:
    if version is None:
        raise NotPublished
    if version != expected:
        raise VersionChanged


async def _rows(conn: AsyncConnection, statement: str, params: dict) -> list[tuple]:
    rows = await (await conn.execute(statement, params)).fetchall()
    if not rows:
        raise NotPublished
    return rows


async def current_version(conn: AsyncConnection) -> tuple[int, int]:
    row = await (await conn.execute(sql.VERSION)).fetchone()
    if row is None:
        raise NotPublished
    return row


async def lookup(conn: AsyncConnection, uris: list[str]) -> tuple[int, dict[str, tuple]]:
    """The live version, and uri -> (id, vector) for the known ones among `uris`."""
    rows = await _rows(conn, sql.LOOKUP, {"uris": uris})
    return rows[0][0], {r[2]: (r[1], _array(r[3])) for r in rows if r[1] is not None}


def _pool(count: int, left_out: int) -> int:
    """Candidates to draw from each source: enough to fill `count` after leaving some out."""
    return min(MAX_FETCH, count + left_out)


def catalogue_params(
    uris: list[str], count: int, exclude: list[str] = (), embedding_weight: float = EMBEDDING_WEIGHT
) -> dict:
    """The parameters of sql.NEAREST_TO_SEEDS."""
    return {
        "uris": uris,
        "exclude": list(exclude),
        "k": count,
        "pool": _pool(count, len(uris) + len(exclude)),
        "embedding_weight": embedding_weight,
    }


async def recommend_catalogue_songs(
    conn: AsyncConnection,
    uris: list[str],
    count: int,
    exclude: list[str] = (),
    embedding_weight: float = EMBEDDING_WEIGHT,
) -> Result:
    """Seeds given by id only, no dislikes: the whole answer in one statement."""
    uris = list(dict.fromkeys(uris))
    params = catalogue_params(uris, count, exclude, embedding_weight)
    rows = await _rows(conn, sql.NEAREST_TO_SEEDS, params)
    found = set(rows[0][1] or ())
    skipped = [u for u in uris if u not in found]
    if not found:
        raise NoUsableSongs(skipped)
    items = sorted(
        (Item(r[3], r[4], r[5], r[6], float(r[7])) for r in rows if r[2] is not None),
        key=lambda item: -item.score,
    )
    return Result(rows[0][0], "songs", items, skipped)


async def recommend_songs(
    conn: AsyncConnection,
    models: ModelCache,
    seeds: list[SongSeed],
    count: int,
    exclude: list[str] = (),
    dislikes: list[str] = (),
    dislike_weight: float = 0.5,
    embedding_weight: float = EMBEDDING_WEIGHT,
) -> Result:
    if not dislikes:
        # One statement, unless an unknown song has features for the cold-start model.
        described = {s.uri for s in seeds if s.features}
        try:
            result = await recommend_catalogue_songs(
                conn, [s.uri for s in seeds], count, exclude, embedding_weight
            )
            if not described & set(result.skipped):
                return result
        except NoUsableSongs as error:
            if not described & set(error.skipped):
                raise
    version, known = await lookup(conn, list({s.uri for s in seeds} | set(exclude) | set(dislikes)))
    vectors, skipped, described = [], [], []
    for seed in seeds:
        if seed.uri in known:
            vectors.append(known[seed.uri][1])
        elif seed.features:
            described.append(seed)
        else:
            skipped.append(seed.uri)
    if described:
        model = await models.get(conn, version)
        usable = [s for s in described if model is not None and model.usable(s.features)]
        skipped += [s.uri for s in described if s not in usable]
        if usable:
            vectors.extend(model.embed([s.features for s in usable]))
    if not vectors:
        raise NoUsableSongs(skipped)
    query = _unit(np.mean(_unit(np.asarray(vectors, dtype=np.float32)), axis=0))
    excluded = [
        known[u][0] for u in {s.uri for s in seeds} | set(exclude) | set(dislikes) if u in known
    ]
    disliked = np.asarray([known[u][1] for u in dislikes if u in known], dtype=np.float32)
    seed_ids = [known[s.uri][0] for s in seeds if s.uri in known]
    rows = await _rows(
        conn,
        sql.candidates(with_embedding=len(disliked) > 0),
        {
            "q": query,
            "seed_ids": seed_ids,
            "exclude": excluded,
            "pool": _pool(2 * count if len(disliked) else count, len(excluded)),
        },
    )
    _check(rows[0][0], version)
    rows = [r for r in rows if r[1] is not None]
    scores = np.array([r[6] + embedding_weight * r[7] for r in rows], dtype=np.float64)
    if len(disliked) and rows:
        candidates = _unit(np.stack([_array(r[8]) for r in rows]))
        similarity = candidates @ _unit(disliked).T
        scores -= dislike_weight * np.maximum(similarity.max(axis=1), 0.0)
    order = np.argsort(-scores, kind="stable")[:count]
    items = [Item(rows[i][2], rows[i][3], rows[i][4], rows[i][5], float(scores[i])) for i in order]
    return Result(version, "songs", items, skipped)


async def similar_tracks(conn: AsyncConnection, uri: str, count: int) -> Result | None:
    """Nearest tracks to one catalogue track; None when it is not in the catalogue."""
    version, known = await lookup(conn, [uri])
    if uri not in known:
        return None
    track_id, vector = known[uri]
    rows = await _rows(conn, sql.NEAREST, {"q": vector, "exclude": [track_id], "k": count})
    _check(rows[0][0], version)
    items = sorted(
        (Item(r[2], r[3], r[4], r[5], 1.0 - r[6]) for r in rows if r[1] is not None),
        key=lambda item: -item.score,
    )
    return Result(version, "songs", items)


async def recommend_title(
    conn: AsyncConnection, name: str | None, count: int, exclude_ids: list[int] = ()
) -> Result:
    """Tracks for a playlist known only by its title, topped up with popular tracks."""
    items: list[Item] = []
    version = None
    keys = title_keys(name)
    if keys:
        rows = await _rows(
            conn, sql.TITLE, {"keys": keys, "exclude": list(exclude_ids), "k": count}
        )
        version = rows[0][0]
        items = [Item(r[2], r[3], r[4], r[5], float(r[6])) for r in rows if r[1] is not None]
        seen = {r[1] for r in rows if r[1] is not None}
    else:
        seen = set()
    source = "title" if items else "popularity"
    if len(items) < count:
        rows = await _rows(
            conn,
            sql.POPULAR,
            {"exclude": list(exclude_ids) + list(seen), "k": count - len(items)},
        )
        if version is not None:
            _check(rows[0][0], version)
        version = rows[0][0]
        popular = [r for r in rows if r[1] is not None]
        top = max((r[6] for r in popular), default=1) or 1
        # Popular fill-ins rank below every title match, in order of popularity.
        floor = 0.5 * min((item.score for item in items), default=2.0)
        items += [Item(r[2], r[3], r[4], r[5], floor * float(r[6]) / top) for r in popular]
        if source == "title" and popular:
            source = "title+popularity"
    return Result(version, source, items)


async def recommend_ranked(
    conn: AsyncConnection, models: ModelCache, name: str | None, seeds: list[SongSeed], count: int
) -> Result | None:
    """The learned ranker's continuation (algorhythms_store.ranking) from the playlist's
    catalogue tracks and title; None when no ranker is published or nothing is usable."""
    version, known = await ranking.seeds(conn, [s.uri for s in seeds])
    ranker, popular = await models.ranking.get(conn, version)
    ids = list(dict.fromkeys(known[s.uri][0] for s in seeds if s.uri in known))
    if ranker is None or not (ids or title_keys(name)):
        return None
    artist_of = dict(known.values())
    ev = await ranking.evidence(conn, version, ids, artist_of, name, popular)
    order, scores = await ranking.ranked(conn, version, ranker, ev)
    chosen = [(int(t), float(v)) for t, v in zip(order[:count], scores[:count], strict=True)]
    if len(chosen) < count:
        taken = set(ids) | {t for t, _ in chosen}
        floor = min((v for _, v in chosen), default=0.0) - 1.0
        extra = [int(t) for t in popular if int(t) not in taken][: count - len(chosen)]
        chosen += [(t, floor - i) for i, t in enumerate(extra)]
    rows = await _rows(conn, sql.RANK_TRACKS, {"ids": ranking.int_array(t for t, _ in chosen)})
    _check(rows[0][0], version)
    fields = {r[1]: r[2:6] for r in rows if r[1] is not None}
    items = [Item(*fields[t], score) for t, score in chosen if t in fields]
    skipped = [s.uri for s in seeds if s.uri not in known]
    return Result(version, "ranker", items, skipped)


async def continue_playlist(
    conn: AsyncConnection,
    models: ModelCache,
    name: str | None,
    seeds: list[SongSeed],
    count: int,
    embedding_weight: float = EMBEDDING_WEIGHT,
) -> Result:
    """The next `count` tracks of a playlist, never one of its tracks: the learned ranker over
    its catalogue tracks and title when a ranker is published; else from its usable tracks
    (cold-start model for unknown ones with names), else its title, else the most popular."""
    ranked = await recommend_ranked(conn, models, name, seeds, count)
    if ranked is not None and ranked.items:
        return ranked
    skipped: list[str] = []
    if seeds:
        try:
            return await recommend_songs(
                conn, models, seeds, count, embedding_weight=embedding_weight
            )
        except NoUsableSongs as error:
            skipped = error.skipped
    _, known = await lookup(conn, [s.uri for s in seeds])
    result = await recommend_title(conn, name, count, [track_id for track_id, _ in known.values()])
    result.skipped = skipped
    return result


async def with_retry(answer, attempts: int = 3):
    """Run `answer()` again when a new version went live between its statements."""
    for attempt in range(attempts):
        try:
            return await answer()
        except VersionChanged:
            if attempt == attempts - 1:
                raise
