import asyncio
import json
import shutil

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
from dagster_pyspark import PySparkResource
from pgvector.psycopg import register_vector

from algorhythms_assets.assets.embeddings import (
    embedding_map,
    feature_mlp,
    gcn_embeddings,
    playlist_vectors,
)
from algorhythms_assets.assets.graph import cooccurrence_edges
from algorhythms_assets.assets.mpd import raw_mpd_slices, track_metadata
from algorhythms_assets.assets.published import published_version
from algorhythms_assets.assets.recommend import (
    playlist_ranker,
    playlist_tables,
    recommendation_eval,
    title_tracks,
)
from algorhythms_assets.definitions import defs
from algorhythms_assets.partitions import mpd_slices
from algorhythms_assets.resources import DatabaseResource, MpdSourceResource, WarehouseResource
from algorhythms_ml.artefacts import read_ranker, read_ranker_vectors
from algorhythms_ml.embeddings.pipeline import read_vectors
from algorhythms_ml.recommend.neighbors import NeighborConfig
from algorhythms_ml.recommend.training import with_playlists
from algorhythms_ml.warehouse import Warehouse
from algorhythms_store.coldstart import forward_numpy
from algorhythms_store.memory_store import MemoryStore
from serving.models import ModelCache
from serving.pool import configure_connection
from serving.query import seed_from_track
from serving.recommender import continue_playlist
from serving.settings import Settings


def test_embeddings_cold_start_model_and_published_vectors_materialise_with_checks(
    spark, generated_mpd, tmp_path, database
):
    folder = tmp_path / "mpd"
    folder.mkdir()
    shutil.copy(generated_mpd / "mpd.slice.0-999.json", folder / "mpd.slice.0-999.json")
    resources = {
        "pyspark": PySparkResource(spark_config={"spark.master": "local[2]"}),
        "warehouse": WarehouseResource(root=str(tmp_path / "warehouse")),
        "mpd_source": MpdSourceResource(path=str(folder)),
        "database": DatabaseResource(url=database, data_dir=str(tmp_path)),
    }
    assets = [
        raw_mpd_slices,
        track_metadata,
        cooccurrence_edges,  # with track_neighbors
        gcn_embeddings,
        feature_mlp,
        playlist_vectors,
        embedding_map,
        title_tracks,
        playlist_tables,
        playlist_ranker,
        recommendation_eval,
        published_version,
    ]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(mpd_slices.name, ["mpd.slice.0-999"])
        dg.materialize(
            [raw_mpd_slices],
            instance=instance,
            resources=resources,
            partition_key="mpd.slice.0-999",
        )
        result = dg.materialize(
            [*assets, *defs.asset_checks],
            instance=instance,
            resources=resources,
            selection=assets[1:],
            run_config={
                "ops": {
                    "cooccurrence_edges": {"config": {"top_k": 20}},
                    "gcn_embeddings": {
                        "config": {"dim": 32, "epochs": 3, "steps_per_epoch": 5, "batch_size": 2048}
                    },
                    "feature_mlp": {"config": {"epochs": 2}},
                    "embedding_map": {"config": {"tracks": 500, "epochs": 50}},
                    "playlist_ranker": {"config": {"folds": 2, "rounds": 30}},
                }
            },
        )
    assert result.success
    meta = result.asset_materializations_for_node("gcn_embeddings")[0].metadata
    assert meta["dimension"].value == 32 and meta["epochs"].value == 3
    assert 0.5 < meta["test_auc_uniform"].value <= 1.0
    assert "curves" in meta
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["check_gcn_embeddings_finite"]
    assert checks["check_gcn_embeddings_dimension"]
    assert checks["check_gcn_embeddings_one_per_track"]

    warehouse = Warehouse.at(tmp_path / "warehouse")
    frame, vectors = read_vectors(warehouse)
    tracks = pd.read_parquet(tmp_path / "warehouse" / "track_metadata")
    assert len(frame) == len(tracks) and vectors.shape[1] == 32
    assert np.isfinite(vectors).all()
    assert (tmp_path / "warehouse" / "models" / "gcn" / "model.pt").exists()

    # The exported cold-start model runs with numpy alone and predicts vectors of the right size.
    model_dir = tmp_path / "warehouse" / "models" / "feature_mlp"
    spec = json.loads((model_dir / "spec.json").read_text())
    arrays = dict(np.load(model_dir / "arrays.npz"))
    predicted = forward_numpy(arrays, spec, tracks.head(5))
    assert predicted.shape == (5, 32) and np.isfinite(predicted).all()
    mlp_meta = result.asset_materializations_for_node("feature_mlp")[0].metadata
    assert -1 <= mlp_meta["holdout_mean_cosine"].value <= 1

    # The published version holds every track with its vector, the model and the title table.
    published = result.asset_materializations_for_node("published_version")[0].metadata
    assert published["version"].value == 1 and published["rows_track_vectors"].value == len(tracks)
    assert published["dimension"].value == 32 and published["rows_title_tracks"].value > 0
    neighbors = pd.read_parquet(tmp_path / "warehouse" / "track_neighbors")
    # published as one row of arrays per source track
    assert published["rows_track_neighbors"].value == neighbors["src"].nunique() > 0
    assert neighbors.groupby("src").size().max() <= NeighborConfig().neighbor_top_k
    assert (neighbors["weight"] > 0).all()
    assert checks["check_published_version_one_row_per_track"]
    assert checks["check_published_version_nearest_neighbour_uses_index"]
    with psycopg.connect(database) as conn:
        register_vector(conn)
        uri, vector = conn.execute(
            "SELECT uri, embedding FROM track_vectors ORDER BY id LIMIT 1"
        ).fetchone()
        metrics, status = conn.execute("SELECT metrics, status FROM model_versions").fetchone()
        spec = conn.execute("SELECT coldstart_spec FROM track_model").fetchone()[0]
        lists = conn.execute("SELECT src, dst, weight FROM track_neighbors").fetchall()
    # every warehouse pair, each track's list heaviest first (ties: the smaller dst)
    pairs = sorted(
        (s, d, np.float32(w)) for s, ds, ws in lists for d, w in zip(ds, ws, strict=True)
    )
    assert pairs == sorted(neighbors[["src", "dst", "weight"]].itertuples(index=False, name=None))
    for _, ds, ws in lists:
        assert list(zip(ws, ds, strict=True)) == sorted(
            zip(ws, ds, strict=True), key=lambda p: (-p[0], p[1])
        )
    first = frame.sort_values("track_id").iloc[0]
    assert uri == tracks.set_index("track_id").loc[first["track_id"], "track_uri"]
    assert np.allclose(vector.to_numpy(), vectors[first["track_id"]])
    assert status == "live" and spec["output_dim"] == 32
    assert 0.5 < metrics["gcn_embeddings.test_auc_uniform"] <= 1.0
    titles = pd.read_parquet(tmp_path / "warehouse" / "title_tracks")
    sizes = titles.groupby("key").size()
    whole = sizes.index.str.startswith("=")
    assert titles["score"].between(0, 1).all() and sizes[~whole].max() <= 100
    assert sizes[whole].max() <= 300  # every whole title is kept, with up to 300 tracks

    # The ranker trained, and the evaluation compared it with the baselines on a hold-out.
    ranker_meta = result.asset_materializations_for_node("playlist_ranker")[0].metadata
    assert ranker_meta["training_queries"].value > 50 and ranker_meta["positives"].value > 0
    eval_meta = result.asset_materializations_for_node("recommendation_eval")[0].metadata
    # 100 held-out playlists (the minimum); a category skips playlists too short for it
    assert 50 <= eval_meta["playlists"].value <= 100
    for name in ("model", "popularity", "item_knn"):
        assert 0 <= eval_meta[f"{name}.r_precision"].value <= 1
        assert 0 <= eval_meta[f"{name}.clicks"].value <= 51
    assert eval_meta["model.r_precision"].value > eval_meta["popularity.r_precision"].value
    assert "title_random100" in eval_meta["table"].value and "r_precision_by_category" in eval_meta
    assert "check_recommendation_eval_beats_item_knn" in checks
    assert published["rows_playlist_members"].value > 0 and published["rows_track_stats"].value > 0
    # The version records the evaluation's figures with its own.
    assert metrics["recommendation_eval.model.r_precision"] == eval_meta["model.r_precision"].value

    # Every playlist holds catalogue tracks, so each has a vector; the map shows the 500 most
    # popular tracks and keeps more of their neighbours than PCA does.
    vectors_meta = result.asset_materializations_for_node("playlist_vectors")[0].metadata
    assert vectors_meta["rows"].value == 1000 == published["rows_playlist_vectors"].value
    map_meta = result.asset_materializations_for_node("embedding_map")[0].metadata
    assert map_meta["rows"].value == 500 == published["rows_track_map"].value
    assert map_meta["neighbours_kept_at_10"].value > map_meta["neighbours_kept_at_10_pca"].value
    assert "map" in map_meta
    assert checks["check_playlist_vectors_unit_length"] and checks["check_embedding_map_finite"]

    # Past max_playlists, training and evaluation work on a seeded sample.
    sampled = with_playlists(spark, warehouse, lambda data: len(data.tracks), max_playlists=300)
    assert 200 <= sampled <= 400

    # The ranker trained a GCN per fold on the other fold's playlists, with the published
    # GCN's budget, and wrote the vectors its evaluation read.
    assert len(ranker_meta["fold_gcn_seconds"].value) == 2
    assert all(0.5 < auc <= 1 for auc in ranker_meta["fold_gcn_test_auc_popularity_matched"].value)
    assert read_ranker_vectors(warehouse).shape == vectors.shape
    gains = ranker_meta["feature_gain"].value
    assert sum(gains[f] for f in ("emb_mean", "emb_max", "emb_avg", "emb_last")) > 0

    # The service's ranked continuation, read from PostgreSQL, is exactly the in-memory one
    # over the same tables and the published song vectors (what the ranker was trained and
    # evaluated with, there with the fold GCNs' vectors).
    store = MemoryStore(
        {
            name: pd.read_parquet(tmp_path / "warehouse" / name)
            for name in (
                "track_neighbors",
                "title_tracks",
                "playlist_members",
                "track_stats",
                "artist_neighbors",
            )
        },
        vectors=vectors,
    )
    ranker = read_ranker(warehouse)
    uri_of = dict(zip(tracks["track_id"], tracks["track_uri"], strict=True))
    rows = pd.read_parquet(tmp_path / "warehouse" / "playlist_tracks")
    names = pd.read_parquet(tmp_path / "warehouse" / "playlists").set_index("pid")["name"]
    playlists = [
        (names[pid], group.sort_values("pos")["track_uri"].drop_duplicates().tolist()[:k])
        for (pid, group), k in zip(list(rows.groupby("pid"))[:6], (0, 1, 5, 10, 25, 3), strict=True)
    ]
    playlists.append((None, playlists[3][1]))
    answers = asyncio.run(_ranked_answers(database, playlists))
    id_of = {u: i for i, u in uri_of.items()}
    for (name, seeds), (source, got) in zip(playlists, answers, strict=True):
        expected = store.recommend([id_of[u] for u in seeds], name, ranker, n=50)
        assert source == "ranker"
        assert got == [uri_of[t] for t in expected]


async def _ranked_answers(url, playlists):
    settings = Settings(database_url=url)
    models = ModelCache()
    out = []
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await configure_connection(conn, settings)
        for name, seeds in playlists:
            result = await continue_playlist(
                conn, models, name, [seed_from_track(u) for u in seeds], 50
            )
            out.append((result.source, [item.uri for item in result.items]))
    return out
