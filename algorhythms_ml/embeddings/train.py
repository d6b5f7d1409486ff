"""Link-prediction training of the track GCN: BPR loss, negative sampling, early stopping,
checkpoints, and evaluation by AUC (uniform and popularity-matched negatives) and recall@K."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import psutil
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
    epochs: int = Field(
        10,
        ge=1,
        description="rounds of training, each followed by a validation (early stopping may "
        "end sooner); the budget `passes` is spread evenly over them",
    )
    passes: float = Field(
        2.0,
        gt=0,
        description="the training budget: passes over the training edges (each edge in both "
        "directions) in all epochs together",
    )
    lr: float = Field(0.05, gt=0, description="Adam learning rate")
    batch_size: int = Field(
        262_144,
        ge=1,
        description="positive edges per step; in full-batch training the least, see "
        "`full_batch_steps`",
    )
    full_batch_steps: int | None = Field(
        64,
        ge=1,
        description="full-batch training: steps per pass over the training edges, the batch "
        "growing with the edges (at least `batch_size`, at most what fits the device's free "
        "memory), so a pass costs a fixed number of whole-graph propagations and grows like the "
        "edges; None: batches of `batch_size`, the steps per pass growing with the edges",
    )
    steps_per_epoch: int | None = Field(
        None,
        ge=1,
        description="steps of `batch_size` edges per epoch, overriding `passes`; None: the "
        "epoch's share of `passes`, ceil(passes / epochs x 2 x training edges / batch) steps",
    )
    negatives: Negatives = Field(
        "mixed", description="negative sampling: uniform, popularity, or half of each"
    )
    l2: float = Field(1e-4, ge=0, description="L2 penalty on the vectors of a batch")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout between layers")
    val_fraction: float = Field(0.05, ge=0, lt=1, description="edges held out for validation")
    test_fraction: float = Field(0.05, ge=0, lt=1, description="edges held out for the test")
    patience: int = Field(
        3,
        ge=1,
        description="epochs without a better validation AUC (popularity-matched) before stopping",
    )
    fanouts: list[int] = Field(
        default_factory=lambda: [15, 10],
        description="neighbours sampled per hop when the graph trains on sampled neighbourhoods",
    )
    full_batch_max_nnz: int | None = Field(
        None,
        ge=0,
        description="None: train full-batch when a full-batch step's estimated memory fits "
        "the device's free memory, else on sampled neighbourhoods; a number: full-batch exactly "
        "when the adjacency has at most that many entries",
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
    steps: list[int] = field(default_factory=list)
    batch_size: int = 0
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

    @property
    def device(self) -> torch.device:
        return self.cdf.device

    def to(self, device: torch.device) -> NegativeSampler:
        moved = NegativeSampler.__new__(NegativeSampler)
        moved.num_nodes, moved.cdf = self.num_nodes, self.cdf.to(device)
        return moved

    def uniform(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randint(0, self.num_nodes, (n,), generator=gen, device=self.device)

    def popular(self, n: int, gen: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, generator=gen, dtype=torch.float64, device=self.device)
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
    """What a training run works on, all on its device: the edge split, the training edges in
    both directions and the order the passes visit them in, the normalised training adjacency,
    the neighbour sampler (None when training full-batch), the node features and the negative
    sampler."""

    split: EdgeSplit
    edges: torch.Tensor
    adjacency: Adjacency
    full_adj: torch.Tensor
    sampler: NeighborSampler | None
    features: torch.Tensor | None
    negatives: NegativeSampler
    device: torch.device
    batch_size: int
    order: PassOrder

    @property
    def full_batch(self) -> bool:
        return self.sampler is None

    @property
    def num_nodes(self) -> int:
        return self.adjacency.num_nodes


# Peak memory of a full-batch step measured on the GPU over the parts full_batch_bytes counts.
MEASURED_OVER_COUNTED = 1.6

# Free memory a full-batch run may plan to use: the rest absorbs the allocator's fragmentation
# and whatever else the process holds.
FULL_BATCH_MEMORY_SHARE = 0.8


def full_batch_bytes(
    num_nodes: int, nnz: int, config: GCNConfig, feature_dim: int = 0, batch: int | None = None
) -> int:
    """Estimated peak memory of full-batch training on a graph whose normalised adjacency has
    `nnz` entries (self-loops included), with steps of `batch` positive edges (default
    `batch_size`).

    Counted: the CSR adjacency twice (the backward product goes through its transpose); the
    training edges in both directions and their shuffled order; per node, the embedding, its
    gradient and Adam's two moments, each layer's output, activation and gradient, the layer
    mean and the features; per positive edge, three node ids and three gathered embeddings
    with their gradients. On a graph of the full MPD's size (2.26M nodes, 146M entries) these
    parts, the edges aside, come to 11 GB where a step was measured at 17 GB (the sparse
    product's temporaries, the allocator's cache): the sum is scaled by that ratio, which gives
    23 GB with the edges."""
    batch = config.batch_size if batch is None else batch
    counted = _graph_bytes(num_nodes, nnz, config, feature_dim) + batch * _edge_bytes(config)
    return int(MEASURED_OVER_COUNTED * counted)


def _graph_bytes(num_nodes: int, nnz: int, config: GCNConfig, feature_dim: int) -> int:
    """What full_batch_bytes counts whatever the batch: the adjacency, the edges, the nodes."""
    adjacency = 2 * ((num_nodes + 1) * 8 + nnz * (8 + 4))
    edges = (nnz - num_nodes) * (16 + 8)
    per_node = 4 * (config.dim * (4 + 3 * config.num_layers + 2) + feature_dim)
    return adjacency + edges + num_nodes * per_node


def _edge_bytes(config: GCNConfig) -> int:
    """What full_batch_bytes counts per positive edge of a step."""
    return 3 * (8 + 2 * 4 * config.dim)


def full_batch_size(
    config: GCNConfig, num_nodes: int, nnz: int, feature_dim: int, available: int | None
) -> int:
    """Positive edges per full-batch step: a `full_batch_steps`-th of a pass over the training
    edges (both directions), at least `batch_size`, and at most the batch whose estimated
    memory fits a share of the `available` bytes (None: no bound, as with a fixed
    `full_batch_max_nnz`). Every full-batch step propagates over the whole graph, so with a
    fixed batch the steps per pass, and with them a pass's cost, would grow like the edges
    squared; with a fixed number of steps it grows like the edges."""
    if config.full_batch_steps is None:
        return config.batch_size
    wanted = max(config.batch_size, math.ceil((nnz - num_nodes) / config.full_batch_steps))
    if available is None:
        return wanted
    room = FULL_BATCH_MEMORY_SHARE * available / MEASURED_OVER_COUNTED
    fits = int((room - _graph_bytes(num_nodes, nnz, config, feature_dim)) // _edge_bytes(config))
    return max(config.batch_size, min(wanted, fits))


def available_bytes(device: torch.device) -> int:
    """Free memory of a CUDA device, or the host memory available to a new allocation."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return psutil.virtual_memory().available


def use_full_batch(
    config: GCNConfig, num_nodes: int, nnz: int, feature_dim: int, available: int
) -> bool:
    """Whether to train full-batch: the fixed `full_batch_max_nnz` when set, else whether the
    estimated memory of a full-batch step fits a share of the `available` bytes."""
    if config.full_batch_max_nnz is not None:
        return nnz <= config.full_batch_max_nnz
    need = full_batch_bytes(num_nodes, nnz, config, feature_dim)
    return need <= FULL_BATCH_MEMORY_SHARE * available


def prepare_data(
    config: GCNConfig, graph: TrackGraph, device: torch.device, log: logging.Logger
) -> TrainingData:
    """Split `graph`'s edges and build what training needs from the training edges, on
    `device`: the adjacency, the edges to shuffle and the negatives' distribution."""
    split = split_edges(graph, config.val_fraction, config.test_fraction, config.seed)
    nnz = 2 * split.train.size(1) + graph.num_nodes
    feature_dim = 0 if graph.features is None else graph.features.size(1)
    available = available_bytes(device)
    full_batch = use_full_batch(config, graph.num_nodes, nnz, feature_dim, available)
    batch_size = config.batch_size
    if full_batch and config.steps_per_epoch is None:
        bound = None if config.full_batch_max_nnz is not None else available
        batch_size = full_batch_size(config, graph.num_nodes, nnz, feature_dim, bound)
    log.info(
        "%s training: adjacency of %d entries, %d edges per step, full-batch estimate %.1f GB, "
        "%.1f GB free on %s",
        "full-batch" if full_batch else "sampled",
        nnz,
        batch_size,
        full_batch_bytes(graph.num_nodes, nnz, config, feature_dim, batch_size) / 1e9,
        available / 1e9,
        device,
    )
    train = split.train.to(device)
    adjacency = Adjacency.build(graph.num_nodes, train, split.train_weight.to(device))
    edges = torch.cat([train, train.flip(0)], 1)
    return TrainingData(
        split=split,
        edges=edges,
        order=PassOrder(edges.size(1), config.seed, device),
        adjacency=adjacency,
        full_adj=adjacency.sparse(),
        sampler=None if full_batch else NeighborSampler(adjacency, list(config.fanouts)),
        features=None if graph.features is None else graph.features.to(device),
        negatives=NegativeSampler(graph.popularity).to(device),
        device=device,
        batch_size=batch_size,
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
    z = model.encode(all_nodes, data.full_adj, data.features, symmetric=True)
    return tuple(z[i] for i in ids)


def _embed_sampled(
    model: TrackGCN, data: TrainingData, gen: torch.Generator, *ids: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Embeddings of each of `ids`, propagating over a neighbourhood sampled around them."""
    block = data.sampler.sample(torch.cat(ids), gen)
    seeds = block.n_id[: block.num_seeds]  # sorted: the sampler's seeds are unique ids
    z = model.encode(
        block.n_id,
        block.adjacency,
        None if data.features is None else data.features[block.n_id],
    )
    return tuple(z[torch.searchsorted(seeds, i)] for i in ids)


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """The generator of an epoch's negatives and neighbourhoods, on the training device;
    seeded by the epoch, so a resumed run draws what the uninterrupted one would (the edges'
    order is the passes' own: `PassOrder`)."""
    return torch.Generator(device=device).manual_seed(seed * 100_003 + epoch)


class PassOrder:
    """The order training visits its edges in: a fresh shuffle for every pass over them, seeded
    by the pass, read as one long sequence. An epoch that is a share of a pass takes the next
    positions of that pass's shuffle, so each pass visits every edge once, however many epochs
    share it; a pass is shuffled once (the shuffle is held until the next pass), and a resumed
    run visits the edges the uninterrupted one would."""

    def __init__(self, num_edges: int, seed: int, device: torch.device):
        self.num_edges, self.seed, self.device = num_edges, seed, device
        self._pass, self._shuffle = -1, torch.empty(0, dtype=torch.long)

    def shuffle(self, index: int) -> torch.Tensor:
        """The order of pass `index` (held: asking again costs nothing)."""
        if index != self._pass:
            self._shuffle = torch.empty(0, dtype=torch.long)  # free the last one first
            gen = torch.Generator(device=self.device).manual_seed(
                PASS_SEED_OFFSET + self.seed * 100_003 + index
            )
            self._shuffle = torch.randperm(self.num_edges, generator=gen, device=self.device)
            self._pass = index
        return self._shuffle

    def positions(self, start: int, count: int) -> torch.Tensor:
        """The edges at positions start .. start + count - 1 of the sequence of passes."""
        parts, end = [], start + count
        while start < end:
            index, offset = divmod(start, self.num_edges)
            take = min(self.num_edges - offset, end - start)
            parts.append(self.shuffle(index)[offset : offset + take])
            start += take
        return torch.cat(parts)


# Pass shuffles draw from generators apart from the epochs' (epoch_generator).
PASS_SEED_OFFSET = 1 << 40


def epoch_edges(num_edges: int, config: GCNConfig, batch_size: int) -> int:
    """The edges an epoch trains on: its share of `passes` (passes / epochs x `num_edges`;
    part of a pass, or more than one), or `steps_per_epoch` batches of `batch_size`."""
    if config.steps_per_epoch is not None:
        return config.steps_per_epoch * batch_size
    return max(1, math.ceil(config.passes / config.epochs * num_edges))


def epoch_batches(
    order: PassOrder, epoch: int, config: GCNConfig, batch_size: int | None = None
) -> list[torch.Tensor]:
    """Positions of the edges of each step of `epoch`: the next `epoch_edges` of `order`, in
    batches of `batch_size` (default the config's)."""
    batch_size = config.batch_size if batch_size is None else batch_size
    count = epoch_edges(order.num_edges, config, batch_size)
    return list(order.positions(epoch * count, count).split(batch_size))


def train_epoch(
    model: TrackGCN,
    data: TrainingData,
    optimizer: torch.optim.Optimizer,
    config: GCNConfig,
    gen: torch.Generator,
    epoch: int,
) -> tuple[float, int]:
    """One epoch of BPR over the training edges (both orientations); returns the mean loss and
    the number of steps. Nothing in the loop waits for the device: the loss is summed there."""
    model.train()
    batches = epoch_batches(data.order, epoch, config, data.batch_size)
    total = torch.zeros((), device=data.device)
    for idx in batches:
        u, v = data.edges[:, idx]
        n = data.negatives.sample(idx.numel(), config.negatives, gen)
        if data.full_batch:
            z_u, z_v, z_n = _embed_full_batch(model, data, u, v, n)
        else:
            z_u, z_v, z_n = _embed_sampled(model, data, gen, u, v, n)
        loss = _regularised_bpr(z_u, z_v, z_n, config.l2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.detach()
    return float(total) / len(batches), len(batches)


@torch.no_grad()
def embed_all(
    model: TrackGCN,
    full_adj: torch.Tensor,
    num_nodes: int,
    device: torch.device,
    features: torch.Tensor | None = None,
) -> torch.Tensor:
    """Embeddings (num_nodes, dim) of every node by full-graph sparse propagation, on
    `device`."""
    model.eval()
    return model.encode(torch.arange(num_nodes, device=device), full_adj, features)


@torch.no_grad()
def evaluate(
    z: torch.Tensor,
    pos: torch.Tensor,
    train_adjacency: Adjacency,
    negatives: NegativeSampler,
    config: GCNConfig,
    with_recall: bool = True,
    z_dst: torch.Tensor | None = None,
) -> dict[str, float]:
    """AUC of held-out edges `pos` (2, E) against uniform and popularity-matched negatives
    (one per positive, same source), and recall@K of held-out neighbours among all nodes.
    An edge (u, v) scores z[u] . z_dst[v]; `z_dst` defaults to `z` (a symmetric model).

    At most `eval_edges` held-out edges are scored, and recall is measured for at most
    `recall_sources` of their sources, so the cost is bounded whatever the graph's size.
    Negatives and samples come from a generator seeded by the config, so every epoch is
    judged against the same negatives and early stopping follows the model, not the draw."""
    z_dst = z if z_dst is None else z_dst
    negatives = negatives.to(z.device)
    gen = torch.Generator(device=z.device).manual_seed(config.seed + 1)
    pos = pos.to(z.device)
    if pos.size(1) > config.eval_edges:
        pos = pos[:, torch.randperm(pos.size(1), generator=gen, device=z.device)]
        pos = pos[:, : config.eval_edges]
    u, v = pos
    s_pos = TrackGCN.decode(z[u], z_dst[v]).cpu().numpy()

    def auc_against(negative: torch.Tensor) -> float:
        return auc(s_pos, TrackGCN.decode(z[u], z_dst[negative]).cpu().numpy())

    out = {
        "auc_uniform": auc_against(negatives.uniform(u.numel(), gen)),
        "auc_popularity": auc_against(negatives.popular(u.numel(), gen)),
    }
    if with_recall:
        out[f"recall@{config.recall_k}"] = recall_at_k(
            z, z_dst, pos, train_adjacency.to(z.device), config, gen
        )
    return out


# Scores held at once while ranking all nodes for a chunk of sources (float32: 256 MB).
SCORES_PER_CHUNK = 1 << 26


@torch.no_grad()
def recall_at_k(
    z: torch.Tensor,
    z_dst: torch.Tensor,
    pos: torch.Tensor,
    train_adjacency: Adjacency,
    config: GCNConfig,
    gen: torch.Generator,
) -> float:
    """Share of held-out neighbours of at most `recall_sources` sampled sources found in their
    top K by score; training neighbours and the source itself (the adjacency's self-loop) are
    excluded from the ranking."""
    held = torch.cat([pos, pos.flip(0)], 1)
    sources = torch.unique(held[0])
    pick = torch.randperm(sources.numel(), generator=gen, device=sources.device)
    sources = sources[pick[: config.recall_sources]].sort().values
    held = held[:, torch.isin(held[0], sources)]
    k = min(config.recall_k, z_dst.size(0))
    hits = torch.zeros((), dtype=torch.long, device=z.device)
    for chunk in sources.split(max(1, SCORES_PER_CHUNK // z_dst.size(0))):
        scores = z[chunk] @ z_dst.T
        scores[train_adjacency.rows(chunk)] = -torch.inf
        top = scores.topk(k, dim=1).indices
        in_chunk = torch.isin(held[0], chunk)
        row = torch.searchsorted(chunk, held[0, in_chunk])
        hits += (top[row] == held[1, in_chunk, None]).any(1).sum()
    return int(hits) / max(held.size(1), 1)


@dataclass
class TrainingState:
    """What changes from epoch to epoch, and so what a checkpoint holds: the model, its
    optimiser, the history and the best model so far."""

    model: TrackGCN
    optimizer: torch.optim.Optimizer
    history: History
    best_state: dict[str, torch.Tensor] | None = None
    best_score: float = -1.0


def _resumable(config: dict) -> dict:
    """The settings a checkpoint must share to be resumed: all but the number of epochs, the
    whole budget and whether to resume; each epoch's share of a pass must be the same."""
    same = {k: v for k, v in config.items() if k not in ("epochs", "passes", "resume")}
    return {**same, "passes_per_epoch": config["passes"] / config["epochs"]}


def save_checkpoint(path: Path, state: TrainingState, config: GCNConfig, graph: TrackGraph) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "config": asdict(config),
            "num_nodes": graph.num_nodes,
            "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
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
    state.history = saved["history"]
    state.best_state, state.best_score = saved["best_state"], saved["best_score"]
    start_epoch = state.history.resumed_from_epoch = len(state.history.loss)
    log.info("resumed from %s at epoch %d", path, start_epoch)
    return start_epoch


def validate(model: TrackGCN, data: TrainingData, config: GCNConfig) -> dict[str, float]:
    """AUC of the validation edges (uniform and popularity-matched negatives), no recall."""
    z = embed_all(model, data.full_adj, data.num_nodes, data.device, data.features)
    return evaluate(z, data.split.val, data.adjacency, data.negatives, config, with_recall=False)


def record_epoch(
    state: TrainingState,
    epoch: int,
    loss: float,
    steps: int,
    metrics: dict[str, float],
    seconds: float,
    log: logging.Logger,
) -> None:
    """Add an epoch to the history and keep the model if it is the best so far by
    validation AUC against popularity-matched negatives."""
    history = state.history
    history.loss.append(loss)
    history.steps.append(steps)
    history.val_auc.append(metrics["auc_uniform"])
    history.val_auc_popularity.append(metrics["auc_popularity"])
    history.epoch_seconds.append(seconds)
    log.info(
        "epoch %d: %d steps, loss %.4f, val AUC %.4f (popularity-matched %.4f), %.1f s",
        epoch,
        steps,
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
    state.history.test = evaluate(z, data.split.test, data.adjacency, data.negatives, config)
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
    # The global seed drives weight initialisation and dropout; epoch_generator every other draw.
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    data = prepare_data(config, graph, device, log)
    model = build_model(config, graph, device)
    state = TrainingState(
        model=model,
        optimizer=torch.optim.Adam(model.parameters(), lr=config.lr),
        history=History(
            mode="full-batch" if data.full_batch else "sampled",
            device=str(device),
            batch_size=data.batch_size,
        ),
    )
    start_epoch = 0
    if checkpoint is not None and checkpoint.exists():
        start_epoch = resume_from_checkpoint(checkpoint, state, config, graph, device, log)

    with Progress(config.epochs - start_epoch, "gcn epochs", log) as progress:
        for epoch in range(start_epoch, config.epochs):
            started = time.perf_counter()
            gen = epoch_generator(config.seed, epoch, device)
            loss, steps = train_epoch(state.model, data, state.optimizer, config, gen, epoch)
            seconds = time.perf_counter() - started
            metrics = validate(state.model, data, config)
            record_epoch(state, epoch, loss, steps, metrics, seconds, log)
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
    adjacency = Adjacency.build(
        graph.num_nodes, graph.edge_index.to(dev), graph.edge_weight.to(dev)
    )
    features = None if graph.features is None else graph.features.to(dev)
    z = embed_all(model.to(dev), adjacency.sparse(), graph.num_nodes, dev, features)
    return z.cpu().numpy().astype(np.float32)
