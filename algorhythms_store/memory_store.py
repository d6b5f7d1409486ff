"""The ranking tables in memory: the evidence source of training and evaluation.

`MemoryStore` holds the tables a publish loads into PostgreSQL (track_neighbors, title_tracks,
playlist_members, track_stats, artist_neighbors) as numpy arrays and answers for a playlist
what the service reads from PostgreSQL, an `Evidence`, then ranks it with the same code
(algorhythms_store.ranking): so the evaluated answers are the served ones.

Training and evaluation ask for playlists that are themselves in the tables. Every table is a
sum over playlists (co-occurrence counts, playlists per track, per artist and per title key,
playlist membership), so a `LeftOut` playlist's own contribution is subtracted from the rows a
query reads: its features are those of the tables built from every other playlist, which is
what the service sees for a new playlist, at the cost of a lookup instead of a rebuild.

The tables are pruned (each list's top K by count), and the playlist's own tracks were pushed
up those lists by its own contribution: in a full list, a track of the playlist that without
it ranks below where the list's weakest row would rank is dropped, as the list built without
the playlist may not hold it (`_still_listed`). What cannot be recovered is a track that would
take such a freed place: it is not in the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from algorhythms_store.ranking import (
    ARTIST_TRACKS,
    NEAREST,
    POPULAR_KEPT,
    RECOMMENDATIONS,
    Evidence,
    Ranker,
    TrackStats,
    candidate_scores,
    feature_matrix,
    query_vector,
    rank,
    song_vectors,
    top_playlists,
    top_up,
)
from algorhythms_store.text import title_keys
from algorhythms_store.title_index import WHOLE, TitleIndex


@dataclass(frozen=True)
class LeftOut:
    """A playlist of the tables whose own contribution a query must not see."""

    pid: int
    tracks: np.ndarray  # every track it holds, distinct
    title: str | None

    @classmethod
    def of(cls, pid: int, tracks: Iterable[int], title: str | None) -> LeftOut:
        return cls(int(pid), np.unique(np.asarray(list(tracks), dtype=np.int64)), title)


def _at_least(mine: tuple[np.ndarray, ...], theirs: tuple[np.ndarray, ...]) -> np.ndarray:
    """Row-wise lexicographic mine >= theirs."""
    above = np.zeros(len(mine[0]), bool)
    decided = np.zeros(len(mine[0]), bool)
    for a, b in zip(mine, theirs, strict=True):
        above |= ~decided & (a > b)
        decided |= a != b
    return above | ~decided


def _still_listed(
    group: np.ndarray,
    before: tuple[np.ndarray, ...],
    after: tuple[np.ndarray, ...],
    unpushed: tuple[np.ndarray, ...],
    held: np.ndarray,
    list_size: int,
) -> np.ndarray:
    """Rows of pruned top-K lists that the lists built without a playlist would hold.

    `group`: the list of each row. Rank keys, most significant first, larger first (a count
    first): `before`, with the playlist; `after`, without it; `unpushed`, without it as if the
    playlist did not hold the row's track. `held`: rows the playlist's counts were in. A row
    with a count of 0 goes. In a list that was full, every track left out of it ranked below
    the list's weakest row, and without the playlist still ranks at most where that row would
    if the playlist had not pushed it (`unpushed`): a held row ranking below that goes, since
    the list built without the playlist may hold those tracks instead. (Most lists end in a
    long tie of count-1 tracks, so this matters: left in, such rows tell the ranker which
    tracks the playlist holds.)"""
    keep = after[0] > 0
    if not held.any() or not len(group):
        return keep
    _, at, sizes = np.unique(group, return_inverse=True, return_counts=True)
    order = np.lexsort((*reversed(before), at))  # by list, then weakest first
    lists, first = np.unique(at[order], return_index=True)
    weakest = np.zeros(len(sizes), np.int64)
    weakest[lists] = order[first]
    row = weakest[at]
    judged = held & (sizes[at] >= list_size)
    bound = tuple(key[row] for key in unpushed)
    return keep & (~judged | _at_least(after, bound))


def _cosine_without(
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    n_src: np.ndarray,
    n_dst: np.ndarray,
    src_in: np.ndarray,
    dst_in: np.ndarray,
    list_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of top-K-by-count lists (ties: higher weight, then smaller dst) with cosine weights
    count / sqrt(n_src n_dst), without one playlist: the pair count loses 1 where it held both
    ends, each end's count 1 where it held that end. Returns (rows kept, their new weights)."""
    n_src = n_src.astype(np.float64)
    n_dst = n_dst.astype(np.float64)
    held = src_in & dst_in
    before = np.rint(weight.astype(np.float64) * np.sqrt(n_src * n_dst))
    count = before - held
    new = count / np.maximum(np.sqrt((n_src - src_in) * (n_dst - dst_in)), 1.0)
    unpushed = before / np.maximum(np.sqrt((n_src - src_in) * n_dst), 1.0)
    keep = _still_listed(
        src,
        (before, weight.astype(np.float64), -dst),
        (count, new, -dst),
        (before, unpushed, -dst),
        held,
        list_size,
    )
    return keep, new[keep].astype(np.float32)


def _longest(sorted_keys: np.ndarray) -> int:
    return int(np.unique(sorted_keys, return_counts=True)[1].max()) if len(sorted_keys) else 0


class _Csr:
    """Row -> values lookup over int keys (rows sorted by key)."""

    def __init__(self, keys: np.ndarray, *columns: np.ndarray):
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.columns = [c[order] for c in columns]

    def rows(self, wanted: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        wanted = np.asarray(wanted, dtype=np.int64)
        lo = np.searchsorted(self.keys, wanted, "left")
        hi = np.searchsorted(self.keys, wanted, "right")
        idx = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)] or [[]])
        idx = idx.astype(np.int64)
        return self.keys[idx], [c[idx] for c in self.columns]


class MemoryStore:
    """The ranking tables in memory, answering what the service asks PostgreSQL."""

    def __init__(
        self,
        tables: dict[str, pd.DataFrame],
        list_sizes: dict[str, int] | None = None,
        vectors: np.ndarray | None = None,
    ):
        """`list_sizes`: the K each of track_neighbors, artist_neighbors and title_tracks (its
        word keys; `whole_titles`: its whole-title keys) was pruned to (by default the longest
        list in the table). `vectors`: the song vectors (a row per track id), from a model that
        never saw the playlists the queries come from; without them the embedding features
        are 0 and the embedding source finds nothing."""
        nb = tables["track_neighbors"]
        self.neighbors = _Csr(
            nb["src"].to_numpy(np.int64), nb["dst"].to_numpy(np.int64), nb["weight"].to_numpy()
        )
        members = tables["playlist_members"]
        m_pid = members["pid"].to_numpy(np.int64)
        m_track = members["track_id"].to_numpy(np.int64)
        m_len = members["length"].to_numpy(np.float32)
        self.by_track = _Csr(m_track, m_pid, m_len)
        self.by_pid = _Csr(m_pid, m_track)
        titles = tables["title_tracks"]
        self.titles = {
            key: (
                g["track_id"].to_numpy(np.int64),
                g["score"].to_numpy(np.float32),
                g["key_playlists"].to_numpy(np.float32),
            )
            for key, g in titles.groupby("key", sort=False)
        }
        an = tables["artist_neighbors"]
        self.artist_neighbors = _Csr(
            an["src"].to_numpy(np.int64), an["dst"].to_numpy(np.int64), an["weight"].to_numpy()
        )
        stats = tables["track_stats"]
        size = int(stats["track_id"].max()) + 1 if len(stats) else 0
        self.known = np.zeros(size, bool)
        self.popularity = np.zeros(size, np.float32)
        self.artist = np.full(size, -1, np.int64)
        self.artist_popularity = np.zeros(size, np.float32)
        self.artist_tracks_popularity = np.zeros(size, np.float32)
        ids = stats["track_id"].to_numpy(np.int64)
        self.known[ids] = True
        self.popularity[ids] = stats["popularity"].to_numpy()
        self.artist[ids] = stats["artist_id"].to_numpy()
        self.artist_popularity[ids] = stats["artist_popularity"].to_numpy()
        self.artist_tracks_popularity[ids] = stats["artist_tracks_popularity"].to_numpy()
        self.playlists_of_artist = np.zeros(int(stats["artist_id"].max()) + 1 if len(stats) else 0)
        self.playlists_of_artist[stats["artist_id"].to_numpy()] = stats["artist_popularity"]
        # The lists' K (the longest list of each table), for `_still_listed`.
        sizes = list_sizes or {}
        self.neighbors_k = sizes.get("track_neighbors", _longest(self.neighbors.keys))
        self.artist_neighbors_k = sizes.get(
            "artist_neighbors", _longest(self.artist_neighbors.keys)
        )
        # Per kind of key (whole title, word): the list size, and the fewest playlists a key
        # the title table holds has (keys held by fewer are not in it).
        self.title_k, self.title_min_playlists = {}, {}
        for whole, table in ((True, "whole_titles"), (False, "title_tracks")):
            lists = [r for k, r in self.titles.items() if k.startswith(WHOLE) == whole]
            longest = max((len(r[0]) for r in lists), default=0)
            self.title_k[whole] = sizes.get(table, sizes.get("title_tracks", longest))
            self.title_min_playlists[whole] = int(min((r[2][0] for r in lists), default=1))
        self.title_min_playlists[True] = 1  # every whole title is kept (titles.TitleConfig)
        whole_keys = [k for k in self.titles if k.startswith(WHOLE)]
        self.title_index = TitleIndex.from_keys(
            whole_keys, [self.titles[k][2][0] for k in whole_keys]
        )
        self._set_vectors(vectors)
        by_pop = stats.sort_values(["popularity", "track_id"], ascending=[False, True])
        self.popular = by_pop["track_id"].to_numpy(np.int64)[:POPULAR_KEPT]
        top = by_pop.groupby("artist_id", sort=False).head(ARTIST_TRACKS)
        self.artist_top = _Csr(
            top["artist_id"].to_numpy(np.int64), top["track_id"].to_numpy(np.int64)
        )

    def _set_vectors(self, vectors: np.ndarray | None) -> None:
        """The song vectors as the ranker reads them, a row per known track (zero elsewhere, as
        the service searches its catalogue only)."""
        self.vectors = None
        if vectors is None:
            return
        size = len(self.known)
        self.vectors = np.zeros((size, vectors.shape[1]), np.float16)
        shared = min(size, len(vectors))
        self.vectors[:shared] = song_vectors(vectors[:shared])
        self.vectors[~self.known] = 0.0
        self._searched = self.vectors.astype(np.float32)  # float16 products are slow
        self.searchable = int(self.known.sum())

    def resolve(self, track_ids: Iterable[int]) -> np.ndarray:
        ids = np.asarray(list(track_ids), dtype=np.int64)
        ok = (ids >= 0) & (ids < len(self.known))
        ok[ok] = self.known[ids[ok]]
        return ids[ok]

    def evidence(self, seeds: np.ndarray, name: str | None, out: LeftOut | None = None) -> Evidence:
        seeds = np.asarray(seeds, dtype=np.int64)
        ev = Evidence(seeds=seeds, seed_artists=self.artist[seeds], has_title=bool(name))
        src, (dst, weight) = self.neighbors.rows(seeds)
        if out is not None:
            keep, weight = _cosine_without(
                src,
                dst,
                weight,
                self.popularity[src],
                self.popularity[dst],
                np.isin(src, out.tracks),
                np.isin(dst, out.tracks),
                self.neighbors_k,
            )
            src, dst = src[keep], dst[keep]
        ev.neighbor_src, ev.neighbor_dst, ev.neighbor_weight = src, dst, weight.astype(np.float32)
        _, (pid, length) = self.by_track.rows(seeds)
        if out is not None:
            other = pid != out.pid
            pid, length = pid[other], length[other]
        if len(pid):
            uniq, inverse = np.unique(pid, return_inverse=True)
            ev.playlist_id = uniq
            ev.playlist_overlap = np.bincount(inverse).astype(np.float32)
            ev.playlist_length = np.zeros(len(uniq), np.float32)
            ev.playlist_length[inverse] = length
            chosen = ev.playlist_id[top_playlists(ev)]
            ev.member_pid, (ev.member_track,) = self.by_pid.rows(np.sort(chosen))
        self._titles(ev, name, out)
        artists = np.unique(ev.seed_artists)
        src, (dst, weight) = self.artist_neighbors.rows(artists)
        if out is not None:
            own = np.unique(self.artist[out.tracks])
            keep, weight = _cosine_without(
                src,
                dst,
                weight,
                self.playlists_of_artist[src],
                self.playlists_of_artist[dst],
                np.isin(src, own),
                np.isin(dst, own),
                self.artist_neighbors_k,
            )
            src, dst = src[keep], dst[keep]
        ev.artist_neighbor_src, ev.artist_neighbor_dst = src, dst
        ev.artist_neighbor_weight = weight.astype(np.float32)
        self._nearest(ev, out)
        by_artist, (ev.artist_tracks,) = self.artist_top.rows(artists)
        ev.popular = self.most_popular(out)
        if out is not None:  # the artists' most popular, by popularity without the playlist
            ev.artist_tracks = self._popular_without(
                by_artist, ev.artist_tracks, out, ARTIST_TRACKS
            )
        return ev

    def _nearest(self, ev: Evidence, out: LeftOut | None = None) -> None:
        """The seeds' vectors and the NEAREST tracks to their mean, seeds included (an exact
        search; the service's vector index approximates it). Without `out`'s playlist, a track
        no other playlist holds is not in the catalogue searched: the service has never seen
        it (and every such candidate would be one of the query's own held-out tracks)."""
        if self.vectors is None:
            return
        ev.seed_vectors = self.vectors[ev.seeds].astype(np.float32)
        q = query_vector(ev.seed_vectors, ev.seeds)
        if q is None:
            return
        cos = self._searched @ q
        cos[~self.known] = -np.inf
        searchable = self.searchable
        if out is not None:
            own = out.tracks[(out.tracks < len(self.known)) & self.known[out.tracks]]
            alone = own[self.popularity[own] <= 1]
            cos[alone] = -np.inf
            searchable -= len(alone)
        k = min(NEAREST, searchable)
        if k <= 0:
            return
        best = np.argpartition(-cos, k - 1)[:k]
        ev.nearest = best[np.lexsort((best, -cos[best]))]

    def _titles(self, ev: Evidence, name: str | None, out: LeftOut | None) -> None:
        """The title rows: the title's own keys, and the similar titles' (weighted)."""
        left_out = set(title_keys(out.title)) if out is not None and out.title else set()
        rows = [(key, *self._title_rows(key, out, left_out)) for key in title_keys(name)]
        rows = [r for r in rows if r[1] is not None]
        if rows:
            ev.title_track = np.concatenate([r[1] for r in rows])
            ev.title_score = np.concatenate([r[2] for r in rows])
            ev.title_key_playlists = np.concatenate([r[3] for r in rows])
            ev.title_exact = np.concatenate(
                [np.full(len(r[1]), r[0].startswith(WHOLE)) for r in rows]
            )
        similar, weights = self.title_index.similar(name, out.title if out is not None else None)
        ev.similar_total = float(weights.sum())
        held = []
        for key, weight in zip(similar, weights.tolist(), strict=True):
            tracks, score, _ = self._title_rows(key, out, left_out)
            if tracks is not None:
                held.append((tracks, score * np.float32(weight)))
        if held:
            ev.similar_track = np.concatenate([h[0] for h in held])
            ev.similar_held = np.concatenate([h[1] for h in held])

    def _title_rows(self, key: str, out: LeftOut | None, left_out: set[str]):
        """(tracks, score, key playlists) of a title key, without `out`'s own playlist (whose
        title keys are `left_out`); Nones when the table has no such key."""
        if key not in self.titles:
            return None, None, None
        tracks, score, kp = self.titles[key]
        if key in left_out:
            tracks, score, kp = self._title_without(key, tracks, score, kp, out)
        return tracks, score, kp

    def _popular_without(self, group, ids, out: LeftOut, list_size: int) -> np.ndarray:
        """A most-popular list (by popularity, then smaller id) without the playlist."""
        held = np.isin(ids, out.tracks)
        before = (self.popularity[ids].astype(np.float64), -ids)
        after = (before[0] - held, -ids)
        keep = _still_listed(group, before, after, before, held, list_size)
        # re-ranked by popularity without the playlist, each list (a run of `group`) in place
        runs = np.cumsum(np.r_[True, group[1:] != group[:-1]]) if len(group) else group
        order = np.lexsort((ids[keep], -after[0][keep], runs[keep]))
        return ids[keep][order]

    def _held_by_others(self, ids: np.ndarray, out: LeftOut) -> np.ndarray:
        return ids[self.popularity[ids] > np.isin(ids, out.tracks)]

    def _title_without(self, key, tracks, score, key_playlists, out: LeftOut):
        """A title key's rows without the left-out playlist, which carries the key: score =
        playlists with the key holding the track / playlists with the key."""
        n = key_playlists.astype(np.float64)
        whole = key.startswith(WHOLE)
        if n[0] - 1 < max(self.title_min_playlists[whole], 1):
            return tracks[:0], score[:0], key_playlists[:0]
        held = np.isin(tracks, out.tracks)
        before = (np.rint(score.astype(np.float64) * n), -tracks)
        count = before[0] - held
        keep = _still_listed(
            np.zeros(len(tracks), np.int64),
            before,
            (count, -tracks),
            before,
            held,
            self.title_k[whole],
        )
        kept_n = (n - 1)[keep]
        return tracks[keep], (count[keep] / kept_n).astype(np.float32), kept_n.astype(np.float32)

    def stats(self, ids: np.ndarray, out: LeftOut | None = None) -> TrackStats:
        stats = TrackStats(
            popularity=self.popularity[ids],
            artist=self.artist[ids],
            artist_popularity=self.artist_popularity[ids],
            artist_tracks_popularity=self.artist_tracks_popularity[ids],
            vectors=None if self.vectors is None else self.vectors[ids].astype(np.float32),
        )
        if out is not None:
            # the playlist counted once for each of its tracks and each of its artists, and
            # once per track of an artist in that artist's tracks' popularity
            own_artists, own_per_artist = np.unique(self.artist[out.tracks], return_counts=True)
            same = np.isin(stats.artist, own_artists)
            own_tracks = np.zeros(len(ids), np.int64)
            own_tracks[same] = own_per_artist[np.searchsorted(own_artists, stats.artist[same])]
            stats.popularity = stats.popularity - np.isin(ids, out.tracks)
            stats.artist_popularity = stats.artist_popularity - same
            stats.artist_tracks_popularity = stats.artist_tracks_popularity - own_tracks
        return stats

    def features(
        self, seeds, name, out: LeftOut | None = None
    ) -> tuple[Evidence, np.ndarray, np.ndarray]:
        """Candidates and their features for a playlist; `out`: the tables' playlist the
        query comes from, whose own contribution is left out."""
        return self.candidates(seeds, name, out)[:3]

    def candidates(
        self, seeds, name, out: LeftOut | None = None
    ) -> tuple[Evidence, np.ndarray, np.ndarray, np.ndarray]:
        """`features`, and which sources found each candidate (ranking.Scores.found)."""
        seeds = self.resolve(seeds)
        if out is not None:
            seeds = self._held_by_others(seeds, out)
        ev = self.evidence(seeds, name, out)
        candidates, scores = candidate_scores(ev)
        X = feature_matrix(ev, candidates, scores, self.stats(candidates, out))
        return ev, candidates, X, scores.found

    def recommend(
        self,
        seeds,
        name,
        ranker: Ranker | None,
        n: int = RECOMMENDATIONS,
        out: LeftOut | None = None,
    ):
        return top_ranked(self.features(seeds, name, out), seeds, ranker, n)

    def most_popular(self, out: LeftOut | None = None) -> np.ndarray:
        """The most popular tracks, best first (without `out`'s own playlist when given)."""
        if out is None:
            return self.popular
        return self._popular_without(
            np.zeros(len(self.popular), np.int64), self.popular, out, POPULAR_KEPT
        )


def top_ranked(
    features: tuple[Evidence, np.ndarray, np.ndarray],
    seeds,
    ranker: Ranker | None,
    n: int = RECOMMENDATIONS,
) -> list[int]:
    """The first `n` recommendations from a query's `MemoryStore.features`: its candidates by
    `ranker` (`rank`), the seeds left out, topped up with the most popular tracks."""
    ev, candidates, X = features
    ranked, _ = rank(ev, candidates, X, ranker)
    return top_up(ranked, ev.popular, set(seeds), n)
