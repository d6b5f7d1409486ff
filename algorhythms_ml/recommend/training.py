"""Spark side of the ranker: ranking tables for a subset of playlists, training, evaluation.

Training stores are computed by `ranking_tables` from only the playlists they may know: a
training fold's queries never see their own playlists, and the evaluation hold-out is never
trained on. The evaluation reads the published tables themselves, the part its queries reach,
each query's own playlist subtracted from them (`algorhythms_store.memory_store.LeftOut`): it
measures the tables the service answers from, without a rebuild.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from pydantic import Field
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from algorhythms_ml.config import config_class
from algorhythms_ml.embeddings.train import GCNConfig
from algorhythms_ml.graph.cooccurrence import (
    EdgeConfig,
    block_pass,
    chosen_rows,
    edge_selector,
    staged_playlist_rows,
)
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.recommend.fold_vectors import (
    FoldVectors,
    edge_table,
    fold_vectors,
    playlists_rows,
)
from algorhythms_ml.recommend.neighbors import NeighborConfig, neighbor_selector
from algorhythms_ml.recommend.playlist_tables import (
    PlaylistTableConfig,
    ranking_tables,
    read_playlists,
    track_artists,
)
from algorhythms_ml.recommend.ranker import (
    Evaluation,
    RankerConfig,
    TrainingRows,
    ablation_recommenders,
    balanced_queries,
    evaluate,
    fit_ablations,
    fit_ranker,
    fold_of,
    playlist_tracks_in_order,
    random_queries,
    split_holdout,
    standard_recommenders,
    training_rows,
)
from algorhythms_ml.recommend.titles import TitleConfig
from algorhythms_ml.warehouse import Staging, Warehouse, read_parquet
from algorhythms_store.memory_store import MemoryStore
from algorhythms_store.progress import Progress
from algorhythms_store.ranking import Ranker
from algorhythms_store.schema import (
    ARTIST_NEIGHBORS,
    PLAYLIST_MEMBERS,
    TITLE_TRACKS,
    TRACK_NEIGHBORS,
    TRACK_STATS,
)


@config_class
class HoldoutConfig:
    """The evaluation hold-out, shared by the ranker (which never trains on it) and the
    evaluation, and the sample both work on at scale."""

    holdout_share: float = Field(
        0.1, gt=0, lt=1, description="share of the playlists held out for evaluation"
    )
    holdout_min: int = Field(100, ge=1, description="fewest playlists held out")
    holdout_max: int = Field(2000, ge=1, description="most playlists held out")
    holdout_seed: int = Field(2018, description="seed of the hold-out and its queries")
    max_playlists: int | None = Field(
        100_000,
        ge=1,
        description="training and evaluation hold their tables in memory: past this many "
        "playlists they use a seeded sample of them (the published tables cover every playlist)",
    )
    query_workers: int | None = Field(
        None,
        ge=1,
        description="forked processes that answer the training and evaluation queries side by "
        "side (a query is single-threaded; they share the tables in memory copy-on-write); "
        "None: one per available core. The queries and their seeds do not depend on it",
    )


@dataclass(frozen=True)
class TableConfigs:
    """The configurations the published ranking tables and song vectors were built with. The
    training's fold tables and fold GCNs are built with the same, so the ranker learns on the
    features it is served with (a `neighbor_top_k` of 100 in the published lists is 100 in
    training too)."""

    neighbors: NeighborConfig = NeighborConfig()
    titles: TitleConfig = TitleConfig()
    tables: PlaylistTableConfig = PlaylistTableConfig()
    edges: EdgeConfig = EdgeConfig()
    gcn: GCNConfig = GCNConfig()


class Playlists:
    """The warehouse's playlists, staged once: rows, titles and track artists.

    Training and evaluation hold their tables in memory, so past `max_playlists` they work on a
    seeded sample of that many playlists (by a hash of the pid); the published tables always
    cover every playlist.
    """

    def __init__(
        self,
        spark: SparkSession,
        warehouse: Warehouse,
        staging: Staging,
        max_playlists: int | None = None,
        seed: int = 0,
        configs: TableConfigs = TableConfigs(),
    ):
        self.spark = spark
        self.configs = configs
        self.staging = staging
        self.warehouse = warehouse
        rows = staged_playlist_rows(spark, warehouse, staging)
        playlists = read_playlists(spark, warehouse).select("pid", "name")
        total = playlists.count()
        if max_playlists is not None and total > max_playlists:
            bucket = F.pmod(F.xxhash64(F.col("pid"), F.lit(seed)), F.lit(1_000_000))
            keep = bucket < F.lit(int(1_000_000 * max_playlists / total))
            playlists = playlists.where(keep)
            rows = staging.stage("sampled_rows", rows.where(keep))
        self.rows = rows
        self.playlists = playlists
        meta = spark.read.parquet(warehouse.table(TRACK_METADATA))
        self.artists = staging.stage("artists", track_artists(meta))
        local_rows = self.rows.toPandas()
        self.tracks = playlist_tracks_in_order(local_rows)
        names = self.playlists.toPandas()
        self.names = {int(p): n for p, n in zip(names["pid"], names["name"], strict=True)}
        local_artists = self.artists.toPandas()
        self.artist_of_track = dict(
            zip(local_artists["track_id"], local_artists["artist_id"], strict=True)
        )
        self._n = 0

    @cached_property
    def track_metadata(self) -> pd.DataFrame:
        """The warehouse's track_metadata, read once for every fold GCN."""
        return read_parquet(self.warehouse.table(TRACK_METADATA))

    def artist_of(self, track_id: int) -> int:
        return int(self.artist_of_track.get(track_id, -1))

    def _store(
        self,
        rows: DataFrame,
        playlists: DataFrame,
        vectors: np.ndarray | None,
        neighbor_rows: DataFrame,
    ) -> MemoryStore:
        """Ranking tables of these playlist rows and playlists, in memory, with song vectors
        that must not know the queries' playlists either; `neighbor_rows` as in
        `ranking_tables`."""
        self._n += 1
        tables: dict[str, pd.DataFrame] = {}
        c = self.configs
        built = ranking_tables(
            self.spark, rows, playlists, self.artists, neighbor_rows, c.titles, c.tables
        )
        for name, frame in built.items():
            tables[name] = read_parquet(self.staging.write(f"store{self._n}/{name}", frame))
        return MemoryStore(tables, vectors=vectors)

    def fold(
        self, pids: set[int], embeddings: bool, log: logging.Logger
    ) -> tuple[MemoryStore, FoldVectors | None]:
        """The ranking tables of the playlists `pids` only and, with `embeddings`, the vectors
        of a GCN trained on them alone (`fold_vectors`). One block pass over their rows
        chooses both the item-kNN lists and the co-occurrence edges from the same whole rows,
        by the published tables' rules (`edges.window` and `edges.blocks` shape it, as in
        `build_cooccurrence_tables`)."""
        c = self.configs
        rows = playlists_rows(self.spark, self.rows, pids)
        selectors = [neighbor_selector(c.neighbors.neighbor_top_k)]
        if embeddings:
            selectors.append(edge_selector(c.edges))
        self._n += 1
        passed = self.staging.stage(
            f"pass{self._n}",
            block_pass(self.spark, rows, selectors, c.edges.window, c.edges.blocks),
        )
        vectors = None
        if embeddings:
            log.info("training the GCN on the fold's %d playlists", len(pids))
            edges = edge_table(chosen_rows(passed, 1), c.edges)
            vectors = fold_vectors(rows, edges, self.track_metadata, c.gcn, log)
        playlists = playlists_rows(self.spark, self.playlists, pids)
        store = self._store(
            rows, playlists, None if vectors is None else vectors.vectors, chosen_rows(passed, 0)
        )
        return store, vectors


def _split(data: Playlists, holdout: HoldoutConfig) -> tuple[set[int], set[int]]:
    return split_holdout(
        data.tracks,
        holdout.holdout_share,
        holdout.holdout_min,
        holdout.holdout_max,
        holdout.holdout_seed,
    )


@dataclass
class TrainingResult:
    ranker: Ranker
    queries: int
    rows: int
    positives: int
    seconds: float
    ablation: dict[str, Ranker] = field(default_factory=dict)  # RankerConfig.ablation
    # Per fold, the GCN its queries read (RankerConfig.embeddings); the evaluation reads the
    # first one's vectors (the hold-out is in no fold).
    fold_gcns: list[FoldVectors] = field(default_factory=list)

    @property
    def eval_vectors(self) -> np.ndarray | None:
        return self.fold_gcns[0].vectors if self.fold_gcns else None


def train(
    data: Playlists,
    config: RankerConfig | None = None,
    holdout: HoldoutConfig = HoldoutConfig(),
    log: logging.Logger | None = None,
) -> TrainingResult:
    """Fit the ranker on fold hold-outs of the training playlists (the evaluation hold-out
    excluded)."""
    log = log or logging.getLogger(__name__)
    config = config or RankerConfig()
    started = time.monotonic()
    _, training = _split(data, holdout)
    folds = fold_of(training, config.folds, config.seed)
    rows = TrainingRows([], [], [], [])
    gcns: list[FoldVectors] = []
    fold_progress = Progress(config.folds, "ranker folds", log)
    for fold in range(config.folds):
        inside = {p for p, f in folds.items() if f != fold}
        log.info("ranker fold %d: the tables of the other folds", fold)
        store, vectors = data.fold(inside, config.embeddings, log)
        if vectors is not None:
            gcns.append(vectors)
        queries = random_queries(
            {p: data.tracks[p] for p, f in folds.items() if f == fold},
            data.names,
            config.seed + fold,
        )
        label = f"ranker fold {fold + 1}/{config.folds} queries"
        fold_rows = training_rows(
            store,
            queries,
            Progress(len(queries), label, log),
            config.negative_share,
            config.seed + fold,
            workers=holdout.query_workers,
        )
        rows += fold_rows
        log.info(
            "ranker fold %d: %d queries, %d with a positive", fold, len(queries), len(fold_rows[2])
        )
        fold_progress.advance()
    Xs, ys, groups = rows
    ranker = fit_ranker(Xs, ys, groups, config, log)
    return TrainingResult(
        ranker=ranker,
        queries=len(groups),
        rows=int(sum(groups)),
        positives=int(sum(int(y.sum()) for y in ys)),
        seconds=time.monotonic() - started,
        ablation=fit_ablations(rows, config, log) if config.ablation else {},
        fold_gcns=gcns,
    )


def published_store(
    warehouse: Warehouse, seeds: np.ndarray, vectors: np.ndarray | None = None
) -> MemoryStore:
    """The published ranking tables in memory, as far as queries with these seeds read them:
    the neighbour lists of the seeds and of their artists, every other table whole; with the
    song vectors `vectors`."""
    stats = read_parquet(warehouse.table(TRACK_STATS))
    artists = stats["artist_id"][stats["track_id"].isin(seeds)].unique()
    return MemoryStore(
        {
            TRACK_STATS: stats,
            TITLE_TRACKS: read_parquet(warehouse.table(TITLE_TRACKS)),
            PLAYLIST_MEMBERS: read_parquet(warehouse.table(PLAYLIST_MEMBERS)),
            TRACK_NEIGHBORS: read_parquet(
                warehouse.table(TRACK_NEIGHBORS), where=("src", np.unique(seeds).tolist())
            ),
            ARTIST_NEIGHBORS: read_parquet(
                warehouse.table(ARTIST_NEIGHBORS), where=("src", artists.tolist())
            ),
        },
        vectors=vectors,
    )


def run_evaluation(
    data: Playlists,
    ranker: Ranker | None,
    holdout: HoldoutConfig = HoldoutConfig(),
    ablation: dict[str, Ranker] | None = None,
    vectors: np.ndarray | None = None,
) -> Evaluation:
    """Challenge-style evaluation on the hold-out, on the published tables less each query's
    own playlist and with song vectors trained without the hold-out (`vectors`, those the
    ranker's first fold read); with `ablation`, the rankers trained without a part too
    (ranker.ABLATIONS), on the same queries."""
    held, _ = _split(data, holdout)
    queries = balanced_queries(
        {p: data.tracks[p] for p in held}, data.names, len(held), holdout.holdout_seed
    )
    seeds = np.asarray([t for q in queries for t in q.seeds], dtype=np.int64)
    store = published_store(data.warehouse, seeds, vectors)
    recommenders = standard_recommenders(store, ranker, leave_out=True)
    recommenders |= ablation_recommenders(store, ablation or {}, leave_out=True)
    return evaluate(store, queries, data.artist_of, recommenders, holdout.query_workers)


def with_playlists(
    spark: SparkSession,
    warehouse: Warehouse,
    work,
    max_playlists: int | None = None,
    configs: TableConfigs = TableConfigs(),
):
    """Run work(Playlists) with a staging folder that is removed afterwards; `configs`: those
    of the published tables, for the tables training builds."""
    with Staging(spark, warehouse) as staging:
        return work(Playlists(spark, warehouse, staging, max_playlists, configs=configs))
