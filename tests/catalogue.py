"""A synthetic published catalogue: clustered vectors with names that carry a version tag."""

from __future__ import annotations

import numpy as np

from algorhythms_store.coldstart import FeatureSpec
from algorhythms_store.publish import Tracks

CLUSTERS = 40
PER_CLUSTER = 50
DIM = 16


def uri(i: int) -> str:
    return f"spotify:track:t{i:06d}"


def catalogue(tag: str, n: int = CLUSTERS * PER_CLUSTER, seed: int = 0, dim: int = DIM) -> Tracks:
    """`n` tracks in clusters of PER_CLUSTER (track i is in cluster i // PER_CLUSTER); names end
    with `tag`; artists are named after their cluster; popularity falls with the id."""
    rng = np.random.default_rng(seed)
    clusters = np.arange(n) // PER_CLUSTER
    centres = rng.normal(size=(clusters.max() + 1, dim))
    vectors = centres[clusters] + 0.3 * rng.normal(size=(n, dim))
    return Tracks(
        ids=np.arange(n),
        uris=[uri(i) for i in range(n)],
        names=[f"Song {i} {tag}" for i in range(n)],
        artists=[f"Artist{c:03d}" for c in clusters],
        albums=[f"Album {c}" for c in clusters],
        duration_ms=[180_000 + i for i in range(n)],
        num_playlists=np.arange(n, 0, -1),
        degree=np.full(n, 10),
        vectors=vectors.astype(np.float32),
    )


def coldstart(dim: int = DIM, seed: int = 0) -> tuple[dict[str, np.ndarray], dict]:
    """A small random cold-start model in the published format."""
    rng = np.random.default_rng(seed)
    spec = FeatureSpec(
        buckets=64, token_buckets=64, external=[], duration_mean=12.0, duration_std=0.3
    ).to_json(output_dim=dim)
    field, hidden = 4, 8
    arrays = {
        "artist": rng.normal(size=(64, field)).astype(np.float32),
        "album": rng.normal(size=(64, field)).astype(np.float32),
        "token": rng.normal(size=(64, field)).astype(np.float32),
        "hidden_w": rng.normal(size=(hidden, 3 * field + 2)).astype(np.float32),
        "hidden_b": rng.normal(size=hidden).astype(np.float32),
        "out_w": rng.normal(size=(dim, hidden)).astype(np.float32),
        "out_b": rng.normal(size=dim).astype(np.float32),
    }
    return arrays, spec


def titles() -> list[tuple[str, int, float]]:
    """ "rock" playlists hold cluster 0 tracks, "=summer hits" playlists cluster 1 tracks."""
    rows = [("rock", i, 1.0 - i / 100) for i in range(PER_CLUSTER)]
    rows += [("=summer hits", PER_CLUSTER + i, 0.5) for i in range(10)]
    return rows


def neighbors() -> list[tuple[int, int, float]]:
    """Item-kNN lists: track 3 and track 4 both co-occur with track 1500 (another cluster)."""
    return [(3, 1500, 0.9), (4, 1500, 0.8), (3, 7, 0.1)]


def exact_nearest(tracks: Tracks, query: np.ndarray, exclude: set[int], k: int) -> list[str]:
    unit = tracks.vectors / np.linalg.norm(tracks.vectors, axis=1, keepdims=True)
    scores = unit @ (query / np.linalg.norm(query))
    order = [i for i in np.argsort(-scores) if i not in exclude]
    return [tracks.uris[i] for i in order[:k]]
