"""The API through a real uvicorn server on a local port, over a real published database."""

import httpx
import numpy as np
import pandas as pd
import pytest

from algorhythms_store.coldstart import forward_numpy
from tests.catalogue import (
    PER_CLUSTER,
    catalogue,
    coldstart,
    exact_nearest,
    neighbors,
    publish_catalogue,
    titles,
    uri,
)
from tests.conftest import api_client, create_database

TRACKS = catalogue("v1")


@pytest.fixture(scope="module")
def api(postgres_server, tmp_path_factory):
    url = create_database(postgres_server, "serving_api")
    publish_catalogue(
        url, TRACKS, coldstart=coldstart(), title_tracks=titles(), track_neighbors=neighbors()
    )
    with api_client(url, tmp_path_factory.mktemp("api") / "api.log") as client:
        yield client


def recommend(api, **body) -> httpx.Response:
    return api.post("/v1/recommendations", json=body)


def uris(response: httpx.Response) -> list[str]:
    return [item["uri"] for item in response.json()["items"]]


def test_health_ready_and_docs(api):
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/ready").json() == {"status": "ready", "version": 1, "dimension": 16}
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/v1/recommendations", "/v1/playlists/continue", "/v1/tracks/search"} <= set(paths)


def test_recommendations_for_known_songs_are_their_nearest_tracks_without_the_seeds(api):
    seeds = [3, 10, 20]
    response = recommend(api, songs=[{"id": uri(i)} for i in seeds], count=20)
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 1 and body["source"] == "songs" and body["skipped"] == []
    unit = TRACKS.vectors[seeds] / np.linalg.norm(TRACKS.vectors[seeds], axis=1, keepdims=True)
    expected = exact_nearest(TRACKS, unit.mean(0), set(seeds), 20)
    assert len(body["items"]) == 20
    assert len(set(uris(response)) & set(expected)) >= 18
    assert not {uri(i) for i in seeds} & set(uris(response))
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert body["items"][0]["name"].startswith("Song ") and body["items"][0]["artist"]


def test_item_knn_neighbours_of_the_seeds_are_scored_knn_plus_cosine(api):
    # Track 1500 is in another cluster (far by vector) but co-occurs with tracks 3 and 4: it is a
    # candidate through item-kNN, with the best kNN score (1) plus its cosine to the query.
    unit = TRACKS.vectors / np.linalg.norm(TRACKS.vectors, axis=1, keepdims=True)
    query = unit[[3, 4]].mean(0)
    cosine = float(unit[1500] @ query / np.linalg.norm(query))
    plain = api.get(f"/v1/tracks/{uri(3)}/similar", params={"count": 100})
    assert uri(1500) not in uris(plain)  # vectors alone do not find it
    for songs in (
        [{"id": uri(3)}, {"id": uri(4)}],  # one statement
        [{"id": uri(3)}, {"id": uri(4)}, {"id": "new", "features": {"name": "x"}}],  # general
    ):
        response = recommend(api, songs=songs, count=100)
        items = {i["uri"]: i["score"] for i in response.json()["items"]}
        if len(songs) == 2:
            assert items[uri(1500)] == pytest.approx(1.0 + cosine, abs=1e-4)
        else:
            assert uri(1500) in items
        # Track 7 (kNN weight 0.1 of 1.7) is in the seeds' cluster: a small lift over cosine.
        assert uri(7) in items


def test_count_up_to_500_returns_that_many_distinct_tracks(api):
    response = recommend(api, songs=[{"id": uri(0)}], count=500)
    assert response.status_code == 200
    assert len(set(uris(response))) == 500


def test_excluded_and_disliked_tracks_never_come_back_and_dislikes_push_similar_down(api):
    seed = 0
    plain = uris(recommend(api, songs=[{"id": uri(seed)}], count=30))
    excluded, disliked = plain[0], plain[1]
    response = recommend(
        api, songs=[{"id": uri(seed)}], count=30, exclude=[excluded], dislikes=[disliked]
    )
    got = uris(response)
    assert excluded not in got and disliked not in got
    # The tracks nearest the disliked one lose score, and rank among the tracks in both answers.
    d = TRACKS.uris.index(disliked)
    like_disliked = exact_nearest(TRACKS, TRACKS.vectors[d], {seed, d}, 5)
    common = [u for u in plain if u in got]
    moved = [u for u in like_disliked if u in common]
    before = {i["uri"]: i["score"] for i in response_items(api, seed, [], [])}
    after = {i["uri"]: i["score"] for i in response.json()["items"]}
    assert moved and all(after[u] < before[u] - 0.1 for u in moved)
    rank_before = {u: r for r, u in enumerate(common)}
    rank_after = {u: r for r, u in enumerate(u for u in got if u in common)}
    assert sum(rank_after[u] for u in moved) > sum(rank_before[u] for u in moved)


def response_items(api, seed: int, exclude: list[str], dislikes: list[str]) -> list[dict]:
    body = recommend(api, songs=[{"id": uri(seed)}], count=30, exclude=exclude, dislikes=dislikes)
    return body.json()["items"]


def test_unknown_songs_are_skipped_and_described_songs_use_the_cold_start_model(api):
    features = {"name": "Blue Night", "artist": "Artist003", "duration_ms": 210000}
    response = recommend(
        api,
        songs=[{"id": "spotify:track:unknown"}, {"id": "spotify:track:new", "features": features}],
        count=10,
    )
    assert response.status_code == 200
    assert response.json()["skipped"] == ["spotify:track:unknown"]
    frame = pd.DataFrame(
        [{"track_name": "Blue Night", "artist_name": "Artist003", "duration_ms": 210000}]
    )
    vector = forward_numpy(*coldstart(), frame)[0]
    assert len(set(uris(response)) & set(exact_nearest(TRACKS, vector, set(), 10))) >= 9


def test_no_usable_song_is_a_422_naming_the_skipped(api):
    response = recommend(api, songs=[{"id": "spotify:track:a"}, {"id": "b", "features": {}}])
    assert response.status_code == 422
    assert response.json()["detail"] == {
        "message": "none of the songs is in the catalogue or has usable features",
        "skipped": ["spotify:track:a", "b"],
    }


@pytest.mark.parametrize(
    "body",
    [
        {"songs": [], "count": 5},
        {"songs": [{"id": "x"}], "count": 0},
        {"songs": [{"id": "x"}], "count": 501},
        {"songs": [{"id": f"x{i}"} for i in range(501)]},
        {"songs": [{"id": ""}]},
        {"songs": [{"id": "x", "features": {"duration_ms": -1}}]},
        {"songs": "not a list"},
        {"count": 5},
    ],
)
def test_invalid_bodies_are_422(api, body):
    response = recommend(api, **body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"]


def test_malformed_json_and_nul_text_are_422_not_500(api):
    response = api.post(
        "/v1/recommendations", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    response = recommend(api, songs=[{"id": "a\u0000b"}])
    assert response.status_code == 422
    assert "NUL" in response.json()["detail"][0]["msg"]


def test_continue_a_playlist_from_its_tracks(api):
    tracks = [uri(5), {"track_uri": uri(6), "track_name": "Song 6", "artist_name": "Artist000"}]
    response = api.post("/v1/playlists/continue", json={"name": "x", "tracks": tracks, "count": 50})
    body = response.json()
    assert response.status_code == 200 and body["source"] == "songs"
    assert len(body["items"]) == 50 and not {uri(5), uri(6)} & set(uris(response))
    same_cluster = sum(int(u[-6:]) < PER_CLUSTER for u in uris(response)[:20])
    assert same_cluster >= 18


def test_continue_a_playlist_from_its_title_alone(api):
    response = api.post("/v1/playlists/continue", json={"name": "Rock!", "count": 60})
    body = response.json()
    assert body["source"] == "title+popularity"
    assert uris(response)[:PER_CLUSTER] == [uri(i) for i in range(PER_CLUSTER)]
    assert len(set(uris(response))) == 60
    response = api.post("/v1/playlists/continue", json={"name": "Summer  Hits", "count": 10})
    assert set(uris(response)) == {uri(PER_CLUSTER + i) for i in range(10)}


def test_continue_an_unknown_title_falls_back_to_popularity(api):
    response = api.post(
        "/v1/playlists/continue",
        json={"name": "qwzx", "tracks": ["spotify:track:gone"], "count": 5},
    )
    body = response.json()
    assert body["source"] == "popularity" and body["skipped"] == ["spotify:track:gone"]
    assert uris(response) == [uri(i) for i in range(5)]  # num_playlists falls with the id


def test_continue_needs_a_name_or_tracks(api):
    response = api.post("/v1/playlists/continue", json={"name": "  ", "count": 5})
    assert response.status_code == 422
    assert response.json()["detail"] == "a playlist needs a name or at least one track"


def test_track_lookup_and_404(api):
    response = api.get(f"/v1/tracks/{uri(42)}")
    assert response.status_code == 200
    assert response.json()["track"] == {
        "uri": uri(42),
        "name": "Song 42 v1",
        "artist": "Artist000",
        "album": "Album 0",
        "duration_ms": 180042,
        "num_playlists": 2000 - 42,
        "degree": 10,
    }
    response = api.get("/v1/tracks/spotify:track:nothing")
    assert response.status_code == 404 and response.json() == {"detail": "track not found"}


def test_similar_tracks(api):
    response = api.get(f"/v1/tracks/{uri(100)}/similar", params={"count": 10})
    assert response.status_code == 200
    expected = exact_nearest(TRACKS, TRACKS.vectors[100], {100}, 10)
    assert len(set(uris(response)) & set(expected)) >= 9
    assert api.get("/v1/tracks/nothing/similar").status_code == 404
    assert api.get(f"/v1/tracks/{uri(1)}/similar", params={"count": 0}).status_code == 422


def test_search_by_name_or_artist_prefix(api):
    response = api.get("/v1/tracks/search", params={"q": "artist001", "count": 100})
    hits = response.json()["items"]
    assert len(hits) == PER_CLUSTER and {h["artist"] for h in hits} == {"Artist001"}
    assert [h["num_playlists"] for h in hits] == sorted(
        (h["num_playlists"] for h in hits), reverse=True
    )
    hits = api.get("/v1/tracks/search", params={"q": "song 123"}).json()["items"]
    assert hits[0]["name"] == "Song 123 v1"
    assert {h["name"].split()[1][:3] for h in hits} == {"123"}  # 123, 1230..1239 by prefix
    response = api.get("/v1/tracks/search", params={"q": "?!"})
    assert response.status_code == 422
    assert response.json()["detail"] == "the query has no words to search for"
    assert api.get("/v1/tracks/search").status_code == 422


def test_unreachable_database_is_a_503_with_retry_after(api_server, tmp_path):
    dead = f"postgresql://postgres@/postgres?host={tmp_path}&port=1&connect_timeout=1"
    server = api_server({"DATABASE_URL": dead, "ALGORHYTHMS_POOL_TIMEOUT_S": "1"})
    assert httpx.get(f"{server.url}/health").status_code == 200
    response = httpx.get(f"{server.url}/ready", timeout=10)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"detail": "the database is unavailable"}
    response = httpx.post(
        f"{server.url}/v1/recommendations", json={"songs": [{"id": "x"}]}, timeout=10
    )
    assert response.status_code == 503


def test_nothing_published_is_a_503(api_server, postgres_server):
    empty = create_database(postgres_server, "serving_empty")
    server = api_server({"DATABASE_URL": empty})
    response = httpx.get(f"{server.url}/ready", timeout=10)
    assert response.status_code == 503
    assert response.json() == {"detail": "no model version is published yet"}
    response = httpx.post(
        f"{server.url}/v1/recommendations", json={"songs": [{"id": "x"}]}, timeout=10
    )
    assert response.status_code == 503 and response.headers["retry-after"]
