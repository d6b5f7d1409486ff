"""Diverse and randomised answers: a ranked list re-ordered by maximal marginal relevance.

`rerank` takes the best candidates of any answer path (best first, with their vectors and
artists) and picks `count` of them one at a time. Each pick maximises

    (1 - diversity) * relevance - diversity * (highest cosine to a track already picked)

where a candidate's relevance is the gain NDCG gives its rank, 1 / log2(rank + 1): the top of
the list is the hardest to displace, as it counts most, and the paths' scores (a ranker's
logits, summed weights, cosines) need no common scale. Scaling the scores themselves to [0, 1]
instead made the answer swing from unchanged to unrecognisable between diversity 0.05 and
0.1 on mpd_dev (`benchmarks/diversity.py`). With `explore` > 0 the pick is drawn at random,
uniformly, among the candidates whose value is within `explore` of the best one, as the
GraphSAGE recommender picked at random among candidates above a score threshold; `seed` makes
such an answer repeatable. `max_per_artist` skips a candidate whose artist already has that
many tracks in the answer.

`Diversity()` (every setting off) is today's ranking: `rerank` is not called at all then.
The service, the evaluation benchmark and the tests share this one implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Candidates considered for an answer of `count` tracks when any setting is on.
POOL_FACTOR = 3
POOL_EXTRA = 50
MAX_POOL = 1500


@dataclass(frozen=True)
class Diversity:
    diversity: float = 0.0  # 0: relevance only; 1: novelty only
    max_per_artist: int | None = None
    explore: float = 0.0  # 0: always the best; 1: any candidate
    seed: int | None = None  # None with explore > 0: a different answer each time

    def __post_init__(self) -> None:
        if not 0.0 <= self.diversity <= 1.0 or not 0.0 <= self.explore <= 1.0:
            raise ValueError("diversity and explore are between 0 and 1")
        if self.max_per_artist is not None and self.max_per_artist < 1:
            raise ValueError("max_per_artist is at least 1")

    @property
    def active(self) -> bool:
        return self.diversity > 0 or self.explore > 0 or self.max_per_artist is not None

    def pool(self, count: int) -> int:
        """How many candidates to draw for an answer of `count` tracks."""
        if not self.active:
            return count
        return min(MAX_POOL, max(POOL_FACTOR * count, count + POOL_EXTRA))


RANKED = Diversity()  # every setting off: the answer as ranked


def relevance(n: int) -> np.ndarray:
    """The relevance of the candidates ranked 1..n: NDCG's gain of each rank."""
    return 1.0 / np.log2(np.arange(n) + 2.0)


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    norm = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norm, 1e-12)


def rerank(
    n: int,
    vectors: np.ndarray | None,
    artists: list | None,
    count: int,
    settings: Diversity,
) -> np.ndarray:
    """Indices into the pool of `n` candidates (best first, with their `vectors` (n, dim) and
    `artists`, either None when not known) of the `count` picks, in answer order."""
    gain = relevance(n)
    unit = _unit(vectors) if vectors is not None and settings.diversity > 0 else None
    rng = np.random.default_rng(settings.seed)
    closest = np.full(n, -1.0) if unit is not None else np.zeros(n)
    open_ = np.ones(n, bool)
    per_artist: dict = {}
    picks: list[int] = []
    while len(picks) < count and open_.any():
        value = (1.0 - settings.diversity) * gain
        if unit is not None and picks:
            value = value - settings.diversity * closest
        value = np.where(open_, value, -np.inf)
        best = value.max()
        if settings.explore > 0:
            near = np.flatnonzero(value >= best - settings.explore)
            pick = int(near[rng.integers(len(near))])
        else:
            pick = int(np.argmax(value))  # ties: the better-ranked candidate
        open_[pick] = False
        if settings.max_per_artist is not None and artists is not None:
            artist = artists[pick]
            if artist is not None and per_artist.get(artist, 0) >= settings.max_per_artist:
                continue
            per_artist[artist] = per_artist.get(artist, 0) + 1
        picks.append(pick)
        if unit is not None:
            closest = np.maximum(closest, unit @ unit[pick])
    return np.asarray(picks, np.int64)


def intra_list_similarity(vectors: np.ndarray) -> float:
    """The mean cosine between the tracks of a list, over distinct pairs (0 for fewer than 2)."""
    if len(vectors) < 2:
        return 0.0
    unit = _unit(vectors)
    sims = unit @ unit.T
    n = len(unit)
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1)))
