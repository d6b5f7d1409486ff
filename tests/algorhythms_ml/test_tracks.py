from pathlib import Path

import pandas as pd
import pytest

from algorhythms_ml.mpd.ingest import drop_partitions, ingest_slices
from algorhythms_ml.mpd.tracks import TrackTableConfig, build_track_metadata
from algorhythms_ml.warehouse import Warehouse
from tests.conftest import load_playlists, write_slice


def track(uri: str, name: str = "song", artist: str = "someone") -> dict:
    return {"track_uri": f"spotify:track:{uri}", "track_name": name, "artist_name": artist}


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse.at(tmp_path / "warehouse")


def metadata(warehouse: Warehouse) -> pd.DataFrame:
    return pd.read_parquet(warehouse.local_path("track_metadata")).set_index("track_uri")


def test_track_metadata_counts_playlists_and_occurrences(spark, tmp_path, warehouse):
    playlists = [
        {"pid": 0, "tracks": [track("b", "B"), track("a", "A"), track("b", "B")]},
        {"pid": 1, "tracks": [track("a", "A"), track("c", "C", "other")]},
    ]
    path = write_slice(tmp_path / "mpd.slice.0-1.json", playlists)
    ingest_slices(spark, [path.as_uri()], warehouse)
    stats = build_track_metadata(spark, warehouse)
    meta = metadata(warehouse)
    assert (stats.tracks, stats.new_tracks, stats.playlist_tracks) == (3, 3, 5)
    assert meta.loc["spotify:track:a", ["num_playlists", "num_occurrences"]].tolist() == [2, 2]
    assert meta.loc["spotify:track:b", ["num_playlists", "num_occurrences"]].tolist() == [1, 2]
    assert meta.loc["spotify:track:c", "artist_name"] == "other"
    # Ids are dense, in URI order on the first build.
    assert meta.track_id.sort_index().tolist() == [0, 1, 2]


def test_track_ids_stay_stable_across_reruns_and_new_slices(spark, tmp_path, warehouse):
    first = write_slice(
        tmp_path / "mpd.slice.0-0.json", [{"pid": 0, "tracks": [track("m"), track("z")]}]
    )
    ingest_slices(spark, [first.as_uri()], warehouse)
    build_track_metadata(spark, warehouse)
    before = metadata(warehouse).track_id.to_dict()
    build_track_metadata(spark, warehouse)
    assert metadata(warehouse).track_id.to_dict() == before

    # New tracks sort before the old ones but still get the next ids.
    second = write_slice(
        tmp_path / "mpd.slice.1-1.json", [{"pid": 1, "tracks": [track("a"), track("m")]}]
    )
    ingest_slices(spark, [second.as_uri()], warehouse)
    stats = build_track_metadata(spark, warehouse)
    after = metadata(warehouse).track_id.to_dict()
    assert stats.new_tracks == 1
    assert {k: after[k] for k in before} == before
    assert after["spotify:track:a"] == 2

    # A slice that goes away takes its tracks out of the table; their ids are not reused.
    drop_partitions(spark, warehouse, ["mpd.slice.0-0"])
    build_track_metadata(spark, warehouse)
    ingest_slices(spark, [first.as_uri()], warehouse)
    build_track_metadata(spark, warehouse)
    assert metadata(warehouse).track_id.to_dict() == after


def test_external_features_are_joined_by_track_uri(spark, generated_mpd, tmp_path, warehouse):
    path = generated_mpd / "mpd.slice.0-999.json"
    ingest_slices(spark, [path.as_uri()], warehouse)
    uris = sorted({t["track_uri"] for p in load_playlists(path)[:5] for t in p["tracks"]})
    features = pd.DataFrame(
        {"track_uri": uris, "danceability": [i / len(uris) for i in range(len(uris))]}
    )
    csv = tmp_path / "features.csv"
    features.to_csv(csv, index=False)
    stats = build_track_metadata(spark, warehouse, TrackTableConfig(features_path=str(csv)))
    meta = metadata(warehouse)
    assert stats.feature_columns == ["feature_danceability"]
    assert stats.tracks_with_features == len(uris)
    assert meta.loc[uris[-1], "feature_danceability"] == pytest.approx((len(uris) - 1) / len(uris))
    assert meta.has_features.sum() == len(uris)


def test_features_file_without_track_uri_is_refused(spark, tmp_path, warehouse):
    path = write_slice(tmp_path / "mpd.slice.0-0.json", [{"pid": 0, "tracks": [track("a")]}])
    ingest_slices(spark, [path.as_uri()], warehouse)
    csv = tmp_path / "features.csv"
    csv.write_text("uri,energy\nspotify:track:a,0.5\n")
    with pytest.raises(ValueError, match="no track_uri column"):
        build_track_metadata(spark, warehouse, TrackTableConfig(features_path=str(csv)))
