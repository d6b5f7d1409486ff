"""The ranking tables in memory: the evidence source of training and evaluation.

`MemoryStore` holds the tables a publish loads into PostgreSQL (track_neighbors, title_tracks,
playlist_members, track_stats, artist_neighbors) as numpy arrays and answers for a playlist
what the service reads from PostgreSQL, an `Evidence`, then ranks it with the same code
(algorhythms_store.ranking): so the evaluated answers are the served ones.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from algorhythms_store.ranking import (
    ARTIST_TRACKS,
    POPULAR_KEPT,
    RECOMMENDATIONS,
    Evidence,
    Ranker,
    TrackStats,
    candidate_scores,
    feature_matrix,
    rank,
    top_playlists,
    top_up,
)
from algorhythms_store.text import title_keys


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

    def __init__(self, tables: dict[str, pd.DataFrame]):
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
        by_pop = stats.sort_values(["popularity", "track_id"], ascending=[False, True])
        self.popular = by_pop["track_id"].to_numpy(np.int64)[:POPULAR_KEPT]
        top = by_pop.groupby("artist_id", sort=False).head(ARTIST_TRACKS)
        self.artist_top = _Csr(
            top["artist_id"].to_numpy(np.int64), top["track_id"].to_numpy(np.int64)
        )

    def resolve(self, track_ids: Iterable[int]) -> np.ndarray:
        ids = np.asarray(list(track_ids), dtype=np.int64)
        ok = (ids >= 0) & (ids < len(self.known))
        ok[ok] = self.known[ids[ok]]
        return ids[ok]

    def evidence(self, seeds: np.ndarray, name: str | None) -> Evidence:
        seeds = np.asarray(seeds, dtype=np.int64)
        ev = Evidence(seeds=seeds, seed_artists=self.artist[seeds], has_title=bool(name))
        src, (dst, weight) = self.neighbors.rows(seeds)
        ev.neighbor_src, ev.neighbor_dst, ev.neighbor_weight = src, dst, weight.astype(np.float32)
        _, (pid, length) = self.by_track.rows(seeds)
        if len(pid):
            uniq, inverse = np.unique(pid, return_inverse=True)
            ev.playlist_id = uniq
            ev.playlist_overlap = np.bincount(inverse).astype(np.float32)
            ev.playlist_length = np.zeros(len(uniq), np.float32)
            ev.playlist_length[inverse] = length
            chosen = ev.playlist_id[top_playlists(ev)]
            ev.member_pid, (ev.member_track,) = self.by_pid.rows(np.sort(chosen))
        rows = []
        for key in title_keys(name) if name else []:
            if key in self.titles:
                tracks, score, kp = self.titles[key]
                rows.append((tracks, score, kp, np.full(len(tracks), key.startswith("="))))
        if rows:
            ev.title_track = np.concatenate([r[0] for r in rows])
            ev.title_score = np.concatenate([r[1] for r in rows])
            ev.title_key_playlists = np.concatenate([r[2] for r in rows])
            ev.title_exact = np.concatenate([r[3] for r in rows])
        artists = np.unique(ev.seed_artists)
        src, (dst, weight) = self.artist_neighbors.rows(artists)
        ev.artist_neighbor_src, ev.artist_neighbor_dst = src, dst
        ev.artist_neighbor_weight = weight.astype(np.float32)
        _, (ev.artist_tracks,) = self.artist_top.rows(artists)
        ev.popular = self.popular
        return ev

    def stats(self, ids: np.ndarray) -> TrackStats:
        return TrackStats(
            popularity=self.popularity[ids],
            artist=self.artist[ids],
            artist_popularity=self.artist_popularity[ids],
            artist_tracks_popularity=self.artist_tracks_popularity[ids],
        )

    def features(self, seeds, name) -> tuple[Evidence, np.ndarray, np.ndarray]:
        ev = self.evidence(self.resolve(seeds), name)
        candidates, scores = candidate_scores(ev)
        return ev, candidates, feature_matrix(ev, candidates, scores, self.stats(candidates))

    def recommend(self, seeds, name, ranker: Ranker | None, n: int = RECOMMENDATIONS):
        ev, candidates, X = self.features(seeds, name)
        ranked, _ = rank(ev, candidates, X, ranker)
        return top_up(ranked, self.popular, set(seeds), n)
