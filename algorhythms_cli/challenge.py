"""Answer a challenge set (2018 RecSys Challenge format) with the service's recommender, and write
the official submission CSV: a `team_info,<team>,<main|creative>,<email>` line (what the 2018
`verify_submission.py` checks), then `pid, uri1, ..., uri500` per playlist, exactly 500
distinct tracks, none of the playlist's own. A challenge set or a submission whose name ends in
`.gz` is read or written gzipped."""

from __future__ import annotations

import asyncio
import csv
import gzip
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

TEAM = "AlgoRhythms"
TRACKS = ("main", "creative")
EMAIL = "algorhythms@example.org"


def team_info(team: str = TEAM, track: str = "main", email: str = EMAIL) -> list[str]:
    """The submission's first line, as the 2018 challenge's verifier wants it."""
    if track not in TRACKS:
        raise ValueError(f"the challenge track is one of {', '.join(TRACKS)}, not {track!r}")
    if not team.strip() or "," in team or "\n" in team:
        raise ValueError("the team name must be non-empty, without commas or line breaks")
    if "@" not in email or "," in email or "\n" in email:
        raise ValueError(f"{email!r} is not an email address")
    return ["team_info", team, track, email]


def _open(path: Path, mode: str):
    """A text file, gzipped when its name ends in .gz."""
    if path.name.endswith(".gz"):
        return gzip.open(path, mode + "t", encoding="utf-8", newline="")
    return path.open(mode, encoding="utf-8", newline="")


def read_challenge_set(path: Path) -> list[dict]:
    """The playlists of a challenge set (JSON, or gzipped JSON)."""
    with _open(path, "r") as f:
        try:
            doc = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
            raise ValueError(f"{path} is not a challenge set (JSON): {error}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
        raise ValueError(f'{path} is not a challenge set: no "playlists" list at the top level')
    return doc["playlists"]


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
    team: list[str] | None = None,
) -> dict:
    """Write the submission for every playlist of `challenge_set`; a summary of the run.
    `team`: the team_info line (default `team_info()`)."""
    settings = settings or Settings()
    team = team or team_info()
    playlists = read_challenge_set(challenge_set)
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
    with _open(out, "w") as f:
        writer = csv.writer(f)
        writer.writerow(team)
        for playlist in playlists:
            pid = int(playlist["pid"])
            writer.writerow([pid, *answers[pid]])
    seconds = time.perf_counter() - started
    return {
        "playlists": len(playlists),
        "seconds": seconds,
        "ms_per_playlist": 1000 * seconds / max(len(playlists), 1),
    }
