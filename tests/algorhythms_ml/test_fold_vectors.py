"""The ranker's fold GCNs learn from their own playlists only, with the published edge rule."""

import numpy as np
import pandas as pd

from algorhythms_ml.embeddings.train import GCNConfig
from algorhythms_ml.graph.cooccurrence import EdgeConfig
from algorhythms_ml.recommend.fold_vectors import edge_frame, fold_vectors, playlists_rows
from tests.algorhythms_ml.test_cooccurrence import (
    reference_counts,
    reference_edges,
    rows_frame,
    sorted_frame,
)

# Two communities of tracks 0-19 and 20-39; playlists 100-159 draw from the first, 200-259
# from the second, and a few (300-309) mix both.
RNG = np.random.default_rng(5)
PLAYLISTS = {
    **{p: RNG.choice(20, 8, replace=False).tolist() for p in range(100, 160)},
    **{p: (20 + RNG.choice(20, 8, replace=False)).tolist() for p in range(200, 260)},
    **{p: RNG.choice(40, 6, replace=False).tolist() for p in range(300, 310)},
}
SMALL = GCNConfig(dim=8, epochs=2, passes=2, batch_size=256, eval_edges=200, recall_sources=20)


def test_edges_of_a_fold_are_those_built_from_its_playlists_alone(spark):
    config = EdgeConfig(top_k=5)
    fold = [p for p in PLAYLISTS if p < 200 or p >= 300]
    rows = playlists_rows(spark, rows_frame(spark, PLAYLISTS), fold)
    got = sorted_frame(edge_frame(spark, rows, config))
    lists = [PLAYLISTS[p] for p in fold]
    n = pd.Series([t for ts in lists for t in ts]).value_counts().to_dict()
    expected = reference_edges(reference_counts(lists, None), n, len(lists), config)
    pd.testing.assert_frame_equal(got, expected[["src", "dst", "weight"]], check_dtype=False)


def test_fold_vectors_cover_every_track_and_learn_only_the_fold(spark):
    tracks = pd.DataFrame({"track_id": np.arange(40), "num_playlists": 1})
    fold = [p for p in PLAYLISTS if p < 200]  # the first community alone
    result = fold_vectors(
        spark, rows_frame(spark, PLAYLISTS), fold, tracks, EdgeConfig(top_k=10), SMALL
    )
    assert result.vectors.shape == (40, 8) and np.isfinite(result.vectors).all()
    # it trained on the fold's undirected edges, none of the other playlists'
    lists = [PLAYLISTS[p] for p in fold]
    n = pd.Series([t for ts in lists for t in ts]).value_counts().to_dict()
    expected = reference_edges(reference_counts(lists, None), n, len(lists), EdgeConfig(top_k=10))
    assert result.edges == len(expected) // 2 and result.seconds > 0
    assert len(result.history.loss) == SMALL.epochs
