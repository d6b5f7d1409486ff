"""The web page at `/` and its scripts and styles, plain files in `serving/web/` served as they
are: no build step, nothing fetched from elsewhere."""

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

WEB = Path(__file__).resolve().parents[2] / "web"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# The page loads only its own files and talks only to this API; nothing it shows is markup.
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
FILE_NOT_FOUND = "file not found"


def _file(name: str) -> FileResponse:
    path = WEB / name
    media_type = MEDIA_TYPES.get(path.suffix)
    if media_type is None or "/" in name or name.startswith(".") or not path.is_file():
        raise HTTPException(status_code=404, detail=FILE_NOT_FOUND)
    return FileResponse(path, media_type=media_type, headers=HEADERS)


@router.get("/")
async def page() -> FileResponse:
    """The page: search, build and continue a playlist, the model's figures, the map."""
    return _file("index.html")


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    """One of the page's scripts or style sheets."""
    return _file(name)
