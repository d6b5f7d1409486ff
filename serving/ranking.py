"""The ranked playlist path: an Evidence read from PostgreSQL, scored by the published ranker.

The same feature code as the pipeline's evaluation (algorhythms_store.ranking); the statements
are in serving.sql (RANK_*). Every statement returns the version it read; a request whose
statements disagree raises VersionChanged and is retried whole.
"""

from __future__ import annotations

import asyncio

import numpy as np
import psycopg
from psycopg import AsyncConnection

from algorhythms_store.ranking import (
    ARTIST_TRACKS,
    POPULAR,
    TOP_PLAYLISTS,
    Evidence,
    Ranker,
    TrackStats,
    candidate_scores,
    feature_matrix,
    rank,
)
from algorhythms_store.text import title_keys
from serving import sql
from serving.db import NotPublished, VersionChanged


class RankerCache:
    """The published ranker and most popular tracks, loaded once per version."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Ranker | None, np.ndarray]] = {}
        self._lock = asyncio.Lock()

    async def get(self, conn: AsyncConnection, version: int) -> tuple[Ranker | None, np.ndarray]:
        if version in self._cache:
            return self._cache[version]
        async with self._lock:
            if version not in self._cache:
                try:
                    row = await (await conn.execute(sql.RANKER_MODEL)).fetchone()
                except psycopg.errors.UndefinedColumn:
                    # A version published before rankers existed: the other paths serve it.
                    row = (version, None)
                if row is None:
                    raise NotPublished
                if row[0] != version:
                    raise VersionChanged
                ranker, popular = None, np.zeros(0, np.int64)
                if row[1] is not None:
                    ranker = await asyncio.to_thread(Ranker, row[1])
                    rows = await _rows(conn, sql.RANK_POPULAR, {"k": POPULAR}, version)
                    popular = np.array([r[1] for r in rows if r[1] is not None], np.int64)
                self._cache = {version: (ranker, popular)}
            return self._cache[version]


async def _rows(conn: AsyncConnection, statement: str, params: dict, version: int) -> list[tuple]:
    rows = await (await conn.execute(statement, params)).fetchall()
    if not rows or rows[0][0] is None:
        raise NotPublished
    if rows[0][0] != version:
        raise VersionChanged
    return rows


def int_array(values) -> str:
    """An int[] literal: cheaper to send than a long Python list."""
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def _columns(rows: list[tuple], first: int, count: int, dtypes) -> list[np.ndarray]:
    return [np.array([r[first + i] for r in rows], dtype=dtypes[i]) for i in range(count)]


async def seeds(conn: AsyncConnection, uris: list[str]) -> tuple[int, dict[str, tuple]]:
    """The live version, and uri -> (track id, artist id) for the catalogue tracks in `uris`."""
    rows = await (await conn.execute(sql.RANK_SEEDS, {"uris": uris})).fetchall()
    if not rows or rows[0][0] is None:
        raise NotPublished
    return rows[0][0], {r[1]: (r[2], r[3]) for r in rows if r[1] is not None}


async def evidence(
    conn: AsyncConnection,
    version: int,
    seeds: list[int],
    artist_of: dict[int, int | None],
    name: str | None,
    popular: np.ndarray,
) -> Evidence:
    """What the published tables say about a playlist with catalogue seeds `seeds` (in order;
    `artist_of` from `seeds()`) and title `name`."""
    ev = Evidence(has_title=bool(name), popular=popular)
    ordered = [s for s in dict.fromkeys(seeds) if artist_of.get(s) is not None]
    ev.seeds = np.array(ordered, np.int64)
    ev.seed_artists = np.array([artist_of[s] for s in ordered], np.int64)
    if ordered:
        ids = int_array(ordered)
        row = (await _rows(conn, sql.RANK_NEIGHBORS, {"ids": ids}, version))[0]
        if row[1] is not None:
            ev.neighbor_src = np.asarray(row[1], np.int64)
            ev.neighbor_dst = np.asarray(row[2], np.int64)
            ev.neighbor_weight = np.asarray(row[3], np.float32)
        rows = await _rows(conn, sql.RANK_PLAYLISTS, {"ids": ids, "n": TOP_PLAYLISTS}, version)
        rows = [r for r in rows if r[1] is not None]
        ev.playlist_id, ev.playlist_overlap, ev.playlist_length = _columns(
            rows, 1, 3, (np.int64, np.float32, np.float32)
        )
        if rows:
            ev.member_pid = np.concatenate([np.full(len(r[4]), r[1], np.int64) for r in rows])
            ev.member_track = np.concatenate([np.asarray(r[4], np.int64) for r in rows])
        artists = sorted(set(ev.seed_artists.tolist()))
        rows = await _rows(
            conn, sql.RANK_ARTISTS, {"artists": int_array(artists), "n": ARTIST_TRACKS}, version
        )
        pairs = [r for r in rows if r[1] is not None]
        ev.artist_neighbor_src, ev.artist_neighbor_dst, ev.artist_neighbor_weight = _columns(
            pairs, 1, 3, (np.int64, np.int64, np.float32)
        )
        ev.artist_tracks = np.array([r[4] for r in rows if r[4] is not None], np.int64)
    keys = title_keys(name)
    if keys:
        rows = await _rows(conn, sql.RANK_TITLES, {"keys": keys}, version)
        rows = [r for r in rows if r[1] is not None]
        ev.title_track, ev.title_score, ev.title_key_playlists = _columns(
            rows, 2, 3, (np.int64, np.float32, np.float32)
        )
        ev.title_exact = np.array([r[1].startswith("=") for r in rows], bool)
    return ev


async def ranked(
    conn: AsyncConnection,
    version: int,
    ranker: Ranker | None,
    ev: Evidence,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates best first, and their scores (the ranker's, or 1 / rank without one)."""
    candidates, scores = candidate_scores(ev)
    rows = await _rows(conn, sql.RANK_STATS, {"ids": int_array(candidates.tolist())}, version)
    stat = {r[1]: r[2:] for r in rows if r[1] is not None}
    keep = np.array([c in stat for c in candidates.tolist()], bool)
    candidates = candidates[keep]
    values = [stat[c] for c in candidates.tolist()]
    stats = TrackStats(
        popularity=np.array([v[0] for v in values], np.float32),
        artist=np.array([v[1] for v in values], np.int64),
        artist_popularity=np.array([v[2] for v in values], np.float32),
        artist_tracks_popularity=np.array([v[3] for v in values], np.float32),
    )
    X = feature_matrix(ev, candidates, scores, stats)
    return rank(ev, candidates, X, ranker)
