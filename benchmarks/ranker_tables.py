"""Which tables the ranker should learn from, side by side on real playlists (mpd_dev).

The ranker is trained on challenge-style queries made from its training playlists, and a query
must not read its own playlist. Two ways give it that, both built here from the same queries and
the same fold GCN vectors (per fold, a GCN trained on the other folds' playlists):

- fold tables (what `playlist_ranker` does): the ranking tables rebuilt by Spark from the other
  folds' playlists, once per fold;
- published tables less the query: the tables the service answers from, each query's own
  playlist subtracted (`MemoryStore` with `LeftOut`, as `recommendation_eval` reads them); no
  rebuild, and at any size the features have the published tables' counts.

The fold tables are built with the default configurations, as the data folder's published
tables are when `benchmarks/quality.py` builds it. A ranker is fitted on each set of rows,
answers the mpd_dev challenge from the published tables in memory (the service's ranking code,
with the published GCN's vectors) and is scored by the hold-out's own scorer.

    .venv/bin/python benchmarks/quality.py --keep DIR      # builds the mpd_dev data folder
    .venv/bin/python benchmarks/ranker_tables.py --data DIR [--no-embeddings]

mpd_dev holds real MPD playlists: it is read in place and never copied into the project.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quality import _artists, _scorer  # noqa: E402  (benchmarks/quality.py)

from algorhythms_ml.embeddings.pipeline import read_vectors  # noqa: E402
from algorhythms_ml.recommend.ranker import (  # noqa: E402
    RankerConfig,
    TrainingRows,
    fit_ranker,
    fold_of,
    random_queries,
    training_rows,
)
from algorhythms_ml.recommend.training import (  # noqa: E402
    HoldoutConfig,
    _split,
    published_store,
    with_playlists,
)
from algorhythms_ml.spark import build_spark_session  # noqa: E402
from algorhythms_ml.warehouse import Warehouse, read_parquet  # noqa: E402
from algorhythms_store.progress import Progress  # noqa: E402

FOLD_TABLES = "fold tables (rebuilt per fold)"
PUBLISHED = "published tables less the query"


def training_sets(warehouse: Warehouse, config: RankerConfig, log) -> dict[str, TrainingRows]:
    """The ranker's training rows both ways, from the same queries and fold vectors."""
    holdout = HoldoutConfig()

    def work(data) -> dict[str, TrainingRows]:
        _, training = _split(data, holdout)
        folds = fold_of(training, config.folds, config.seed)
        rows = {FOLD_TABLES: TrainingRows([], [], [], []), PUBLISHED: TrainingRows([], [], [], [])}
        for fold in range(config.folds):
            inside = {p for p, f in folds.items() if f != fold}
            started = time.perf_counter()
            store, vectors = data.fold(inside, config.embeddings, log)
            rebuilt = time.perf_counter() - started
            queries = random_queries(
                {p: data.tracks[p] for p, f in folds.items() if f == fold},
                data.names,
                config.seed + fold,
            )
            seeds = np.unique([t for q in queries for t in q.seeds]).astype(np.int64)
            published = published_store(
                warehouse, seeds, None if vectors is None else vectors.vectors
            )
            for name, source, leave_out in (
                (FOLD_TABLES, store, False),
                (PUBLISHED, published, True),
            ):
                rows[name] += training_rows(
                    source,
                    queries,
                    Progress(len(queries), f"fold {fold + 1} queries, {name}", log),
                    config.negative_share,
                    config.seed + fold,
                    leave_out=leave_out,
                    workers=holdout.query_workers,
                )
            log.info("fold %d: rebuilt in %.0f s", fold + 1, rebuilt)
        return rows

    return with_playlists(build_spark_session(), warehouse, work, holdout.max_playlists)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a data folder benchmarks/quality.py built")
    parser.add_argument("--mpd-dev", default=str(ROOT.parent / "shared" / "mpd_dev"))
    parser.add_argument(
        "--no-embeddings", action="store_true", help="without the song-vector features"
    )
    args = parser.parse_args()
    mpd_dev = Path(args.mpd_dev).resolve()
    if not (mpd_dev / "score.py").exists():
        print(f"no mpd_dev hold-out at {mpd_dev}: nothing to measure (pass --mpd-dev)")
        return 0
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    log = logging.getLogger("ranker_tables")
    warehouse = Warehouse.at(str(Path(args.data).resolve() / "warehouse"))
    config = RankerConfig(embeddings=not args.no_embeddings)
    sets = training_sets(warehouse, config, log)

    scorer = _scorer(mpd_dev)
    truth = json.loads((mpd_dev / "ground_truth.json").read_text())
    artist_of = _artists(mpd_dev, truth)
    challenge = json.loads((mpd_dev / "challenge_set.json").read_text())["playlists"]
    meta = read_parquet(warehouse.table("track_metadata"), ["track_id", "track_uri"])
    id_of = dict(zip(meta["track_uri"], meta["track_id"], strict=True))
    uri_of = dict(zip(meta["track_id"], meta["track_uri"], strict=True))
    queries = [
        SimpleNamespace(
            pid=str(p["pid"]),
            name=p.get("name"),
            seeds=[id_of[t["track_uri"]] for t in p["tracks"] if t["track_uri"] in id_of],
        )
        for p in challenge
    ]
    seeds = np.asarray([t for q in queries for t in q.seeds], dtype=np.int64)
    store = published_store(
        warehouse, seeds, read_vectors(warehouse)[1] if config.embeddings else None
    )
    results = []
    for name, (Xs, ys, groups) in sets.items():
        ranker = fit_ranker(Xs, ys, groups, config, log)
        recs = {
            q.pid: [uri_of[int(t)] for t in store.recommend(q.seeds, q.name, ranker)]
            for q in queries
        }
        (r, n, c), categories, missing = scorer.score(truth, recs, artist_of)
        results.append((name, len(groups), int(sum(groups)), r, n, c, categories))
    print()
    features = "with" if config.embeddings else "without"
    print(f"mpd_dev challenge ({len(truth)} playlists), {features} the song-vector features")
    print("| ranker trained on | queries | rows | R-precision | NDCG | clicks |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, q, rows, r, n, c, _ in results:
        print(f"| {name} | {q:,} | {rows:,} | {r:.4f} | {n:.4f} | {c:.2f} |")
    print()
    print("| category (R-precision / NDCG) | " + " | ".join(name for name, *_ in results) + " |")
    print("| --- |" + " --- |" * len(results))
    for category in sorted(results[0][6]):
        cells = [f"{res[6][category][0]:.4f} / {res[6][category][1]:.4f}" for res in results]
        print(f"| {category} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
