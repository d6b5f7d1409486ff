"""The web page in a real headless Chromium (Debian's `chromium`, driven by Playwright): what a
person does with it, as functions that run against any API serving a published version that
has a song map, so that both the page's test and the demo's can call them."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx

CHROMIUM = Path(os.environ.get("ALGORHYTHMS_CHROMIUM", "/usr/bin/chromium"))
SUGGESTIONS = 20  # as the page asks for them (serving/web/app.js)
PHONE = {"width": 375, "height": 812}
LAPTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 20_000


def missing() -> str | None:
    """What the browser test lacks to run, with the command that installs it; None if nothing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "the Python package playwright is missing: .venv/bin/pip install -e '.[dev]' "
            "(make install does it)"
        )
    if not CHROMIUM.exists():
        return (
            f"no Chromium at {CHROMIUM}: apt-get install chromium (scripts/ensure_tools.sh, "
            "run by make test, installs it), or point ALGORHYTHMS_CHROMIUM at a Chromium binary"
        )
    return None


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium browser; RuntimeError naming what is missing when there is none."""
    problem = missing()
    if problem:
        raise RuntimeError(f"cannot run the browser test: {problem}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def open_page(browser, base_url: str, artefacts: Path, name: str, viewport: dict) -> Iterator:
    """The page loaded in a fresh context; JavaScript errors fail the step, and a screenshot
    `<name>-failed.png` is kept when a step fails."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(viewport=viewport, base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto("/")
        yield page
        assert not errors, f"JavaScript errors on the page: {errors}"
    except BaseException:
        artefacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=artefacts / f"{name}-failed.png", full_page=True)
        raise
    finally:
        context.close()


def a_mapped_song(base_url: str) -> dict:
    """The first song on the published map (the most popular): {uri, name, artist, x, y}."""
    response = httpx.get(f"{base_url}/v1/map", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["points"][0]


def result_uris(page) -> list[str]:
    return page.locator("#results > li").evaluate_all("items => items.map(i => i.dataset.uri)")


def search_words(song: dict) -> str:
    """Words that find the song among the first hits: its name and artist."""
    return " ".join(filter(None, (song["name"], song.get("artist"))))


def search_and_add(page, song: dict) -> None:
    """Search the song by its name and artist and add the hit with its uri to the playlist."""
    from playwright.sync_api import expect

    page.get_by_label("Song or artist").fill(search_words(song))
    page.get_by_role("button", name="Search", exact=True).click()
    hit = page.locator(f'#search-results > li[data-uri="{song["uri"]}"]')
    hit.get_by_role("button", name=re.compile("^Add ")).click()
    expect(page.locator("#playlist-tracks > li")).to_have_count(1)
    expect(page.locator("#playlist-tracks")).to_contain_text(song["name"])


def continue_playlist(page) -> list[str]:
    """Continue the playlist; the uris of the suggestions, each shown with its reasons."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Continue the playlist").click()
    results = page.locator("#results > li")
    expect(results).to_have_count(SUGGESTIONS)
    expect(page.locator("#results-status")).to_contain_text("from model version")
    first = results.first
    expect(first.locator(".name")).not_to_be_empty()
    expect(first.locator(".reasons > li").first).to_be_visible()
    return result_uris(page)


def dislike_first(page, before: list[str]) -> list[str]:
    """Dislike the first suggestion: the list comes back without it, as long as before."""
    from playwright.sync_api import expect

    page.locator("#results > li").first.get_by_role("button", name=re.compile("^Dislike ")).click()
    expect(page.locator("#results-status")).to_contain_text("Replaced")
    expect(page.locator(f'#results > li[data-uri="{before[0]}"]')).to_have_count(0)
    expect(page.locator("#results > li")).to_have_count(SUGGESTIONS)
    expect(page.locator("#dislikes > li")).to_have_count(1)
    return result_uris(page)


def continue_with_variety(page, diversity: float, max_per_artist: int, explore: float, seed: int):
    """Set the variety controls and continue the playlist twice: (the request's body, the
    suggestions' uris and artists); the same seed gives the same suggestions."""
    from playwright.sync_api import expect

    page.get_by_label("Diversity").fill(str(diversity))
    page.get_by_label("Most songs per artist").fill(str(max_per_artist))
    page.get_by_label("Explore").fill(str(explore))
    page.get_by_label("Random seed").fill(str(seed))
    answers = []
    for _ in range(2):
        with page.expect_request("**/v1/playlists/continue") as request:
            page.get_by_role("button", name="Continue the playlist").click()
        expect(page.locator("#results-panel")).not_to_have_attribute("aria-busy", "true")
        expect(page.locator("#results-status")).to_contain_text("from model version")
        artists = page.locator("#results > li .meta").evaluate_all(
            "metas => metas.map(m => m.textContent.split(' · ')[0])"
        )
        answers.append((result_uris(page), artists))
    assert answers[0] == answers[1], "the same seed gave another answer"
    return request.value.post_data_json, *answers[0]


def find_on_map(page, song: dict) -> int:
    """Find the song on the map: it is highlighted with its nearest songs; how many of those."""
    from playwright.sync_api import expect

    expect(page.locator("#map-status")).to_contain_text("on the map of model version")
    page.get_by_label("Find on the map").fill(song["name"])
    page.get_by_role("button", name="Find", exact=True).click()
    expect(page.locator("#map-canvas")).to_have_attribute("data-highlighted", song["uri"])
    expect(page.locator("#map-selected")).to_contain_text(song["name"])
    expect(page.locator("#map-status")).to_contain_text("on the map marked")
    neighbours = page.locator("#map-neighbours > li")
    expect(neighbours.first).to_be_visible()
    return neighbours.count()


def exercise_page(base_url: str, artefacts: Path) -> dict:
    """A person's session on the page at `base_url` on a laptop screen: the model's figures,
    an empty playlist's continuation refused with the API's message, a search for a song on the
    map, adding it, continuing the playlist, disliking a suggestion (replaced), liking one (it
    joins the playlist), similar songs and playlists, the variety controls (sent with the
    request; a seed repeats the answer), a search error shown as a message, and the song on the
    map with its neighbours. Saves `page.png` in `artefacts`; returns what it saw."""
    from playwright.sync_api import expect

    song = a_mapped_song(base_url)
    with chromium() as browser, open_page(browser, base_url, artefacts, "page", LAPTOP) as page:
        expect(page.locator("#model-facts")).to_contain_text("Version")
        expect(page.locator("#model-metrics tbody tr").first).to_be_visible()

        page.get_by_role("button", name="Continue the playlist").click()
        expect(page.locator("#results-status.error")).to_have_text(
            "a playlist needs a name or at least one track"
        )

        search_and_add(page, song)
        page.get_by_label("Title").fill("songs to try")
        first = continue_playlist(page)
        assert song["uri"] not in first
        second = dislike_first(page, first)
        assert first[0] not in second

        liked = second[0]
        page.locator("#results > li").first.get_by_role("button", name=re.compile("^Like ")).click()
        expect(page.locator("#playlist-tracks > li")).to_have_count(2)
        expect(page.locator(f'#results > li[data-uri="{liked}"]')).to_have_count(0)

        similar = re.compile("^Songs similar to ")
        page.locator("#results > li").first.get_by_role("button", name=similar).click()
        expect(page.locator("#similar-tracks > li").first).to_be_visible()

        page.get_by_role("button", name="Similar playlists").click()
        expect(page.locator("#similar-playlists > li").first).to_be_visible()

        body, uris, artists = continue_with_variety(
            page, diversity=0.5, max_per_artist=2, explore=0.3, seed=7
        )
        assert {k: body[k] for k in ("diversity", "max_per_artist", "explore", "seed")} == {
            "diversity": 0.5,
            "max_per_artist": 2,
            "explore": 0.3,
            "seed": 7,
        }
        assert body["dislikes"] == [first[0]] and first[0] not in uris
        assert uris and max(artists.count(a) for a in artists) <= 2

        page.get_by_label("Song or artist").fill("!!!")
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.locator("#search-status.error")).to_have_text(
            "the query has no words to search for"
        )

        neighbours = find_on_map(page, song)
        artefacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=artefacts / "page.png", full_page=True)
        return {
            "song": song,
            "first": first,
            "after_dislike": second,
            "liked": liked,
            "varied": uris,
            "map_neighbours": neighbours,
        }


def horizontal_overflow(page) -> int:
    """How many CSS pixels the page is wider than the window (0: no horizontal scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def exercise_phone(base_url: str, artefacts: Path) -> int:
    """The page at a phone's width with a playlist continued and a song found on the map;
    saves `phone.png`; returns the horizontal overflow."""
    song = a_mapped_song(base_url)
    with chromium() as browser, open_page(browser, base_url, artefacts, "phone", PHONE) as page:
        search_and_add(page, song)
        continue_playlist(page)
        find_on_map(page, song)
        artefacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=artefacts / "phone.png", full_page=True)
        return horizontal_overflow(page)


def tab_to(page, matches: str, limit: int = 60) -> None:
    """Press Tab until the focused element satisfies the JavaScript predicate `matches` (on `e`);
    each focused control must show a focus outline."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline != "none", page.evaluate("document.activeElement.outerHTML")
        if page.evaluate(f"(e => {matches})(document.activeElement)"):
            return
    raise AssertionError(f"{limit} presses of Tab did not reach an element where {matches}")


def exercise_keyboard(base_url: str, artefacts: Path) -> list[str]:
    """Search, add, continue and dislike with the keyboard alone, then pick a song on the map
    with the arrow keys and Enter; the suggestions' uris after the dislike, which keeps the
    focus on the suggestions."""
    from playwright.sync_api import expect

    song = a_mapped_song(base_url)
    with chromium() as browser, open_page(browser, base_url, artefacts, "keyboard", LAPTOP) as page:
        tab_to(page, "e.id === 'search-input'")
        page.keyboard.type(search_words(song))
        page.keyboard.press("Enter")
        expect(page.locator(f'#search-results > li[data-uri="{song["uri"]}"]')).to_be_visible()
        tab_to(page, "e.closest('#search-results') && e.textContent === 'Add'")
        page.keyboard.press("Enter")
        expect(page.locator("#playlist-tracks > li")).to_have_count(1)
        tab_to(page, "e.id === 'continue-button'")
        page.keyboard.press("Enter")
        expect(page.locator("#results > li")).to_have_count(SUGGESTIONS)
        first = result_uris(page)
        tab_to(page, "e.classList.contains('dislike')")
        page.keyboard.press("Enter")
        expect(page.locator(f'#results > li[data-uri="{first[0]}"]')).to_have_count(0)
        expect(page.locator("#results > li")).to_have_count(SUGGESTIONS)
        assert page.evaluate("document.activeElement.classList.contains('dislike')")
        after = result_uris(page)

        tab_to(page, "e.id === 'map-canvas'", limit=200)
        page.keyboard.press("ArrowRight")
        expect(page.locator("#map-tip")).to_be_visible()
        expect(page.locator("#map-tip")).not_to_be_empty()
        page.keyboard.press("Enter")
        expect(page.locator("#map-canvas")).to_have_attribute("data-highlighted", re.compile("."))
        expect(page.locator("#map-neighbours > li").first).to_be_visible()
        return after
