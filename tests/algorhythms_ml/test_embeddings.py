import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from algorhythms_ml.embeddings.coldstart import (
    ColdStartConfig,
    _tensors,
    export,
    fit_coldstart,
)
from algorhythms_ml.embeddings.graph import Adjacency, NeighborSampler, TrackGraph, split_edges
from algorhythms_ml.embeddings.train import GCNConfig, embeddings_of, fit
from algorhythms_ml.metrics import auc
from algorhythms_store.coldstart import encode, forward_numpy


def planted_graph(
    n: int = 500, k: int = 10, p_in: float = 0.2, p_out: float = 0.002, seed: int = 0
):
    rng = np.random.default_rng(seed)
    community = np.arange(n) % k
    a, b = np.triu_indices(n, 1)
    p = np.where(community[a] == community[b], p_in, p_out)
    keep = rng.random(a.size) < p
    edges = pd.DataFrame({"src": a[keep], "dst": b[keep], "weight": 1.0})
    edges = pd.concat([edges, edges.rename(columns={"src": "dst", "dst": "src"})])
    tracks = pd.DataFrame({"track_id": np.arange(n), "num_playlists": rng.integers(1, 50, n)})
    return TrackGraph.from_frames(edges, tracks), community


SMALL = GCNConfig(
    dim=16,
    epochs=40,
    batch_size=512,
    steps_per_epoch=None,
    patience=8,
    eval_edges=5000,
    recall_sources=200,
    l2=1e-3,
)


def test_auc_by_hand():
    assert auc([3, 4], [1, 2]) == 1.0
    assert auc([1], [2]) == 0.0
    assert auc([1, 3], [2, 2]) == 0.5
    assert auc([2], [2]) == 0.5


def test_split_keeps_every_node_connected_and_holds_out_disjoint_edges():
    graph, _ = planted_graph()
    split = split_edges(graph, 0.1, 0.1, seed=0)
    degree = torch.bincount(graph.edge_index.flatten(), minlength=graph.num_nodes)
    train_degree = torch.bincount(split.train.flatten(), minlength=graph.num_nodes)
    assert bool(((degree == 0) | (train_degree > 0)).all())
    total = split.train.size(1) + split.val.size(1) + split.test.size(1)
    assert total == graph.edge_index.size(1)
    held = {tuple(e) for e in torch.cat([split.val, split.test], 1).T.tolist()}
    assert not held & {tuple(e) for e in split.train.T.tolist()}


def test_adjacency_is_symmetric_normalised_with_self_loops():
    edge_index = torch.tensor([[0], [1]])
    adj = Adjacency.build(3, edge_index, torch.tensor([2.0])).sparse().to_dense()
    # degrees with self-loops: 3, 3, 1
    expected = torch.tensor([[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0], [0, 0, 1.0]])
    assert torch.allclose(adj, expected)


def test_sampler_keeps_seeds_first_and_samples_real_edges():
    graph, _ = planted_graph(n=100)
    adj = Adjacency.build(graph.num_nodes, graph.edge_index, graph.edge_weight)
    block = NeighborSampler(adj, [4, 3]).sample(torch.tensor([5, 1, 5]), torch.Generator())
    assert block.n_id[: block.num_seeds].tolist() == [1, 5]
    dense = adj.sparse().to_dense()
    local = block.adjacency.to_sparse_coo().coalesce()
    rows, cols = local.indices()
    assert bool((dense[block.n_id[rows], block.n_id[cols]] > 0).all())


@pytest.mark.parametrize("mode", ["full-batch", "sampled"])
def test_gcn_learns_planted_communities(mode):
    graph, community = planted_graph()
    config = dataclasses.replace(
        SMALL, full_batch_max_nnz=10**9 if mode == "full-batch" else 0, fanouts=(8, 4)
    )
    model, history, _ = fit(config, graph)
    assert history.mode == mode
    assert history.loss[-1] < 0.7 * history.loss[0]
    assert history.test["auc_uniform"] > 0.9
    assert history.test["recall@100"] > 0.5
    vectors = embeddings_of(model, graph)
    assert vectors.shape == (500, 16) and np.isfinite(vectors).all()
    # Same-community pairs are closer than cross-community pairs.
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sim = unit @ unit.T
    same = community[:, None] == community[None, :]
    assert sim[same].mean() > sim[~same].mean() + 0.2


def test_training_resumes_from_a_checkpoint(tmp_path):
    graph, _ = planted_graph(n=200)
    config = dataclasses.replace(SMALL, epochs=4, patience=100)
    _, straight, _ = fit(config, graph)
    checkpoint = tmp_path / "ckpt.pt"
    _, first, _ = fit(dataclasses.replace(config, epochs=2), graph, checkpoint=checkpoint)
    assert len(first.loss) == 2 and checkpoint.exists()
    _, resumed, _ = fit(config, graph, checkpoint=checkpoint)
    assert resumed.resumed_from_epoch == 2 and len(resumed.loss) == 4
    assert resumed.loss == pytest.approx(straight.loss, rel=1e-4)


def test_coldstart_recovers_a_planted_feature_to_vector_mapping():
    rng = np.random.default_rng(0)
    n_artists, n = 40, 2000
    artist_vec = rng.normal(size=(n_artists, 8)).astype(np.float32)
    artist = rng.integers(0, n_artists, n)
    vectors = artist_vec[artist] + 0.05 * rng.normal(size=(n, 8)).astype(np.float32)
    tracks = pd.DataFrame(
        {
            "track_id": np.arange(n),
            "artist_name": [f"artist {a}" for a in artist],
            "album_name": None,
            "track_name": [f"song {i}" for i in range(n)],
            "duration_ms": rng.integers(100_000, 300_000, n),
        }
    )
    neighbours = {i: set(np.flatnonzero(artist == artist[i]).tolist()) - {i} for i in range(n)}
    config = ColdStartConfig(
        buckets=4096, token_buckets=4096, epochs=15, batch_size=256, hidden=64, field_dim=16
    )
    result = fit_coldstart(config, tracks, vectors, neighbours)
    assert result.loss[-1] < result.loss[0]
    assert result.metrics["holdout_mean_cosine"] > 0.9
    assert result.metrics["holdout_neighbour_recall@100"] > 0.8
    # The exported arrays reproduce the torch model exactly, without torch.
    arrays, spec = export(result)
    sample = tracks.iloc[:50]
    with torch.no_grad():
        enc = encode(sample, result.spec)
        expected = result.model(*_tensors(enc, np.arange(50))).numpy()
    assert np.allclose(forward_numpy(arrays, spec, sample), expected, atol=1e-5)


def test_gcn_projects_content_features_when_present():
    graph, community = planted_graph()
    graph.features = torch.nn.functional.one_hot(torch.from_numpy(community), 10).float()
    config = dataclasses.replace(SMALL, epochs=10, full_batch_max_nnz=10**9)
    model, history, _ = fit(config, graph)
    assert model.feature_proj is not None and model.feature_proj.in_features == 10
    assert history.test["auc_uniform"] > 0.9
    assert np.isfinite(embeddings_of(model, graph)).all()
