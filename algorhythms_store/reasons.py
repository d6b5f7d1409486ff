"""Why a track is in an answer: the evidence that found it, read from what ranked it.

`ranked_reasons` explains the ranked continuation from its own `Evidence` and `Scores`
(algorhythms_store.ranking), so an explanation never runs a second query path: the seed whose
`track_neighbors` row weighs most, how many of the most similar playlists hold the track, the
title and the similar titles that carry it, the seed of the same artist, popularity. The song
path and the similar-track route explain by the seed their own statements name. `describe`
turns a `Reason` into a sentence once the names of its seeds are known.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from algorhythms_store.ranking import SOURCES, Evidence, Scores, top_playlists

SONG_SPACE = "embedding"
MAX_REASONS = 4


class Reason(NamedTuple):
    source: str  # one of ranking.SOURCES, or SONG_SPACE
    seed: int | None = None  # the seed track it is explained by
    playlists: int | None = None  # of the `of` playlists most like the query
    of: int | None = None
    title: str | None = None


POPULAR = Reason("popularity")
Names = dict[int, tuple[str, str | None, str | None, str | None]]  # id -> uri, name, artist, album


def _positions(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each of `ids`' position in `sorted_ids`, whether it is there)."""
    if not len(sorted_ids):
        return np.zeros(len(ids), np.intp), np.zeros(len(ids), bool)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return at, sorted_ids[at] == ids


def _lookup(keys: np.ndarray, values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The value of each of `ids` among the sorted `keys`, -1 where absent."""
    at, found = _positions(keys, ids)
    return np.where(found, values[at] if len(values) else -1, -1)


def _strongest_source(ev: Evidence, ids: np.ndarray) -> np.ndarray:
    """For each of `ids`: the seed of its heaviest `track_neighbors` row (ties: the smaller
    seed), -1 where no seed's row reaches it."""
    keep = np.isin(ev.neighbor_dst, ids)
    src, dst, weight = ev.neighbor_src[keep], ev.neighbor_dst[keep], ev.neighbor_weight[keep]
    order = np.lexsort((src, -weight, dst))
    dst, src = dst[order], src[order]
    first = np.ones(len(dst), bool)
    first[1:] = dst[1:] != dst[:-1]
    return _lookup(dst[first], src[first], ids)


def _seed_of_artist(ev: Evidence, artist: np.ndarray) -> np.ndarray:
    """For each artist id (-1: unknown): the last seed by that artist, -1 where none is."""
    if not len(ev.seeds):
        return np.full(len(artist), -1)
    # the last seed of each artist: first in reversed order, by a stable sort
    reverse = np.arange(len(ev.seeds))[::-1]
    order = reverse[np.argsort(ev.seed_artists[reverse], kind="stable")]
    keys, seeds = ev.seed_artists[order], ev.seeds[order]
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    return _lookup(keys[first], seeds[first], artist)


def _held_by_top_playlists(ev: Evidence, ids: np.ndarray) -> tuple[np.ndarray, object]:
    """(for each of `ids`, how many of the playlists most like the query hold it (-1: none),
    the reason for a count): the playlists the playlist-kNN source draws its candidates from."""
    top = ev.playlist_id[top_playlists(ev)]
    held = ev.member_track[np.isin(ev.member_pid, top)]
    tracks, counts = np.unique(held, return_counts=True)
    n = len(top)
    return _lookup(tracks, counts, ids), lambda h: Reason("playlist-knn", playlists=h, of=n)


def _shared(values: np.ndarray, make) -> list[Reason | None]:
    """`make(value)` for each value (None for -1), one object per distinct value: an answer's
    reasons repeat, and each is described once."""
    values = values.tolist()
    made = {v: make(v) for v in set(values) if v >= 0}
    return [made.get(v) for v in values]


def ranked_reasons(
    ev: Evidence,
    candidates: np.ndarray,
    scores: Scores,
    artists: tuple[np.ndarray, np.ndarray],
    tracks: list[int],
    title: str | None = None,
    similar_title: str | None = None,
) -> dict[int, list[Reason]]:
    """The reasons of each of `tracks`, strongest evidence first. `candidates` and `scores` are
    what `candidate_scores(ev)` gave, `artists` (sorted track ids, their artist ids) the ranking
    statistics; a track outside the candidates is a popular top-up."""
    ids = np.asarray(tracks, np.int64)
    co_seed = _strongest_source(ev, ids)
    co = _shared(co_seed, lambda s: Reason("co-occurrence", seed=s))
    knn = _shared(*_held_by_top_playlists(ev, ids))
    artist_seed = _seed_of_artist(ev, _lookup(artists[0], artists[1], ids))
    by_artist = _shared(artist_seed, lambda s: Reason("artist", seed=s))
    titled = Reason("title", title=title) if title else None
    has_title = (scores.lookup("title", ids) > 0).tolist()
    similar = Reason("similar titles", title=similar_title) if similar_title else None
    has_similar = (scores.lookup("title_knn", ids) > 0).tolist()
    at, known = _positions(candidates, ids)
    found = scores.found[at] if len(scores.found) else np.zeros(len(ids), np.uint8)
    popular_only = (known & (found == 1 << SOURCES.index("popularity"))).tolist()
    near = known & (found & (1 << SOURCES.index("embedding")) != 0)
    near_seed = scores.lookup("emb_seed", ids) if "emb_seed" in scores.parts else np.zeros(len(ids))
    near_seed = np.where(near, near_seed.astype(np.int64) - 1, -1)
    song_space = _shared(near_seed, lambda s: Reason(SONG_SPACE, seed=s))
    out: dict[int, list[Reason]] = {}
    rows = zip(
        ids.tolist(),
        co,
        knn,
        by_artist,
        has_title,
        has_similar,
        song_space,
        popular_only,
        strict=True,
    )
    for track, c, k, a, t, m, e, p in rows:
        reasons = [r for r in (c, k, a, titled if t else None, similar if m else None, e) if r]
        if p or not reasons:
            reasons.append(POPULAR)
        out[track] = reasons[:MAX_REASONS]
    return out


def _song(names: Names, seed: int | None) -> str | None:
    fields = names.get(seed) if seed is not None else None
    if fields is None or not fields[1]:
        return None
    return f"{fields[1]} by {fields[2]}" if fields[2] else fields[1]


def describe(reason: Reason, names: Names) -> dict:
    """{"source", "text", "seed" (its uri or None)} of a reason, the seeds named by `names`."""
    song = _song(names, reason.seed)
    if reason.source == "co-occurrence":
        text = f"often with {song}" if song else "often with a song of the playlist"
    elif reason.source == "playlist-knn":
        text = f"in {reason.playlists} of the {reason.of} playlists most like this one"
    elif reason.source == "artist":
        fields = names.get(reason.seed)
        if fields and fields[1] and fields[2]:
            text = f"by {fields[2]}, like {fields[1]}"
        else:
            text = "by an artist of the playlist"
    elif reason.source == "title":
        text = f"in playlists whose titles share words with “{reason.title}”"
    elif reason.source == "similar titles":
        text = f"in playlists with titles like “{reason.title}”"
    elif reason.source == SONG_SPACE:
        text = f"sounds like {song} (song vectors)" if song else "near the songs (song vectors)"
    else:
        text = "popular across all playlists"
    seed = names.get(reason.seed) if reason.seed is not None else None
    return {"source": reason.source, "text": text, "seed": seed[0] if seed else None}


def seeds_of(reasons: dict[int, list[Reason]]) -> list[int]:
    """The seed tracks the reasons name (their names are needed to describe them)."""
    return sorted({r.seed for rs in reasons.values() for r in rs if r.seed is not None})
