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
from algorhythms_store.progress import Progress

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


@dataclass
class TrainingData:
    """What a training run works on, on its device: the edge split, the normalised training
    adjacency, the neighbour sampler (None when the graph is small enough for full-batch
    training), the node features and the negative sampler."""

    split: EdgeSplit
    adjacency: Adjacency
    full_adj: torch.Tensor
    sampler: NeighborSampler | None
    features: torch.Tensor | None
    negatives: NegativeSampler
    device: torch.device

    @property
    def full_batch(self) -> bool:
        return self.sampler is None

    @property
    def num_nodes(self) -> int:
        return self.adjacency.num_nodes


def prepare_data(config: GCNConfig, graph: TrackGraph, device: torch.device) -> TrainingData:
    """Split `graph`'s edges and build what training needs from the training edges."""
    split = split_edges(graph, config.val_fraction, config.test_fraction, config.seed)
    adjacency = Adjacency.build(graph.num_nodes, split.train, split.train_weight)
    full_batch = adjacency.col.numel() <= config.full_batch_max_nnz
    return TrainingData(
        split=split,
        adjacency=adjacency,
        full_adj=adjacency.sparse().to(device),
        sampler=None if full_batch else NeighborSampler(adjacency, list(config.fanouts)),
        features=None if graph.features is None else graph.features.to(device),
        negatives=NegativeSampler(graph.popularity),
        device=device,
    )


def build_model(config: GCNConfig, graph: TrackGraph, device: torch.device) -> TrackGCN:
    """A freshly initialised GCN for `graph`, projecting its features when it has any."""
    return TrackGCN(
        graph.num_nodes,
        config.dim,
        config.num_layers,
        feature_dim=0 if graph.features is None else graph.features.size(1),
        dropout=config.dropout,
    ).to(device)


def _bpr(z_u, z_v, z_n) -> torch.Tensor:
    return -F.logsigmoid(TrackGCN.decode(z_u, z_v) - TrackGCN.decode(z_u, z_n)).mean()


def _regularised_bpr(z_u, z_v, z_n, l2: float) -> torch.Tensor:
    """BPR loss plus an L2 penalty on the embeddings of the batch, per positive edge."""
    loss = _bpr(z_u, z_v, z_n)
    return loss + l2 * (z_u.pow(2).sum() + z_v.pow(2).sum() + z_n.pow(2).sum()) / z_u.size(0)


def _embed_full_batch(
    model: TrackGCN, data: TrainingData, *ids: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Embeddings of each of `ids`, propagating over the whole training graph."""
    all_nodes = torch.arange(data.num_nodes, device=data.device)
    z = model.encode(all_nodes, data.full_adj, data.features)
    return tuple(z[i.to(data.device)] for i in ids)


def _embed_sampled(
    model: TrackGCN, data: TrainingData, gen: torch.Generator, *ids: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Embeddings of each of `ids`, propagating over a neighbourhood sampled around them."""
    block = data.sampler.sample(torch.cat(ids), gen)
    seeds = block.n_id[: block.num_seeds]
    order = torch.argsort(seeds)
    n_id = block.n_id.to(data.device)
    z = model.encode(
        n_id,
        block.adjacency.to(data.device),
        None if data.features is None else data.features[n_id],
    )
    return tuple(z[order[torch.searchsorted(seeds[order], i)].to(data.device)] for i in ids)


def train_epoch(
    model: TrackGCN,
    data: TrainingData,
    optimizer: torch.optim.Optimizer,
    config: GCNConfig,
    gen: torch.Generator,
) -> float:
    """One epoch of BPR over training edges (both orientations); returns the mean loss."""
    model.train()
    edges = torch.cat([data.split.train, data.split.train.flip(0)], 1)
    perm = torch.randperm(edges.size(1), generator=gen)
    steps = config.steps_per_epoch or max(1, -(-edges.size(1) // config.batch_size))
    total = 0.0
    for step in range(steps):
        start = (step * config.batch_size) % edges.size(1)
        idx = perm[start : start + config.batch_size]
        u, v = edges[0, idx], edges[1, idx]
        n = data.negatives.sample(idx.numel(), config.negatives, gen)
        if data.full_batch:
            z_u, z_v, z_n = _embed_full_batch(model, data, u, v, n)
        else:
            z_u, z_v, z_n = _embed_sampled(model, data, gen, u, v, n)
        loss = _regularised_bpr(z_u, z_v, z_n, config.l2)
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


@dataclass
class TrainingState:
    """What changes from epoch to epoch, and so what a checkpoint holds: the model, its
    optimiser, the generator that draws batches, negatives and neighbourhoods, the history
    and the best model so far."""

    model: TrackGCN
    optimizer: torch.optim.Optimizer
    gen: torch.Generator
    history: History
    best_state: dict[str, torch.Tensor] | None = None
    best_score: float = -1.0


def _resumable(config: dict) -> dict:
    """The settings a checkpoint must share to be resumed: all but the number of epochs (and
    whether to resume)."""
    return {k: v for k, v in config.items() if k not in ("epochs", "resume")}


def save_checkpoint(path: Path, state: TrainingState, config: GCNConfig, graph: TrackGraph) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "config": asdict(config),
            "num_nodes": graph.num_nodes,
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "generator": state.gen.get_state(),
            "history": state.history,
            "best_state": state.best_state,
            "best_score": state.best_score,
        },
        path,
    )


def resume_from_checkpoint(
    path: Path,
    state: TrainingState,
    config: GCNConfig,
    graph: TrackGraph,
    device: torch.device,
    log: logging.Logger,
) -> int:
    """Restore `state` from the checkpoint at `path` if it was written for the same settings
    and graph; return the epoch to go on from (0 when starting afresh)."""
    saved = torch.load(path, map_location=device, weights_only=False)
    if _resumable(saved["config"]) != _resumable(asdict(config)) or (
        saved["num_nodes"] != graph.num_nodes
    ):
        log.warning("checkpoint %s is for another config or graph; starting afresh", path)
        return 0
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.gen.set_state(saved["generator"])
    state.history = saved["history"]
    state.best_state, state.best_score = saved["best_state"], saved["best_score"]
    start_epoch = state.history.resumed_from_epoch = len(state.history.loss)
    log.info("resumed from %s at epoch %d", path, start_epoch)
    return start_epoch


def validate(model: TrackGCN, data: TrainingData, config: GCNConfig) -> dict[str, float]:
    """AUC of the validation edges (uniform and popularity-matched negatives), no recall."""
    z = embed_all(model, data.full_adj, data.num_nodes, data.device, data.features)
    return evaluate(z, data.split.val, data.split.train, data.negatives, config, with_recall=False)


def record_epoch(
    state: TrainingState,
    epoch: int,
    loss: float,
    metrics: dict[str, float],
    seconds: float,
    log: logging.Logger,
) -> None:
    """Add an epoch to the history and keep the model if it is the best so far by
    validation AUC against popularity-matched negatives."""
    history = state.history
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
    if metrics["auc_popularity"] > state.best_score:
        state.best_score = metrics["auc_popularity"]
        history.best_epoch = epoch
        state.best_state = {k: t.detach().clone() for k, t in state.model.state_dict().items()}


def evaluate_best_model(
    state: TrainingState, data: TrainingData, config: GCNConfig, log: logging.Logger
) -> None:
    """Load the best model into `state.model` and record its metrics on the test edges."""
    if state.best_state is not None:
        state.model.load_state_dict(state.best_state)
    z = embed_all(state.model, data.full_adj, data.num_nodes, data.device, data.features)
    state.history.test = evaluate(z, data.split.test, data.split.train, data.negatives, config)
    log.info("test: %s", state.history.test)


def fit(
    config: GCNConfig,
    graph: TrackGraph,
    log: logging.Logger | None = None,
    checkpoint: Path | None = None,
) -> tuple[TrackGCN, History, EdgeSplit]:
    """Train on a split of `graph`; return the best model (by validation AUC against
    popularity-matched negatives), its history (with test metrics) and the split."""
    log = log or logging.getLogger(__name__)
    # The global seed drives weight initialisation and dropout; `gen` every other draw.
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    device = resolve_device(config.device)
    data = prepare_data(config, graph, device)
    model = build_model(config, graph, device)
    state = TrainingState(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=config.lr),
        gen=gen,
        history=History(mode="full-batch" if data.full_batch else "sampled", device=str(device)),
    )
    start_epoch = 0
    if checkpoint is not None and checkpoint.exists():
        start_epoch = resume_from_checkpoint(checkpoint, state, config, graph, device, log)

    with Progress(config.epochs - start_epoch, "gcn epochs", log) as progress:
        for epoch in range(start_epoch, config.epochs):
            started = time.perf_counter()
            loss = train_epoch(state.model, data, state.optimizer, config, state.gen)
            seconds = time.perf_counter() - started
            record_epoch(state, epoch, loss, validate(state.model, data, config), seconds, log)
            if checkpoint is not None:
                save_checkpoint(checkpoint, state, config, graph)
            progress.advance()
            if epoch - state.history.best_epoch >= config.patience:
                log.info("early stop at epoch %d (best %d)", epoch, state.history.best_epoch)
                break

    evaluate_best_model(state, data, config, log)
    return state.model, state.history, data.split


def embeddings_of(model: TrackGCN, graph: TrackGraph, device: str = "auto") -> np.ndarray:
    """Final embeddings (num_nodes, dim) as float32, propagating over the whole graph."""
    dev = resolve_device(device)
    adjacency = Adjacency.build(graph.num_nodes, graph.edge_index, graph.edge_weight)
    features = None if graph.features is None else graph.features.to(dev)
    z = embed_all(model.to(dev), adjacency.sparse().to(dev), graph.num_nodes, dev, features)
    return z.numpy().astype(np.float32)
