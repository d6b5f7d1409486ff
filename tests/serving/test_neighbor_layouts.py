"""`track_neighbors` is published as one row of arrays per track; a version published with one
row per pair (before that layout, and live again after a rollback) is served the same."""

import psycopg
import pytest

from algorhythms_store.memory_store import MemoryStore
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
TRACKS = catalogue("v1")
SEED_SETS = [[3, 10, 20, 60], [501, 502], [1001], [7, 8, 9, 1500, 1510, 42]]

# The live lists turned back into the pair rows a version published before them holds.
TO_PAIRS = """
CREATE TABLE track_neighbors_pairs AS
    SELECT n.src, u.dst, u.weight
    FROM track_neighbors n CROSS JOIN LATERAL unnest(n.dst, n.weight) AS u(dst, weight);
ALTER TABLE track_neighbors_pairs ADD PRIMARY KEY (src, dst);
DROP TABLE track_neighbors;
ALTER TABLE track_neighbors_pairs RENAME TO track_neighbors;
"""


@pytest.fixture(scope="module")
def served(postgres_server, tmp_path_factory):
    url = create_database(postgres_server, "serving_neighbor_layouts")
    publish_catalogue(
        url,
        TRACKS,
        coldstart=coldstart(),
        ranker=small_ranker(MemoryStore(TABLES, vectors=TRACKS.vectors), LISTS).text,
        **{name: table_rows(frame, list(frame.columns)) for name, frame in TABLES.items()},
    )
    with api_client(url, tmp_path_factory.mktemp("layouts") / "api.log") as client:
        yield url, client


def _answers(client) -> list[dict]:
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


def _dst_type(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'track_neighbors'::regclass AND attname = 'dst'"
        ).fetchone()[0]


def test_a_version_with_pair_rows_gets_the_same_answers_as_one_with_lists(served):
    url, client = served
    assert _dst_type(url) == "integer[]"
    with psycopg.connect(url) as conn:
        lists = conn.execute(
            "SELECT count(*), sum(cardinality(dst)) FROM track_neighbors"
        ).fetchone()
    pairs = TABLES["track_neighbors"]
    assert lists == (pairs["src"].nunique(), len(pairs))
    before = _answers(client)
    # the co-occurrence rows took part: some answers are explained by them
    reasons = {r["source"] for a in before for item in a["ranked"] for r in item["reasons"]}
    assert "co-occurrence" in reasons

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TO_PAIRS)
    assert _dst_type(url) == "integer"
    assert _answers(client) == before
