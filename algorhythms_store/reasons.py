"""Why a track is in an answer: the evidence that found it, read from what ranked it.

`ranked_reasons` explains the ranked continuation from its own `Evidence` and `Scores`
(algorhythms_store.ranking), so an explanation never runs a second query path: the seed whose
`track_neighbors` row weighs most, how many of the most similar playlists hold the track, the
title and the similar titles that carry it, the seed of the same artist, popularity. The song
path and the similar-track route explain by the seed their own statements name. `describe`
turns a `Reason` into a sentence once the names of its seeds are known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from algorhythms_store.ranking import (
    SOURCES,
    TOP_PLAYLISTS_SHARE,
    Evidence,
    Scores,
    top_playlists,
)

SONG_SPACE = "embedding"
MAX_REASONS = 4


@dataclass(frozen=True)
class Reason:
    source: str  # one of ranking.SOURCES, or SONG_SPACE
    seed: int | None = None  # the seed track it is explained by
    playlists: int | None = None  # of the `of` playlists most like the query
    of: int | None = None
    title: str | None = None


Names = dict[int, tuple[str, str | None, str | None, str | None]]  # id -> uri, name, artist, album


def _strongest_source(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, tracks) -> dict:
    """For each of `tracks` reached by a row: the src of its heaviest row (ties: smaller src)."""
    keep = np.isin(dst, tracks)
    src, dst, weight = src[keep], dst[keep], weight[keep]
    order = np.lexsort((src, -weight, dst))
    dst, src = dst[order], src[order]
    first = np.ones(len(dst), bool)
    first[1:] = dst[1:] != dst[:-1]
    return dict(zip(dst[first].tolist(), src[first].tolist(), strict=True))


def _positions(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each of `ids`' position in `sorted_ids`, whether it is there)."""
    if not len(sorted_ids):
        return np.zeros(len(ids), np.intp), np.zeros(len(ids), bool)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return at, sorted_ids[at] == ids


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
    at, known = _positions(candidates, ids)
    artist_at, has_artist = _positions(artists[0], ids)
    co_seed = _strongest_source(ev.neighbor_src, ev.neighbor_dst, ev.neighbor_weight, ids)
    best = top_playlists(ev, TOP_PLAYLISTS_SHARE)
    n_best = int((ev.playlist_overlap[best] > 0).sum())
    share = scores.lookup("uknn_share", ids)
    has_title = scores.lookup("title", ids) > 0
    has_similar = scores.lookup("title_knn", ids) > 0
    artist_seed = dict(zip(ev.seed_artists.tolist(), ev.seeds.tolist(), strict=True))
    popular_bit = 1 << SOURCES.index("popularity")
    out: dict[int, list[Reason]] = {}
    for i, track in enumerate(ids.tolist()):
        reasons = []
        if track in co_seed:
            reasons.append(Reason("co-occurrence", seed=co_seed[track]))
        if share[i] > 0 and n_best:
            held = max(1, round(float(share[i]) * n_best))
            reasons.append(Reason("playlist-knn", playlists=held, of=n_best))
        artist = int(artists[1][artist_at[i]]) if has_artist[i] else None
        if artist in artist_seed:
            reasons.append(Reason("artist", seed=artist_seed[artist]))
        if has_title[i] and title:
            reasons.append(Reason("title", title=title))
        if has_similar[i] and similar_title:
            reasons.append(Reason("similar titles", title=similar_title))
        if not reasons or (known[i] and scores.found[at[i]] == popular_bit):
            reasons.append(Reason("popularity"))
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
        text = f"in playlists titled “{reason.title}”"
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
