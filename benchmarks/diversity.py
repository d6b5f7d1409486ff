"""Relevance against diversity: the ranked continuation with diversity settings, on mpd_dev.

For each setting, every challenge playlist of ../shared/mpd_dev is continued (500 tracks)
through a real API on a published version (a data folder `benchmarks/quality.py --keep DIR`
built), the answers are scored by the hold-out's own scorer, and the first ten tracks of each
answer are measured: distinct artists, and intra-list similarity (the mean cosine between their
published vectors, over distinct pairs; lower is more varied). Prints one table row per setting.

    .venv/bin/python benchmarks/diversity.py --data DIR [--mpd-dev ../shared/mpd_dev]

mpd_dev holds real MPD playlists: it is read in place and never copied into the project.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [
    {},
    {"diversity": 0.05},
    {"diversity": 0.1},
    {"diversity": 0.2},
    {"diversity": 0.3},
    {"max_per_artist": 3},
    {"max_per_artist": 10},
    {"explore": 0.02, "seed": 0},
    {"explore": 0.05, "seed": 0},
]
TOP = 10


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vectors(data: Path) -> tuple[dict[str, int], np.ndarray]:
    """(track uri -> id, the published vectors by id) from the data folder's warehouse."""
    import pandas as pd

    from algorhythms_ml.embeddings.pipeline import read_vectors
    from algorhythms_ml.warehouse import Warehouse

    _, vectors = read_vectors(Warehouse.at(data / "warehouse"))
    meta = pd.read_parquet(data / "warehouse" / "track_metadata", columns=["track_id", "track_uri"])
    return dict(zip(meta["track_uri"], meta["track_id"], strict=True)), vectors


def _answers(bench, port: int, playlists: list[dict], setting: dict) -> dict[str, list[dict]]:
    """pid -> the continuation's items."""
    bodies = bench.challenge_bodies(playlists, count=500, **setting)
    answers = asyncio.run(bench.post_each(port, "/v1/playlists/continue", bodies))
    failed = {pid: status for pid, (status, _) in answers.items() if status != 200}
    if failed:
        raise RuntimeError(f"continuations failed: {failed}")
    return {pid: answer["items"] for pid, (_, answer) in answers.items()}


def _spread(answers: dict[str, list[dict]], id_of: dict, vectors: np.ndarray) -> tuple:
    """(mean distinct artists in the top ten, mean intra-list similarity of the top ten)."""
    from algorhythms_store.diversity import intra_list_similarity

    artists, similarity = [], []
    for items in answers.values():
        top = items[:TOP]
        artists.append(len({i["artist"] for i in top}))
        ids = [id_of[i["uri"]] for i in top if i["uri"] in id_of]
        similarity.append(intra_list_similarity(vectors[ids]))
    return float(np.mean(artists)), float(np.mean(similarity))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a data folder quality.py --keep built")
    parser.add_argument("--mpd-dev", default=str(ROOT.parent / "shared" / "mpd_dev"))
    args = parser.parse_args()
    mpd_dev, data = Path(args.mpd_dev).resolve(), Path(args.data).resolve()
    if not (mpd_dev / "score.py").exists():
        print(f"no mpd_dev hold-out at {mpd_dev}: nothing to measure (pass --mpd-dev)")
        return 0
    quality = _module("quality_bench", ROOT / "benchmarks" / "quality.py")
    bench = _module("serving_bench", ROOT / "benchmarks" / "serving.py")
    scorer = quality._scorer(mpd_dev)
    truth = json.loads((mpd_dev / "ground_truth.json").read_text())
    artist_of = quality._artists(mpd_dev, truth)
    playlists = json.loads((mpd_dev / "challenge_set.json").read_text())["playlists"]
    id_of, vectors = _vectors(data)
    with bench.api_on(data, "api-diversity.log") as port:
        warm_up = json.dumps({"name": "warm up", "count": 10}).encode()
        quality._warm_up(port, warm_up, data / "api-diversity.log")
        print(f"mpd_dev challenge, {len(playlists)} playlists, 500 tracks each; top {TOP} spread")
        print(
            "| setting | R-precision | NDCG | clicks | artists in top 10 | similarity in top 10 "
            "| seconds |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for setting in SETTINGS:
            started = time.perf_counter()
            answers = _answers(bench, port, playlists, setting)
            seconds = time.perf_counter() - started
            recs = {pid: [i["uri"] for i in items] for pid, items in answers.items()}
            (r, n, c), _, _ = scorer.score(truth, recs, artist_of)
            artists, similarity = _spread(answers, id_of, vectors)
            label = ", ".join(f"{k} {v}" for k, v in setting.items()) or "ranked (all off)"
            print(
                f"| {label} | {r:.4f} | {n:.4f} | {c:.2f} | {artists:.2f} | {similarity:.3f} "
                f"| {seconds:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
