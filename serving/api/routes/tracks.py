from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from algorhythms_store.text import WORD
from serving import published
from serving.api.routes.recommendations import response
from serving.dependencies import Connection
from serving.recommender import similar_tracks, with_retry
from serving.schemas import (
    MAX_COUNT,
    RecommendationResponse,
    SearchHit,
    SearchResponse,
    Track,
    TrackResponse,
)

router = APIRouter(prefix="/v1/tracks", tags=["tracks"])

TRACK_NOT_FOUND = "track not found"
NO_SEARCH_WORDS = "the query has no words to search for"


@router.get("/search", responses={422: {"description": NO_SEARCH_WORDS}})
async def search(
    conn: Connection,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    count: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchResponse:
    """Tracks whose name or artist holds every word of `q` (the last words may be prefixes)."""
    words = WORD.findall(q.lower())[:10]
    if not words:
        raise HTTPException(status_code=422, detail=NO_SEARCH_WORDS)
    version, hits = await published.search(conn, " & ".join(f"{w}:*" for w in words), count)
    return SearchResponse(
        version=version,
        items=[
            SearchHit(uri=u, name=n, artist=a, album=al, num_playlists=p) for u, n, a, al, p in hits
        ],
    )


@router.get("/{uri}", responses={404: {"description": TRACK_NOT_FOUND}})
async def track(uri: str, conn: Connection) -> TrackResponse:
    """One catalogue track."""
    version, fields = await published.track(conn, uri)
    if fields is None:
        raise HTTPException(status_code=404, detail=TRACK_NOT_FOUND)
    names = ("uri", "name", "artist", "album", "duration_ms", "num_playlists", "degree")
    return TrackResponse(version=version, track=Track(**dict(zip(names, fields, strict=True))))


@router.get(
    "/{uri}/similar",
    response_model=RecommendationResponse,
    responses={404: {"description": TRACK_NOT_FOUND}},
)
async def similar(
    uri: str, conn: Connection, count: Annotated[int, Query(ge=1, le=MAX_COUNT)] = 10
) -> Response:
    """The catalogue tracks nearest to this one."""
    result = await with_retry(lambda: similar_tracks(conn, uri, count))
    if result is None:
        raise HTTPException(status_code=404, detail=TRACK_NOT_FOUND)
    return response(result)
