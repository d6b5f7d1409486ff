"""Similar playlists on mpd_dev: how much of a held-out playlist the most similar playlists hold.

For each challenge playlist of ../shared/mpd_dev, `POST /v1/playlists/similar` (count 10) is
asked through a real API on a published version (a data folder `benchmarks/quality.py --keep
DIR` built); recall is the share of the playlist's hidden tracks that the ten answered
playlists hold between them. The reference picks the ten training playlists that share the most
seed tracks (ties: the shorter playlist, then the smaller pid), from the same warehouse. Both
also report how many distinct tracks the ten playlists hold (a longer union covers more).

    .venv/bin/python benchmarks/similar_playlists.py --data DIR [--mpd-dev ../shared/mpd_dev]

mpd_dev holds real MPD playlists: it is read in place and never copied into the project.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
COUNT = 10


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _members(data: Path) -> dict[int, set[str]]:
    """pid -> the track uris of each ingested playlist."""
    import pandas as pd

    rows = pd.read_parquet(data / "warehouse" / "playlist_tracks", columns=["pid", "track_uri"])
    members: dict[int, set[str]] = defaultdict(set)
    for pid, track in zip(rows["pid"].tolist(), rows["track_uri"].tolist(), strict=True):
        members[pid].add(track)
    return members


def _most_shared(seeds: list[str], members: dict[int, set[str]], holding: dict) -> list[int]:
    """The COUNT playlists sharing the most seeds (ties: shorter, then smaller pid)."""
    shared: dict[int, int] = defaultdict(int)
    for track in set(seeds):
        for pid in holding.get(track, ()):
            shared[pid] += 1
    ranked = sorted(shared, key=lambda p: (-shared[p], len(members[p]), p))
    return ranked[:COUNT]


def _similar(bench, port: int, playlists: list[dict]) -> dict[str, list[int]]:
    """pid -> the answered playlists' pids (none where nothing of the playlist is known: 422)."""
    bodies = bench.challenge_bodies(playlists, count=COUNT)
    answers = asyncio.run(bench.post_each(port, "/v1/playlists/similar", bodies))
    failed = {pid: status for pid, (status, _) in answers.items() if status not in (200, 422)}
    if failed:
        raise RuntimeError(f"similar-playlist requests failed: {failed}")
    return {
        pid: [i["pid"] for i in answer["items"]] if status == 200 else []
        for pid, (status, answer) in answers.items()
    }


def _coverage(pids: list[int], hidden: set[str], members: dict) -> tuple[float, int]:
    union = set().union(*(members[p] for p in pids)) if pids else set()
    return len(hidden & union) / max(len(hidden), 1), len(union)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a data folder quality.py --keep built")
    parser.add_argument("--mpd-dev", default=str(ROOT.parent / "shared" / "mpd_dev"))
    args = parser.parse_args()
    mpd_dev, data = Path(args.mpd_dev).resolve(), Path(args.data).resolve()
    if not (mpd_dev / "score.py").exists():
        print(f"no mpd_dev hold-out at {mpd_dev}: nothing to measure (pass --mpd-dev)")
        return 0
    bench = _module("serving_bench", ROOT / "benchmarks" / "serving.py")
    truth = json.loads((mpd_dev / "ground_truth.json").read_text())
    playlists = json.loads((mpd_dev / "challenge_set.json").read_text())["playlists"]
    members = _members(data)
    holding: dict[str, list[int]] = defaultdict(list)
    for pid, tracks in members.items():
        for track in tracks:
            holding[track].append(pid)
    with bench.api_on(data, "api-similar.log") as port:
        answered = _similar(bench, port, playlists)
    rows: dict[str, list[tuple]] = defaultdict(list)
    for p in playlists:
        hidden = {t["track_uri"] for t in truth[str(p["pid"])]["tracks"]}
        seeds = [t["track_uri"] for t in p["tracks"]]
        group = "with tracks" if seeds else "title only"
        vectors = _coverage(answered[str(p["pid"])], hidden, members)
        shared = _coverage(_most_shared(seeds, members, holding), hidden, members)
        rows[group].append(vectors + shared)
    print(f"mpd_dev challenge: recall of the hidden tracks by the {COUNT} most similar playlists")
    print(
        "| playlists | n | playlist vectors: recall | tracks held | most shared seeds: recall "
        "| tracks held |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for group, values in rows.items():
        v = np.asarray(values, np.float64).mean(axis=0)
        print(f"| {group} | {len(values)} | {v[0]:.4f} | {v[1]:.0f} | {v[2]:.4f} | {v[3]:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
