"""The web page at / in a real headless Chromium (the steps are in tests/web_page.py), through a
real uvicorn server over a published catalogue with similar playlists, a song map and
evaluation figures."""

import os
import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests import web_page
from tests.catalogue import (
    catalogue,
    coldstart,
    neighbors,
    playlist_vector_rows,
    playlists,
    publish_catalogue,
    titles,
    track_map_rows,
)
from tests.conftest import ApiServer, create_database

TRACKS = catalogue("v1")
LISTS = playlists()
MAPPED = 400
METRICS = {"recommendation_eval.r_precision": 0.2134, "recommendation_eval.ndcg": 0.3012}


def serve(postgres_server, tmp_path_factory, name: str, **rows) -> ApiServer:
    url = create_database(postgres_server, name)
    publish_catalogue(
        url,
        TRACKS,
        coldstart=coldstart(),
        metrics=METRICS,
        title_tracks=titles(),
        track_neighbors=neighbors(),
        **rows,
    )
    server = ApiServer({"DATABASE_URL": url}, tmp_path_factory.mktemp(name) / "api.log")
    server.wait_until_up()
    return server


@pytest.fixture(scope="module")
def base_url(postgres_server, tmp_path_factory):
    """The API over a version with a song map; the browser test fails at once, naming what is
    missing, where it cannot run."""
    problem = web_page.missing()
    if problem:
        pytest.fail(f"cannot run the browser test: {problem}", pytrace=False)
    server = serve(
        postgres_server,
        tmp_path_factory,
        "web_page",
        playlist_vectors=playlist_vector_rows(LISTS, TRACKS),
        track_map=track_map_rows(TRACKS, MAPPED),
    )
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def artefacts(tmp_path, request) -> Path:
    """A folder for screenshots, copied to $ALGORHYTHMS_TEST_ARTEFACTS/<test> when set."""
    out = tmp_path / "artefacts"
    yield out
    target = os.environ.get("ALGORHYTHMS_TEST_ARTEFACTS")
    if target and out.exists():
        shutil.copytree(out, Path(target) / request.node.name, dirs_exist_ok=True)


def test_page_searches_adds_continues_dislikes_and_finds_a_song_on_the_map(base_url, artefacts):
    seen = web_page.exercise_page(base_url, artefacts)
    assert seen["song"]["uri"] == "spotify:track:t000000"  # the most popular song
    assert seen["first"][0] not in seen["after_dislike"]
    assert len(set(seen["after_dislike"])) == web_page.SUGGESTIONS
    assert 1 <= seen["map_neighbours"] <= 10
    assert (artefacts / "page.png").stat().st_size > 20_000


def test_page_fits_a_phone_width_without_horizontal_scrolling(base_url, artefacts):
    assert web_page.exercise_phone(base_url, artefacts) == 0
    assert (artefacts / "phone.png").exists()


def test_page_search_add_continue_and_dislike_work_with_the_keyboard_alone(base_url, artefacts):
    after = web_page.exercise_keyboard(base_url, artefacts)
    assert len(after) == web_page.SUGGESTIONS


def test_page_scripts_and_styles_are_the_apps_own_files(base_url):
    page = httpx.get(f"{base_url}/", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    linked = re.findall(r'(?:src|href)="([^"#]+)"', page.text)
    assert {"/static/app.js", "/static/style.css"} <= set(linked)
    assert not [link for link in linked if "//" in link]  # nothing from another host
    for name, kind in [("app.js", "javascript"), ("api.js", "javascript"), ("style.css", "css")]:
        response = httpx.get(f"{base_url}/static/{name}", timeout=10)
        assert response.status_code == 200 and kind in response.headers["content-type"]
    for name in ("missing.js", "index", "..%2Fmain.py", "%2E%2E%2Fapi%2Froutes%2Fpage.py"):
        assert httpx.get(f"{base_url}/static/{name}", timeout=10).status_code == 404, name
    assert "/" not in httpx.get(f"{base_url}/openapi.json", timeout=10).json()["paths"]


def test_page_says_when_the_version_has_no_map_and_keeps_working(
    postgres_server, tmp_path_factory, artefacts
):
    from playwright.sync_api import expect

    server = serve(postgres_server, tmp_path_factory, "web_page_no_map")
    try:
        with (
            web_page.chromium() as browser,
            web_page.open_page(browser, server.url, artefacts, "no-map", web_page.LAPTOP) as page,
        ):
            expect(page.locator("#map-status")).to_have_text("This model version has no song map.")
            expect(page.locator("#map-canvas")).to_be_hidden()
            expect(page.locator("#model-facts")).to_contain_text("Version")
            web_page.search_and_add(page, {"uri": TRACKS.uris[3], "name": TRACKS.names[3]})
            web_page.continue_playlist(page)
    finally:
        server.stop()


def test_page_shows_the_services_answer_when_nothing_is_published(
    postgres_server, tmp_path_factory, artefacts
):
    from playwright.sync_api import expect

    url = create_database(postgres_server, "web_page_unpublished")
    log = tmp_path_factory.mktemp("web_page_unpublished") / "api.log"
    server = ApiServer({"DATABASE_URL": url}, log)
    try:
        server.wait_until_up()
        with (
            web_page.chromium() as browser,
            web_page.open_page(
                browser, server.url, artefacts, "unpublished", web_page.LAPTOP
            ) as page,
        ):
            unpublished = "no model version is published yet"
            expect(page.locator("#model-status.error")).to_contain_text(unpublished)
            expect(page.locator("#map-status.error")).to_have_text(unpublished)
            page.get_by_label("Song or artist").fill("song")
            page.get_by_role("button", name="Search", exact=True).click()
            expect(page.locator("#search-status.error")).to_have_text(unpublished)
            page.get_by_role("button", name="Continue the playlist").click()
            expect(page.locator("#results-status.error")).to_have_text(unpublished)
    finally:
        server.stop()
