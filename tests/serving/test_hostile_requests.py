"""Hostile and malformed requests against a real uvicorn server: every one is refused with a
4xx and a short message that does not echo it, before it costs the server much; slow clients
are cut off."""

import json
import socket
import time

import httpx
import pytest

from tests.catalogue import catalogue, coldstart, publish_catalogue, titles, uri
from tests.conftest import ApiServer, create_database

LIMIT = 300_000  # bytes: small, to test the limit quickly


@pytest.fixture(scope="module")
def server(postgres_server, tmp_path_factory):
    url = create_database(postgres_server, "serving_hostile")
    publish_catalogue(url, catalogue("v1"), coldstart=coldstart(), title_tracks=titles())
    env = {
        "DATABASE_URL": url,
        "ALGORHYTHMS_MAX_BODY_BYTES": str(LIMIT),
        "ALGORHYTHMS_HEADER_TIMEOUT_S": "1",
        "ALGORHYTHMS_BODY_TIMEOUT_S": "1",
    }
    server = ApiServer(env, tmp_path_factory.mktemp("hostile") / "api.log")
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def post_raw(api, path: str, text: str) -> httpx.Response:
    return api.post(path, content=text.encode(), headers={"content-type": "application/json"})


def assert_refused(response: httpx.Response, status: int = 422, max_bytes: int = 4000) -> dict:
    assert response.status_code == status, response.text[:500]
    assert len(response.content) <= max_bytes
    body = response.json()
    assert body["detail"]
    return body


SONG = json.dumps({"id": uri(3)})


@pytest.mark.parametrize(
    "path, text",
    [
        ("/v1/recommendations", '{"songs": [' + SONG + '], "count": NaN}'),
        ("/v1/recommendations", '{"songs": [' + SONG + '], "count": Infinity}'),
        ("/v1/recommendations", '{"songs": [' + SONG + '], "count": -Infinity}'),
        ("/v1/recommendations", '{"songs": [{"id": "\\ud800x"}]}'),
        ("/v1/recommendations", '{"songs": [{"id": "a", "features": {"name": "\\udfff"}}]}'),
        ("/v1/recommendations", '{"songs": [{"id": "a", "features": {"\\ud800": 1}}]}'),
        ("/v1/recommendations", '{"songs": [{"id": "a", "features": {"feature_x": NaN}}]}'),
        ("/v1/playlists/continue", '{"name": "\\ud800", "tracks": []}'),
        ("/v1/playlists/continue", '{"tracks": ["\\udc00"], "count": 10}'),
        ("/v1/playlists/continue", '{"tracks": [{"track_uri": "x", "duration_ms": NaN}]}'),
        ("/v1/playlists/continue", '{"name": "rock", "count": 1e400}'),
    ],
)
def test_nan_infinity_and_lone_surrogates_are_refused_not_server_errors(api, path, text):
    body = assert_refused(post_raw(api, path, text))
    assert isinstance(body["detail"], list) and "input" not in body["detail"][0]


@pytest.mark.parametrize(
    "body",
    [
        {"songs": [{"id": uri(3)}], "count": True},
        {"songs": [{"id": uri(3)}], "count": "10"},
        {"songs": [{"id": uri(3)}], "count": 10.5},
        {"songs": [{"id": "new", "features": {"duration_ms": False}}]},
        {"songs": [{"id": "new", "features": {"name": "x", "track_name": "overrides"}}]},
        {"songs": [{"id": "new", "features": {"artist_name": "x" * 10_000}}]},
        {"songs": [{"id": "new", "features": {"feature_tempo": "fast"}}]},
        {"songs": [{"id": "new", "features": {"feature_tempo": True}}]},
        {"songs": [{"id": "new", "features": {f"feature_{i}": 1.0 for i in range(40)}}]},
    ],
)
def test_strict_types_and_no_unknown_song_features(api, body):
    assert_refused(api.post("/v1/recommendations", json=body))


def test_continuation_count_must_be_an_integer(api):
    assert_refused(api.post("/v1/playlists/continue", json={"name": "rock", "count": True}))
    ok = api.post("/v1/playlists/continue", json={"name": "rock", "count": 5})
    assert ok.status_code == 200


def test_a_song_described_by_blanks_and_false_is_not_usable(api):
    body = {"songs": [{"id": "new", "features": {"name": "  ", "artist": "", "album": ""}}]}
    refused = assert_refused(api.post("/v1/recommendations", json=body))
    assert refused["detail"]["skipped"] == ["new"]
    body["songs"][0]["features"]["name"] = "a real title"
    assert api.post("/v1/recommendations", json=body).status_code == 200


def test_invalid_large_requests_are_answered_briefly(api):
    seeds = [{"nope": i} for i in range(5000)]  # ~60 kB, every one invalid
    body = assert_refused(api.post("/v1/recommendations", json={"songs": seeds}))
    assert len(body["detail"]) <= 21
    long_name = {"name": "x" * 100_000, "tracks": []}
    assert_refused(api.post("/v1/playlists/continue", json=long_name))


def test_a_body_over_the_limit_is_413_by_its_length_or_as_it_streams(api):
    padded = '{"songs": [' + SONG + '], "pad": "' + "x" * LIMIT + '"}'
    response = post_raw(api, "/v1/recommendations", padded)
    assert_refused(response, 413)

    def chunks():
        yield b'{"songs": [' + SONG.encode() + b'], "pad": "'
        for _ in range(LIMIT // 10_000 + 1):
            yield b"x" * 10_000
        yield b'"}'

    streamed = api.post(
        "/v1/recommendations", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_refused(streamed, 413)
    # a valid request just under the limit is answered
    fits = '{"songs": [' + SONG + '], "pad": "' + "x" * (LIMIT - 200) + '"}'
    assert post_raw(api, "/v1/recommendations", fits).status_code == 200


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """(whether the server closed the connection within `seconds`, what it sent)."""
    sock.settimeout(seconds)
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True, data
            data += chunk
    except TimeoutError:
        return False, data


def test_a_connection_that_never_completes_its_headers_is_closed(server):
    idle = _connect(server)
    slow = _connect(server)
    slow.sendall(b"POST /v1/recommendations HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    for sock in (idle, slow):
        closed, _ = _closed_within(sock, 5)
        assert closed
        sock.close()
    assert time.monotonic() - started < 4


def test_a_body_that_does_not_arrive_in_time_is_408(server):
    sock = _connect(server)
    sock.sendall(
        b"POST /v1/recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n" + b'{"songs": ['
    )
    closed, data = _closed_within(sock, 5)
    sock.close()
    assert data.startswith(b"HTTP/1.1 408"), data[:200]


def test_the_server_still_answers_after_all_this(api):
    assert api.get("/health").json() == {"status": "ok"}
    response = api.post("/v1/recommendations", json={"songs": [{"id": uri(3)}], "count": 3})
    assert response.status_code == 200 and len(response.json()["items"]) == 3


def largest_valid_requests() -> dict[str, dict]:
    """Each request body with every list and text at its limit, in 4-byte characters."""
    from serving.schemas import MAX_DISLIKES, MAX_EXCLUDE, MAX_EXTERNAL, MAX_SONGS, MAX_TEXT

    wide = "\U0001f3b5"  # 4 bytes in UTF-8
    uri_ = wide * 200
    text = wide * MAX_TEXT
    features = {"name": text, "artist": text, "album": text, "duration_ms": 86_400_000}
    features |= {
        f"feature_{'x' * 50}{i:03d}": -1.2345678901234567e-300 for i in range(MAX_EXTERNAL)
    }
    track = {
        "track_uri": uri_,
        "track_name": text,
        "artist_name": text,
        "album_name": text,
        "duration_ms": 86_400_000,
    }
    return {
        "recommendations": {
            "songs": [{"id": uri_, "features": features}] * MAX_SONGS,
            "count": 500,
            "exclude": [uri_] * MAX_EXCLUDE,
            "dislikes": [uri_] * MAX_DISLIKES,
        },
        "continue": {"name": text, "tracks": [track] * MAX_SONGS, "count": 500},
    }


def test_the_default_body_limit_holds_the_largest_valid_request():
    from serving.schemas import ContinuationRequest, RecommendationRequest
    from serving.settings import Settings

    bodies = largest_valid_requests()
    RecommendationRequest.model_validate(bodies["recommendations"])
    ContinuationRequest.model_validate(bodies["continue"])
    sizes = [len(json.dumps(b, ensure_ascii=False).encode()) for b in bodies.values()]
    assert max(sizes) <= Settings().max_body_bytes
    assert max(sizes) > Settings().max_body_bytes / 2  # and the limit is not far above it
    print("largest valid request bodies (bytes):", sizes)
