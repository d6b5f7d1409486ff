from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response

from algorhythms_store.text import WORD
from serving import sql
from serving.api.routes.recommendations import response
from serving.db import Connection
from serving.recommender import NotPublished, similar_tracks, with_retry
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
    query = " & ".join(f"{w}:*" for w in words)
    rows = await (await conn.execute(sql.SEARCH, {"query": query, "k": count})).fetchall()
    if not rows:
        raise NotPublished
    return SearchResponse(
        version=rows[0][0],
        items=[
            SearchHit(uri=r[2], name=r[3], artist=r[4], album=r[5], num_playlists=r[6])
            for r in rows
            if r[1] is not None
        ],
    )


@router.get("/{uri}", responses={404: {"description": TRACK_NOT_FOUND}})
async def track(uri: str, conn: Connection) -> TrackResponse:
    """One catalogue track."""
    row = await (await conn.execute(sql.TRACK, {"uri": uri})).fetchone()
    if row is None:
        raise NotPublished
    if row[1] is None:
        raise HTTPException(status_code=404, detail=TRACK_NOT_FOUND)
    return TrackResponse(
        version=row[0],
        track=Track(
            uri=row[2],
            name=row[3],
            artist=row[4],
            album=row[5],
            duration_ms=row[6],
            num_playlists=row[7],
            degree=row[8],
        ),
    )


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
