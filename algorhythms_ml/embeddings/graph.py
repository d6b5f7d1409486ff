"""The co-occurrence graph as tensors: loading, edge splits, normalisation, neighbour sampling."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch


@contextmanager
def _quiet_sparse():
    """torch warns that sparse CSR is beta and that invariant checks are off; both are known."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly")
        yield


@dataclass
class TrackGraph:
    """An undirected weighted graph over track ids 0..num_nodes-1.

    `edge_index` (2, E) holds each undirected edge once with src < dst; `edge_weight` (E,).
    `popularity` (num_nodes,) counts playlists per track, for popularity-matched negatives.
    """

    num_nodes: int
    edge_index: torch.Tensor
    edge_weight: torch.Tensor
    popularity: torch.Tensor
    features: torch.Tensor | None = None

    @classmethod
    def from_frames(
        cls, edges: pd.DataFrame, tracks: pd.DataFrame, features: np.ndarray | None = None
    ) -> TrackGraph:
        """From `cooccurrence_edges` (src, dst, weight; both directions) and `track_metadata`
        (track_id, num_playlists). Nodes are all track ids, isolated ones included."""
        upper = edges[edges["src"] < edges["dst"]]
        return cls.from_upper(
            upper["src"].to_numpy(),
            upper["dst"].to_numpy(),
            upper["weight"].to_numpy(),
            tracks,
            features,
        )

    @classmethod
    def from_upper(
        cls,
        src: np.ndarray,
        dst: np.ndarray,
        weight: np.ndarray,
        tracks: pd.DataFrame,
        features: np.ndarray | None = None,
    ) -> TrackGraph:
        """From each undirected edge once (src < dst) and `track_metadata`."""
        num_nodes = int(tracks["track_id"].max()) + 1 if len(tracks) else 0
        popularity = np.zeros(num_nodes, dtype=np.float32)
        popularity[tracks["track_id"].to_numpy()] = tracks["num_playlists"].to_numpy()
        edge_index = np.empty((2, len(src)), dtype=np.int64)
        edge_index[0], edge_index[1] = src, dst
        return cls(
            num_nodes=num_nodes,
            edge_index=torch.from_numpy(edge_index),
            edge_weight=torch.from_numpy(np.asarray(weight, dtype=np.float32)),
            popularity=torch.from_numpy(popularity),
            features=None if features is None else torch.as_tensor(features, dtype=torch.float32),
        )


@dataclass
class EdgeSplit:
    train: torch.Tensor  # (2, E_train) undirected, src < dst
    train_weight: torch.Tensor
    val: torch.Tensor  # (2, E_val)
    test: torch.Tensor  # (2, E_test)


def split_edges(
    graph: TrackGraph, val_fraction: float, test_fraction: float, seed: int
) -> EdgeSplit:
    """Hold out undirected edges for validation and test, never a node's last edge, so that
    every held-out edge joins two nodes that keep a training edge.

    Every edge gets a random rank; each node keeps its lowest-ranked edge for training, and the
    held-out edges are the lowest-ranked of the others. Only those kept edges (at most one per
    node) are exempt, so the held-out edges are a near-uniform sample of all edges."""
    gen = torch.Generator().manual_seed(seed)
    src, dst = graph.edge_index
    n_edges = src.numel()
    by_rank = torch.randperm(n_edges, generator=gen)  # by_rank[r]: the edge of rank r
    rank = torch.empty_like(by_rank)
    rank[by_rank] = torch.arange(n_edges)
    lowest = torch.full((graph.num_nodes,), n_edges, dtype=torch.long)
    lowest.scatter_reduce_(0, src, rank, reduce="amin")
    lowest.scatter_reduce_(0, dst, rank, reduce="amin")
    kept = torch.zeros(n_edges, dtype=torch.bool)
    kept[by_rank[lowest[lowest < n_edges]]] = True
    n_hold = int(n_edges * (val_fraction + test_fraction))
    chosen = by_rank[~kept[by_rank]][:n_hold]
    held = torch.zeros(n_edges, dtype=torch.bool)
    held[chosen] = True
    n_val = int(chosen.numel() * val_fraction / max(val_fraction + test_fraction, 1e-9))
    return EdgeSplit(
        train=graph.edge_index[:, ~held],
        train_weight=graph.edge_weight[~held],
        val=graph.edge_index[:, chosen[:n_val]],
        test=graph.edge_index[:, chosen[n_val:]],
    )


@dataclass
class Adjacency:
    """Symmetric, GCN-normalised adjacency with self-loops, in CSR form.

    norm(u, v) = w(u, v) / sqrt(d_u d_v), with d the weighted degree including the self-loop.
    """

    rowptr: torch.Tensor  # (N + 1,)
    col: torch.Tensor  # (nnz,)
    value: torch.Tensor  # (nnz,)
    num_nodes: int

    @classmethod
    def build(
        cls, num_nodes: int, edge_index: torch.Tensor, edge_weight: torch.Tensor
    ) -> Adjacency:
        """From undirected edges (2, E) and their weights (E,), on the edges' device."""
        device = edge_index.device
        loops = torch.arange(num_nodes, device=device)
        src = torch.cat([edge_index[0], edge_index[1], loops])
        dst = torch.cat([edge_index[1], edge_index[0], loops])
        weight = torch.cat([edge_weight, edge_weight, torch.ones(num_nodes, device=device)])
        degree = torch.zeros(num_nodes, device=device).scatter_add_(0, src, weight)
        value = weight * degree[src].rsqrt() * degree[dst].rsqrt()
        order = torch.argsort(src * num_nodes + dst)
        src, dst, value = src[order], dst[order], value[order]
        rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=device)
        rowptr[1:] = torch.cumsum(torch.bincount(src, minlength=num_nodes), 0)
        return cls(rowptr=rowptr, col=dst, value=value, num_nodes=num_nodes)

    def to(self, device: torch.device) -> Adjacency:
        return Adjacency(
            self.rowptr.to(device), self.col.to(device), self.value.to(device), self.num_nodes
        )

    @property
    def nnz(self) -> int:
        return self.col.numel()

    def sparse(self) -> torch.Tensor:
        with _quiet_sparse():
            return torch.sparse_csr_tensor(
                self.rowptr,
                self.col,
                self.value,
                (self.num_nodes, self.num_nodes),
                check_invariants=False,
            )

    def degree(self) -> torch.Tensor:
        return self.rowptr[1:] - self.rowptr[:-1]

    def rows(self, nodes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The entries of the rows of `nodes`: (position in `nodes`, column) per entry."""
        start = self.rowptr[nodes]
        count = self.rowptr[nodes + 1] - start
        row = torch.repeat_interleave(torch.arange(nodes.numel(), device=nodes.device), count)
        first_of_row = torch.cumsum(count, 0) - count
        offset = torch.arange(row.numel(), device=nodes.device) - first_of_row[row]
        return row, self.col[start[row] + offset]


@dataclass
class SampledBlock:
    """A sampled computation graph: `n_id` (global ids, seeds first), and per layer the
    sparse (num_local x num_local) normalised adjacency to propagate with."""

    n_id: torch.Tensor
    num_seeds: int
    adjacency: torch.Tensor


class NeighborSampler:
    """Uniform neighbour sampling with replacement over a CSR adjacency (GraphSAGE-style).

    For each hop, every frontier node draws `fanout` neighbours; a sampled message is
    scaled by degree / fanout so that its expected sum equals the full aggregation. The
    sampled edges of all hops form one local sub-adjacency used by every layer.

    Every step is a tensor operation on the adjacency's device (no loop over nodes, no copy to
    the host), so with the adjacency on a GPU the whole sample is drawn there; `generator`
    must live on that device.
    """

    def __init__(self, adjacency: Adjacency, fanouts: list[int]):
        self.adj = adjacency
        self.fanouts = fanouts
        self.degree = adjacency.degree()

    @property
    def device(self) -> torch.device:
        return self.adj.col.device

    def sample(self, seeds: torch.Tensor, generator: torch.Generator) -> SampledBlock:
        seeds = torch.unique(seeds.to(self.device))
        nodes = seeds
        frontier = seeds
        expanded = seeds[:0]
        rows, cols, vals = [], [], []
        for fanout in self.fanouts:
            deg = self.degree[frontier]
            draw = torch.rand(frontier.numel(), fanout, generator=generator, device=self.device)
            edge_pos = self.adj.rowptr[frontier][:, None] + (draw * deg[:, None]).long()
            nbr = self.adj.col[edge_pos]
            scale = (deg.float() / fanout)[:, None]
            rows.append(frontier[:, None].expand_as(nbr).reshape(-1))
            cols.append(nbr.reshape(-1))
            vals.append((self.adj.value[edge_pos] * scale).reshape(-1))
            expanded = torch.cat([expanded, frontier])
            frontier = torch.unique(nbr)
            nodes = torch.cat([nodes, frontier])
            frontier = frontier[~torch.isin(frontier, expanded)]  # expand each node once
        n_id, local_of = _local_ids(nodes)
        row, col = local_of(torch.cat(rows)), local_of(torch.cat(cols))
        with _quiet_sparse():
            adjacency = (
                torch.sparse_coo_tensor(
                    torch.stack([row, col]),
                    torch.cat(vals),
                    (n_id.numel(), n_id.numel()),
                    check_invariants=False,
                )
                .coalesce()
                .to_sparse_csr()
            )
        return SampledBlock(n_id=n_id, num_seeds=seeds.numel(), adjacency=adjacency)


def _local_ids(nodes: torch.Tensor):
    """The distinct `nodes` in order of first appearance, and a function from global ids
    (any of `nodes`) to their positions in that order."""
    uniq, inverse = torch.unique(nodes, return_inverse=True)
    first = torch.full((uniq.numel(),), nodes.numel(), dtype=torch.long, device=nodes.device)
    first.scatter_reduce_(
        0, inverse, torch.arange(nodes.numel(), device=nodes.device), reduce="amin"
    )
    order = torch.argsort(first)
    local = torch.empty_like(order)
    local[order] = torch.arange(order.numel(), device=nodes.device)
    return uniq[order], lambda ids: local[torch.searchsorted(uniq, ids)]
