"""A request resolved against one published version: what every answer path starts from.

`published.resolve` looks the request's tracks up in one statement; the ranked path, the song
(vector) path and the title and popularity fallbacks all read the same `Query`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from algorhythms_store.text import title_keys


@dataclass(frozen=True)
class SongSeed:
    """A song of the request: its uri, and what is known of it for the cold-start model."""

    uri: str
    features: dict | None = None


def seed_from_track(
    uri: str,
    name: str | None = None,
    artist: str | None = None,
    album: str | None = None,
    duration_ms: int | None = None,
) -> SongSeed:
    """A playlist track as a seed: its uri, and its names as features for the cold-start model."""
    features = {"name": name, "artist": artist, "album": album, "duration_ms": duration_ms}
    features = {k: v for k, v in features.items() if v is not None}
    return SongSeed(uri, features or None)


@dataclass(frozen=True)
class CatalogueTrack:
    id: int
    artist: int | None  # None when the track has no ranking statistics
    fields: tuple | None = None  # uri, name, artist, album


@dataclass
class Query:
    """The request's songs, title, exclusions and dislikes, and which of its uris the version's
    catalogue holds (`catalogue`: uri -> track)."""

    version: int
    seeds: list[SongSeed]
    name: str | None = None
    exclude: list[str] = field(default_factory=list)
    dislikes: list[str] = field(default_factory=list)
    catalogue: dict[str, CatalogueTrack] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.title_keys = title_keys(self.name)
        ids = (self.catalogue[s.uri].id for s in self.seeds if s.uri in self.catalogue)
        self.seed_ids: list[int] = list(dict.fromkeys(ids))

    @property
    def unknown(self) -> list[SongSeed]:
        """The seeds the catalogue does not hold, in request order."""
        return [s for s in self.seeds if s.uri not in self.catalogue]

    @property
    def skipped(self) -> list[str]:
        return [s.uri for s in self.unknown]

    @property
    def ranked_seeds(self) -> tuple[list[int], list[int]]:
        """(seed ids, their artists) of the seeds with ranking statistics, in playlist order."""
        tracks = {t.id: t.artist for t in self.catalogue.values() if t.artist is not None}
        ids = [i for i in self.seed_ids if i in tracks]
        return ids, [tracks[i] for i in ids]

    @property
    def fields(self) -> dict[int, tuple]:
        """The fields (uri, name, artist, album) of the request's catalogue tracks, by id."""
        return {t.id: t.fields for t in self.catalogue.values() if t.fields is not None}

    def ids(self, uris: list[str]) -> list[int]:
        return [self.catalogue[u].id for u in dict.fromkeys(uris) if u in self.catalogue]

    @property
    def excluded_ids(self) -> list[int]:
        """The catalogue ids of the seeds, the exclusions and the dislikes: never an answer."""
        return list(dict.fromkeys(self.seed_ids + self.ids(self.exclude) + self.ids(self.dislikes)))
