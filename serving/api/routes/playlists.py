from fastapi import APIRouter, HTTPException

from serving.api.routes.recommendations import response
from serving.db import Connection, Models, SettingsDep
from serving.recommender import (
    NoUsableSongs,
    SongSeed,
    lookup,
    recommend_songs,
    recommend_title,
    with_retry,
)
from serving.schemas import ContinuationRequest, RecommendationResponse

router = APIRouter(prefix="/v1", tags=["recommendations"])

EMPTY_PLAYLIST = "a playlist needs a name or at least one track"


def _seed(track) -> SongSeed:
    if isinstance(track, str):
        return SongSeed(track)
    features = {
        "name": track.track_name,
        "artist": track.artist_name,
        "album": track.album_name,
        "duration_ms": track.duration_ms,
    }
    features = {k: v for k, v in features.items() if v is not None}
    return SongSeed(track.track_uri, features or None)


@router.post("/playlists/continue", responses={422: {"description": EMPTY_PLAYLIST}})
async def continue_playlist(
    body: ContinuationRequest, conn: Connection, models: Models, settings: SettingsDep
) -> RecommendationResponse:
    """The next `count` tracks for a playlist given as in the MPD challenge: a title, tracks,
    or both. Without a usable track the title decides; without a title, popularity."""
    if not body.tracks and not (body.name or "").strip():
        raise HTTPException(status_code=422, detail=EMPTY_PLAYLIST)
    seeds = [_seed(t) for t in body.tracks]

    async def answer():
        if seeds:
            try:
                return await recommend_songs(conn, models, seeds, body.count)
            except NoUsableSongs as error:
                skipped = error.skipped
        else:
            skipped = []
        _, known = await lookup(conn, [s.uri for s in seeds])
        result = await recommend_title(
            conn, body.name, body.count, [track_id for track_id, _ in known.values()]
        )
        result.skipped = skipped
        return result

    return response(await with_retry(answer))
