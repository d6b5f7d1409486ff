"""Reading the published version: every statement the service runs goes through here.

Each function runs statements of serving.sql and returns plain values. A function given the
request's version raises VersionChanged when a statement read another one (the request is then
answered again, whole), and NotPublished when nothing is published.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import psycopg
from psycopg import AsyncConnection

from algorhythms_store.ranking import (
    ARTIST_TRACKS,
    NEAREST,
    TOP_PLAYLISTS,
    Evidence,
    TrackStats,
    query_vector,
    song_vectors,
)
from serving import sql
from serving.errors import NotPublished, VersionChanged
from serving.query import CatalogueTrack, Query, SongSeed

TrackFields = tuple[str, str | None, str | None, str | None]  # uri, name, artist, album


class SongRow(NamedTuple):
    """A track of the song path: its id, fields and score, the seed of its heaviest item-kNN
    row (None when item-kNN did not find it), and whether the vector search found it."""

    id: int
    fields: TrackFields
    score: float
    best_seed: int | None
    near: bool


async def _rows(
    conn: AsyncConnection,
    statement: str,
    params: dict | None = None,
    version: int | None = None,
    binary: bool = False,
) -> list[tuple]:
    """The rows of `statement`, whose first column is the version it read (`binary`: arrays as
    numpy arrays, see serving.arrays)."""
    rows = await (await conn.execute(statement, params, binary=binary)).fetchall()
    if not rows or rows[0][0] is None:
        raise NotPublished
    if version is not None and rows[0][0] != version:
        raise VersionChanged
    return rows


# Versions whose `track_neighbors` holds a row per pair, as this process found them.
_PAIR_VERSIONS: set[int] = set()


async def _neighbor_rows(
    conn: AsyncConnection,
    statements: tuple[str, str],
    params: dict,
    version: int,
    binary: bool = False,
) -> list[tuple]:
    """The rows of a statement that reads `track_neighbors`: the first of `statements` reads it
    as one row of arrays per track; a version published with one row per pair (before that
    layout; a rollback can make one live again) has no `unnest` of its columns, and is read by
    the second."""
    if version in _PAIR_VERSIONS:
        return await _rows(conn, statements[1], params, version, binary)
    try:
        return await _rows(conn, statements[0], params, version, binary)
    except psycopg.errors.UndefinedFunction:
        rows = await _rows(conn, statements[1], params, version, binary)
        _PAIR_VERSIONS.add(version)  # a version's tables never change: ask it so from now on
        return rows


def int_array(values) -> str:
    """An int[] literal: cheaper to send than a long Python list."""
    return "{" + ",".join(map(str, np.asarray(values, np.int64).tolist())) + "}"


async def current_version(conn: AsyncConnection) -> tuple[int, int]:
    """(version, vector dimension) of the live version."""
    row = (await _rows(conn, sql.VERSION))[0]
    return row[0], row[1]


async def resolve(
    conn: AsyncConnection,
    seeds: list[SongSeed],
    name: str | None = None,
    exclude: list[str] = (),
    dislikes: list[str] = (),
) -> Query:
    """The request as a Query on the live version: its tracks looked up in one statement."""
    uris = list(dict.fromkeys([s.uri for s in seeds] + list(exclude) + list(dislikes)))
    rows = await _rows(conn, sql.RESOLVE, {"uris": uris})
    catalogue = {
        r[1]: CatalogueTrack(r[2], r[3], r[1:2] + r[4:7]) for r in rows if r[1] is not None
    }
    return Query(rows[0][0], seeds, name, list(exclude), list(dislikes), catalogue)


async def models(
    conn: AsyncConnection, version: int
) -> tuple[dict | None, bytes | None, str | None]:
    """(cold-start spec, cold-start arrays, ranker text) of `version`; None where absent."""
    try:
        rows = await _rows(conn, sql.MODELS, version=version)
    except psycopg.errors.UndefinedColumn:
        # A version published before rankers existed: the other paths serve it.
        rows = await _rows(conn, sql.MODELS_WITHOUT_RANKER, version=version)
    return rows[0][1], rows[0][2], rows[0][3]


async def popular(conn: AsyncConnection, version: int, k: int) -> np.ndarray:
    """The `k` most popular track ids, best first."""
    rows = await _rows(conn, sql.POPULAR, {"k": k}, version)
    return np.asarray(rows[0][1], np.int64)


async def tracks(conn: AsyncConnection, version: int, ids: list[int]) -> dict[int, TrackFields]:
    """Track id -> its fields, for the catalogue tracks among `ids`."""
    if not ids:
        return {}
    rows = await _rows(conn, sql.TRACKS, {"ids": int_array(ids)}, version)
    return {r[1]: r[2:6] for r in rows if r[1] is not None}


async def track(conn: AsyncConnection, uri: str) -> tuple[int, tuple | None]:
    """(version, the track's (uri, name, artist, album, duration_ms, num_playlists, degree))."""
    row = (await _rows(conn, sql.TRACK, {"uri": uri}))[0]
    return row[0], None if row[1] is None else row[2:]


async def search(conn: AsyncConnection, tsquery: str, k: int) -> tuple[int, list[tuple]]:
    """(version, (uri, name, artist, album, num_playlists) of the best `k` matches)."""
    rows = await _rows(conn, sql.SEARCH, {"query": tsquery, "k": k})
    return rows[0][0], [r[2:7] for r in rows if r[1] is not None]


async def nearest_to_track(
    conn: AsyncConnection, uri: str, k: int
) -> tuple[int, tuple[int, TrackFields], list[tuple[int, TrackFields, float]]] | None:
    """(version, the track's (id, fields), the `k` nearest tracks as (id, fields, cosine));
    None for an unknown uri."""
    rows = await _rows(conn, sql.NEAREST_TO_TRACK, {"uri": uri, "k": k})
    if rows[0][1] is None:
        return None
    track = (rows[0][1], (uri, *rows[0][8:11]))
    return rows[0][0], track, [(r[2], r[3:7], 1.0 - r[7]) for r in rows if r[2] is not None]


async def songs(
    conn: AsyncConnection,
    query: Query,
    cold: np.ndarray | None,
    count: int,
    pool: int,
    embedding_weight: float,
    dislike_weight: float,
) -> list[SongRow]:
    """The best `count` tracks for the query's songs (sql.SONGS)."""
    params = {
        "seeds": int_array(query.seed_ids),
        "cold": cold,
        "dislikes": int_array(query.ids(query.dislikes)),
        "exclude": int_array(query.excluded_ids),
        "pool": pool,
        "k": count,
        "embedding_weight": embedding_weight,
        "dislike_weight": dislike_weight,
    }
    statements = (sql.SONGS, sql.SONGS_FROM_NEIGHBOR_ROWS)
    rows = await _neighbor_rows(conn, statements, params, query.version)
    return [SongRow(r[1], r[2:6], float(r[6]), r[7], r[8]) for r in rows if r[1] is not None]


async def track_vectors(
    conn: AsyncConnection, version: int, ids: list[int]
) -> dict[int, tuple[TrackFields, np.ndarray]]:
    """Track id -> (its fields, its vector), for the catalogue tracks among `ids`."""
    if not ids:
        return {}
    rows = await _rows(conn, sql.TRACK_VECTORS_OF, {"ids": int_array(ids)}, version)
    return {r[1]: (r[2:6], _vector(r[6])) for r in rows if r[1] is not None}


async def playlist_vector(conn: AsyncConnection, pid: int) -> tuple[int, np.ndarray | None]:
    """(version, the vector of playlist `pid`, None when there is no such playlist)."""
    row = (await _rows(conn, sql.PLAYLIST_VECTOR, {"pid": pid}))[0]
    return row[0], None if row[1] is None else _vector(row[1])


async def similar_playlists(
    conn: AsyncConnection, version: int, vector: np.ndarray, k: int, pid: int | None = None
) -> list[tuple[int, str | None, int, list[int], float]]:
    """The `k` playlists nearest to `vector` but `pid`: (pid, name, length, a few track ids,
    cosine)."""
    params = {"q": vector, "k": k, "pid": pid}
    rows = await _rows(conn, sql.SIMILAR_PLAYLISTS, params, version)
    found = [(r[1], r[2], r[3], list(r[4]), 1.0 - r[5]) for r in rows if r[1] is not None]
    # an iterative index scan (relaxed order) may return near ties out of order
    return sorted(found, key=lambda row: (-row[4], row[0]))


async def model_info(conn: AsyncConnection) -> tuple:
    """(version, dimension, published_at, metrics, tracks) of the live version."""
    return (await _rows(conn, sql.MODEL_INFO))[0]


async def map_points(conn: AsyncConnection) -> tuple[int, list[tuple]]:
    """(version, (uri, name, artist, x, y) of each point of the embedding map)."""
    rows = await _rows(conn, sql.MAP)
    return rows[0][0], [r[1:6] for r in rows if r[1] is not None]


async def title_rows(conn: AsyncConnection, query: Query) -> list[np.ndarray]:
    """(track, score, key playlists, whole title?) of the `title_tracks` rows of the query's
    title keys."""
    row = (await _rows(conn, sql.TITLES, {"keys": query.title_keys}, query.version, True))[0]
    return [
        _array(row[2], np.int64),
        _array(row[3], np.float32),
        _array(row[4], np.float32),
        _array(row[1], bool),
    ]


def _vector(value) -> np.ndarray:
    """A pgvector value as a float32 array."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, np.float32)


def _array(value: np.ndarray | None, dtype) -> np.ndarray:
    """An array column as `dtype` (null: empty)."""
    return np.zeros(0, dtype) if value is None else np.asarray(value, dtype)


async def whole_titles(
    conn: AsyncConnection, version: int
) -> tuple[list[str], list[float], list[np.ndarray], list[np.ndarray]]:
    """(the whole-title keys, how many playlists carry each, their track ids, their scores)."""
    exists = (await (await conn.execute(sql.HAS_WHOLE_TITLES)).fetchone())[0]
    statement = sql.WHOLE_TITLES if exists else sql.WHOLE_TITLES_FROM_TITLE_TRACKS
    rows = await _rows(conn, statement, version=version, binary=True)
    rows = [r for r in rows if r[1] is not None]
    return (
        [r[1] for r in rows],
        [float(r[2]) for r in rows],
        [_array(r[3], np.int64) for r in rows],
        [_array(r[4], np.float32) for r in rows],
    )


async def evidence(
    conn: AsyncConnection,
    query: Query,
    popular: np.ndarray,
    similar: tuple[np.ndarray, np.ndarray, float] | None = None,
    vectors: np.ndarray | None = None,
) -> Evidence:
    """What the published tables say about the query's playlist (algorhythms_store.ranking),
    read in one statement; `similar`: the similar titles' rows (TitleIndex.similar_rows);
    `vectors`: the version's song vectors (`song_vectors`), None while they are not loaded."""
    seeds, artists = query.ranked_seeds
    seed_vectors = _rows_of(vectors, np.array(seeds, np.int64))
    q = query_vector(seed_vectors, np.array(seeds)) if seed_vectors is not None else None
    params = {
        "ids": int_array(seeds),
        "artists": int_array(sorted(set(artists))),
        "keys": query.title_keys,
        "n": TOP_PLAYLISTS,
        "artist_tracks": ARTIST_TRACKS,
        "nearest": NEAREST,
        "q": None if q is None else "[" + ",".join(map(repr, q.tolist())) + "]",
    }
    statements = (sql.EVIDENCE, sql.EVIDENCE_FROM_NEIGHBOR_ROWS)
    row = (await _neighbor_rows(conn, statements, params, query.version, binary=True))[0]
    i8, f4 = np.int64, np.float32
    return Evidence(
        seeds=np.array(seeds, i8),
        seed_artists=np.array(artists, i8),
        has_title=bool(query.name),
        neighbor_src=_array(row[1], i8),
        neighbor_dst=_array(row[2], i8),
        neighbor_weight=_array(row[3], f4),
        playlist_id=_array(row[4], i8),
        playlist_overlap=_array(row[5], f4),
        playlist_length=_array(row[6], f4),
        member_pid=_array(row[7], i8),
        member_track=_array(row[8], i8),
        artist_neighbor_src=_array(row[9], i8),
        artist_neighbor_dst=_array(row[10], i8),
        artist_neighbor_weight=_array(row[11], f4),
        artist_tracks=_array(row[12], i8),
        title_exact=_array(row[13], bool),
        title_track=_array(row[14], i8),
        title_score=_array(row[15], f4),
        title_key_playlists=_array(row[16], f4),
        seed_vectors=seed_vectors if seed_vectors is not None else np.zeros((0, 0), f4),
        nearest=_array(row[17], i8),
        similar_track=similar[0] if similar else np.zeros(0, i8),
        similar_held=similar[1] if similar else np.zeros(0, f4),
        similar_total=similar[2] if similar else 0.0,
        popular=popular,
    )


def _rows_of(vectors: np.ndarray | None, ids: np.ndarray) -> np.ndarray | None:
    """The float32 rows of `ids` in the id-indexed `vectors` (zero rows past its end)."""
    if vectors is None:
        return None
    out = np.zeros((len(ids), vectors.shape[1]), np.float32)
    inside = ids < len(vectors)
    out[inside] = vectors[ids[inside]]
    return out


# Ids of the song vectors read per statement when a version's vectors are loaded.
VECTOR_CHUNK = 65_536


async def load_song_vectors(conn: AsyncConnection, version: int) -> np.ndarray | None:
    """The version's song vectors as the ranker reads them (`song_vectors`, a row per id, zero
    rows for ids without a track), read a bounded chunk of ids at a time; None when empty."""
    vectors, low, high = None, 0, 1
    while low < high:
        params = {"low": low, "high": low + VECTOR_CHUNK}
        row = (await _rows(conn, sql.SONG_VECTORS, params, version, binary=True))[0]
        if row[3] is None:
            return None
        high = int(row[3]) + 1
        ids = _array(row[1], np.int64)
        if len(ids):
            flat = _array(row[2], np.float32).reshape(len(ids), -1)
            if vectors is None:
                vectors = np.zeros((high, flat.shape[1]), np.float16)
            vectors[ids] = song_vectors(flat)
        low += VECTOR_CHUNK
    return vectors


async def track_stats(
    conn: AsyncConnection, version: int, candidates: np.ndarray, vectors: np.ndarray | None = None
) -> tuple[np.ndarray, TrackStats]:
    """(the candidates with ranking statistics, in their order; their statistics, with their
    rows of the version's song vectors `vectors` when given)."""
    params = {"ids": int_array(candidates.tolist())}
    row = (await _rows(conn, sql.STATS, params, version, binary=True))[0]
    ids = _array(row[1], np.int64)
    order = np.argsort(ids)
    kept = candidates[np.isin(candidates, ids)]
    at = order[np.searchsorted(ids, kept, sorter=order)]

    def column(i: int, dtype) -> np.ndarray:
        return _array(row[i], dtype)[at]

    return kept, TrackStats(
        popularity=column(2, np.float32),
        artist=column(3, np.int64),
        artist_popularity=column(4, np.float32),
        artist_tracks_popularity=column(5, np.float32),
        vectors=_rows_of(vectors, kept),
    )
