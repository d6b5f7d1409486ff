from fastapi import APIRouter, HTTPException, Response

from serving.api.routes.recommendations import response
from serving.dependencies import Connection, Models, SettingsDep
from serving.query import SongSeed, seed_from_track
from serving.recommender import continue_playlist, with_retry
from serving.schemas import ContinuationRequest, RecommendationResponse

router = APIRouter(prefix="/v1", tags=["recommendations"])

EMPTY_PLAYLIST = "a playlist needs a name or at least one track"


def _seed(track) -> SongSeed:
    if isinstance(track, str):
        return SongSeed(track)
    return seed_from_track(
        track.track_uri, track.track_name, track.artist_name, track.album_name, track.duration_ms
    )


@router.post(
    "/playlists/continue",
    response_model=RecommendationResponse,
    responses={422: {"description": EMPTY_PLAYLIST}},
)
async def playlist_continuation(
    body: ContinuationRequest, conn: Connection, models: Models, settings: SettingsDep
) -> Response:
    """The next `count` tracks for a playlist given as in the MPD challenge: a title, tracks,
    or both. Without a usable track the title decides; without a title, popularity."""
    if not body.tracks and not (body.name or "").strip():
        raise HTTPException(status_code=422, detail=EMPTY_PLAYLIST)
    seeds = [_seed(t) for t in body.tracks]
    result = await with_retry(
        lambda: continue_playlist(
            conn, models, body.name, seeds, body.count, settings.embedding_weight
        )
    )
    return response(result)
