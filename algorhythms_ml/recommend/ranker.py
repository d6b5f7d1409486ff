"""Training and evaluating the playlist ranker on challenge-style hold-outs.

A query's candidates and features come from `algorhythms_store.memory_store.MemoryStore`: the
ranking tables in memory, ranked by the service's own code (algorhythms_store.ranking).
Hold-outs follow the RecSys Challenge 2018: ten categories of incomplete playlists (title only;
title + first 1, 5, 10, 25, 100 tracks; first 5 or 10 tracks without the title; title + 25 or
100 random tracks), the rest of each playlist held out.

Training (`train_ranker`): the training playlists are split into folds; for each fold the
tables are computed from the other folds and the fold's playlists become queries whose
held-out tracks are the positives of a LightGBM lambdarank model. Evaluation
(`evaluate`): queries from playlists never trained on, read from the published tables with each
query's own playlist subtracted (`Query.left_out`),
R-precision (a wrong track by a held-out artist counts 0.25, once per artist), NDCG over 500
and recommended-songs clicks, per category, for the ranker and for the popularity and item-kNN
baselines computed from the same tables.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import Field

from algorhythms_ml.config import config_class
from algorhythms_ml.recommend.forked import chunk_results
from algorhythms_store.memory_store import LeftOut, MemoryStore, top_ranked
from algorhythms_store.progress import Progress
from algorhythms_store.ranking import (
    FEATURE_GROUPS,
    FEATURES,
    RECOMMENDATIONS,
    SOURCES,
    Evidence,
    Ranker,
    rank,
    top_up,
)

# (name, seed tracks, with title, random seeds), in the challenge's order.
CATEGORIES = [
    ("title_only", 0, True, False),
    ("title_first1", 1, True, False),
    ("title_first5", 5, True, False),
    ("first5", 5, False, False),
    ("title_first10", 10, True, False),
    ("first10", 10, False, False),
    ("title_first25", 25, True, False),
    ("title_random25", 25, True, True),
    ("title_first100", 100, True, False),
    ("title_random100", 100, True, True),
]


def eligible(category: tuple, length: int) -> bool:
    """The challenge held out at least as many tracks as it showed; 100-seed playlists are
    long ones."""
    _, k, _, _ = category
    if k >= 100:
        return length >= 150
    return length >= max(2 * k, 10)


@dataclass
class Query:
    pid: int
    category: str
    name: str | None
    seeds: list[int]  # track ids, playlist order
    held_out: list[int]
    title: str | None = None  # the playlist's title, shown to the query or not

    def left_out(self) -> LeftOut:
        """The query's own playlist, to be left out of tables that hold it."""
        return LeftOut.of(self.pid, [*self.seeds, *self.held_out], self.title)


def make_query(pid: int, name: str | None, tracks: list[int], category: tuple, rng) -> Query:
    label, k, with_title, randomly = category
    idx = sorted(rng.sample(range(len(tracks)), k)) if randomly else list(range(k))
    chosen = set(idx)
    return Query(
        pid=pid,
        category=label,
        name=name if with_title else None,
        seeds=[tracks[i] for i in idx],
        held_out=[t for i, t in enumerate(tracks) if i not in chosen],
        title=name,
    )


def playlist_tracks_in_order(rows: pd.DataFrame) -> dict[int, list[int]]:
    """pid -> distinct track ids by position, from (pid, track_id, pos)."""
    ordered = rows.sort_values(["pid", "pos"])
    return {
        int(pid): group.tolist() for pid, group in ordered.groupby("pid", sort=False)["track_id"]
    }


def balanced_queries(
    playlists: dict[int, list[int]], names: dict[int, str | None], count: int, seed: int
) -> list[Query]:
    """`count` queries, the categories taking turns, each from a distinct eligible playlist."""
    rng = random.Random(seed)
    pool = sorted(playlists)
    rng.shuffle(pool)
    used: set[int] = set()
    out: list[Query] = []
    starts = {c[0]: 0 for c in CATEGORIES}
    while len(out) < count:
        added = False
        for category in CATEGORIES:
            if len(out) >= count:
                break
            i = starts[category[0]]
            while i < len(pool) and (
                pool[i] in used or not eligible(category, len(playlists[pool[i]]))
            ):
                i += 1
            starts[category[0]] = i
            if i < len(pool):
                pid = pool[i]
                used.add(pid)
                out.append(make_query(pid, names.get(pid), playlists[pid], category, rng))
                added = True
        if not added:
            break
    return out


def random_queries(
    playlists: dict[int, list[int]], names: dict[int, str | None], seed: int
) -> list[Query]:
    """One query per eligible playlist, its category drawn among those it is eligible for."""
    rng = random.Random(seed)
    out = []
    for pid in sorted(playlists):
        tracks = playlists[pid]
        options = [c for c in CATEGORIES if eligible(c, len(tracks))]
        if options:
            out.append(make_query(pid, names.get(pid), tracks, rng.choice(options), rng))
    return out


def split_holdout(pids: Iterable[int], share: float, minimum: int, maximum: int, seed: int):
    """(evaluation pids, training pids): a seeded random share of the playlists, clamped."""
    pids = sorted(pids)
    rng = random.Random(seed)
    rng.shuffle(pids)
    n = min(maximum, max(minimum, int(len(pids) * share)), len(pids) // 2)
    return set(pids[:n]), set(pids[n:])


# --- metrics --------------------------------------------------------------------------------


def challenge_metrics(
    recommended: list[int], held_out: list[int], artist_of: Callable[[int], int]
) -> tuple[float, float, float]:
    """(R-precision with 0.25 artist credit, NDCG, clicks) as the RecSys Challenge 2018."""
    truth = list(dict.fromkeys(held_out))
    relevant = set(truth)
    artists = {artist_of(t) for t in truth}
    r = len(truth)
    top = recommended[:r]
    hits = sum(1 for t in top if t in relevant)
    credited = {artist_of(t) for t in top if t not in relevant and artist_of(t) in artists}
    credited.discard(-1)
    rprec = (hits + 0.25 * len(credited)) / r
    dcg = sum(1.0 / math.log2(i + 2) for i, t in enumerate(recommended) if t in relevant)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(r, RECOMMENDATIONS)))
    clicks = next((i // 10 for i, t in enumerate(recommended) if t in relevant), 51)
    return rprec, dcg / idcg, float(clicks)


@dataclass
class Evaluation:
    """Mean metrics per recommender and category (plus "all")."""

    rows: list[dict] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def summary(self) -> pd.DataFrame:
        frame = self.frame()
        per_cat = frame.groupby(["recommender", "category"], sort=False)[
            ["r_precision", "ndcg", "clicks"]
        ].mean()
        overall = frame.groupby("recommender", sort=False)[["r_precision", "ndcg", "clicks"]].mean()
        overall.index = pd.MultiIndex.from_tuples(
            [(r, "all") for r in overall.index], names=["recommender", "category"]
        )
        counts = frame.groupby(["recommender", "category"], sort=False).size()
        out = pd.concat([overall, per_cat]).reset_index()
        out["playlists"] = [
            counts[r].sum() if c == "all" else counts[(r, c)]
            for r, c in zip(out["recommender"], out["category"], strict=True)
        ]
        return out


def evaluate(
    store: MemoryStore,
    queries: list[Query],
    artist_of: Callable[[int], int],
    recommenders: dict[str, Callable[[Query], list[int]]],
    workers: int | None = 1,
) -> Evaluation:
    """Every recommender's challenge metrics on every query; `workers` forked processes (None:
    one per core) answer chunks of `QUERY_CHUNK` queries side by side, as `training_rows`."""

    chunks = query_chunks(queries)

    def chunk(c: int) -> list[dict]:
        rows = []
        for q in chunks[c]:
            for label, recommend in recommenders.items():
                r, ndcg, clicks = challenge_metrics(recommend(q), q.held_out, artist_of)
                rows.append(
                    dict(
                        recommender=label,
                        category=q.category,
                        pid=q.pid,
                        r_precision=r,
                        ndcg=ndcg,
                        clicks=clicks,
                    )
                )
        return rows

    result = Evaluation()
    for rows in chunk_results(chunk, len(chunks), workers):
        result.rows.extend(rows)
    return result


def standard_recommenders(
    store: MemoryStore, ranker: Ranker | None, leave_out: bool = False
) -> dict:
    """The model, and the popularity and item-kNN baselines, over the same tables.

    `leave_out`: the queries' playlists are in the tables (the published ones), and each
    query's own playlist is subtracted from what it reads (`Query.left_out`)."""

    def out(q: Query) -> LeftOut | None:
        return q.left_out() if leave_out else None

    # The model and item-kNN read the same candidates of a query: computed once per query.
    last: dict[str, object] = {}

    def features(q: Query) -> tuple[Evidence, np.ndarray, np.ndarray]:
        if last.get("query") is not q:
            last.update(query=q, features=store.features(q.seeds, q.name, out(q)))
        return last["features"]

    def model(q: Query) -> list[int]:  # MemoryStore.recommend, on the shared candidates
        return top_ranked(features(q), q.seeds, ranker)

    def popularity(q: Query) -> list[int]:
        popular = store.most_popular(out(q))
        return top_up(np.zeros(0, np.int64), popular, set(q.seeds), RECOMMENDATIONS)

    def item_knn(q: Query) -> list[int]:
        ev, candidates, X = features(q)
        knn = X[:, FEATURES.index("knn")]
        keep = knn > 0
        ranked = candidates[keep][np.lexsort((candidates[keep], -knn[keep]))]
        return top_up(ranked, ev.popular, set(q.seeds), RECOMMENDATIONS)

    return {"model": model, "popularity": popularity, "item_knn": item_knn}


# --- training -------------------------------------------------------------------------------


@config_class
class RankerConfig:
    """LightGBM lambdarank over the candidate features (algorhythms_store.ranking)."""

    folds: int = Field(
        2,
        ge=2,
        description="folds of training playlists; each fold's tables exclude it (each fold is "
        "one rebuild of the tables: on mpd_dev 2 folds scored as 4 did)",
    )
    rounds: int = Field(300, ge=1, description="boosting rounds")
    learning_rate: float = Field(0.05, gt=0, description="LightGBM learning rate")
    num_leaves: int = Field(31, ge=2, description="leaves per tree")
    min_data_in_leaf: int = Field(50, ge=1, description="fewest rows in a leaf")
    truncation: int = Field(50, ge=1, description="lambdarank truncation level")
    negative_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="share of each training query's negative candidates (not held out) kept, "
        "drawn at random: the boosting's cost and memory follow the rows it is given, and a "
        "quarter of them cost no measurable quality on mpd_dev (README, Benchmarks)",
    )
    seed: int = Field(0, description="seed of the folds, the queries and LightGBM")
    embeddings: bool = Field(
        True,
        description="the embedding features and candidates: each fold's queries read song "
        "vectors of a GCN trained on the other folds (one GCN per fold, each on a share of "
        "the edges the published GCN trains on, with its budget); off: they are 0 and none",
    )
    ablation: bool = Field(
        False,
        description="also train one ranker without each candidate source and one without each "
        "feature group on the same rows (recommendation_eval then measures what each part is "
        "worth); one more boosting per part",
    )


class TrainingRows(tuple):
    """(Xs, ys, groups): per query, its rows' features and labels, and its row count; and
    `found`: per query, which candidate sources found each row (ranking.Scores.found)."""

    found: list[np.ndarray]

    def __new__(cls, Xs: list, ys: list, groups: list, found: list) -> TrainingRows:
        rows = super().__new__(cls, (Xs, ys, groups))
        rows.found = found
        return rows

    def __add__(self, other: TrainingRows) -> TrainingRows:
        return TrainingRows(
            *(a + b for a, b in zip(self, other, strict=True)), self.found + other.found
        )


QUERY_CHUNK = 64  # queries per unit of work; each chunk draws its negatives from its own seed


def query_chunks(queries: list[Query]) -> list[list[Query]]:
    """The queries in chunks of `QUERY_CHUNK`, the units `forked.chunk_results` hands out."""
    return [queries[i : i + QUERY_CHUNK] for i in range(0, len(queries), QUERY_CHUNK)]


def _query_rows(
    store: MemoryStore,
    queries: list[Query],
    rng: np.random.Generator,
    negative_share: float,
    leave_out: bool,
) -> TrainingRows:
    Xs, ys, groups, founds = [], [], [], []
    for q in queries:
        out = q.left_out() if leave_out else None
        _, candidates, X, found = store.candidates(q.seeds, q.name, out)
        y = np.isin(candidates, np.asarray(q.held_out, dtype=np.int64)).astype(np.int32)
        if negative_share < 1:
            keep = (y > 0) | (rng.random(len(y)) < negative_share)
            X, y, found = X[keep], y[keep], found[keep]
        if y.sum() == 0 or len(y) < 2:
            continue
        Xs.append(X)
        ys.append(y)
        groups.append(len(y))
        founds.append(found)
    return TrainingRows(Xs, ys, groups, founds)


def training_rows(
    store: MemoryStore,
    queries: list[Query],
    progress: Progress | None = None,
    negative_share: float = 1.0,
    seed: int = 0,
    leave_out: bool = False,
    workers: int | None = 1,
) -> TrainingRows:
    """(X, labels, group sizes) for the queries with at least one held-out candidate: every
    positive candidate and a seeded random `negative_share` of the negatives. `leave_out`: the
    queries' playlists are in the store's tables, and each query reads them without its own
    (`Query.left_out`).

    `workers` forked processes (None: one per core; `forked.chunk_results`) compute chunks of
    `QUERY_CHUNK` queries side by side: a query's features are single-threaded Python and
    numpy. The chunks, their seeded negatives and their order do not depend on the number of
    workers, so neither do the rows (up to the rounding of a multi-threaded BLAS product in
    one process against single-threaded ones in workers)."""
    chunks = query_chunks(queries)

    def chunk(c: int) -> tuple[list, list, list, list]:  # a TrainingRows does not pickle
        rng = np.random.default_rng([seed, c])
        rows = _query_rows(store, chunks[c], rng, negative_share, leave_out)
        return (*rows, rows.found)

    Xs, ys, groups, founds = [], [], [], []
    for c, (X, y, group, found) in enumerate(chunk_results(chunk, len(chunks), workers)):
        Xs += X
        ys += y
        groups += group
        founds += found
        if progress is not None:
            progress.advance(len(chunks[c]))
    return TrainingRows(Xs, ys, groups, founds)


# --- ablation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ablation:
    """The ranker without one candidate source (its candidates that no other source found are
    dropped) or without one feature group (its columns held at 0, which LightGBM cannot split
    on), in training and in answers alike."""

    source: str | None = None
    group: str | None = None

    @property
    def label(self) -> str:
        return (
            f"without source: {self.source}" if self.source else f"without features: {self.group}"
        )

    def apply(self, X: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the rows kept, their features)."""
        keep = np.ones(len(X), bool)
        if self.source is not None:
            keep = (found & ~np.uint8(1 << SOURCES.index(self.source))) != 0
        X = X[keep]
        if self.group is not None:
            X = X.copy()
            X[:, [FEATURES.index(f) for f in FEATURE_GROUPS[self.group]]] = 0.0
        return keep, X


# The popular tracks only top a short candidate list up: not ablated.
ABLATIONS = [Ablation(source=s) for s in SOURCES if s != "popularity"] + [
    Ablation(group=g) for g in FEATURE_GROUPS
]


def fit_ablations(
    rows: TrainingRows, config: RankerConfig, log: logging.Logger | None = None
) -> dict[str, Ranker]:
    """One ranker per ABLATIONS entry, on the same training rows less what it removes."""
    log = log or logging.getLogger(__name__)
    out = {}
    for ablation in ABLATIONS:
        Xs, ys, groups = [], [], []
        for X, y, found in zip(rows[0], rows[1], rows.found, strict=True):
            keep, X = ablation.apply(X, found)
            if y[keep].sum() == 0 or keep.sum() < 2:
                continue
            Xs.append(X)
            ys.append(y[keep])
            groups.append(int(keep.sum()))
        log.info("ranker %s: %d queries", ablation.label, len(groups))
        out[ablation.label] = fit_ranker(Xs, ys, groups, config, log)
    return out


def ablation_recommenders(
    store: MemoryStore, rankers: dict[str, Ranker], leave_out: bool = False
) -> dict:
    """The ABLATIONS' rankers, each answering with what it was trained without removed."""

    def answer(ablation: Ablation, ranker: Ranker) -> Callable[[Query], list[int]]:
        def recommend(q: Query) -> list[int]:
            out = q.left_out() if leave_out else None
            ev, candidates, X, found = store.candidates(q.seeds, q.name, out)
            keep, X = ablation.apply(X, found)
            ranked, _ = rank(ev, candidates[keep], X, ranker)
            return top_up(ranked, ev.popular, set(q.seeds), RECOMMENDATIONS)

        return recommend

    return {a.label: answer(a, rankers[a.label]) for a in ABLATIONS if a.label in rankers}


def fit_ranker(Xs, ys, groups, config: RankerConfig, log: logging.Logger | None = None) -> Ranker:
    import lightgbm

    if not groups:
        raise ValueError("no training query has a held-out track among its candidates")
    data = lightgbm.Dataset(
        np.concatenate(Xs), np.concatenate(ys), group=groups, feature_name=FEATURES
    )
    params = dict(
        objective="lambdarank",
        learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
        min_data_in_leaf=config.min_data_in_leaf,
        lambdarank_truncation_level=config.truncation,
        seed=config.seed,
        deterministic=True,
        num_threads=0,
        verbose=-1,
    )
    progress = Progress(config.rounds, "ranker boosting rounds", log or logging.getLogger(__name__))
    booster = lightgbm.train(
        params, data, config.rounds, callbacks=[lambda env: progress.update(env.iteration + 1)]
    )
    return Ranker(booster.model_to_string())


def fold_of(pids: Iterable[int], folds: int, seed: int) -> dict[int, int]:
    pids = sorted(pids)
    random.Random(seed).shuffle(pids)
    return {pid: i % folds for i, pid in enumerate(pids)}
