"""The ranker's fold GCNs learn from their own playlists only, with the published edge rule."""

import numpy as np
import pandas as pd

from algorhythms_ml.embeddings.train import GCNConfig
from algorhythms_ml.graph.cooccurrence import (
    EdgeConfig,
    block_pass,
    chosen_rows,
    edge_selector,
)
from algorhythms_ml.recommend.fold_vectors import edge_table, fold_vectors, playlists_rows
from algorhythms_ml.recommend.neighbors import neighbor_selector, neighbor_table
from tests.algorhythms_ml.test_cooccurrence import (
    reference_counts,
    reference_edges,
    reference_neighbors,
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


def edge_frame(spark, rows, config: EdgeConfig) -> pd.DataFrame:
    """The co-occurrence edges of these playlist rows, from a block pass of their own."""
    passed = block_pass(spark, rows, [edge_selector(config)], config.window, config.blocks)
    return edge_table(chosen_rows(passed, 0), config)


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
    rows = playlists_rows(spark, rows_frame(spark, PLAYLISTS), fold)
    result = fold_vectors(rows, edge_frame(spark, rows, EdgeConfig(top_k=10)), tracks, SMALL)
    assert result.vectors.shape == (40, 8) and np.isfinite(result.vectors).all()
    # it trained on the fold's undirected edges, none of the other playlists'
    lists = [PLAYLISTS[p] for p in fold]
    n = pd.Series([t for ts in lists for t in ts]).value_counts().to_dict()
    expected = reference_edges(reference_counts(lists, None), n, len(lists), EdgeConfig(top_k=10))
    assert result.edges == len(expected) // 2 and result.seconds > 0
    assert len(result.history.loss) == SMALL.epochs


def test_one_pass_gives_a_fold_both_its_neighbour_lists_and_its_edges(spark):
    # the ranker's fold takes its item-kNN lists and its GCN's edges from one block pass
    config = EdgeConfig(top_k=5)
    fold = [p for p in PLAYLISTS if p >= 200]
    rows = playlists_rows(spark, rows_frame(spark, PLAYLISTS), fold)
    passed = block_pass(spark, rows, [neighbor_selector(7), edge_selector(config)])
    lists = [PLAYLISTS[p] for p in fold]
    n = pd.Series([t for ts in lists for t in ts]).value_counts().to_dict()
    counts = reference_counts(lists, None)
    edges = sorted_frame(edge_table(chosen_rows(passed, 1), config))
    expected = reference_edges(counts, n, len(lists), config)
    pd.testing.assert_frame_equal(edges, expected[["src", "dst", "weight"]], check_dtype=False)
    neighbours = sorted_frame(neighbor_table(chosen_rows(passed, 0)).toPandas())
    expected = reference_neighbors(counts, n, len(lists), 7)
    pd.testing.assert_frame_equal(
        neighbours, expected[["src", "dst", "weight"]], check_dtype=False, atol=1e-6
    )
