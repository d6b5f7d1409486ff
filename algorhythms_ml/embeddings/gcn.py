"""A GCN encoder over the co-occurrence graph, with a dot-product link decoder."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import GCNConv


class _SymmetricProduct(torch.autograd.Function):
    """A @ h for a symmetric sparse A: the gradient A^T g is A @ g, the same product, where
    autograd through a sparse CSR product transposes A on every backward pass (on a CPU that
    transpose is most of a training step)."""

    @staticmethod
    def forward(ctx, adjacency: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        ctx.adjacency = adjacency
        return adjacency @ h

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, ctx.adjacency @ grad


def symmetric_product(adjacency: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """adjacency @ h, for a symmetric sparse adjacency, with a backward pass that reuses it."""
    return _SymmetricProduct.apply(adjacency, h)


class TrackGCN(nn.Module):
    """Track embeddings from a learnable vector per track (plus projected content features
    where given), refined by `num_layers` GCNConv layers over the normalised adjacency.

    The output is the mean of the input and every layer's output (as in LightGCN), which keeps
    a track's own signal next to its neighbourhood's.
    """

    def __init__(
        self,
        num_nodes: int,
        dim: int = 64,
        num_layers: int = 2,
        feature_dim: int = 0,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.embedding = nn.Embedding(num_nodes, dim)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.feature_proj = nn.Linear(feature_dim, dim, bias=False) if feature_dim else None
        # Normalisation (with self-loops) is precomputed in the adjacency passed to encode().
        self.convs = nn.ModuleList(
            GCNConv(dim, dim, normalize=False, add_self_loops=False, bias=False)
            for _ in range(num_layers)
        )
        self.dropout = dropout

    def encode(
        self,
        n_id: torch.Tensor,
        adjacency: torch.Tensor,
        features: torch.Tensor | None = None,
        symmetric: bool = False,
    ) -> torch.Tensor:
        """Embeddings (len(n_id), dim) of the nodes `n_id`, given their (len(n_id), len(n_id))
        sparse normalised adjacency and optional features (len(n_id), feature_dim).
        `symmetric`: the adjacency is symmetric (the whole graph's, not a sampled block's), and
        its product's gradient reuses it instead of its transpose."""
        x = self.embedding(n_id)
        if self.feature_proj is not None and features is not None:
            x = x + self.feature_proj(features)
        layers = [x]
        for i, conv in enumerate(self.convs):
            if symmetric:  # the same as conv(x, adjacency): GCNConv without bias or norm
                x = symmetric_product(adjacency, conv.lin(x))
            else:
                x = conv(x, adjacency)  # spmm: row = target, column = source
            if i < len(self.convs) - 1:
                x = torch.tanh(x)
                x = nn.functional.dropout(x, self.dropout, self.training)
            layers.append(x)
        return torch.stack(layers).mean(0)

    @staticmethod
    def decode(z_src: torch.Tensor, z_dst: torch.Tensor) -> torch.Tensor:
        """Link scores (B,) for pairs of embeddings (B, dim)."""
        return (z_src * z_dst).sum(-1)
