"""Train the GCN and the cold-start model on the graph of N generated playlists; print time per
epoch, peak memory and the metrics, on CPU and (where CUDA is present) on GPU.

    .venv/bin/python benchmarks/train.py --playlists 100000 --work /tmp/train-bench
"""

import argparse
import dataclasses
import os
import resource
import time
from pathlib import Path

import torch

from algorhythms_ml.embeddings.coldstart import ColdStartConfig
from algorhythms_ml.embeddings.pipeline import load_graph, train_feature_mlp, train_gcn_embeddings
from algorhythms_ml.embeddings.train import GCNConfig, fit
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
    parser.add_argument("--work", default="/tmp/train-bench")
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--mode", choices=["auto", "full-batch", "sampled"], default="auto")
    args = parser.parse_args()

    work = Path(args.work)
    warehouse = build_graph(work, args.playlists, args.top_k)
    graph, _ = load_graph(warehouse)
    print(
        f"graph: {graph.num_nodes:,} nodes, {graph.edge_index.size(1):,} undirected edges, "
        f"torch threads {torch.get_num_threads()}"
    )
    config = GCNConfig(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, patience=3)
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
