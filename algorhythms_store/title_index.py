"""Similar titles: the title model that generalises across titles.

Every whole title the `title_tracks` table holds ("=" keys, one per distinct normalised title,
however few playlists carry it) is a bag of character n-grams (`title_grams`: 2- to 4-grams of
each word padded with spaces, the words themselves and the whole title; runs of one letter cut
to two), so "chill vibes", "Chill Vibes 2017" and "chillll" share most of theirs. A gram
weighs w = 1 / log(2 + df), df the playlists whose title holds it: a gram every other title
has says little. Titles are compared by the cosine of their weighted gram vectors.

`TitleIndex.similar(name)` returns the most similar titles, best first, each with a weight:
its cosine times how many of its playlists are taken, until TITLE_PLAYLISTS playlists are
taken (at most TITLE_MATCHES titles). The ranker's `title_knn` features sum those weights times
the titles' `title_tracks` scores (the share of the title's playlists holding a track): how
many of the most similarly titled playlists hold each track.

A `LeftOut` playlist (`minus`: its own title) is taken out exactly: its title has one playlist
less (none left: not a match), and its grams one playlist less in their weights.

The service builds the index once per published version from the `whole_titles` table (one row
per whole title: its playlists and its `title_tracks` rows as arrays) and keeps those rows, so
`similar_rows(name)` answers in memory, with no statement; training and evaluation build it
from the same rows in memory: the same code, so the same answers. Only numpy.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

from algorhythms_store.text import normalize_title

TITLE_PLAYLISTS = 100  # similarly titled playlists taken for a title
TITLE_MATCHES = 200  # at most this many distinct titles
WHOLE = "="  # the key prefix of a whole title in title_tracks

_TOKEN = re.compile(r"\w+|[^\w\s]")
_RUN = re.compile(r"(.)\1{2,}")


def title_grams(title: str | None) -> set[str]:
    """The grams of a title (normalised here: any spelling of a title may be given)."""
    text = _RUN.sub(r"\1\1", normalize_title(title))
    if not text:
        return set()
    grams = {WHOLE + text}
    for token in _TOKEN.findall(text):
        grams.add("w:" + token)
        padded = f" {token} "
        for n in (2, 3, 4):
            grams.update(padded[i : i + n] for i in range(max(len(padded) - n + 1, 1)))
    return grams


def whole_title_rows(
    key: np.ndarray, track: np.ndarray, score: np.ndarray, key_playlists: np.ndarray
) -> Iterator[tuple[str, int, list[int], list[float]]]:
    """The `whole_titles` rows of `title_tracks` rows (columns as arrays; other keys are
    skipped): per whole-title key, in key order, (key, playlists, track ids, scores), the
    tracks in id order."""
    key = np.asarray(key, dtype=object)
    whole = np.flatnonzero([k.startswith(WHOLE) for k in key])
    order = whole[np.lexsort((np.asarray(track)[whole], key[whole]))]
    key, track = key[order], np.asarray(track, np.int64)[order]
    score, key_playlists = np.asarray(score, np.float32)[order], np.asarray(key_playlists)[order]
    if not len(key):
        return
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        yield key[a], int(key_playlists[a]), track[a:b].tolist(), score[a:b].tolist()


def _weight(df: np.ndarray) -> np.ndarray:
    return 1.0 / np.log(2.0 + df)


class TitleIndex:
    """Whole titles (without the "=" prefix) and how many playlists carry each; optionally
    each title's `title_tracks` rows (`tracks`, `scores`: one array each per title), which
    `similar_rows` needs."""

    def __init__(
        self,
        titles: Sequence[str],
        playlists: Sequence[float],
        tracks: Sequence[np.ndarray] | None = None,
        scores: Sequence[np.ndarray] | None = None,
    ):
        order = np.argsort(np.asarray(titles, dtype=object), kind="stable")
        self.titles = [titles[i] for i in order]
        self.playlists = np.asarray(playlists, np.float64)[order]
        self.tracks = None if tracks is None else [np.asarray(tracks[i], np.int64) for i in order]
        self.scores = None if scores is None else [np.asarray(scores[i], np.float32) for i in order]
        vocab: dict[str, int] = {}
        title_of: list[int] = []
        gram_of: list[int] = []
        for t, title in enumerate(self.titles):
            for gram in sorted(title_grams(title)):  # sorted: the same ids in every process
                gram_of.append(vocab.setdefault(gram, len(vocab)))
                title_of.append(t)
        self.vocab = vocab
        gram_ids = np.asarray(gram_of, np.int64)
        title_ids = np.asarray(title_of, np.int64)
        by_gram = np.argsort(gram_ids, kind="stable")
        self.postings = title_ids[by_gram]
        self.starts = np.searchsorted(gram_ids[by_gram], np.arange(len(vocab) + 1))
        self.df = np.bincount(gram_ids, weights=self.playlists[title_ids], minlength=len(vocab))
        self.w = _weight(self.df)
        self.norm2 = np.bincount(title_ids, weights=self.w[gram_ids], minlength=len(self.titles))
        self.position = {title: i for i, title in enumerate(self.titles)}

    @classmethod
    def from_keys(
        cls,
        keys: Sequence[str],
        playlists: Sequence[float],
        tracks: Sequence[np.ndarray] | None = None,
        scores: Sequence[np.ndarray] | None = None,
    ) -> TitleIndex:
        """From `title_tracks` keys and their key_playlists (only whole-title keys count), and
        optionally each key's rows."""
        kept = [i for i, k in enumerate(keys) if k.startswith(WHOLE)]
        return cls(
            [keys[i][1:] for i in kept],
            [playlists[i] for i in kept],
            None if tracks is None else [tracks[i] for i in kept],
            None if scores is None else [scores[i] for i in kept],
        )

    def __len__(self) -> int:
        return len(self.titles)

    def _posting(self, gram: int) -> np.ndarray:
        return self.postings[self.starts[gram] : self.starts[gram + 1]]

    def similar(self, name: str | None, minus: str | None = None) -> tuple[list[str], np.ndarray]:
        """(the "=" keys of the most similar titles, best first; their weights). `minus`: the
        title of a playlist the index holds whose own contribution must not count."""
        hit, weights = self._similar(name, minus)
        return [WHOLE + self.titles[i] for i in hit], weights

    def similar_rows(self, name: str | None) -> tuple[np.ndarray, np.ndarray, float, str | None]:
        """The similar titles' `title_tracks` rows: (tracks, score times the title's weight,
        the sum of the weights, the most similar title): what a service request needs, from the
        rows the index holds."""
        if self.tracks is None or self.scores is None:
            raise ValueError("this title index holds no title_tracks rows")
        hit, weights = self._similar(name)
        if not len(hit):
            return np.zeros(0, np.int64), np.zeros(0, np.float32), 0.0, None
        tracks = np.concatenate([self.tracks[i] for i in hit])
        scores = np.concatenate([self.scores[i] for i in hit])
        each = np.repeat(weights.astype(np.float32), [len(self.tracks[i]) for i in hit])
        return tracks, scores * each, float(weights.sum()), self.titles[hit[0]]

    def _similar(self, name: str | None, minus: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(indices of the most similar titles, best first; their weights)."""
        none = np.zeros(0, np.int64), np.zeros(0)
        query = [self.vocab[g] for g in sorted(title_grams(name)) if g in self.vocab]
        if not query or not len(self.titles):
            return none
        w, norm2, playlists = self.w, self.norm2, self.playlists
        own = self.position.get(normalize_title(minus)) if minus else None
        if own is not None:
            # its title loses a playlist, its grams one playlist of their df
            removed = [self.vocab[g] for g in sorted(title_grams(self.titles[own]))]
            df = self.df.copy()
            df[removed] -= 1.0
            w = _weight(df)
            w[df <= 0] = 0.0
            norm2 = norm2.copy()
            for gram in removed:
                norm2[self._posting(gram)] += w[gram] - self.w[gram]
            playlists = playlists.copy()
            playlists[own] -= 1.0
        query = [g for g in query if w[g] > 0]
        q_norm = np.sqrt(w[query].sum())
        if not query or q_norm <= 0:
            return none
        acc = np.zeros(len(self.titles))
        for gram in query:
            acc[self._posting(gram)] += w[gram]
        hit = np.flatnonzero((acc > 0) & (playlists > 0))
        sim = acc[hit] / np.sqrt(np.maximum(norm2[hit], 1e-300)) / q_norm
        # rounded: equal similarities summed in another order tie, and fall back to title order
        order = np.lexsort((hit, -np.round(sim, 12)))[:TITLE_MATCHES]
        hit, sim = hit[order], sim[order]
        taken = np.minimum(playlists[hit], TITLE_PLAYLISTS)
        before = np.concatenate([[0.0], np.cumsum(taken)[:-1]])
        taken = np.minimum(taken, TITLE_PLAYLISTS - before)
        keep = taken > 0
        return hit[keep], sim[keep] * taken[keep]
