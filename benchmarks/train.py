"""Train the GCN, on the graph of N generated playlists or on a synthetic graph of a given size.

With --playlists: the GCN and the cold-start model; time per epoch, peak memory and the metrics,
on CPU and (where CUDA is present) on GPU.

    .venv/bin/python benchmarks/train.py --playlists 100000 --work /tmp/train-bench

With --synthetic-nodes/--synthetic-edges: a power-law graph with planted communities (the full
MPD graph's size is 2,262,292 nodes and about 80M edges); `fit()` with the default budget, its
seconds per pass over the training edges and test AUC against popularity-matched negatives (drawn
in proportion to degree, as the positives' endpoints are), next to a 64-factor truncated SVD of
the same normalised training adjacency scored the same way. --compare-defaults also runs the
former default budget (10 epochs x 20 steps x 8,192 edges, lr 0.01, sampled above 3M
adjacency entries) on the same split, and says when the new defaults reached its best validation
AUC; --compare-fixed-batch does the same for full-batch steps of a fixed `batch_size` (whose
steps per pass grow with the edges) against the defaults' fixed `full_batch_steps` per pass.
--warehouse DIR runs the comparison on the co-occurrence graph of a built warehouse; without it,
the comparison runs on the graph of --playlists generated playlists (built once in --work).

    .venv/bin/python benchmarks/train.py --synthetic-nodes 100000 --synthetic-edges 2000000 \
        --compare-defaults
    .venv/bin/python benchmarks/train.py --warehouse DATA/warehouse --compare-fixed-batch
"""

import argparse
import dataclasses
import logging
import math
import os
import resource
import time
from pathlib import Path

import numpy as np
import scipy.sparse
import torch
from scipy.sparse.linalg import svds

from algorhythms_ml.embeddings.coldstart import ColdStartConfig
from algorhythms_ml.embeddings.graph import Adjacency, EdgeSplit, TrackGraph
from algorhythms_ml.embeddings.pipeline import load_graph, train_feature_mlp, train_gcn_embeddings
from algorhythms_ml.embeddings.train import GCNConfig, History, NegativeSampler, evaluate, fit
from algorhythms_ml.graph.cooccurrence import COOCCURRENCE_EDGES, EdgeConfig
from algorhythms_ml.graph.cooccurrence_tables import build_cooccurrence_tables
from algorhythms_ml.mpd.generator import GeneratorConfig, generate_mpd
from algorhythms_ml.mpd.ingest import ingest_slices
from algorhythms_ml.mpd.tracks import build_track_metadata
from algorhythms_ml.spark import build_spark_session, spark_conf_from_env
from algorhythms_ml.warehouse import Warehouse


def build_graph(work: Path, playlists: int, top_k: int) -> Warehouse:
    warehouse = Warehouse.at(work / "warehouse")
    if (work / "warehouse" / "cooccurrence_edges").exists():
        print(f"reusing the graph in {work / 'warehouse'}")
        return warehouse
    started = time.perf_counter()
    env = dict(os.environ, SPARK_DRIVER_MEMORY="6g")
    spark = build_spark_session(spark_conf_from_env(env))
    if (work / "warehouse" / "playlist_tracks").exists():
        print(f"reusing the ingested playlists in {work / 'warehouse'}")
    else:
        files = generate_mpd(GeneratorConfig(playlists=playlists, seed=1), work / "mpd")
        ingest_slices(spark, [f.as_uri() for f in files], warehouse)
    build_track_metadata(spark, warehouse)
    edges = EdgeConfig(weight="cosine", top_k=top_k)
    build_cooccurrence_tables(spark, warehouse, edges, tables=[COOCCURRENCE_EDGES])
    spark.stop()
    print(f"graph built in {time.perf_counter() - started:.0f} s")
    return warehouse


# The default budget before it was counted in passes over the edges.
OLD_DEFAULTS = GCNConfig(
    epochs=10,
    steps_per_epoch=20,
    batch_size=8192,
    lr=0.01,
    patience=3,
    full_batch_max_nnz=3_000_000,
)


def synthetic_graph(
    num_nodes: int, num_edges: int, seed: int, communities: int, mixing: float = 0.2
) -> TrackGraph:
    """A Chung-Lu graph with planted communities: node weights with a power-law tail (exponent
    2.5, like track popularity), each edge's source drawn in proportion to weight, its
    destination from the source's community with probability 1 - `mixing`, else from all nodes,
    again in proportion to weight. Duplicates and self-loops are dropped and drawing goes on
    until `num_edges` distinct edges exist. Drawn in chunks, so memory stays a few times the
    edge list."""
    rng = np.random.default_rng(seed)
    weight = np.minimum((1 - rng.random(num_nodes)) ** (-1 / 1.5), num_nodes / 100)
    # Communities are contiguous id ranges, so "in proportion to weight within a community" is a
    # uniform draw between the community's bounds on the cumulative weight.
    sizes = rng.multinomial(num_nodes, np.full(communities, 1 / communities))
    community = np.repeat(np.arange(communities), sizes)
    cdf = np.cumsum(weight)
    cdf /= cdf[-1]
    upper = cdf[np.cumsum(sizes) - 1]
    lower = np.concatenate([[0.0], upper[:-1]])

    def draw(n: int) -> np.ndarray:
        src = np.searchsorted(cdf, rng.random(n)).clip(max=num_nodes - 1)
        c = community[src]
        within = lower[c] + rng.random(n) * (upper[c] - lower[c])
        target = np.where(rng.random(n) < mixing, rng.random(n), within)
        dst = np.searchsorted(cdf, target).clip(max=num_nodes - 1)
        a, b = np.minimum(src, dst), np.maximum(src, dst)
        return (a * num_nodes + b)[a != b]

    keys = np.empty(0, dtype=np.int64)
    while keys.size < num_edges:
        wanted = int((num_edges - keys.size) * 1.1) + 1000
        fresh = [draw(min(wanted - i, 1 << 23)) for i in range(0, wanted, 1 << 23)]
        keys = np.unique(np.concatenate([keys, *fresh]))
    keys = np.sort(rng.choice(keys, num_edges, replace=False))
    relabel = rng.permutation(num_nodes)  # ids in no particular order, as track ids are
    a, b = relabel[keys // num_nodes], relabel[keys % num_nodes]
    edge_index = torch.from_numpy(np.stack([np.minimum(a, b), np.maximum(a, b)]))
    degree = torch.bincount(edge_index.flatten(), minlength=num_nodes)
    return TrackGraph(
        num_nodes=num_nodes,
        edge_index=edge_index,
        edge_weight=torch.ones(num_edges),
        popularity=degree.float(),
    )


def svd_scores(split: EdgeSplit, graph: TrackGraph, config: GCNConfig) -> dict[str, float]:
    """Test metrics of a truncated SVD (config.dim factors) of the normalised training adjacency:
    an edge (u, v) scores (U sqrt(S))[u] . (V sqrt(S))[v], its entry in the low-rank matrix."""
    adjacency = Adjacency.build(graph.num_nodes, split.train, split.train_weight)
    matrix = scipy.sparse.csr_matrix(
        (adjacency.value.numpy(), adjacency.col.numpy(), adjacency.rowptr.numpy()),
        shape=(graph.num_nodes, graph.num_nodes),
    )
    u, s, vt = svds(matrix, k=config.dim, random_state=config.seed)
    root = np.sqrt(s)
    z_src = torch.from_numpy((u * root).astype(np.float32))
    z_dst = torch.from_numpy((vt.T * root).astype(np.float32))
    negatives = NegativeSampler(graph.popularity)
    return evaluate(z_src, split.test, adjacency, negatives, config, z_dst=z_dst)


def passes(history: History, config: GCNConfig, split: EdgeSplit) -> float:
    """Passes over the training edges (both directions) that the run's steps made."""
    if config.steps_per_epoch is None:
        return len(history.steps) * config.passes / config.epochs
    return sum(history.steps) * history.batch_size / (2 * split.train.size(1))


def time_to_reach(history: History, target: float) -> str:
    """When a run's validation AUC (popularity-matched) first reached `target`, in training
    seconds (validation excluded) and epochs."""
    for epoch, value in enumerate(history.val_auc_popularity):
        if value >= target:
            seconds = sum(history.epoch_seconds[: epoch + 1])
            return f"reached validation AUC {target:.4f} after {seconds:.1f} s ({epoch + 1} epochs)"
    return f"never reached validation AUC {target:.4f}"


def compare(graph: TrackGraph, configs: dict[str, GCNConfig]) -> None:
    """Train with each config on `graph` (same split: same seed and fractions) and print its
    seconds, seconds per pass and test metrics, and when it first reached the first config's
    best validation AUC (popularity-matched); then the SVD's test metrics."""
    split = target = None
    for label, config in configs.items():
        started = time.perf_counter()
        _, history, split = fit(config, graph)
        seconds = time.perf_counter() - started
        pass_steps = math.ceil(2 * split.train.size(1) / history.batch_size)
        per_pass = sum(history.epoch_seconds) / sum(history.steps) * pass_steps
        print(
            f"[{label}] {history.mode} on {history.device}: {len(history.loss)} epochs, "
            f"{sum(history.steps)} steps of {history.batch_size:,} edges, "
            f"{passes(history, config, split):.2f} passes, {seconds:.1f} s in all, "
            f"{per_pass:.1f} s per pass; test: "
            + ", ".join(f"{k} {v:.4f}" for k, v in history.test.items())
        )
        if target is None:
            target = max(history.val_auc_popularity)
        print(f"[{label}] {time_to_reach(history, target)}")
    started = time.perf_counter()
    svd = svd_scores(split, graph, next(iter(configs.values())))
    print(
        f"[svd-{GCNConfig().dim}] {time.perf_counter() - started:.1f} s; test: "
        + ", ".join(f"{k} {v:.4f}" for k, v in svd.items())
    )


def run_synthetic(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    communities = args.communities or max(2, args.synthetic_nodes // 1000)
    num_edges = args.synthetic_edges or 35 * args.synthetic_nodes  # the full MPD graph: ~35
    graph = synthetic_graph(args.synthetic_nodes, num_edges, args.seed, communities)
    print(
        f"synthetic graph: {graph.num_nodes:,} nodes, {graph.edge_index.size(1):,} edges, "
        f"{communities} communities, max degree {int(graph.popularity.max())}, "
        f"built in {time.perf_counter() - started:.1f} s; torch threads {torch.get_num_threads()}"
    )
    compare(graph, compared_configs(args))


def compared_configs(args: argparse.Namespace) -> dict[str, GCNConfig]:
    """The configs --compare-defaults and --compare-fixed-batch ask for, the baseline first,
    then the defaults with the budget given."""
    budget = {"device": args.device, "epochs": args.epochs, "passes": args.passes}
    configs = {"defaults": GCNConfig(**budget)}
    if args.compare_fixed_batch:
        configs = {"fixed batch": GCNConfig(**budget, full_batch_steps=None), **configs}
    if args.compare_defaults:
        configs = {"old defaults": dataclasses.replace(OLD_DEFAULTS, device=args.device), **configs}
    return configs


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def run(graph, config: GCNConfig, label: str) -> None:
    if config.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    _, history, _ = fit(config, graph)
    total = time.perf_counter() - started
    per_epoch = sum(history.epoch_seconds) / len(history.epoch_seconds)
    print(
        f"[{label}] mode {history.mode}, device {history.device}, {len(history.loss)} epochs "
        f"(best {history.best_epoch}), {per_epoch:.1f} s per epoch, {total:.0f} s in all"
    )
    print(
        f"[{label}] loss {history.loss[0]:.4f} -> {history.loss[-1]:.4f}; "
        f"val AUC {history.val_auc[-1]:.4f}, "
        f"popularity-matched {history.val_auc_popularity[-1]:.4f}"
    )
    print(f"[{label}] test: " + ", ".join(f"{k} {v:.4f}" for k, v in history.test.items()))
    print(f"[{label}] peak process memory {peak_rss_gb():.2f} GB")
    if config.device.startswith("cuda"):
        print(f"[{label}] peak GPU memory {torch.cuda.max_memory_allocated() / 1e9:.2f} GB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--playlists", type=int, default=100_000)
    parser.add_argument("--synthetic-nodes", type=int, help="train on a synthetic graph instead")
    parser.add_argument("--synthetic-edges", type=int, help="default: 35 x nodes")
    parser.add_argument("--communities", type=int, default=None, help="default: nodes / 1000")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--compare-defaults", action="store_true", help="also run the former default budget"
    )
    parser.add_argument(
        "--compare-fixed-batch",
        action="store_true",
        help="also run full-batch steps of a fixed batch_size (full_batch_steps None), whose "
        "steps per pass grow with the edges",
    )
    parser.add_argument(
        "--warehouse",
        help="compare on the co-occurrence graph of this built warehouse (for example "
        "DATA/warehouse of a materialised run) instead of building one from --playlists "
        "generated playlists: the defaults, and the budgets --compare-* ask for",
    )
    parser.add_argument("--work", default="/tmp/train-bench")
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=GCNConfig().epochs)
    parser.add_argument("--passes", type=float, default=GCNConfig().passes)
    parser.add_argument("--steps-per-epoch", type=int, default=None)
    parser.add_argument("--mode", choices=["auto", "full-batch", "sampled"], default="auto")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.synthetic_nodes:
        run_synthetic(args)
        return
    if args.warehouse:
        warehouse = Warehouse.at(args.warehouse)
    else:
        warehouse = build_graph(Path(args.work), args.playlists, args.top_k)
    graph, _ = load_graph(warehouse)
    print(
        f"graph: {graph.num_nodes:,} nodes, {graph.edge_index.size(1):,} undirected edges, "
        f"torch threads {torch.get_num_threads()}"
    )
    if args.warehouse or args.compare_defaults or args.compare_fixed_batch:
        compare(graph, compared_configs(args))
        return
    config = GCNConfig(epochs=args.epochs, passes=args.passes, steps_per_epoch=args.steps_per_epoch)
    if args.mode != "auto":
        config = dataclasses.replace(
            config, full_batch_max_nnz=10**12 if args.mode == "full-batch" else 0
        )
    run(graph, dataclasses.replace(config, device="cpu"), "cpu")
    if torch.cuda.is_available():
        run(graph, dataclasses.replace(config, device="cuda"), "gpu")
    else:
        print("[gpu] not measured: no CUDA device on this machine")

    started = time.perf_counter()
    result = train_gcn_embeddings(
        warehouse, dataclasses.replace(config, device="cpu", resume=False)
    )
    print(
        f"gcn_embeddings written in {time.perf_counter() - started:.0f} s "
        f"({result.isolated} isolated tracks)"
    )
    started = time.perf_counter()
    mlp = train_feature_mlp(warehouse, ColdStartConfig(epochs=10))
    print(
        f"cold-start MLP in {time.perf_counter() - started:.0f} s: "
        + ", ".join(f"{k} {v:.4f}" for k, v in mlp.metrics.items())
    )
    print(f"peak process memory {peak_rss_gb():.2f} GB")


if __name__ == "__main__":
    main()
