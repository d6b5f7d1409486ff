import numpy as np
import pandas as pd
import psycopg
import pytest
from pgvector.psycopg import register_vector

from algorhythms_store.coldstart import ColdStartModel, forward_numpy, unpack_arrays
from algorhythms_store.publish import live_version, rollback
from algorhythms_store.text import title_keys
from tests.catalogue import catalogue, coldstart, exact_nearest, publish_catalogue, titles


def versions(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT version, status FROM model_versions ORDER BY version"
        ).fetchall()


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}


def test_publish_loads_tracks_and_answers_nearest_neighbours_with_the_hnsw_index(database):
    tracks = catalogue("v1")
    result = publish_catalogue(
        database, tracks, coldstart=coldstart(), title_tracks=titles(), run_id="run-1"
    )
    assert (result.version, result.rows["track_vectors"], result.dimension) == (1, 2000, 16)
    assert result.rows["title_tracks"] == len(titles())
    with psycopg.connect(database) as conn:
        register_vector(conn)
        query = tracks.vectors[7]
        got = [
            r[0]
            for r in conn.execute(
                "SELECT uri FROM track_vectors ORDER BY embedding <=> %s LIMIT 10", [query]
            )
        ]
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT uri FROM track_vectors ORDER BY embedding <=> %s LIMIT 10", [query]
            )
        )
        name, degree = conn.execute(
            "SELECT name, degree FROM track_vectors WHERE uri = %s", [tracks.uris[3]]
        ).fetchone()
        version, dim, spec, blob = conn.execute(
            "SELECT version, dimension, coldstart_spec, coldstart_arrays FROM track_model"
        ).fetchone()
        run_id, rows = conn.execute("SELECT run_id, rows FROM model_versions").fetchone()
    assert "track_vectors_v1_embedding" in plan
    assert len(set(got) & set(exact_nearest(tracks, query, set(), 10))) >= 9
    assert (name, degree) == ("Song 3 v1", 10)
    assert (version, dim, run_id, rows) == (1, 16, "run-1", 2000)
    arrays = unpack_arrays(blob)
    model = ColdStartModel(arrays, spec)
    song = {"name": "Blue song", "artist": "Artist001", "duration_ms": 200000}
    expected = forward_numpy(
        coldstart()[0],
        coldstart()[1],
        pd.DataFrame(
            [{"track_name": "Blue song", "artist_name": "Artist001", "duration_ms": 200000}]
        ),
    )
    assert np.allclose(model.embed([song]), expected)


def test_second_publish_goes_live_and_keeps_the_first_as_previous(database):
    publish_catalogue(database, catalogue("v1"))
    publish_catalogue(database, catalogue("v2", seed=1))
    assert live_version(database) == 2
    assert versions(database) == [(1, "previous"), (2, "live")]
    publish_catalogue(database, catalogue("v3", seed=2))
    assert versions(database) == [(1, "retired"), (2, "previous"), (3, "live")]
    assert {"track_vectors_previous", "track_model_previous", "title_tracks_previous"} <= tables(
        database
    )
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT name FROM track_vectors_previous WHERE id = 0").fetchone() == (
            "Song 0 v2",
        )


def test_failed_load_leaves_the_live_version_serving(database):
    publish_catalogue(database, catalogue("v1"))
    bad = catalogue("v2")
    bad.vectors[1500, 3] = np.nan  # pgvector refuses NaN: the COPY fails two-thirds in
    with pytest.raises(psycopg.errors.DataException, match="NaN not allowed"):
        publish_catalogue(database, bad)
    assert live_version(database) == 1
    assert versions(database) == [(1, "live"), (2, "failed")]
    assert not any(t.endswith("_staging") for t in tables(database))
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM track_vectors").fetchone() == (2000,)
        error = conn.execute("SELECT error FROM model_versions WHERE version = 2").fetchone()[0]
    assert "NaN" in error
    assert publish_catalogue(database, catalogue("v3")).version == 3  # and the next publish works


def test_rollback_swaps_the_previous_version_back(database):
    publish_catalogue(database, catalogue("v1"))
    with pytest.raises(LookupError, match="no previous version"):
        rollback(database)
    publish_catalogue(database, catalogue("v2"))
    assert rollback(database) == 1
    assert versions(database) == [(1, "live"), (2, "previous")]
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT name FROM track_vectors WHERE id = 0").fetchone() == (
            "Song 0 v1",
        )
    assert rollback(database) == 2  # rolling back twice rolls forward


def test_title_keys_cover_whole_title_words_and_emoji():
    assert title_keys("  Chill   VIBES 🌴 ") == ["=chill vibes 🌴", "chill", "vibes", "🌴"]
    assert title_keys("Rock rock") == ["=rock rock", "rock"]
    assert title_keys("") == [] and title_keys(None) == []
    assert title_keys("Ｒｏｃｋ") == ["=rock", "rock"]  # NFKC folds full-width letters


def test_an_hnsw_build_gets_memory_for_its_graph_within_bounds():
    from algorhythms_store.publish import hnsw_build_memory

    def megabytes(setting: str) -> int:
        return int(setting.removesuffix("MB"))

    # 1,085,211 vectors of 64 dimensions outgrew 512MB at 570,000: about 940 bytes each
    graph = 1_085_211 * 940 / (1 << 20)
    assert graph < megabytes(hnsw_build_memory(1_085_211, 64, 16)) < 2 * graph
    assert hnsw_build_memory(5_000, 64, 16) == "512MB"  # never below the former setting
    assert hnsw_build_memory(50_000_000, 64, 16) == "8192MB"
    assert megabytes(hnsw_build_memory(1_000_000, 128, 16)) > megabytes(
        hnsw_build_memory(1_000_000, 64, 16)
    )


def test_the_hnsw_build_runs_with_the_memory_sized_for_it(database, caplog):
    import logging

    caplog.set_level(logging.INFO)
    tracks = catalogue("memory")
    publish_catalogue(database, tracks)
    started = [r.getMessage() for r in caplog.records if "building over" in r.getMessage()]
    assert started == [
        f"hnsw index on {table}: building over {rows:,} vectors in 512MB of maintenance_work_mem"
        for table, rows in (("track_vectors", len(tracks)), ("playlist_vectors", 0))
    ]
