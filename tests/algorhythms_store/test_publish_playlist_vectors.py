import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from algorhythms_store.publish import live_version
from tests.catalogue import (
    catalogue,
    playlist_vector_rows,
    playlists,
    publish_catalogue,
    track_map_rows,
)


def test_playlist_vectors_and_the_map_are_published_with_an_hnsw_index(database):
    tracks = catalogue("v1")
    lists = playlists(200)
    rows = playlist_vector_rows(lists, tracks)
    result = publish_catalogue(
        database,
        tracks,
        playlist_vectors=rows,
        track_map=track_map_rows(tracks, 500),
    )
    assert result.rows["playlist_vectors"] == 200 and result.rows["track_map"] == 500
    assert "hnsw_index_playlist_vectors" in result.seconds
    query = rows[17][4]
    with psycopg.connect(database) as conn:
        register_vector(conn)
        conn.execute("SET enable_seqscan = off")  # 200 rows: the planner would rather scan
        statement = "SELECT pid FROM playlist_vectors ORDER BY embedding <=> %s LIMIT 5"
        nearest = [r[0] for r in conn.execute(statement, [query])]
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN {statement}", [query]))
        name, length, track_ids, vector = conn.execute(
            "SELECT name, length, track_ids, embedding FROM playlist_vectors WHERE pid = 17"
        ).fetchone()
        map_rows = conn.execute("SELECT track_id, x, y FROM track_map ORDER BY track_id").fetchall()
        indexes = dict(
            conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'playlist_vectors'"
            ).fetchall()
        )
    assert nearest[0] == 17
    assert "playlist_vectors_v1_embedding" in plan
    assert "hnsw" in indexes["playlist_vectors_v1_embedding"]
    assert "vector_cosine_ops" in indexes["playlist_vectors_v1_embedding"]
    assert (name, length, track_ids) == ("Playlist 17", len(lists[17]), lists[17][:5])
    assert np.allclose(vector.to_numpy(), query, atol=1e-6)
    assert len(map_rows) == 500 and [r[0] for r in map_rows] == list(range(500))  # most popular
    assert np.allclose([r[1:] for r in map_rows], [r[1:] for r in track_map_rows(tracks, 500)])


def test_a_version_without_playlists_or_map_is_published_with_empty_tables(database):
    result = publish_catalogue(database, catalogue("v1"))
    assert live_version(database) == result.version == 1
    assert result.rows["playlist_vectors"] == 0 and result.rows["track_map"] == 0
    with psycopg.connect(database) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM playlist_vectors), (SELECT count(*) FROM track_map)"
        ).fetchone()
    assert counts == (0, 0)
