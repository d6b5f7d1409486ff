from typing import Annotated, NoReturn

import psycopg
from fastapi import APIRouter, HTTPException, Path, Query, Response

from algorhythms_store.schema import PLAYLIST_VECTORS
from serving.api.routes.recommendations import response
from serving.dependencies import Connection, Models, SettingsDep
from serving.errors import NoUsableSongs, missing_table
from serving.query import SongSeed, seed_from_track
from serving.recommender import (
    PlaylistMatch,
    continue_playlist,
    playlists_like,
    similar_playlists,
    with_retry,
)
from serving.schemas import (
    MAX_PLAYLISTS,
    ContinuationRequest,
    RecommendationResponse,
    SimilarPlaylistsRequest,
    SimilarPlaylistsResponse,
)

router = APIRouter(prefix="/v1", tags=["playlists"])

EMPTY_PLAYLIST = "a playlist needs a name or at least one track"
PLAYLIST_NOT_FOUND = "playlist not found"
NO_USABLE_PLAYLIST = "neither the playlist's tracks nor its title are in the catalogue"
NO_PLAYLIST_VECTORS = "the published version has no playlist vectors: publish a new version"


def _seed(track) -> SongSeed:
    if isinstance(track, str):
        return SongSeed(track)
    return seed_from_track(
        track.track_uri, track.track_name, track.artist_name, track.album_name, track.duration_ms
    )


def _empty(body: ContinuationRequest | SimilarPlaylistsRequest) -> bool:
    return not body.tracks and not (body.name or "").strip()


@router.post(
    "/playlists/continue",
    response_model=RecommendationResponse,
    responses={422: {"description": EMPTY_PLAYLIST}},
)
async def playlist_continuation(
    body: ContinuationRequest, conn: Connection, models: Models, settings: SettingsDep
) -> Response:
    """The next `count` tracks for a playlist given as in the MPD challenge: a title, tracks,
    or both. Without a usable track the title decides; without a title, popularity. Each track
    says why it is there (`reasons`); `dislikes` are never answered; `diversity`,
    `max_per_artist` and `explore` vary the answer."""
    if _empty(body):
        raise HTTPException(status_code=422, detail=EMPTY_PLAYLIST)
    seeds = [_seed(t) for t in body.tracks]
    result = await with_retry(
        lambda: continue_playlist(
            conn,
            models,
            body.name,
            seeds,
            body.count,
            settings.embedding_weight,
            body.dislikes,
            body.diversity_settings(),
        )
    )
    return response(result)


def _no_playlist_vectors(error: psycopg.errors.UndefinedTable) -> NoReturn:
    """404 for a version published without playlist vectors; anything else missing (nothing
    published at all) is the app's 503."""
    if missing_table(error, PLAYLIST_VECTORS):
        raise HTTPException(status_code=404, detail=NO_PLAYLIST_VECTORS) from None
    raise error


def _playlists_response(version: int, items: list[PlaylistMatch]) -> SimilarPlaylistsResponse:
    return SimilarPlaylistsResponse.model_validate(
        {"version": version, "items": [vars(item) for item in items]}
    )


@router.post(
    "/playlists/similar",
    responses={
        404: {"description": NO_PLAYLIST_VECTORS},
        422: {"description": f"{EMPTY_PLAYLIST}; {NO_USABLE_PLAYLIST}"},
    },
)
async def similar(
    body: SimilarPlaylistsRequest, conn: Connection, models: Models
) -> SimilarPlaylistsResponse:
    """The published playlists most like this one (a title, tracks, or both): nearest by the
    cosine of playlist vectors, each the normalised mean of its tracks' vectors."""
    if _empty(body):
        raise HTTPException(status_code=422, detail=EMPTY_PLAYLIST)
    seeds = [_seed(t) for t in body.tracks]
    try:
        version, items = await with_retry(
            lambda: similar_playlists(conn, models, body.name, seeds, body.count)
        )
    except NoUsableSongs as error:
        raise HTTPException(
            status_code=422, detail={"message": NO_USABLE_PLAYLIST, "skipped": error.skipped}
        ) from None
    except psycopg.errors.UndefinedTable as error:
        _no_playlist_vectors(error)
    return _playlists_response(version, items)


@router.get(
    "/playlists/{pid}/similar",
    responses={404: {"description": f"{PLAYLIST_NOT_FOUND}; {NO_PLAYLIST_VECTORS}"}},
)
async def similar_to_playlist(
    pid: Annotated[int, Path(ge=0, le=2**31 - 1)],
    conn: Connection,
    count: Annotated[int, Query(ge=1, le=MAX_PLAYLISTS)] = 10,
) -> SimilarPlaylistsResponse:
    """The published playlists most like the published playlist `pid`."""
    try:
        found = await with_retry(lambda: playlists_like(conn, pid, count))
    except psycopg.errors.UndefinedTable as error:
        _no_playlist_vectors(error)
    if found is None:
        raise HTTPException(status_code=404, detail=PLAYLIST_NOT_FOUND)
    return _playlists_response(*found)
