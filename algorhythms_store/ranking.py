"""Playlist continuation by candidate generation and a learned ranker.

One implementation, shared by the pipeline (training and evaluating the ranker on in-memory
tables) and the service (the same tables read from PostgreSQL), so both compute the same
features by construction. Whoever calls it fetches an `Evidence` for a playlist (its seeds and
the rows of the published tables they reach), then:

1. `candidate_scores(evidence)`: candidates from six sources, up to `PER_SOURCE` each:
   item-kNN (sum of the seeds' `track_neighbors` weights), playlist-kNN (tracks of the
   playlists that share the most seeds, `TOP_PLAYLISTS` of them), the title's keys
   (`title_tracks`), similarly titled playlists (algorhythms_store.title_index), the seed
   artists' most popular tracks, and the `NEAREST` tracks nearest to the seeds' mean song
   vector (the GCN embeddings, through the vector index); topped up with the most popular
   tracks. Seeds are never candidates.
2. the caller fetches `TrackStats` (popularity, artist, song vector) for the candidates;
3. `feature_matrix(...)`: one row of `FEATURES` per candidate;
4. `Ranker.score(X)`: a LightGBM lambdarank model trained on challenge-style hold-outs;
5. `top_up(...)`: a list short of its length is filled with the most popular tracks.

`title_scores` is the one title score: the title candidates here, and the service's answer for
a playlist known by its title alone.

Only numpy, lightgbm and lleaves: the service imports this without Spark or torch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PER_SOURCE = 300
TOP_PLAYLISTS = 100
TOP_PLAYLISTS_SHARE = 50
ARTIST_TRACKS = 50
LAST_SEEDS = 5
POPULAR = 500
RECOMMENDATIONS = 500  # tracks in an answer, as the RecSys Challenge 2018 asks
# The most popular tracks kept at hand: the first POPULAR are candidates of last resort, all of
# them top a list up (500 recommendations past up to 500 seeds).
POPULAR_KEPT = 1000
EXACT_TITLE_WEIGHT = 3.0
# Tracks nearest to the seeds' mean song vector taken as candidates, and the most recent seeds
# a candidate's largest and mean cosine are taken over (bounding the work of a long playlist).
# NEAREST stays below the service's hnsw.ef_search (64): one pass of the index finds them (100
# took up to 10 ms of iterative scans against 1.2 ms on mpd_dev).
NEAREST = 50
COMPARED_SEEDS = 100

FEATURES = [
    "knn",
    "knn_max",
    "knn_last",
    "uknn",
    "uknn_share",
    "uknn_overlap",
    "artist_share",
    "artist_knn",
    "title",
    "popularity",
    "artist_popularity",
    "track_share_of_artist",
    "seeds",
    "has_title",
    "title_knn",
    "title_knn_share",
    "emb_mean",
    "emb_max",
    "emb_avg",
    "emb_last",
]

# The candidate sources, each a bit of `Scores.found` (which sources found a candidate).
SOURCES = (
    "co-occurrence",
    "playlist-knn",
    "title",
    "similar titles",
    "artist",
    "embedding",
    "popularity",
)

# The features by what they are made of; "seeds" and "has_title" describe the playlist and
# belong to none.
FEATURE_GROUPS = {
    "co-occurrence": ("knn", "knn_max", "knn_last"),
    "playlist-knn": ("uknn", "uknn_share", "uknn_overlap"),
    "title": ("title",),
    "similar titles": ("title_knn", "title_knn_share"),
    "artist": ("artist_share", "artist_knn"),
    "popularity": ("popularity", "artist_popularity", "track_share_of_artist"),
    "embedding": ("emb_mean", "emb_max", "emb_avg", "emb_last"),
}

_I = np.int64
_F = np.float32


def _ints(values=()) -> np.ndarray:
    return np.asarray(values, dtype=_I)


def _floats(values=()) -> np.ndarray:
    return np.asarray(values, dtype=_F)


@dataclass
class Evidence:
    """What the published tables say about one playlist (all arrays of equal length per group).

    seeds: catalogue track ids in playlist order; seed_artists: their artist ids.
    neighbor_*: `track_neighbors` rows whose src is a seed.
    playlist_*: playlists holding at least one seed: id, how many seeds, length; at most
      TOP_PLAYLISTS of them matter (see `top_playlists`), so a fetch may stop there.
    member_*: (pid, track_id) of those top playlists.
    title_*: `title_tracks` rows of the title's keys: track, score, how many playlists carry the
      key, whether the key is the whole title.
    similar_*: `title_tracks` rows of the similar titles (algorhythms_store.title_index): track,
      score times the title's weight; similar_total: the sum of those weights.
    artist_neighbor_*: `artist_neighbors` rows whose src is a seed artist.
    artist_tracks: the seed artists' most popular tracks (ARTIST_TRACKS each).
    seed_vectors: (seeds, dim) the seeds' unit song vectors, in seed order (a zero row for a
      seed without one); nearest: the tracks nearest to `query_vector(seed_vectors)`, nearest
      first (NEAREST of them, seeds included: candidates never are).
    popular: the most popular tracks, best first (POPULAR_KEPT of them).
    """

    seeds: np.ndarray = field(default_factory=_ints)
    seed_artists: np.ndarray = field(default_factory=_ints)
    has_title: bool = False
    neighbor_src: np.ndarray = field(default_factory=_ints)
    neighbor_dst: np.ndarray = field(default_factory=_ints)
    neighbor_weight: np.ndarray = field(default_factory=_floats)
    playlist_id: np.ndarray = field(default_factory=_ints)
    playlist_overlap: np.ndarray = field(default_factory=_floats)
    playlist_length: np.ndarray = field(default_factory=_floats)
    member_pid: np.ndarray = field(default_factory=_ints)
    member_track: np.ndarray = field(default_factory=_ints)
    title_track: np.ndarray = field(default_factory=_ints)
    title_score: np.ndarray = field(default_factory=_floats)
    title_key_playlists: np.ndarray = field(default_factory=_floats)
    title_exact: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    similar_track: np.ndarray = field(default_factory=_ints)
    similar_held: np.ndarray = field(default_factory=_floats)
    similar_total: float = 0.0
    artist_neighbor_src: np.ndarray = field(default_factory=_ints)
    artist_neighbor_dst: np.ndarray = field(default_factory=_ints)
    artist_neighbor_weight: np.ndarray = field(default_factory=_floats)
    artist_tracks: np.ndarray = field(default_factory=_ints)
    seed_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), _F))
    nearest: np.ndarray = field(default_factory=_ints)
    popular: np.ndarray = field(default_factory=_ints)


@dataclass
class TrackStats:
    """Per candidate, aligned with the candidate ids."""

    popularity: np.ndarray
    artist: np.ndarray
    artist_popularity: np.ndarray
    artist_tracks_popularity: np.ndarray
    vectors: np.ndarray | None = None  # (candidates, dim) unit song vectors; None: none known


def playlist_similarity(overlap: np.ndarray, length: np.ndarray, seeds: int) -> np.ndarray:
    """Cosine between the playlist and the seeds as 0/1 vectors."""
    return overlap / np.sqrt(np.maximum(length, 1.0)) / np.sqrt(max(seeds, 1))


def top_playlists(ev: Evidence, n: int = TOP_PLAYLISTS) -> np.ndarray:
    """Indices into ev.playlist_* of the n most similar playlists (ties: smaller pid). In
    float64, as PostgreSQL orders them (serving.sql.RANK_PLAYLISTS)."""
    overlap = ev.playlist_overlap.astype(np.float64)
    length = np.maximum(ev.playlist_length.astype(np.float64), 1.0)
    order = np.lexsort((ev.playlist_id, -(overlap / np.sqrt(length))))
    return order[:n]


def _sum_by(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(keys) == 0:
        return _ints(), _floats()
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inverse, weights=values, minlength=len(uniq)).astype(_F)


@dataclass
class Scores:
    """Per-source scores over their own track ids (sparse), then looked up for candidates;
    `found`: per candidate, a bit per SOURCES entry that found it."""

    parts: dict[str, tuple[np.ndarray, np.ndarray]]
    found: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))

    def lookup(self, name: str, ids: np.ndarray) -> np.ndarray:
        keys, values = self.parts[name]
        out = np.zeros(len(ids), _F)
        if len(keys):
            pos = np.searchsorted(keys, ids)
            pos = np.minimum(pos, len(keys) - 1)
            hit = keys[pos] == ids
            out[hit] = values[pos[hit]]
        return out


def _normalised(part: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    keys, values = part
    if len(values) and values.max() > 0:
        values = values / values.max()
    return keys, values.astype(_F)


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the sorted distinct keys, each key's position among them): one sort for several sums."""
    if len(keys) == 0:
        return _ints(), np.zeros(0, np.intp)
    return np.unique(keys, return_inverse=True)


def _sums(
    groups: tuple[np.ndarray, np.ndarray], values: np.ndarray, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(keys, the sum of `values` per key), over the rows `rows` (a mask) when given: a key
    no such row has sums to 0."""
    keys, inverse = groups
    if rows is not None:
        inverse, values = inverse[rows], values[rows]
    return keys, np.bincount(inverse, weights=values, minlength=len(keys)).astype(_F)


def _top(part: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
    """The keys of the n largest positive values (ties: smaller key)."""
    keys, values = part
    keep = values > 0
    keys, values = keys[keep], values[keep]
    if len(keys) > n:
        # only the values from the n-th largest up need ordering
        keep = values >= np.partition(values, len(values) - n)[len(values) - n]
        keys, values = keys[keep], values[keep]
        keys = keys[np.lexsort((keys, -values))[:n]]
    return keys


def _found(sources: list[np.ndarray], seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the sorted ids the sources hold but the seeds, a bit per source that holds each)."""
    ids = np.concatenate(sources).astype(_I)
    bits = np.repeat((1 << np.arange(len(sources))).astype(np.uint8), [len(s) for s in sources])
    ids, inverse = _groups(ids)
    found = np.zeros(len(ids), np.uint8)
    np.bitwise_or.at(found, inverse, bits)
    keep = ~np.isin(ids, seeds)
    return ids[keep], found[keep]


def title_scores(
    track: np.ndarray, score: np.ndarray, key_playlists: np.ndarray, exact: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(sorted track ids, their title score, best = 1) from the `title_tracks` rows of a title's
    keys: the sum over keys of score * key_playlists / log(2 + key_playlists), the whole title
    counting EXACT_TITLE_WEIGHT times: a key many playlists share says less about each."""
    weight = np.where(exact, EXACT_TITLE_WEIGHT, 1.0) / np.log(2.0 + key_playlists)
    return _normalised(_sum_by(track, weight * score * key_playlists))


def candidate_scores(ev: Evidence) -> tuple[np.ndarray, Scores]:
    """(sorted candidate ids, the per-source scores needed for their features)."""
    seeds = ev.seeds
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    neighbors = _groups(ev.neighbor_dst)
    parts["knn"] = _normalised(_sums(neighbors, ev.neighbor_weight))
    knn_max = np.zeros(len(neighbors[0]), _F)
    np.maximum.at(knn_max, neighbors[1], ev.neighbor_weight)
    parts["knn_max"] = (neighbors[0], knn_max)
    last = np.isin(ev.neighbor_src, seeds[-LAST_SEEDS:])
    parts["knn_last"] = _normalised(_sums(neighbors, ev.neighbor_weight, last))

    top = top_playlists(ev)
    pid = ev.playlist_id[top]
    sim = playlist_similarity(ev.playlist_overlap[top], ev.playlist_length[top], len(seeds))
    order = np.argsort(pid)
    pid, sim, overlap = pid[order], sim[order], ev.playlist_overlap[top][order]
    in_top = np.isin(ev.member_pid, pid)
    m_pid, m_track = ev.member_pid[in_top], ev.member_track[in_top]
    at = np.searchsorted(pid, m_pid)
    members = _groups(m_track)
    parts["uknn"] = _normalised(_sums(members, sim[at] ** 2))
    parts["uknn_overlap"] = _sums(members, overlap[at] / max(len(seeds), 1))
    best = top_playlists(ev, TOP_PLAYLISTS_SHARE)
    best_pid = ev.playlist_id[best][ev.playlist_overlap[best] > 0]
    in_best = np.isin(m_pid, best_pid)
    tracks, counts = _sums(members, np.ones(len(m_track), _F), in_best)
    parts["uknn_share"] = (tracks, counts / max(len(best_pid), 1))

    parts["title"] = title_scores(
        ev.title_track, ev.title_score, ev.title_key_playlists, ev.title_exact
    )
    held = _sum_by(ev.similar_track, ev.similar_held)
    parts["title_knn"] = _normalised(held)
    total = max(ev.similar_total, 1e-9)
    parts["title_knn_share"] = (held[0], (held[1] / total).astype(_F))

    sources = [_top(parts[name], PER_SOURCE) for name in ("knn", "uknn", "title", "title_knn")]
    sources.append(ev.artist_tracks)
    sources.append(ev.nearest[:NEAREST])
    candidates, found = _found(sources, seeds)
    if len(candidates) < POPULAR:
        sources.append(ev.popular[:POPULAR])
        candidates, found = _found(sources, seeds)
    return candidates, Scores(parts, found)


def feature_matrix(
    ev: Evidence, candidates: np.ndarray, scores: Scores, stats: TrackStats
) -> np.ndarray:
    """One row of FEATURES per candidate."""
    n_seeds = len(ev.seeds)
    cols = [scores.lookup(name, candidates) for name in FEATURES[:6]]
    if n_seeds:
        artists, counts = np.unique(ev.seed_artists, return_counts=True)
        share = Scores({"a": (artists, (counts / n_seeds).astype(_F))})
        cols.append(share.lookup("a", stats.artist))
        seed_share = share.lookup("a", ev.artist_neighbor_src)
        reach = _normalised(_sum_by(ev.artist_neighbor_dst, seed_share * ev.artist_neighbor_weight))
        cols.append(Scores({"a": reach}).lookup("a", stats.artist))
    else:
        cols += [np.zeros(len(candidates), _F)] * 2
    cols.append(scores.lookup("title", candidates))
    cols.append(np.log1p(stats.popularity.astype(_F)))
    cols.append(np.log1p(stats.artist_popularity.astype(_F)))
    cols.append(stats.popularity / np.maximum(stats.artist_tracks_popularity, 1.0))
    cols.append(np.full(len(candidates), n_seeds, _F))
    cols.append(np.full(len(candidates), 1.0 if ev.has_title else 0.0, _F))
    cols += [scores.lookup(name, candidates) for name in ("title_knn", "title_knn_share")]
    cols += embedding_columns(ev, stats.vectors, len(candidates), scores, candidates)
    return np.stack([np.asarray(c, _F) for c in cols], axis=1)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """The rows scaled to unit length (zero rows stay zero), in float32."""
    vectors = np.asarray(vectors, _F)
    norm = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norm > 0, norm, 1.0).astype(_F)


def song_vectors(vectors: np.ndarray) -> np.ndarray:
    """The song vectors as the ranker reads them, a row per track id: unit length, stored in
    float16 (half the memory; cosines within about 1e-3), read as float32 rows."""
    return unit_rows(vectors).astype(np.float16)


def query_vector(seed_vectors: np.ndarray, seeds: np.ndarray) -> np.ndarray | None:
    """The unit mean of the unit vectors of `seeds` (their rows of `seed_vectors`, each
    distinct seed once): what the nearest tracks are searched by. None without a seed vector."""
    if not seed_vectors.size:
        return None
    _, first = np.unique(seeds, return_index=True)
    rows = seed_vectors[first]
    rows = rows[np.abs(rows).sum(axis=1) > 0]
    if not len(rows):
        return None
    total = rows.astype(np.float64).sum(axis=0)
    norm = np.linalg.norm(total)
    return (total / norm).astype(_F) if norm > 0 else None


def embedding_columns(
    ev: Evidence,
    vectors: np.ndarray | None,
    n: int,
    scores: Scores | None = None,
    candidates: np.ndarray | None = None,
) -> list[np.ndarray]:
    """emb_mean, emb_max, emb_avg, emb_last: a candidate's cosine to the seeds' mean vector,
    its largest and mean cosine to the COMPARED_SEEDS most recent seeds, and its cosine to the
    mean of the LAST_SEEDS most recent ones; zeros without vectors. With `scores`, the seed
    of the largest cosine goes in as part "emb_seed" (seed id + 1), for the reasons."""
    mean = query_vector(ev.seed_vectors, ev.seeds)
    if vectors is None or mean is None or not n or vectors.shape[1] != len(mean):
        return [np.zeros(n, _F)] * 4
    with_vector = np.abs(ev.seed_vectors[-COMPARED_SEEDS:]).sum(axis=1) > 0
    recent = ev.seed_vectors[-COMPARED_SEEDS:][with_vector]
    cos = vectors @ recent.T
    if scores is not None and candidates is not None:
        best = ev.seeds[-COMPARED_SEEDS:][with_vector][cos.argmax(axis=1)]
        scores.parts["emb_seed"] = (candidates, (best + 1).astype(np.float64))
    last = ev.seed_vectors[-LAST_SEEDS:]
    last_mean = query_vector(last, ev.seeds[-LAST_SEEDS:])
    return [
        vectors @ mean,
        cos.max(axis=1),
        cos.mean(axis=1),
        vectors @ last_mean if last_mean is not None else np.zeros(n, _F),
    ]


class Ranker:
    """A LightGBM model over FEATURES, kept as its text dump (what the publish stores).

    `compile()` turns its trees into machine code (lleaves, through LLVM): the same scores (to
    1e-12) several times faster, after seconds of compiling; until then LightGBM scores."""

    def __init__(self, model_text: str):
        import lightgbm

        self.text = model_text
        self.booster = lightgbm.Booster(model_str=model_text)
        names = self.booster.feature_name()
        unknown = [n for n in names if n not in FEATURES]
        if unknown:
            raise ValueError(f"ranker features {unknown} are not among {FEATURES}")
        # A model trained before a feature existed scores the columns it knows.
        self.columns = None if names == FEATURES else [FEATURES.index(n) for n in names]
        self._compiled = None

    def compile(self) -> None:
        import lleaves

        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.txt"
            path.write_text(self.text)
            model = lleaves.Model(model_file=str(path))
            model.compile()
        self._compiled = model

    def score(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        if self.columns is not None:
            X = X[:, self.columns]
        if self._compiled is not None:
            return self._compiled.predict(np.ascontiguousarray(X, np.float64), n_jobs=1)
        return self.booster.predict(X, num_threads=1)


def rank(
    ev: Evidence, candidates: np.ndarray, X: np.ndarray, ranker: Ranker | None
) -> tuple[np.ndarray, np.ndarray]:
    """(candidates best first, their scores). With a ranker, its scores; without one,
    item-kNN, then playlist-kNN, then popularity order, scored 1 / rank."""
    if ranker is not None:
        score = ranker.score(X)
        order = np.lexsort((candidates, -score))
        return candidates[order], score[order]
    col = {name: X[:, i] for i, name in enumerate(FEATURES)}
    order = np.lexsort((candidates, -col["popularity"], -col["uknn"], -col["knn"]))
    return candidates[order], 1.0 / np.arange(1, len(order) + 1)


def top_up(
    ranked: Iterable[int], popular: Iterable[int], exclude: Collection[int], n: int
) -> list[int]:
    """The first `n` of `ranked` not in `exclude`, filled up with the most popular tracks that
    are neither."""
    out = [t for t in map(int, ranked) if t not in exclude][:n]
    if len(out) < n:
        seen = set(exclude) | set(out)
        out += [t for t in map(int, popular) if t not in seen][: n - len(out)]
    return out
