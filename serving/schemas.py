"""Request and response bodies."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_COUNT = 500
MAX_SONGS = 500
MAX_EXCLUDE = 2000
MAX_DISLIKES = 200

Uri = Annotated[str, Field(min_length=1, max_length=200)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT)]


class SongFeatures(BaseModel):
    """What is known of a song outside the catalogue; any field may be left out. Names of
    numeric features published with the model (`feature_*`) are accepted too."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, max_length=500)
    artist: str | None = Field(default=None, max_length=500)
    album: str | None = Field(default=None, max_length=500)
    duration_ms: int | None = Field(default=None, ge=0, le=86_400_000)


class Song(BaseModel):
    id: Uri
    features: SongFeatures | None = None


class RecommendationRequest(BaseModel):
    songs: list[Song] = Field(min_length=1, max_length=MAX_SONGS)
    count: Count = 10
    exclude: list[Uri] = Field(default_factory=list, max_length=MAX_EXCLUDE)
    dislikes: list[Uri] = Field(default_factory=list, max_length=MAX_DISLIKES)


class PlaylistTrack(BaseModel):
    """A track as in an MPD or challenge-set playlist: its uri, and optionally its names."""

    model_config = ConfigDict(extra="ignore")

    track_uri: Uri
    track_name: str | None = Field(default=None, max_length=500)
    artist_name: str | None = Field(default=None, max_length=500)
    album_name: str | None = Field(default=None, max_length=500)
    duration_ms: int | None = Field(default=None, ge=0, le=86_400_000)


class ContinuationRequest(BaseModel):
    """A playlist to continue: its title, its tracks (uris or MPD track objects), or both."""

    name: str | None = Field(default=None, max_length=500)
    tracks: list[Uri | PlaylistTrack] = Field(default_factory=list, max_length=MAX_SONGS)
    count: Count = 500


class Recommendation(BaseModel):
    uri: str
    name: str | None
    artist: str | None
    album: str | None
    score: float


class RecommendationResponse(BaseModel):
    version: int = Field(description="the published model version that answered")
    source: Literal["ranker", "songs", "title", "popularity", "title+popularity"]
    items: list[Recommendation]
    skipped: list[str] = Field(
        default_factory=list, description="songs neither in the catalogue nor described"
    )


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
