import math

import psycopg
from fastapi import APIRouter, HTTPException

from algorhythms_store.schema import TRACK_MAP
from serving import published
from serving.dependencies import Connection
from serving.errors import missing_table
from serving.schemas import MapPoint, MapResponse, ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])

NO_MAP = "the published version has no embedding map: publish a new version"


@router.get("/model")
async def model(conn: Connection) -> ModelInfo:
    """The live version: when it was published, its dimension and tracks, and the figures
    recorded with it (the pipeline's evaluation on its hold-out, training figures)."""
    version, dimension, published_at, metrics, tracks = await published.model_info(conn)
    numbers = {
        k: float(v)
        for k, v in (metrics or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    return ModelInfo(
        version=version,
        published_at=published_at.isoformat() if published_at else None,
        dimension=dimension,
        tracks=tracks if tracks is not None and tracks >= 0 else None,
        metrics=numbers,
    )


@router.get("/map", responses={404: {"description": NO_MAP}})
async def embedding_map(conn: Connection) -> MapResponse:
    """The embedding map: a 2D layout of the most popular tracks' vectors, computed with the
    version (nearby points are tracks with similar vectors)."""
    try:
        version, points = await published.map_points(conn)
    except psycopg.errors.UndefinedTable as error:
        if not missing_table(error, TRACK_MAP):
            raise  # nothing published: the app's 503
        raise HTTPException(status_code=404, detail=NO_MAP) from None
    if not points:
        raise HTTPException(status_code=404, detail=NO_MAP)
    return MapResponse(
        version=version,
        points=[
            MapPoint(uri=u, name=n, artist=a, x=float(x), y=float(y)) for u, n, a, x, y in points
        ],
    )
