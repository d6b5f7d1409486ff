"""Answer a challenge set (2018 RecSys Challenge format) with the service's recommender, and write
the official submission CSV: a `team_info` line, then `pid, uri1, ..., uri500` per playlist,
exactly 500 distinct tracks, none of the playlist's own."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import time
from pathlib import Path

from psycopg import AsyncConnection

from serving import sql
from serving.db import ModelCache, configure_connection
from serving.recommender import continue_playlist, seed_from_track, with_retry
from serving.settings import Settings

log = logging.getLogger(__name__)

TEAM_INFO = ("team_info", "AlgoRhythms", "algorhythms@example.org")
TRACKS_PER_PLAYLIST = 500


async def _popular(conn: AsyncConnection, k: int) -> list[str]:
    rows = await (await conn.execute(sql.POPULAR, {"exclude": [], "k": k})).fetchall()
    return [r[2] for r in rows if r[1] is not None]


async def _answer(conn, models, playlist: dict, popular: list[str], count: int) -> list[str]:
    tracks = playlist.get("tracks") or []
    seeds = [
        seed_from_track(
            t["track_uri"],
            t.get("track_name"),
            t.get("artist_name"),
            t.get("album_name"),
            t.get("duration_ms"),
        )
        for t in tracks
    ]
    own = {s.uri for s in seeds}
    if seeds or (playlist.get("name") or "").strip():
        result = await with_retry(
            lambda: continue_playlist(conn, models, playlist.get("name"), seeds, count)
        )
        chosen = [i.uri for i in result.items if i.uri not in own]
    else:
        chosen = []
    chosen = list(dict.fromkeys(chosen))[:count]
    if len(chosen) < count:  # top up with popular tracks
        taken = own | set(chosen)
        chosen += [u for u in popular if u not in taken][: count - len(chosen)]
    return chosen


async def run_challenge(
    url: str,
    challenge_set: Path,
    out: Path,
    settings: Settings | None = None,
    count: int = TRACKS_PER_PLAYLIST,
    concurrency: int = 4,
) -> dict:
    """Write the submission for every playlist of `challenge_set`; a summary of the run."""
    settings = settings or Settings()
    playlists = json.loads(challenge_set.read_text())["playlists"]
    models = ModelCache()
    answers: dict[int, list[str]] = {}
    started = time.perf_counter()
    queue: asyncio.Queue = asyncio.Queue()
    for playlist in playlists:
        queue.put_nowait(playlist)

    async def worker() -> None:
        async with await AsyncConnection.connect(url) as conn:
            await configure_connection(conn, settings)
            popular = await _popular(conn, 2 * count + 300)
            while not queue.empty():
                playlist = queue.get_nowait()
                answers[int(playlist["pid"])] = await _answer(
                    conn, models, playlist, popular, count
                )

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    short = {pid: len(a) for pid, a in answers.items() if len(a) < count}
    if short:
        raise RuntimeError(f"the catalogue is too small for {count} tracks: {short}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(TEAM_INFO)
        for playlist in playlists:
            pid = int(playlist["pid"])
            writer.writerow([pid, *answers[pid]])
    seconds = time.perf_counter() - started
    return {
        "playlists": len(playlists),
        "seconds": seconds,
        "ms_per_playlist": 1000 * seconds / max(len(playlists), 1),
    }
