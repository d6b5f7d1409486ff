"""Reading the published version: every statement the service runs goes through here.

Each function runs statements of serving.sql and returns plain values. A function given the
request's version raises VersionChanged when a statement read another one (the request is then
answered again, whole), and NotPublished when nothing is published.
"""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import AsyncConnection

from algorhythms_store.ranking import ARTIST_TRACKS, TOP_PLAYLISTS, Evidence, TrackStats
from serving import sql
from serving.errors import NotPublished, VersionChanged
from serving.query import CatalogueTrack, Query, SongSeed

TrackFields = tuple[str, str | None, str | None, str | None]  # uri, name, artist, album


async def _rows(
    conn: AsyncConnection, statement: str, params: dict | None = None, version: int | None = None
) -> list[tuple]:
    """The rows of `statement`, whose first column is the version it read."""
    rows = await (await conn.execute(statement, params)).fetchall()
    if not rows or rows[0][0] is None:
        raise NotPublished
    if version is not None and rows[0][0] != version:
        raise VersionChanged
    return rows


def int_array(values) -> str:
    """An int[] literal: cheaper to send than a long Python list."""
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def _columns(rows: list[tuple], first: int, dtypes) -> list[np.ndarray]:
    return [np.array([r[first + i] for r in rows], dtype=d) for i, d in enumerate(dtypes)]


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
    catalogue = {r[1]: CatalogueTrack(r[2], r[3]) for r in rows if r[1] is not None}
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
) -> tuple[int, list[tuple[int, TrackFields, float]]] | None:
    """(version, the `k` nearest tracks as (id, fields, cosine)); None for an unknown uri."""
    rows = await _rows(conn, sql.NEAREST_TO_TRACK, {"uri": uri, "k": k})
    if rows[0][1] is None:
        return None
    return rows[0][0], [(r[2], r[3:7], 1.0 - r[7]) for r in rows if r[2] is not None]


async def songs(
    conn: AsyncConnection,
    query: Query,
    cold: np.ndarray | None,
    count: int,
    pool: int,
    embedding_weight: float,
    dislike_weight: float,
) -> list[tuple[int, TrackFields, float]]:
    """The best `count` tracks for the query's songs (sql.SONGS), as (id, fields, score)."""
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
    rows = await _rows(conn, sql.SONGS, params, query.version)
    return [(r[1], r[2:6], float(r[6])) for r in rows if r[1] is not None]


async def title_rows(conn: AsyncConnection, query: Query) -> list[np.ndarray]:
    """(track, score, key playlists, whole title?) of the `title_tracks` rows of the query's
    title keys."""
    rows = await _rows(conn, sql.TITLES, {"keys": query.title_keys}, query.version)
    rows = [r for r in rows if r[1] is not None]
    track, score, key_playlists = _columns(rows, 2, (np.int64, np.float32, np.float32))
    return [track, score, key_playlists, np.array([r[1].startswith("=") for r in rows], bool)]


async def evidence(conn: AsyncConnection, query: Query, popular: np.ndarray) -> Evidence:
    """What the published tables say about the query's playlist (algorhythms_store.ranking)."""
    version = query.version
    ev = Evidence(has_title=bool(query.name), popular=popular)
    seeds, artists = query.ranked_seeds
    ev.seeds = np.array(seeds, np.int64)
    ev.seed_artists = np.array(artists, np.int64)
    if seeds:
        ids = int_array(seeds)
        row = (await _rows(conn, sql.RANK_NEIGHBORS, {"ids": ids}, version))[0]
        if row[1] is not None:
            ev.neighbor_src = np.asarray(row[1], np.int64)
            ev.neighbor_dst = np.asarray(row[2], np.int64)
            ev.neighbor_weight = np.asarray(row[3], np.float32)
        rows = await _rows(conn, sql.RANK_PLAYLISTS, {"ids": ids, "n": TOP_PLAYLISTS}, version)
        rows = [r for r in rows if r[1] is not None]
        ev.playlist_id, ev.playlist_overlap, ev.playlist_length = _columns(
            rows, 1, (np.int64, np.float32, np.float32)
        )
        if rows:
            ev.member_pid = np.concatenate([np.full(len(r[4]), r[1], np.int64) for r in rows])
            ev.member_track = np.concatenate([np.asarray(r[4], np.int64) for r in rows])
        distinct = int_array(sorted(set(artists)))
        rows = await _rows(
            conn, sql.RANK_ARTISTS, {"artists": distinct, "n": ARTIST_TRACKS}, version
        )
        pairs = [r for r in rows if r[1] is not None]
        ev.artist_neighbor_src, ev.artist_neighbor_dst, ev.artist_neighbor_weight = _columns(
            pairs, 1, (np.int64, np.int64, np.float32)
        )
        ev.artist_tracks = np.array([r[4] for r in rows if r[4] is not None], np.int64)
    if query.title_keys:
        ev.title_track, ev.title_score, ev.title_key_playlists, ev.title_exact = await title_rows(
            conn, query
        )
    return ev


async def track_stats(
    conn: AsyncConnection, version: int, candidates: np.ndarray
) -> tuple[np.ndarray, TrackStats]:
    """(the candidates with ranking statistics, their statistics)."""
    rows = await _rows(conn, sql.RANK_STATS, {"ids": int_array(candidates.tolist())}, version)
    stat = {r[1]: r[2:] for r in rows if r[1] is not None}
    kept = candidates[np.array([c in stat for c in candidates.tolist()], bool)]
    values = [stat[c] for c in kept.tolist()]
    return kept, TrackStats(
        popularity=np.array([v[0] for v in values], np.float32),
        artist=np.array([v[1] for v in values], np.int64),
        artist_popularity=np.array([v[2] for v in values], np.float32),
        artist_tracks_popularity=np.array([v[3] for v in values], np.float32),
    )
