"""A 2D map of the most popular tracks' vectors, for a person to look at: tracks that are near
in the vector space (by cosine) are near on the map.

The layout is a force layout over the k-nearest-neighbour graph with UMAP's loss (McInnes et
al. 2018): each track's neighbours get fuzzy membership weights, neighbours attract, random
tracks repel (negative sampling), fitted by stochastic gradient descent from a PCA start. Its
cost is set by the number of tracks drawn (`tracks`), never by the catalogue: the neighbour
search is O(N^2 d) in blocks, each epoch O(N k). It is deterministic for a seed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pydantic import Field
from scipy import sparse

from algorhythms_ml.config import config_class
from algorhythms_ml.embeddings.pipeline import read_vectors
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.warehouse import Warehouse, read_parquet, write_parquet
from algorhythms_store.progress import Progress
from algorhythms_store.schema import TRACK_MAP

# UMAP's curve 1 / (1 + a d^(2b)) for min_dist 0.1, spread 1 (umap.umap_.find_ab_params).
CURVE_A, CURVE_B = 1.577, 0.8951
# UMAP clips each gradient step to this size.
MAX_STEP = 4.0
# The neighbours whose preservation the quality figure counts.
QUALITY_K = 10
# Rows of the similarity matrix computed at once by the neighbour search.
BLOCK_ROWS = 1024


@config_class
class TrackMapConfig:
    """How the embedding map is drawn."""

    tracks: int = Field(
        5000,
        ge=2,
        le=50_000,
        description="the most popular tracks drawn on the map (its cost grows with the square "
        "of this number, not with the catalogue; the page receives them all)",
    )
    neighbors: int = Field(
        10, ge=2, description="nearest neighbours by cosine each track is pulled towards"
    )
    epochs: int = Field(300, ge=1, description="passes of the layout's gradient descent")
    negatives: int = Field(
        10,
        ge=1,
        description="random tracks pushed away per attraction (10 keeps more neighbours "
        "together than UMAP's 5 when all edges move at once)",
    )
    seed: int = Field(0, description="seed of the negative samples")


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def nearest_neighbours(points: np.ndarray, k: int, cosine: bool) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest other rows of each row, nearest first: (n, k) indices and (n, k)
    distances (Euclidean; for `cosine`, between the unit vectors, which orders as cosine)."""
    if cosine:
        points = unit_rows(points)
    points = np.asarray(points, dtype=np.float64)
    squared = (points**2).sum(1)
    n = len(points)
    index = np.empty((n, k), dtype=np.int64)
    distance = np.empty((n, k), dtype=np.float64)
    for start in range(0, n, BLOCK_ROWS):
        block = slice(start, min(start + BLOCK_ROWS, n))
        d2 = squared[block, None] + squared[None, :] - 2 * points[block] @ points.T
        rows = np.arange(d2.shape[0])
        d2[rows, rows + start] = np.inf
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        near_d2 = np.take_along_axis(d2, nearest, 1)
        order = np.lexsort((nearest, near_d2), axis=1)  # by distance, then by index
        index[block] = np.take_along_axis(nearest, order, 1)
        distance[block] = np.sqrt(np.maximum(np.take_along_axis(near_d2, order, 1), 0))
    return index, distance


def membership_weights(distance: np.ndarray, iterations: int = 64) -> np.ndarray:
    """UMAP's fuzzy weights of each row's neighbours (distances sorted ascending):
    exp(-(d - rho) / sigma), rho the nearest neighbour's distance and sigma found by
    bisection so that a row's weights sum to log2(k)."""
    k = distance.shape[1]
    excess = np.maximum(distance - distance[:, :1], 0)
    target = np.log2(k)
    low = np.zeros(len(distance))
    high = np.full(len(distance), np.inf)
    sigma = np.ones(len(distance))
    for _ in range(iterations):
        total = np.exp(-excess / sigma[:, None]).sum(1)
        above = total > target
        high = np.where(above, sigma, high)
        low = np.where(above, low, sigma)
        sigma = np.where(np.isinf(high), sigma * 2, (low + high) / 2)
    sigma = np.maximum(sigma, 1e-3 * max(float(distance.mean()), 1e-12))
    return np.exp(-excess / sigma[:, None])


def neighbour_graph(index: np.ndarray, weight: np.ndarray) -> sparse.coo_matrix:
    """The symmetric fuzzy union of the directed neighbour weights: w + w' - w w'."""
    n, k = index.shape
    rows = np.repeat(np.arange(n), k)
    directed = sparse.csr_matrix((weight.ravel(), (rows, index.ravel())), shape=(n, n))
    transpose = directed.T.tocsr()
    union = directed + transpose - directed.multiply(transpose)
    union.eliminate_zeros()
    return union.tocoo()


def pca_start(points: np.ndarray, seed: int) -> np.ndarray:
    """The first two principal components of the unit vectors, scaled to a 10 x 10 box (as
    UMAP scales its start), with a little seeded noise so no two points coincide."""
    centred = unit_rows(points).astype(np.float64)
    centred -= centred.mean(0)
    _, eigenvectors = np.linalg.eigh(centred.T @ centred)  # ascending eigenvalues
    projected = centred @ eigenvectors[:, ::-1][:, :2]
    projected = np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))  # 1-d vectors
    projected *= np.sign(projected[np.abs(projected).argmax(0), [0, 1]])  # a fixed orientation
    span = np.ptp(projected, axis=0)
    scaled = 10 * (projected - projected.min(0)) / np.where(span > 0, span, 1)
    return scaled + np.random.default_rng(seed).normal(scale=1e-4, size=scaled.shape)


def _steps(difference: np.ndarray, coefficient: np.ndarray) -> np.ndarray:
    return np.clip(coefficient[:, None] * difference, -MAX_STEP, MAX_STEP)


def _summed(n: int, at: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """(n, 2): the steps added up per point they move."""
    return np.stack([np.bincount(at, steps[:, c], minlength=n) for c in range(2)], axis=1)


def attraction(difference: np.ndarray) -> np.ndarray:
    """The clipped gradient step that pulls the ends of an edge (y_i - y_j) together."""
    a, b = CURVE_A, CURVE_B
    d2 = (difference**2).sum(1)
    safe = np.where(d2 > 0, d2, 1.0)
    pull = np.where(d2 > 0, -2 * a * b * safe ** (b - 1) / (a * safe**b + 1), 0.0)
    return _steps(difference, pull)


def repulsion(difference: np.ndarray) -> np.ndarray:
    """The clipped gradient step that pushes y_i away from a negative sample y_k."""
    a, b = CURVE_A, CURVE_B
    d2 = (difference**2).sum(1)
    push = 2 * b / ((0.001 + d2) * (a * d2**b + 1))
    return np.where((d2 > 0)[:, None], _steps(difference, push), MAX_STEP)


def optimise_layout(
    start: np.ndarray, graph: sparse.coo_matrix, config: TrackMapConfig, log: logging.Logger
) -> np.ndarray:
    """UMAP's gradient descent, one epoch at a time over all edges at once: an edge of
    weight w is sampled in a share w / max(w) of the epochs (at even intervals); each sampled
    edge pulls its two ends together and pushes its head away from `negatives` random
    points; the learning rate falls linearly from 1 to 0."""
    n = len(start)
    layout = start.copy()
    heads, tails = graph.row.astype(np.int64), graph.col.astype(np.int64)
    rate = graph.data / graph.data.max()
    rng = np.random.default_rng(config.seed)
    with Progress(config.epochs, "map layout epochs", log) as progress:
        for epoch in progress.each(range(config.epochs)):
            sampled = np.floor((epoch + 1) * rate) > np.floor(epoch * rate)
            i, j = heads[sampled], tails[sampled]
            pull = attraction(layout[i] - layout[j])
            near = np.repeat(i, config.negatives)
            far = rng.integers(0, n, size=len(near))
            push = repulsion(layout[near] - layout[far]) * (near != far)[:, None]
            update = _summed(n, i, pull) - _summed(n, j, pull) + _summed(n, near, push)
            layout += (1.0 - epoch / config.epochs) * update
    return layout


def neighbour_preservation(high_index: np.ndarray, layout: np.ndarray, k: int = QUALITY_K) -> float:
    """The share of each point's k nearest neighbours in the vector space (`high_index`, its
    first k columns) that are among its k nearest on the map, averaged over the points."""
    low_index, _ = nearest_neighbours(layout, k, cosine=False)
    high = high_index[:, :k]
    hits = (high[:, :, None] == low_index[:, None, :]).any(2).sum()
    return float(hits / high.size)


@dataclass
class TrackMap:
    track_ids: np.ndarray
    layout: np.ndarray  # (n, 2)
    preservation: float  # neighbour_preservation of the layout
    pca_preservation: float  # the same for the first two principal components


def draw_map(
    track_ids: np.ndarray,
    vectors: np.ndarray,
    config: TrackMapConfig,
    log: logging.Logger | None = None,
) -> TrackMap:
    """The 2D layout of `vectors` (one row per track of `track_ids`) and its quality against
    plain PCA."""
    log = log or logging.getLogger(__name__)
    n = len(track_ids)
    if n <= QUALITY_K:  # too few points for a neighbour graph: the PCA start is the map
        start = pca_start(vectors, config.seed) if n > 1 else np.zeros((n, 2))
        return TrackMap(track_ids, start, 1.0, 1.0)
    k = min(config.neighbors, n - 1)
    index, distance = nearest_neighbours(vectors, max(k, QUALITY_K), cosine=True)
    graph = neighbour_graph(index[:, :k], membership_weights(distance[:, :k]))
    start = pca_start(vectors, config.seed)
    layout = optimise_layout(start, graph, config, log)
    return TrackMap(
        track_ids=track_ids,
        layout=layout,
        preservation=neighbour_preservation(index, layout),
        pca_preservation=neighbour_preservation(index, start),
    )


def most_popular(warehouse: Warehouse, n: int) -> np.ndarray:
    """The ids of the `n` tracks in the most playlists (ties by id)."""
    tracks = read_parquet(warehouse.table(TRACK_METADATA), ["track_id", "num_playlists"])
    tracks = tracks.sort_values(["num_playlists", "track_id"], ascending=[False, True])
    return tracks["track_id"].to_numpy()[:n]


def map_table(track_map: TrackMap) -> pa.Table:
    return pa.table(
        {
            "track_id": pa.array(track_map.track_ids, type=pa.int32()),
            "x": pa.array(track_map.layout[:, 0], type=pa.float32()),
            "y": pa.array(track_map.layout[:, 1], type=pa.float32()),
        }
    )


@dataclass
class TrackMapResult:
    track_map: TrackMap
    seconds: float
    popularity: np.ndarray  # num_playlists of the drawn tracks, row-aligned


def build_track_map(
    warehouse: Warehouse, config: TrackMapConfig, log: logging.Logger | None = None
) -> TrackMapResult:
    """Draw the `tracks` most popular tracks' GCN vectors; write the `track_map` table
    (track_id, x, y)."""
    log = log or logging.getLogger(__name__)
    started = time.perf_counter()
    _, vectors = read_vectors(warehouse)
    ids = most_popular(warehouse, config.tracks)
    track_map = draw_map(ids, vectors[ids], config, log)
    write_parquet(warehouse.table(TRACK_MAP), map_table(track_map))
    meta = read_parquet(
        warehouse.table(TRACK_METADATA), ["track_id", "num_playlists"], where=("track_id", ids)
    )
    popularity = meta.set_index("track_id")["num_playlists"].reindex(ids).to_numpy()
    return TrackMapResult(track_map, time.perf_counter() - started, popularity)
