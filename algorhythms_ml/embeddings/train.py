"""Link-prediction training of the track GCN: BPR loss, negative sampling, early stopping,
checkpoints, and evaluation by AUC (uniform and popularity-matched negatives) and recall@K."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch.nn import functional as F

from algorhythms_ml.config import config_class
from algorhythms_ml.embeddings.gcn import TrackGCN
from algorhythms_ml.embeddings.graph import (
    Adjacency,
    EdgeSplit,
    NeighborSampler,
    TrackGraph,
    split_edges,
)
from algorhythms_ml.metrics import auc

Negatives = Literal["uniform", "popularity", "mixed"]


@config_class
class GCNConfig:
    """Training knobs of the track GCN."""

    dim: int = Field(64, ge=1, description="dimension of the track vectors")
    num_layers: int = Field(2, ge=1, description="graph-convolution layers")
    epochs: int = Field(10, ge=1, description="most epochs (early stopping may end sooner)")
    lr: float = Field(0.01, gt=0, description="Adam learning rate")
    batch_size: int = Field(8192, ge=1, description="positive edges per step")
    steps_per_epoch: int | None = Field(
        20, ge=1, description="steps per epoch; None: one pass over the training edges"
    )
    negatives: Negatives = Field(
        "mixed", description="negative sampling: uniform, popularity, or half of each"
    )
    l2: float = Field(1e-4, ge=0, description="L2 penalty on the vectors of a batch")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout between layers")
    val_fraction: float = Field(0.05, ge=0, lt=1, description="edges held out for validation")
    test_fraction: float = Field(0.05, ge=0, lt=1, description="edges held out for the test")
    patience: int = Field(3, ge=1, description="epochs without a better validation AUC to stop")
    fanouts: list[int] = Field(
        default_factory=lambda: [15, 10],
        description="neighbours sampled per hop when the graph trains on sampled neighbourhoods",
    )
    full_batch_max_nnz: int = Field(
        3_000_000,
        ge=0,
        description="graphs whose adjacency has more entries train on sampled neighbourhoods",
    )
    eval_edges: int = Field(20_000, ge=1, description="held-out edges scored per evaluation")
    recall_k: int = Field(100, ge=1, description="K of the test recall@K")
    recall_sources: int = Field(1000, ge=1, description="tracks whose recall@K is measured")
    seed: int = Field(0, description="seed of the split, the initialisation and the sampling")
    device: str = Field("auto", description="torch device; auto: CUDA when present, else CPU")
    resume: bool = Field(
        True, description="continue an interrupted run from its last epoch's checkpoint"
    )


@dataclass
class History:
    loss: list[float] = field(default_factory=list)
    val_auc: list[float] = field(default_factory=list)
    val_auc_popularity: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    best_epoch: int = -1
    mode: str = ""
    device: str = ""
    resumed_from_epoch: int = 0
    test: dict[str, float] = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class NegativeSampler:
    """Uniform negatives, or negatives drawn in proportion to popularity: the latter have the
    popularity profile of real edge endpoints, so a model cannot win by popularity alone."""

    def __init__(self, popularity: torch.Tensor):
        self.num_nodes = popularity.numel()
        weights = popularity.double().clamp(min=0) + 1e-12
        self.cdf = torch.cumsum(weights, 0) / weights.sum()

    def uniform(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randint(0, self.num_nodes, (n,), generator=gen)

    def popular(self, n: int, gen: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, generator=gen, dtype=torch.float64)
        return torch.searchsorted(self.cdf, u).clamp(max=self.num_nodes - 1)

    def sample(self, n: int, kind: Negatives, gen: torch.Generator) -> torch.Tensor:
        if kind == "uniform":
            return self.uniform(n, gen)
        if kind == "popularity":
            return self.popular(n, gen)
        half = n // 2
        return torch.cat([self.uniform(half, gen), self.popular(n - half, gen)])


def _bpr(z_u, z_v, z_n) -> torch.Tensor:
    return -F.logsigmoid(TrackGCN.decode(z_u, z_v) - TrackGCN.decode(z_u, z_n)).mean()


def train_epoch(
    model: TrackGCN,
    adjacency: Adjacency,
    full_adj: torch.Tensor | None,
    sampler: NeighborSampler | None,
    train_edges: torch.Tensor,
    negatives: NegativeSampler,
    optimizer: torch.optim.Optimizer,
    config: GCNConfig,
    gen: torch.Generator,
    device: torch.device,
    features: torch.Tensor | None = None,
) -> float:
    """One epoch of BPR over training edges (both orientations); returns the mean loss."""
    model.train()
    edges = torch.cat([train_edges, train_edges.flip(0)], 1)
    perm = torch.randperm(edges.size(1), generator=gen)
    steps = config.steps_per_epoch or max(1, -(-edges.size(1) // config.batch_size))
    total = 0.0
    for step in range(steps):
        start = (step * config.batch_size) % edges.size(1)
        idx = perm[start : start + config.batch_size]
        u, v = edges[0, idx], edges[1, idx]
        n = negatives.sample(idx.numel(), config.negatives, gen)
        if full_adj is not None:
            all_nodes = torch.arange(adjacency.num_nodes, device=device)
            z = model.encode(all_nodes, full_adj, None if features is None else features)
            z_u, z_v, z_n = z[u.to(device)], z[v.to(device)], z[n.to(device)]
        else:
            block = sampler.sample(torch.cat([u, v, n]), gen)
            seeds = block.n_id[: block.num_seeds]
            order = torch.argsort(seeds)

            def local(ids: torch.Tensor, seeds=seeds, order=order) -> torch.Tensor:
                return order[torch.searchsorted(seeds[order], ids)].to(device)

            z = model.encode(
                block.n_id.to(device),
                block.adjacency.to(device),
                None if features is None else features[block.n_id.to(device)],
            )
            z_u, z_v, z_n = z[local(u)], z[local(v)], z[local(n)]
        loss = _bpr(z_u, z_v, z_n)
        loss = (
            loss + config.l2 * (z_u.pow(2).sum() + z_v.pow(2).sum() + z_n.pow(2).sum()) / u.numel()
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / steps


@torch.no_grad()
def embed_all(
    model: TrackGCN,
    full_adj: torch.Tensor,
    num_nodes: int,
    device: torch.device,
    features: torch.Tensor | None = None,
) -> torch.Tensor:
    """Embeddings (num_nodes, dim) of every node by full-graph sparse propagation."""
    model.eval()
    return model.encode(torch.arange(num_nodes, device=device), full_adj, features).cpu()


@torch.no_grad()
def evaluate(
    z: torch.Tensor,
    pos: torch.Tensor,
    train_edges: torch.Tensor,
    negatives: NegativeSampler,
    config: GCNConfig,
    with_recall: bool = True,
) -> dict[str, float]:
    """AUC of held-out edges `pos` (2, E) against uniform and popularity-matched negatives
    (one per positive, same source), and recall@K of held-out neighbours among all nodes.

    Negatives and samples come from a generator seeded by the config, so every epoch is
    judged against the same negatives and early stopping follows the model, not the draw."""
    gen = torch.Generator().manual_seed(config.seed + 1)
    if pos.size(1) > config.eval_edges:
        pos = pos[:, torch.randperm(pos.size(1), generator=gen)[: config.eval_edges]]
    u, v = pos
    s_pos = TrackGCN.decode(z[u], z[v]).numpy()
    out = {
        "auc_uniform": auc(
            s_pos, TrackGCN.decode(z[u], z[negatives.uniform(u.numel(), gen)]).numpy()
        ),
        "auc_popularity": auc(
            s_pos, TrackGCN.decode(z[u], z[negatives.popular(u.numel(), gen)]).numpy()
        ),
    }
    if with_recall:
        out[f"recall@{config.recall_k}"] = recall_at_k(z, pos, train_edges, config, gen)
    return out


@torch.no_grad()
def recall_at_k(
    z: torch.Tensor,
    pos: torch.Tensor,
    train_edges: torch.Tensor,
    config: GCNConfig,
    gen: torch.Generator,
) -> float:
    """Share of held-out neighbours of sampled sources found in their top K by score, training
    neighbours and the source itself excluded."""
    held = torch.cat([pos, pos.flip(0)], 1)
    sources = torch.unique(held[0])
    sources = sources[torch.randperm(sources.numel(), generator=gen)[: config.recall_sources]]
    train_both = torch.cat([train_edges, train_edges.flip(0)], 1)
    hits = total = 0
    for chunk in sources.split(256):
        scores = z[chunk] @ z.T
        row_of = {int(s): i for i, s in enumerate(chunk)}
        mask = torch.isin(train_both[0], chunk)
        rows = torch.tensor([row_of[int(s)] for s in train_both[0, mask]], dtype=torch.long)
        scores[rows, train_both[1, mask]] = -torch.inf
        scores[torch.arange(chunk.numel()), chunk] = -torch.inf
        top = scores.topk(min(config.recall_k, z.size(0)), dim=1).indices
        hmask = torch.isin(held[0], chunk)
        for s, t in zip(held[0, hmask].tolist(), held[1, hmask].tolist(), strict=True):
            total += 1
            hits += int((top[row_of[s]] == t).any())
    return hits / max(total, 1)


def _resumable(config: dict) -> dict:
    """The settings a checkpoint must share to be resumed: all but the number of epochs (and
    whether to resume)."""
    return {k: v for k, v in config.items() if k not in ("epochs", "resume")}


def fit(
    config: GCNConfig,
    graph: TrackGraph,
    log: logging.Logger | None = None,
    checkpoint: Path | None = None,
) -> tuple[TrackGCN, History, EdgeSplit]:
    """Train on a split of `graph`; return the best model (by validation AUC against
    popularity-matched negatives), its history (with test metrics) and the split."""
    log = log or logging.getLogger(__name__)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    device = resolve_device(config.device)
    split = split_edges(graph, config.val_fraction, config.test_fraction, config.seed)
    adjacency = Adjacency.build(graph.num_nodes, split.train, split.train_weight)
    full_adj = adjacency.sparse().to(device)
    full_batch = adjacency.col.numel() <= config.full_batch_max_nnz
    sampler = None if full_batch else NeighborSampler(adjacency, list(config.fanouts))
    features = None if graph.features is None else graph.features.to(device)
    model = TrackGCN(
        graph.num_nodes,
        config.dim,
        config.num_layers,
        feature_dim=0 if graph.features is None else graph.features.size(1),
        dropout=config.dropout,
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    negatives = NegativeSampler(graph.popularity)
    history = History(mode="full-batch" if full_batch else "sampled", device=str(device))
    best_state, best_score, start_epoch = None, -1.0, 0

    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        if _resumable(state["config"]) == _resumable(asdict(config)) and (
            state["num_nodes"] == graph.num_nodes
        ):
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"])
            history = state["history"]
            best_state, best_score = state["best_state"], state["best_score"]
            start_epoch = history.resumed_from_epoch = len(history.loss)
            log.info("resumed from %s at epoch %d", checkpoint, start_epoch)
        else:
            log.warning("checkpoint %s is for another config or graph; starting afresh", checkpoint)

    for epoch in range(start_epoch, config.epochs):
        started = time.perf_counter()
        loss = train_epoch(
            model,
            adjacency,
            full_adj if full_batch else None,
            sampler,
            split.train,
            negatives,
            optimizer,
            config,
            gen,
            device,
            features,
        )
        seconds = time.perf_counter() - started
        z = embed_all(model, full_adj, graph.num_nodes, device, features)
        metrics = evaluate(z, split.val, split.train, negatives, config, with_recall=False)
        history.loss.append(loss)
        history.val_auc.append(metrics["auc_uniform"])
        history.val_auc_popularity.append(metrics["auc_popularity"])
        history.epoch_seconds.append(seconds)
        log.info(
            "epoch %d: loss %.4f, val AUC %.4f (popularity-matched %.4f), %.1f s",
            epoch,
            loss,
            metrics["auc_uniform"],
            metrics["auc_popularity"],
            seconds,
        )
        if metrics["auc_popularity"] > best_score:
            best_score = metrics["auc_popularity"]
            history.best_epoch = epoch
            best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
        if checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            torch.save(
                {
                    "config": asdict(config),
                    "num_nodes": graph.num_nodes,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "generator": gen.get_state(),
                    "history": history,
                    "best_state": best_state,
                    "best_score": best_score,
                },
                checkpoint,
            )
        if epoch - history.best_epoch >= config.patience:
            log.info("early stop at epoch %d (best %d)", epoch, history.best_epoch)
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    z = embed_all(model, full_adj, graph.num_nodes, device, features)
    history.test = evaluate(z, split.test, split.train, negatives, config)
    log.info("test: %s", history.test)
    return model, history, split


def embeddings_of(model: TrackGCN, graph: TrackGraph, device: str = "auto") -> np.ndarray:
    """Final embeddings (num_nodes, dim) as float32, propagating over the whole graph."""
    dev = resolve_device(device)
    adjacency = Adjacency.build(graph.num_nodes, graph.edge_index, graph.edge_weight)
    features = None if graph.features is None else graph.features.to(dev)
    z = embed_all(model.to(dev), adjacency.sparse().to(dev), graph.num_nodes, dev, features)
    return z.numpy().astype(np.float32)
