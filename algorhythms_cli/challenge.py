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

from algorhythms_store.ranking import RECOMMENDATIONS
from serving.models import ModelCache
from serving.pool import configure_connection
from serving.query import seed_from_track
from serving.recommender import continue_playlist, with_retry
from serving.settings import Settings

log = logging.getLogger(__name__)

TEAM_INFO = ("team_info", "AlgoRhythms", "algorhythms@example.org")


async def _answer(conn, models: ModelCache, playlist: dict, count: int) -> list[str]:
    """The service's continuation of `playlist` (topped up with popular tracks)."""
    seeds = [
        seed_from_track(
            t["track_uri"],
            t.get("track_name"),
            t.get("artist_name"),
            t.get("album_name"),
            t.get("duration_ms"),
        )
        for t in playlist.get("tracks") or []
    ]
    result = await with_retry(
        lambda: continue_playlist(conn, models, playlist.get("name"), seeds, count)
    )
    return [item.uri for item in result.items]


async def run_challenge(
    url: str,
    challenge_set: Path,
    out: Path,
    settings: Settings | None = None,
    count: int = RECOMMENDATIONS,
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
            while not queue.empty():
                playlist = queue.get_nowait()
                answers[int(playlist["pid"])] = await _answer(conn, models, playlist, count)

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
