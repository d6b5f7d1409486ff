"""A synthetic published catalogue: clustered vectors with names that carry a version tag."""

from __future__ import annotations

import numpy as np

from algorhythms_store.coldstart import FeatureSpec, pack_arrays
from algorhythms_store.neighbor_lists import neighbor_list_rows
from algorhythms_store.publish import PublishResult, TrackModel, Tracks, publish
from algorhythms_store.schema import TRACK_VECTORS
from algorhythms_store.title_index import whole_title_rows

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


def publish_catalogue(
    url: str,
    tracks: Tracks,
    coldstart: tuple[dict[str, np.ndarray], dict] | None = None,
    ranker: str | None = None,
    run_id: str | None = None,
    metrics: dict | None = None,
    **rows,
) -> PublishResult:
    """Publish `tracks`, the cold-start model `coldstart` (arrays, spec), the ranker, the
    version's `metrics` and `rows` (published table name -> its rows; `track_neighbors` as
    (src, dst, weight) pairs) as a new version."""
    arrays, spec = coldstart or (None, None)
    if rows.get("title_tracks") and "whole_titles" not in rows:  # as the pipeline publishes it
        rows["whole_titles"] = list(whole_title_rows(*zip(*rows["title_tracks"], strict=True)))
    if rows.get("track_neighbors"):  # (src, dst, weight) pairs, published as lists
        rows["track_neighbors"] = neighbor_lists(*zip(*rows["track_neighbors"], strict=True))
    model = TrackModel(
        dimension=tracks.dimension,
        coldstart_spec=spec,
        coldstart_arrays=None if arrays is None else pack_arrays(arrays),
        ranker=ranker,
    )
    return publish(
        url, {TRACK_VECTORS: tracks.rows(), **rows}, model, run_id=run_id, metrics=metrics
    )


def neighbor_lists(src, dst, weight) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """The published `track_neighbors` rows of (src, dst, weight) rows in any order, by src."""
    src, dst, weight = np.asarray(src, np.int64), np.asarray(dst, np.int64), np.asarray(weight)
    order = np.argsort(src, kind="stable")
    return list(neighbor_list_rows([(src[order], dst[order], weight[order])]))


def titles() -> list[tuple[str, int, float, int]]:
    """ "rock" playlists hold cluster 0 tracks, "=summer hits" and "=summer vibes" playlists
    cluster 1 tracks;
    (key, track, score, playlists with the key)."""
    rows = [("rock", i, 1.0 - i / 100, 100) for i in range(PER_CLUSTER)]
    rows += [("=summer hits", PER_CLUSTER + i, 0.5, 20) for i in range(10)]
    rows += [("=summer vibes", PER_CLUSTER + 10 + i, 1.0 - i / 10, 3) for i in range(5)]
    return rows


def neighbors() -> list[tuple[int, int, float]]:
    """Item-kNN lists: track 3 and track 4 both co-occur with track 1500 (another cluster)."""
    return [(3, 1500, 0.9), (4, 1500, 0.8), (3, 7, 0.1)]


def exact_nearest(tracks: Tracks, query: np.ndarray, exclude: set[int], k: int) -> list[str]:
    unit = tracks.vectors / np.linalg.norm(tracks.vectors, axis=1, keepdims=True)
    scores = unit @ (query / np.linalg.norm(query))
    order = [i for i in np.argsort(-scores) if i not in exclude]
    return [tracks.uris[i] for i in order[:k]]


def playlists(n: int = 300, seed: int = 0) -> dict[int, list[int]]:
    """Playlists of 8-20 tracks, mostly from one cluster (a fifth from a second one)."""
    rng = np.random.default_rng(seed)
    out = {}
    for pid in range(n):
        home, other = rng.integers(0, 10, size=2)
        size = int(rng.integers(8, 21))
        tracks = rng.choice(PER_CLUSTER, size=size, replace=False) + home * PER_CLUSTER
        k = size // 5
        tracks[:k] = rng.choice(PER_CLUSTER, size=k, replace=False) + other * PER_CLUSTER
        out[pid] = list(dict.fromkeys(int(t) for t in tracks))
    return out


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def playlist_vector_rows(lists: dict[int, list[int]], tracks: Tracks) -> list[tuple]:
    """`playlist_vectors` rows of `lists` (pid -> distinct track ids, in order): name
    "Playlist <pid>", length, first 5 tracks and the normalised mean of the unit vectors."""
    by_id = dict(zip(tracks.ids.tolist(), unit(tracks.vectors), strict=True))
    return [
        (pid, f"Playlist {pid}", len(ids), ids[:5], unit(np.mean([by_id[t] for t in ids], 0)))
        for pid, ids in lists.items()
        if ids
    ]


def track_map_rows(tracks: Tracks, n: int) -> list[tuple[int, float, float]]:
    """`track_map` rows of the `n` most popular tracks: their unit vectors' first two principal
    components."""
    top = np.lexsort((tracks.ids, -tracks.num_playlists))[:n]
    centred = unit(tracks.vectors[top].astype(np.float64))
    centred -= centred.mean(0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ components[:2].T
    return [(int(tracks.ids[i]), float(x), float(y)) for i, (x, y) in zip(top, xy, strict=True)]


def ranking_tables(lists: dict[int, list[int]]) -> dict:
    """The ranking tables of algorhythms_store.ranking over `lists` (artists are clusters),
    computed with numpy: co-occurrence top 200 by count with cosine weights, as the pipeline."""
    import pandas as pd

    members = pd.DataFrame(
        [(p, t, len(ts)) for p, ts in lists.items() for t in ts],
        columns=["pid", "track_id", "length"],
    )
    popularity = members.groupby("track_id").size()
    pairs = members.merge(members, on="pid")
    pairs = pairs[pairs["track_id_x"] != pairs["track_id_y"]]
    counts = pairs.groupby(["track_id_x", "track_id_y"]).size().rename("count").reset_index()
    counts.columns = ["src", "dst", "count"]
    counts["weight"] = counts["count"] / np.sqrt(
        popularity[counts["src"]].to_numpy() * popularity[counts["dst"]].to_numpy()
    )
    neighbors = (
        counts.sort_values(["src", "count", "weight", "dst"], ascending=[True, False, False, True])
        .groupby("src")
        .head(200)[["src", "dst", "weight"]]
    )
    members["artist"] = members["track_id"] // PER_CLUSTER
    artist_n = members.drop_duplicates(["pid", "artist"]).groupby("artist").size()
    stats = pd.DataFrame({"track_id": popularity.index, "popularity": popularity.to_numpy()})
    stats["artist_id"] = stats["track_id"] // PER_CLUSTER
    stats["artist_popularity"] = artist_n[stats["artist_id"]].to_numpy()
    stats["artist_tracks_popularity"] = (
        stats.groupby("artist_id")["popularity"].transform("sum").to_numpy()
    )
    artists = pd.DataFrame(
        [(a, b, 0.5) for a in range(10) for b in range(10) if a != b and abs(a - b) == 1],
        columns=["src", "dst", "weight"],
    )
    title_frame = pd.DataFrame(titles(), columns=["key", "track_id", "score", "key_playlists"])
    return {
        "track_neighbors": neighbors.reset_index(drop=True),
        "title_tracks": title_frame,
        "playlist_members": members[["pid", "track_id", "length"]],
        "track_stats": stats[
            ["track_id", "artist_id", "popularity", "artist_popularity", "artist_tracks_popularity"]
        ],
        "artist_neighbors": artists,
    }


def table_rows(frame, columns: list[str]):
    return list(zip(*(frame[c].tolist() for c in columns), strict=True))


def small_ranker(store, lists: dict[int, list[int]]):
    """A small LightGBM ranker trained on `store` with random challenge queries of `lists`
    (every playlist titled "rock")."""
    from algorhythms_ml.recommend.ranker import (
        RankerConfig,
        fit_ranker,
        random_queries,
        training_rows,
    )

    queries = random_queries(lists, {p: "rock" for p in lists}, seed=0)
    return fit_ranker(*training_rows(store, queries), RankerConfig(rounds=20, min_data_in_leaf=5))
