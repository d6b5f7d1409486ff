import dagster as dg

from algorhythms_assets.assets import embeddings, graph, mpd, ranking, vectors
from algorhythms_assets.automation import rebuild_downstream
from algorhythms_assets.jobs import build_job, ingest_job
from algorhythms_assets.resources import build_resources
from algorhythms_assets.schedules import weekly_rebuild
from algorhythms_assets.sensors import mpd_slice_sensor

defs = dg.Definitions(
    assets=[
        mpd.raw_mpd_slices,
        mpd.track_metadata,
        graph.cooccurrence_edges,
        graph.track_neighbors,
        ranking.playlist_tables,
        embeddings.gcn_embeddings,
        embeddings.feature_mlp,
        vectors.title_tracks,
        ranking.playlist_ranker,
        vectors.track_vectors,
        ranking.recommendation_eval,
    ],
    asset_checks=[
        mpd.check_track_metadata_covers_playlist_tracks,
        mpd.check_track_metadata_unique_ids,
        graph.check_cooccurrence_edges_no_self_loops,
        graph.check_cooccurrence_edges_weights_positive_finite,
        graph.check_cooccurrence_edges_endpoints_known,
        graph.check_cooccurrence_edges_symmetric,
        embeddings.check_gcn_embeddings_finite,
        embeddings.check_gcn_embeddings_dimension,
        embeddings.check_gcn_embeddings_one_per_track,
        vectors.check_track_vectors_one_row_per_track,
        vectors.check_track_vectors_nearest_neighbour_uses_index,
        ranking.check_recommendation_eval_beats_item_knn,
    ],
    jobs=[ingest_job, build_job],
    sensors=[mpd_slice_sensor, rebuild_downstream],
    schedules=[weekly_rebuild],
    resources=build_resources(),
)
