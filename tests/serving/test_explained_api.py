"""Reasons, dislikes, diversity, similar playlists, the model's figures and the embedding map,
through a real uvicorn server on a published catalogue with ranking tables and a ranker."""

import numpy as np
import psycopg
import pytest

from algorhythms_store.memory_store import MemoryStore
from algorhythms_store.reasons import MAX_REASONS
from tests.catalogue import (
    PER_CLUSTER,
    catalogue,
    coldstart,
    playlists,
    publish_catalogue,
    ranking_tables,
    small_ranker,
    table_rows,
    uri,
)
from tests.conftest import api_client, create_database

LISTS = playlists()
TABLES = ranking_tables(LISTS)
STORE = MemoryStore(TABLES, vectors=catalogue("v1").vectors)
TRACKS = catalogue("v1")
MAPPED = 300  # the most popular tracks (the smallest ids) are on the map
STORE_TRACKS = {t for ts in LISTS.values() for t in ts}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def playlist_vectors() -> dict[int, np.ndarray]:
    """Each playlist's vector worked out here: the normalised mean of its unit track vectors."""
    unit = _unit(TRACKS.vectors.astype(np.float64))
    return {p: _unit(unit[ts].mean(axis=0)) for p, ts in LISTS.items()}


def playlist_rows() -> list[tuple]:
    vectors = playlist_vectors()
    return [
        (p, f"list {p}", len(ts), ts[:5], vectors[p].astype(np.float32)) for p, ts in LISTS.items()
    ]


def map_rows() -> list[tuple]:
    return [(i, float(i % 17), float(i // 17)) for i in range(MAPPED)]


@pytest.fixture(scope="module")
def api(postgres_server, tmp_path_factory):
    ranker = small_ranker(STORE, LISTS)
    url = create_database(postgres_server, "serving_explained")
    publish_catalogue(
        url,
        TRACKS,
        coldstart=coldstart(),
        ranker=ranker.text,
        playlist_vectors=playlist_rows(),
        track_map=map_rows(),
        **{name: table_rows(frame, list(frame.columns)) for name, frame in TABLES.items()},
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "UPDATE model_versions SET metrics = "
            """'{"recommendation_eval.ranker_r_precision": 0.25, "note": "text"}'"""
        )
    with api_client(url, tmp_path_factory.mktemp("explained") / "api.log") as client:
        yield client


def _continue(api, seeds: list[int], name: str | None = None, **extra) -> dict:
    body = {"tracks": [uri(i) for i in seeds], "count": 20, **extra}
    if name:
        body["name"] = name
    response = api.post("/v1/playlists/continue", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _id(track_uri: str) -> int:
    return int(track_uri.rsplit("t", 1)[1])


def _top_playlists(seeds: list[int], n: int) -> list[int]:
    """The n playlists most like the seeds (shared seeds / sqrt(length); ties: smaller pid)."""
    scored = []
    for p, ts in LISTS.items():
        shared = len(set(ts) & set(seeds))
        if shared:
            scored.append((-shared / np.sqrt(len(ts)), p))
    return [p for _, p in sorted(scored)[:n]]


SEEDS = [3, 10, 20, 60]


def test_every_ranked_track_says_why_from_the_tables_that_found_it(api):
    answer = _continue(api, SEEDS)
    neighbors = TABLES["track_neighbors"]
    rows = neighbors[neighbors["src"].isin(SEEDS)]
    best = _top_playlists(SEEDS, 100)  # the playlist-kNN source's playlists
    artist_seed = {s // PER_CLUSTER: s for s in SEEDS}  # the last seed of each artist
    nearest = set(STORE.evidence(np.array(SEEDS), None).nearest.tolist())
    unit = TRACKS.vectors / np.linalg.norm(TRACKS.vectors, axis=1, keepdims=True)
    for item in answer["items"]:
        track = _id(item["uri"])
        reasons = {r["source"]: r for r in item["reasons"]}
        assert reasons, item
        mine = rows[rows["dst"] == track]
        if len(mine):
            top = mine.sort_values(["weight", "src"], ascending=[False, True]).iloc[0]
            seed = int(top["src"])
            assert reasons["co-occurrence"]["seed"] == uri(seed)
            assert reasons["co-occurrence"]["text"] == f"often with Song {seed} v1 by Artist" + (
                f"{seed // PER_CLUSTER:03d}"
            )
        else:
            assert "co-occurrence" not in reasons
        held = sum(track in LISTS[p] for p in best)
        if held:
            assert reasons["playlist-knn"]["text"] == (
                f"in {held} of the {len(best)} playlists most like this one"
            )
        else:
            assert "playlist-knn" not in reasons
        seed = artist_seed.get(track // PER_CLUSTER)
        if seed is not None:
            assert reasons["artist"]["seed"] == uri(seed)
            assert reasons["artist"]["text"] == (
                f"by Artist{track // PER_CLUSTER:03d}, like Song {seed} v1"
            )
        else:
            assert "artist" not in reasons
        # the nearest-vector source names the seed the track's vector is closest to
        others = [r for r in reasons if r not in ("embedding", "popularity")]
        if track in nearest and len(others) < MAX_REASONS:
            closest = SEEDS[int(np.argmax(unit[SEEDS] @ unit[track]))]
            assert reasons["embedding"]["seed"] == uri(closest)
        if "embedding" in reasons:
            assert track in nearest
    assert any(r["source"] == "embedding" for i in answer["items"] for r in i["reasons"])


def test_a_title_is_a_reason_for_the_tracks_its_playlists_hold(api):
    answer = _continue(api, [], name="rock")
    titled = TABLES["title_tracks"]
    rock = set(titled[titled["key"] == "rock"]["track_id"])
    for item in answer["items"]:
        sources = {r["source"]: r["text"] for r in item["reasons"]}
        if _id(item["uri"]) in rock:
            assert sources["title"] == "in playlists whose titles share words with “rock”"
        else:
            assert "title" not in sources


def test_without_a_ranker_title_tracks_and_popular_top_ups_say_which_they_are(
    postgres_server, tmp_path
):
    url = create_database(postgres_server, "serving_title_reasons")
    rows = [r for r in TABLES["title_tracks"].itertuples(index=False)]
    publish_catalogue(url, catalogue("v1"), coldstart=coldstart(), title_tracks=rows)
    with api_client(url, tmp_path / "api.log") as client:
        answer = client.post("/v1/playlists/continue", json={"name": "rock", "count": 60})
        nothing = client.post("/v1/playlists/continue", json={"name": "!!!", "count": 3})
    assert answer.status_code == 200, answer.text
    assert answer.json()["source"] == "title+popularity"
    rock = {t for k, t, *_ in rows if k == "rock"}
    for item in answer.json()["items"]:
        (reason,) = item["reasons"]
        if _id(item["uri"]) in rock:
            assert reason["source"] == "title" and "“rock”" in reason["text"]
        else:
            assert reason == {
                "source": "popularity",
                "text": "popular across all playlists",
                "seed": None,
            }
    assert nothing.json()["source"] == "popularity"
    assert all(i["reasons"][0]["source"] == "popularity" for i in nothing.json()["items"])


def test_nothing_published_is_503_on_every_new_route(postgres_server, tmp_path):
    url = create_database(postgres_server, "serving_nothing_published")
    with api_client(url, tmp_path / "api.log") as client:
        answers = [
            client.get("/v1/map"),
            client.get("/v1/model"),
            client.get("/v1/playlists/3/similar"),
            client.post("/v1/playlists/similar", json={"tracks": [uri(3)]}),
        ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["detail"] == "no model version is published yet"


def test_song_recommendations_name_the_seed_they_follow(api):
    response = api.post("/v1/recommendations", json={"songs": [{"id": uri(3)}], "count": 10})
    assert response.status_code == 200, response.text
    for item in response.json()["items"]:
        sources = {r["source"]: r for r in item["reasons"]}
        assert set(sources) <= {"co-occurrence", "embedding"} and sources
        if "embedding" in sources:
            assert (
                sources["embedding"]["text"] == "sounds like Song 3 v1 by Artist000 (song vectors)"
            )
        if "co-occurrence" in sources:
            assert sources["co-occurrence"]["seed"] == uri(3)


def test_a_disliked_track_is_replaced_by_the_next_one(api):
    before = [i["uri"] for i in _continue(api, SEEDS, count=21)["items"]]
    after = [i["uri"] for i in _continue(api, SEEDS, dislikes=[before[2]])["items"]]
    assert after == before[:2] + before[3:21]


def test_max_per_artist_keeps_the_best_tracks_of_each_artist_in_rank_order(api):
    ranked = [i["uri"] for i in _continue(api, SEEDS, count=60)["items"]]
    capped = [i["uri"] for i in _continue(api, SEEDS, max_per_artist=1)["items"]]
    first_of_each, seen = [], set()
    for track in ranked:
        if _id(track) // PER_CLUSTER not in seen:
            seen.add(_id(track) // PER_CLUSTER)
            first_of_each.append(track)
    assert capped[: len(first_of_each)] == first_of_each[:20]
    artists = [_id(t) // PER_CLUSTER for t in capped]
    assert len(artists) == len(set(artists))
    # the ranked candidates come from fewer artists than the answer asks for: popular tracks
    # of the others fill it, as far as the version knows artists (the ten of the playlists)
    assert len(first_of_each) < len(set(artists)) == len({t // PER_CLUSTER for t in STORE_TRACKS})


def _artists(items: list[dict]) -> int:
    return len({i["artist"] for i in items[:10]})


def test_diversity_spreads_the_top_ten_over_more_artists(api):
    plain = _continue(api, SEEDS)["items"]
    diverse = _continue(api, SEEDS, diversity=0.8)["items"]
    assert _artists(diverse) > _artists(plain)
    assert diverse[0]["uri"] == plain[0]["uri"]  # the first pick is the most relevant


def test_explore_is_random_but_repeatable_by_seed(api):
    plain = [i["uri"] for i in _continue(api, SEEDS)["items"]]
    first = [i["uri"] for i in _continue(api, SEEDS, explore=0.5, seed=1)["items"]]
    again = [i["uri"] for i in _continue(api, SEEDS, explore=0.5, seed=1)["items"]]
    other = [i["uri"] for i in _continue(api, SEEDS, explore=0.5, seed=2)["items"]]
    assert first == again and first != other and first != plain
    assert not {uri(s) for s in SEEDS} & set(first + other)


@pytest.mark.parametrize(
    "extra",
    [
        {"diversity": 1.5},
        {"diversity": -0.1},
        {"diversity": True},
        {"diversity": "0.5"},
        {"explore": 2},
        {"max_per_artist": 0},
        {"max_per_artist": 1.5},
        {"seed": -1},
        {"seed": "7"},
        {"seed": 2**53},
        {"seed": 2**63},
        {"dislikes": [""]},
    ],
)
def test_bad_diversity_settings_are_refused(api, extra):
    bodies = {
        "/v1/playlists/continue": {"tracks": [uri(3)], "count": 5, **extra},
        "/v1/recommendations": {"songs": [{"id": uri(3)}], "count": 5, **extra},
    }
    for route, body in bodies.items():
        response = api.post(route, json=body)
        assert response.status_code == 422, (route, response.text)


def test_the_largest_seed_is_one_every_json_client_holds_exactly(api):
    """The schema's bound survives a float64 round trip: a client that reads the maximum as a
    double and sends it gets an answer, not a 422."""
    schema = api.get("/openapi.json").json()
    body = schema["components"]["schemas"]["ContinuationRequest"]["properties"]["seed"]
    bound = next(b["maximum"] for b in body["anyOf"] if "maximum" in b)
    assert float(bound) == bound == 2**53 - 1
    response = _continue(api, SEEDS, explore=0.5, seed=int(float(bound)))
    assert response["items"]


def _exact_similar(vector: np.ndarray, k: int, exclude: int | None = None) -> list[int]:
    vectors = playlist_vectors()
    scored = sorted((-float(v @ vector), p) for p, v in vectors.items() if p != exclude)
    return [p for _, p in scored[:k]]


def test_similar_playlists_are_the_nearest_playlist_vectors(api):
    pid = 7
    response = api.post(
        "/v1/playlists/similar", json={"tracks": [uri(t) for t in LISTS[pid]], "count": 5}
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["pid"] for i in items] == _exact_similar(playlist_vectors()[pid], 5)
    assert items[0]["pid"] == pid and items[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert items[0]["name"] == "list 7" and items[0]["size"] == len(LISTS[pid])
    assert [t["uri"] for t in items[0]["tracks"]] == [uri(t) for t in LISTS[pid][:5]]
    assert items[0]["tracks"][0]["artist"] == f"Artist{LISTS[pid][0] // PER_CLUSTER:03d}"


def test_a_published_playlists_neighbours_leave_it_out(api):
    response = api.get("/v1/playlists/12/similar", params={"count": 8})
    assert response.status_code == 200, response.text
    got = [i["pid"] for i in response.json()["items"]]
    assert got == _exact_similar(playlist_vectors()[12], 8, exclude=12)
    scores = [i["score"] for i in response.json()["items"]]
    assert scores == sorted(scores, reverse=True)


def test_a_title_alone_finds_playlists_through_its_similar_titles(api):
    response = api.post("/v1/playlists/similar", json={"name": "Summer Hits!!", "count": 3})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 3
    # "summer hits" playlists hold cluster 1: the nearest playlists are cluster-1 playlists
    home = {p: np.bincount(np.array(ts) // PER_CLUSTER).argmax() for p, ts in LISTS.items()}
    assert all(home[i["pid"]] == 1 for i in items)


@pytest.mark.parametrize(
    "method, path, body, status, detail",
    [
        ("get", "/v1/playlists/99999/similar", None, 404, "playlist not found"),
        ("get", "/v1/playlists/-1/similar", None, 422, None),
        ("get", "/v1/playlists/abc/similar", None, 422, None),
        ("get", "/v1/playlists/1/similar?count=0", None, 422, None),
        ("get", "/v1/playlists/1/similar?count=101", None, 422, None),
        ("post", "/v1/playlists/similar", {}, 422, "a playlist needs a name or at least one track"),
        ("post", "/v1/playlists/similar", {"tracks": [uri(1)], "count": 0}, 422, None),
        (
            "post",
            "/v1/playlists/similar",
            {"tracks": ["spotify:track:nope"]},
            422,
            {
                "message": "neither the playlist's tracks nor its title are in the catalogue",
                "skipped": ["spotify:track:nope"],
            },
        ),
    ],
)
def test_bad_similar_playlist_requests_get_a_4xx(api, method, path, body, status, detail):
    response = api.request(method, path, json=body)
    assert response.status_code == status, response.text
    if detail is not None:
        assert response.json()["detail"] == detail


def test_the_model_route_gives_the_versions_figures(api):
    response = api.get("/v1/model")
    assert response.status_code == 200, response.text
    info = response.json()
    assert info["version"] == 1 and info["dimension"] == 16 and info["tracks"] == len(TRACKS.ids)
    assert info["metrics"] == {"recommendation_eval.ranker_r_precision": 0.25}
    assert info["published_at"].startswith("20")


def test_the_map_gives_the_published_layout_most_popular_first(api):
    response = api.get("/v1/map")
    assert response.status_code == 200, response.text
    points = response.json()["points"]
    assert len(points) == MAPPED
    assert points[0] == {"uri": uri(0), "name": "Song 0 v1", "artist": "Artist000", "x": 0, "y": 0}
    assert points[20]["x"] == 20 % 17 and points[20]["y"] == 20 // 17


def test_a_version_without_map_or_playlist_vectors_says_so(postgres_server, tmp_path):
    url = create_database(postgres_server, "serving_no_map")
    publish_catalogue(url, catalogue("v1"), coldstart=coldstart())
    with api_client(url, tmp_path / "api.log") as client:
        no_map = client.get("/v1/map")
        no_pid = client.get("/v1/playlists/3/similar")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE playlist_vectors")  # a version published by older code
        older = client.post("/v1/playlists/similar", json={"tracks": [uri(3)]})
    assert no_map.status_code == 404
    assert no_map.json()["detail"].startswith("the published version has no embedding map")
    assert no_pid.status_code == 404 and no_pid.json()["detail"] == "playlist not found"
    assert older.status_code == 404
    assert older.json()["detail"].startswith("the published version has no playlist vectors")
