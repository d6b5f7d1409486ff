"""Request and response bodies.

Requests are typed strictly: integers are numbers without a fraction (`10`, `10.0`; not `true`,
not `"10"`), numbers are finite, text holds no lone UTF-16 surrogate (a `\ud800` escape that
encodes no character), and a song's features are the named fields plus at most MAX_EXTERNAL
numeric `feature_*` fields.
"""

import math
import re
from typing import Annotated, Literal

from annotated_types import Ge, Le
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)

from algorhythms_store.diversity import Diversity

MAX_COUNT = 500
MAX_SONGS = 500
MAX_EXCLUDE = 2000
MAX_DISLIKES = 200
MAX_TEXT = 500
MAX_EXTERNAL = 32
MAX_PLAYLISTS = 100
EXTERNAL = re.compile(r"feature_[A-Za-z0-9_]{1,56}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not hold NUL characters")
    if _SURROGATE.search(value):
        raise ValueError("text must not hold lone UTF-16 surrogates")
    return value


# No NUL character (PostgreSQL text cannot hold one), no lone surrogate.
Text = Annotated[
    str, Field(json_schema_extra={"pattern": "^[^\\x00]*$"}), AfterValidator(_plain_text)
]
Uri = Annotated[Text, Field(min_length=1, max_length=200)]
Name = Annotated[Text, Field(max_length=MAX_TEXT)]


def _json_integer(value):
    """An integer as JSON Schema has it: a number without a fraction (`10` or `10.0`); never a
    boolean or a string."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Count = Annotated[int, Strict(), Ge(1), Le(MAX_COUNT), BeforeValidator(_json_integer)]
PlaylistCount = Annotated[int, Strict(), Ge(1), Le(MAX_PLAYLISTS), BeforeValidator(_json_integer)]
Share = Annotated[float, Strict(), Ge(0.0), Le(1.0)]
PerArtist = Annotated[int, Strict(), Ge(1), Le(MAX_COUNT), BeforeValidator(_json_integer)]
# At most 2**53 - 1: the largest integer every JSON client holds exactly (a JavaScript number,
# a float64 parser). A bound of 2**63 - 1 reads back from the schema as the float 2**63, one above
# what the API accepts.
MAX_SEED = 2**53 - 1
RandomSeed = Annotated[int, Strict(), Ge(0), Le(MAX_SEED), BeforeValidator(_json_integer)]
DurationMs = Annotated[int, Strict(), Ge(0), Le(86_400_000), BeforeValidator(_json_integer)]


class SongFeatures(BaseModel):
    """What is known of a song outside the catalogue; any field may be left out. Numeric
    features published with the model (`feature_*` names) are accepted too, no other field."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "additionalProperties": False,
            "patternProperties": {f"^{EXTERNAL.pattern}$": {"type": "number"}},
            "maxProperties": 4 + MAX_EXTERNAL,
        },
    )

    name: Name | None = None
    artist: Name | None = None
    album: Name | None = None
    duration_ms: DurationMs | None = None

    @model_validator(mode="after")
    def _external_features(self):
        extra = self.model_extra or {}
        if len(extra) > MAX_EXTERNAL:
            raise ValueError(f"at most {MAX_EXTERNAL} feature_* fields")
        for key, value in extra.items():
            if not EXTERNAL.fullmatch(key):
                raise ValueError(
                    f"unknown field {key[:60]!r}: the fields are name, artist, album, "
                    "duration_ms and numeric feature_* fields"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{key} must be a number")
            if not math.isfinite(value):
                raise ValueError(f"{key} must be a finite number")
        return self


class Song(BaseModel):
    id: Uri
    features: SongFeatures | None = None


class DiversityFields(BaseModel):
    """How varied an answer is (algorhythms_store.diversity); all off: today's ranking."""

    diversity: Share = Field(
        0.0,
        description="0: by relevance alone; up to 1: each track as unlike the ones before it "
        "(maximal marginal relevance over the track vectors)",
    )
    max_per_artist: PerArtist | None = Field(None, description="at most this many per artist")
    explore: Share = Field(
        0.0,
        description="pick at random among the candidates within this much (0-1) of the best",
    )
    seed: RandomSeed | None = Field(None, description="makes an answer with explore > 0 repeatable")

    def diversity_settings(self) -> Diversity:
        return Diversity(self.diversity, self.max_per_artist, self.explore, self.seed)


class RecommendationRequest(DiversityFields):
    songs: list[Song] = Field(min_length=1, max_length=MAX_SONGS)
    count: Count = 10
    exclude: list[Uri] = Field(default_factory=list, max_length=MAX_EXCLUDE)
    dislikes: list[Uri] = Field(default_factory=list, max_length=MAX_DISLIKES)


class PlaylistTrack(BaseModel):
    """A track as in an MPD or challenge-set playlist: its uri, and optionally its names."""

    model_config = ConfigDict(extra="ignore")

    track_uri: Uri
    track_name: Name | None = None
    artist_name: Name | None = None
    album_name: Name | None = None
    duration_ms: DurationMs | None = None


class ContinuationRequest(DiversityFields):
    """A playlist to continue: its title, its tracks (uris or MPD track objects), or both."""

    name: Name | None = None
    tracks: list[Uri | PlaylistTrack] = Field(default_factory=list, max_length=MAX_SONGS)
    count: Count = 500
    dislikes: list[Uri] = Field(
        default_factory=list, max_length=MAX_DISLIKES, description="tracks never to answer"
    )


class SimilarPlaylistsRequest(BaseModel):
    """A playlist given as for a continuation: the playlists most like it are answered."""

    name: Name | None = None
    tracks: list[Uri | PlaylistTrack] = Field(default_factory=list, max_length=MAX_SONGS)
    count: PlaylistCount = 10


class Reason(BaseModel):
    source: Literal[
        "co-occurrence",
        "playlist-knn",
        "title",
        "similar titles",
        "artist",
        "popularity",
        "embedding",
    ]
    text: str = Field(description="why, in a sentence")
    seed: str | None = Field(None, description="the playlist's song it is explained by")


class Recommendation(BaseModel):
    uri: str
    name: str | None
    artist: str | None
    album: str | None
    score: float
    reasons: list[Reason] = Field(
        default_factory=list, description="the evidence that found it, strongest first"
    )


class RecommendationResponse(BaseModel):
    version: int = Field(description="the published model version that answered")
    source: Literal["ranker", "songs", "title", "popularity", "title+popularity"]
    items: list[Recommendation]
    skipped: list[str] = Field(
        default_factory=list, description="songs neither in the catalogue nor described"
    )


class TrackSummary(BaseModel):
    uri: str
    name: str | None
    artist: str | None
    album: str | None


class SimilarPlaylist(BaseModel):
    pid: int
    name: str | None
    size: int = Field(description="tracks in the playlist")
    score: float = Field(description="cosine between the playlist vectors")
    tracks: list[TrackSummary] = Field(description="a few of its tracks")


class SimilarPlaylistsResponse(BaseModel):
    version: int
    items: list[SimilarPlaylist]


class ModelInfo(BaseModel):
    version: int
    published_at: str | None
    dimension: int
    tracks: int | None = Field(description="tracks with a published vector")
    metrics: dict[str, float] = Field(
        description="the figures recorded with the version (evaluation, training)"
    )


class MapPoint(BaseModel):
    uri: str
    name: str | None
    artist: str | None
    x: float
    y: float


class MapResponse(BaseModel):
    version: int
    points: list[MapPoint]


class Track(BaseModel):
    uri: str
    name: str | None
    artist: str | None
    album: str | None
    duration_ms: int | None
    num_playlists: int
    degree: int


class TrackResponse(BaseModel):
    version: int
    track: Track


class SearchHit(BaseModel):
    uri: str
    name: str | None
    artist: str | None
    album: str | None
    num_playlists: int


class SearchResponse(BaseModel):
    version: int
    items: list[SearchHit]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    version: int
    dimension: int
