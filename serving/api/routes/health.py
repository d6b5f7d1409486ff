from fastapi import APIRouter

from serving.dependencies import Connection
from serving.published import current_version
from serving.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> Health:
    """The process is up (it does not touch the database)."""
    return Health(status="ok")


@router.get("/ready", responses={503: {"description": "database unreachable or nothing published"}})
async def ready(conn: Connection) -> Readiness:
    """The database answers and a version is published."""
    version, dimension = await current_version(conn)
    return Readiness(status="ready", version=version, dimension=dimension)
