"""The ranked playlist path through a real uvicorn server: the published ranker and ranking
tables give exactly what the pipeline's in-memory store gives."""

import asyncio
import logging

import psycopg
import pytest

from algorhythms_store.memory_store import MemoryStore
from serving.errors import VersionChanged
from serving.models import ModelCache
from serving.pool import connect
from serving.settings import Settings
from tests.catalogue import (
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
# The store reads the song vectors the service publishes (the embedding features and source).
STORE = MemoryStore(TABLES, vectors=catalogue("v1").vectors)


def publish_ranked(postgres_server, name: str):
    """(url of a new database `name` with version 1 published with a ranker, the ranker)."""
    ranker = small_ranker(STORE, LISTS)
    url = create_database(postgres_server, name)
    publish_catalogue(
        url,
        catalogue("v1"),
        coldstart=coldstart(),
        ranker=ranker.text,
        **{name: table_rows(frame, list(frame.columns)) for name, frame in TABLES.items()},
    )
    return url, ranker


@pytest.fixture(scope="module")
def ranked_database(postgres_server):
    return publish_ranked(postgres_server, "serving_ranked")


@pytest.fixture(scope="module")
def ranked_api(ranked_database, tmp_path_factory):
    url, ranker = ranked_database
    with api_client(url, tmp_path_factory.mktemp("ranked") / "api.log") as client:
        yield client, ranker


def test_a_request_that_gives_up_does_not_cancel_the_models_load(ranked_database, caplog):
    """The version's models load in a task of their own: the first request, cancelled while
    they load (as its timeout would), leaves the load running, and the next request gets its
    result instead of loading again. A failed load is tried again by the next request."""
    url, _ = ranked_database
    settings = Settings()

    async def scenario():
        cache = ModelCache(lambda: connect(url, settings))
        conn = await connect(url, settings)
        try:
            first = asyncio.create_task(cache.get(conn, 1))
            await asyncio.sleep(0)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            models = await cache.get(conn, 1)
            assert models.version == 1 and models.ranker is not None
            assert models.vectors is not None and len(models.vectors) >= 500
            assert await cache.get(conn, 1) is models
            for _ in range(2):  # version 2 is not published: each request tries again
                with pytest.raises(VersionChanged):
                    await cache.get(conn, 2)
            assert cache._models is models
        finally:
            await conn.close()

    caplog.set_level(logging.INFO, logger="serving.models")
    asyncio.run(scenario())
    loads = [r.getMessage() for r in caplog.records if "loading the models" in r.getMessage()]
    assert loads == ["loading the models of version 1"] + ["loading the models of version 2"] * 2


@pytest.mark.parametrize(
    "name, seeds",
    [
        (None, [3, 10, 20]),
        ("Rock", [3]),
        ("rock", []),
        ("summer hits", [60, 61, 62, 63, 64, 65, 66, 67, 68, 69]),
        ("Summer Hits 2017", []),  # similar titles only
        ("summer vibez", [60, 61]),
        (None, [120, 3, 499]),
    ],
)
def test_continuation_is_the_ranker_order_over_the_published_tables(ranked_api, name, seeds):
    api, ranker = ranked_api
    body = {"tracks": [uri(i) for i in seeds], "count": 40}
    if name:
        body["name"] = name
    response = api.post("/v1/playlists/continue", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["source"] == "ranker" and answer["version"] == 1
    got = [item["uri"] for item in answer["items"]]
    expected = STORE.recommend(seeds, name, ranker, n=40)
    assert got == [uri(t) for t in expected]
    assert not {uri(i) for i in seeds} & set(got) and len(got) == 40
    scores = [item["score"] for item in answer["items"]]
    assert scores == sorted(scores, reverse=True)


def test_unknown_tracks_are_skipped_and_the_rest_ranked(ranked_api):
    api, _ = ranked_api
    body = {"tracks": ["spotify:track:nope", uri(5)], "count": 10}
    answer = api.post("/v1/playlists/continue", json=body).json()
    assert answer["source"] == "ranker" and answer["skipped"] == ["spotify:track:nope"]
    assert len(answer["items"]) == 10
    # Neither a known track nor a title: the vector path's answer (here: nothing usable -> the
    # most popular tracks).
    answer = api.post(
        "/v1/playlists/continue", json={"tracks": ["spotify:track:nope"], "count": 5}
    ).json()
    assert answer["source"] == "popularity" and len(answer["items"]) == 5


def test_a_version_published_before_rankers_is_still_served(postgres_server, tmp_path):
    """A database published by an older release has no ranker column: the other paths answer."""
    url = create_database(postgres_server, "serving_no_ranker")
    publish_catalogue(url, catalogue("v1"), coldstart=coldstart())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE track_model DROP COLUMN ranker")
    with api_client(url, tmp_path / "api.log") as client:
        response = client.post(
            "/v1/playlists/continue", json={"tracks": [uri(3), uri(4)], "count": 5}
        )
    assert response.status_code == 200, response.text
    assert response.json()["source"] == "songs" and len(response.json()["items"]) == 5


def test_the_title_index_reads_whole_titles_or_groups_title_tracks(postgres_server):
    """The published `whole_titles` rows are the whole-title rows of `title_tracks`; a version
    published without that table (older code) gets the same index from `title_tracks`."""
    import numpy as np

    from serving import published

    url = create_database(postgres_server, "serving_whole_titles")
    rows = table_rows(TABLES["title_tracks"], list(TABLES["title_tracks"].columns))
    publish_catalogue(url, catalogue("v1"), title_tracks=rows)

    async def read():
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await published.whole_titles(conn, 1)

    published_rows = asyncio.run(read())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE whole_titles")
    grouped_rows = asyncio.run(read())
    keys = sorted({k for k, *_ in rows if k.startswith("=")})
    assert published_rows[0] == grouped_rows[0] == keys and len(keys) >= 2
    assert published_rows[1] == grouped_rows[1]
    for a, b in zip(published_rows[2:], grouped_rows[2:], strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    whole = [r for r in rows if r[0] == keys[0]]
    assert sorted(published_rows[2][0].tolist()) == sorted(r[1] for r in whole)


# The live `track_neighbors` lists turned back into the pair rows a version published before
# them holds.
TO_PAIRS = """
CREATE TABLE track_neighbors_pairs AS
    SELECT n.src, u.dst, u.weight
    FROM track_neighbors n CROSS JOIN LATERAL unnest(n.dst, n.weight) AS u(dst, weight);
ALTER TABLE track_neighbors_pairs ADD PRIMARY KEY (src, dst);
DROP TABLE track_neighbors;
ALTER TABLE track_neighbors_pairs RENAME TO track_neighbors;
"""
SEED_SETS = [[3, 10, 20, 60], [501, 502], [1001], [7, 8, 9, 1500, 1510, 42]]


def _layout_answers(client) -> list[dict]:
    """The ranked and the song route's answers for each of SEED_SETS."""
    answers = []
    for seeds in SEED_SETS:
        ranked = client.post(
            "/v1/playlists/continue", json={"tracks": [uri(i) for i in seeds], "count": 30}
        )
        songs = client.post(
            "/v1/recommendations", json={"songs": [{"id": uri(i)} for i in seeds], "count": 30}
        )
        assert ranked.status_code == songs.status_code == 200, (ranked.text, songs.text)
        answers.append({"ranked": ranked.json()["items"], "songs": songs.json()["items"]})
    return answers


def _neighbor_dst_type(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'track_neighbors'::regclass AND attname = 'dst'"
        ).fetchone()[0]


def test_a_version_with_track_neighbors_as_pair_rows_gets_the_same_answers(
    postgres_server, tmp_path
):
    """`track_neighbors` is published as one row of arrays per track; a version published with
    one row per pair (before that layout, and live again after a rollback) is served the same."""
    url, _ = publish_ranked(postgres_server, "serving_neighbor_layouts")
    assert _neighbor_dst_type(url) == "integer[]"
    with psycopg.connect(url) as conn:
        lists = conn.execute(
            "SELECT count(*), sum(cardinality(dst)) FROM track_neighbors"
        ).fetchone()
    pairs = TABLES["track_neighbors"]
    assert lists == (pairs["src"].nunique(), len(pairs))
    with api_client(url, tmp_path / "api.log") as client:
        before = _layout_answers(client)
        # the co-occurrence rows took part: some answers are explained by them
        reasons = {r["source"] for a in before for item in a["ranked"] for r in item["reasons"]}
        assert "co-occurrence" in reasons
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(TO_PAIRS)
        assert _neighbor_dst_type(url) == "integer"
        assert _layout_answers(client) == before
