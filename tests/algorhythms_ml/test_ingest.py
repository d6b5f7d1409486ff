import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from algorhythms_ml.mpd.ingest import ingest_slices
from algorhythms_ml.mpd.slices import slice_file_name, slice_key
from algorhythms_ml.warehouse import Warehouse
from tests.conftest import load_playlists, trim_playlists, write_slice


def read(warehouse: Warehouse, table: str) -> pd.DataFrame:
    path = warehouse.local_path(table)
    if not path.exists():
        return pd.DataFrame()
    return pd.read_parquet(path)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse.at(tmp_path / "warehouse")


def test_slice_key_is_the_file_name_without_json_and_leads_back_to_it():
    assert slice_key("file:///data/mpd/mpd.slice.0-999.json") == "mpd.slice.0-999"
    assert slice_key("/data/mpd/mpd.slice.0-999.json") == "mpd.slice.0-999"
    assert slice_file_name(slice_key("mpd.slice.1000-1999.json")) == "mpd.slice.1000-1999.json"


def test_generated_slices_ingest_every_playlist_and_track(spark, generated_mpd, warehouse):
    files = sorted(generated_mpd.glob("*.json"))[:2]
    result = ingest_slices(spark, [f.as_uri() for f in files], warehouse)
    assert result.failed == {}
    expected = [p for f in files for p in load_playlists(f)]
    playlists = read(warehouse, "playlists")
    tracks = read(warehouse, "playlist_tracks")
    assert len(playlists) == len(expected) == 2000
    assert len(tracks) == sum(len(p["tracks"]) for p in expected)
    assert read(warehouse, "quarantine").empty
    first = expected[0]
    row = playlists.set_index("pid").loc[first["pid"]]
    assert row["name"] == first["name"]
    assert row["num_followers"] == first["num_followers"]
    assert bool(row["collaborative"]) == (first["collaborative"] == "true")
    got = tracks[tracks.pid == first["pid"]].sort_values("pos")
    assert list(got.track_uri) == [t["track_uri"] for t in first["tracks"]]
    assert list(got.album_name) == [t["album_name"] for t in first["tracks"]]
    assert result.written["mpd.slice.0-999"].playlists == 1000


def test_trimmed_slice_ingests_with_absent_fields_as_null(
    spark, generated_mpd, tmp_path, warehouse
):
    source = load_playlists(generated_mpd / "mpd.slice.0-999.json")[:50]
    path = write_slice(tmp_path / "mpd.slice.0-49.json", trim_playlists(source))
    result = ingest_slices(spark, [path.as_uri()], warehouse)
    assert result.failed == {} and result.written["mpd.slice.0-49"].quarantined == 0
    playlists = read(warehouse, "playlists")
    tracks = read(warehouse, "playlist_tracks")
    assert len(playlists) == 50
    assert playlists.collaborative.isna().all() and playlists.modified_at.isna().all()
    assert len(tracks) == sum(len(p["tracks"]) for p in source)
    assert tracks.album_uri.isna().all() and tracks.duration_ms.isna().all()
    assert tracks.track_name.notna().all()


def test_corrupt_file_fails_alone_with_its_position(spark, generated_mpd, tmp_path, warehouse):
    good = generated_mpd / "mpd.slice.0-999.json"
    bad = tmp_path / "mpd.slice.5000-5999.json"
    bad.write_text('{"info": {}, "playlists": [\n  {"pid": 1, "tracks": [}\n]}')
    result = ingest_slices(spark, [good.as_uri(), bad.as_uri()], warehouse)
    assert list(result.failed) == ["mpd.slice.5000-5999"]
    message = result.failed["mpd.slice.5000-5999"].message
    assert "line 2 column" in message and "invalid JSON" in message
    assert list(result.written) == ["mpd.slice.0-999"]
    assert read(warehouse, "playlists").slice.unique().tolist() == ["mpd.slice.0-999"]


def test_a_json_document_without_playlists_is_reported(spark, tmp_path, warehouse):
    path = tmp_path / "mpd.slice.0-0.json"
    path.write_text(json.dumps({"info": {}, "items": []}))
    result = ingest_slices(spark, [path.as_uri()], warehouse)
    assert 'no "playlists" list' in result.failed["mpd.slice.0-0"].message


def test_bad_records_are_quarantined_with_their_reason(spark, tmp_path, warehouse):
    ok = {"pid": 1, "name": "ok", "tracks": [{"pos": 0, "track_uri": "spotify:track:aaa"}]}
    records = [
        ok,
        {"name": "no pid", "tracks": []},
        {"pid": "seven", "tracks": []},
        {"pid": 3, "tracks": "not a list"},
        {"pid": 4, "tracks": [{"track_uri": "spotify:track:bbb"}, {"track_name": "no uri"}]},
        {"pid": 5, "tracks": [{"track_uri": 12345}]},
        {"pid": 1, "name": "duplicate", "tracks": []},
        "just a string",
        {"pid": 6},
    ]
    path = write_slice(tmp_path / "mpd.slice.0-8.json", records)
    result = ingest_slices(spark, [path.as_uri()], warehouse)
    stats = result.written["mpd.slice.0-8"]
    assert (stats.playlists, stats.tracks, stats.quarantined) == (1, 1, 8)
    quarantine = read(warehouse, "quarantine").set_index("record_index")
    assert quarantine.loc[1, "reason"] == "missing pid"
    assert quarantine.loc[2, "reason"] == "pid is not an integer: seven"
    assert quarantine.loc[3, "reason"] == "tracks is not a list of track objects"
    assert quarantine.loc[4, "reason"] == "tracks[1].track_uri missing"
    assert quarantine.loc[5, "reason"] == "tracks[0].track_uri is not a Spotify track URI"
    assert quarantine.loc[6, "reason"] == "duplicate pid (first at record 0)"
    assert quarantine.loc[7, "reason"] == "record is not a JSON object"
    assert quarantine.loc[8, "reason"] == "missing tracks"
    assert json.loads(quarantine.loc[4, "raw"])["pid"] == 4
    assert read(warehouse, "playlists").name.tolist() == ["ok"]


def test_rerun_replaces_partition_rows_without_duplicates(
    spark, generated_mpd, tmp_path, warehouse
):
    folder = tmp_path / "mpd"
    folder.mkdir()
    path = folder / "mpd.slice.0-999.json"
    shutil.copy(generated_mpd / "mpd.slice.0-999.json", path)
    other = generated_mpd / "mpd.slice.1000-1999.json"
    for _ in range(2):
        ingest_slices(spark, [path.as_uri(), other.as_uri()], warehouse)
    once = len(read(warehouse, "playlist_tracks"))
    assert len(read(warehouse, "playlists")) == 2000
    assert once == sum(len(p["tracks"]) for f in (path, other) for p in load_playlists(f))

    # The file shrinks and gains a bad record: old rows go, the quarantine follows the file.
    playlists = load_playlists(path)[:10] + [{"pid": "bad", "tracks": []}]
    write_slice(path, playlists)
    ingest_slices(spark, [path.as_uri()], warehouse)
    assert len(read(warehouse, "playlists")) == 1010
    assert len(read(warehouse, "quarantine")) == 1
    write_slice(path, playlists[:10])
    ingest_slices(spark, [path.as_uri()], warehouse)
    assert read(warehouse, "quarantine").empty
    assert len(read(warehouse, "playlists")) == 1010


def test_a_hostile_folder_quarantines_or_refuses_each_bad_part_and_ingests_the_rest(
    spark, generated_mpd, tmp_path, warehouse
):
    from algorhythms_ml.mpd.ingest import BAD_NAME, EMPTY, TRAILING

    def playlist(pid, name="p", **extra):
        tracks = [{"pos": 0, "track_uri": f"spotify:track:t{pid}", "track_name": "x"}]
        return {"pid": pid, "name": name, "tracks": tracks, **extra}

    good = generated_mpd / "mpd.slice.0-999.json"  # pids 0-999
    copy = write_slice(
        tmp_path / "mpd.slice.11000-11999 (copy).json",
        [playlist(11000), playlist(11001), playlist(20000)],
    )
    empty = tmp_path / "mpd.slice.2000-2999.json"
    empty.write_bytes(b"")
    trailing = write_slice(tmp_path / "mpd.slice.3000-3999.json", [playlist(3000)])
    trailing.write_text(trailing.read_text() + "\ngarbage after the document")
    unsafe = write_slice(tmp_path / "mpd.slice.5000#5999.json", [playlist(5000)])
    records = write_slice(
        tmp_path / "mpd.slice.4000-4999.json",
        [
            playlist(4000, name="nul\x00in the title"),
            {**playlist(4001), "pid": 10**30},
            playlist(4002, num_followers=10**30, num_tracks=-(10**25)),
            {"pid": 4003, "tracks": {"track_uri": "spotify:track:obj"}},
            playlist(7),  # also in mpd.slice.0-999
            playlist(20000),  # also in the (copy) file, whose key sorts first
            {**playlist(4004), "tracks": [{"track_uri": "spotify:track:n", "album_name": "a\x00"}]},
        ],
    )
    files = [good, copy, empty, trailing, unsafe, records]
    ingest_slices(spark, [f"file://{good}"], warehouse)  # already in the warehouse
    result = ingest_slices(spark, [f"file://{f}" for f in files], warehouse)

    assert {k: e.message for k, e in result.failed.items()} == {
        "mpd.slice.2000-2999": EMPTY,
        "mpd.slice.3000-3999": TRAILING,
        "mpd.slice.5000#5999": BAD_NAME,
    }
    assert sorted(result.written) == [
        "mpd.slice.0-999",
        "mpd.slice.11000-11999 (copy)",
        "mpd.slice.4000-4999",
    ]
    playlists = read(warehouse, "playlists").set_index("pid")
    assert sorted(playlists["slice"].unique()) == sorted(result.written)
    assert playlists.index.is_unique and len(playlists) == 1000 + 3 + 3
    assert playlists.loc[4000, "name"] == "nulin the title"
    assert pd.isna(playlists.loc[4002, "num_followers"]) and pd.isna(
        playlists.loc[4002, "num_tracks"]
    )
    assert playlists.loc[20000, "slice"] == "mpd.slice.11000-11999 (copy)"
    tracks = read(warehouse, "playlist_tracks")
    assert tracks.loc[tracks.pid == 4004, "album_name"].tolist() == ["a"]
    quarantine = read(warehouse, "quarantine")
    reasons = dict(zip(quarantine.pid, quarantine.reason, strict=True))
    assert reasons == {
        str(10**30): f"pid is out of range: {10**30}",
        "4003": "tracks is not a list of track objects",
        "7": "duplicate pid (in slice mpd.slice.0-999)",
        "20000": "duplicate pid (in slice mpd.slice.11000-11999 (copy))",
    }
    assert all(json.loads(raw) for raw in quarantine.raw)  # kept whole, raw text
    assert result.written["mpd.slice.4000-4999"].quarantined == 4


OFFICIAL = {
    "info": {"generated_on": "2017-12-03 08:41:42.057563", "slice": "0-1", "version": "v1"},
    "playlists": [
        {
            "name": "Throwbacks",
            "collaborative": "false",
            "pid": 0,
            "modified_at": 1493424000,
            "num_tracks": 2,
            "num_albums": 2,
            "num_followers": 1,
            "num_edits": 6,
            "duration_ms": 457012,
            "num_artists": 2,
            "tracks": [
                {
                    "pos": 0,
                    "artist_name": "Missy Elliott",
                    "track_uri": "spotify:track:0UaMYEvWZi0ZqiDOoHU3YI",
                    "artist_uri": "spotify:artist:2wIVse2owClT7go1WT98tk",
                    "track_name": "Lose Control (feat. Ciara & Fat Man Scoop)",
                    "album_uri": "spotify:album:6vV5UrXcfyQD1wu4Qo2I9K",
                    "duration_ms": 226863,
                    "album_name": "The Cookbook",
                },
                {
                    "pos": 1,
                    "artist_name": "Britney Spears",
                    "track_uri": "spotify:track:6I9VzXrHxO9rA9A5euc8Ak",
                    "artist_uri": "spotify:artist:26dSoYclwsYLMAKD3tpOr4",
                    "track_name": "Toxic",
                    "album_uri": "spotify:album:0z7pVBGOD7HCIB7S8eLkLI",
                    "duration_ms": 230149,
                    "album_name": "In The Zone",
                },
            ],
        },
        {
            "name": "chill ☕",
            "collaborative": "true",
            "pid": 1,
            "modified_at": 1506556800,
            "num_tracks": 1,
            "num_albums": 1,
            "num_followers": 3,
            "num_edits": 1,
            "duration_ms": 198000,
            "num_artists": 1,
            "description": "for sunday mornings",
            "tracks": [
                {
                    "pos": 0,
                    "artist_name": "Norah Jones",
                    "track_uri": "spotify:track:1uaGSStKWEnCIqfjUvg4Ty",
                    "artist_uri": "spotify:artist:2Kx7MNY7cI1ENniW7vT30N",
                    "track_name": "Don't Know Why",
                    "album_uri": "spotify:album:1WBLkLoyTVd1GvjmaGdGWW",
                    "duration_ms": 198000,
                    "album_name": "Come Away With Me",
                }
            ],
        },
    ],
}


def test_a_gzipped_official_slice_in_the_archive_layout_ingests_every_field(
    spark, tmp_path, warehouse
):
    import gzip

    from algorhythms_assets.resources import MpdSourceResource

    archive = tmp_path / "spotify_million_playlist_dataset"
    (archive / "data").mkdir(parents=True)
    (archive / "README.md").write_text("the official archive")
    with gzip.open(archive / "data" / "mpd.slice.0-1.json.gz", "wt", encoding="utf-8") as f:
        json.dump(OFFICIAL, f, ensure_ascii=False)
    files = MpdSourceResource(path=str(archive)).slice_files()
    assert list(files) == ["mpd.slice.0-1"] and files["mpd.slice.0-1"].parent.name == "data"
    result = ingest_slices(spark, [f"file://{files['mpd.slice.0-1']}"], warehouse)
    assert result.failed == {} and result.written["mpd.slice.0-1"].playlists == 2

    playlists = read(warehouse, "playlists").set_index("pid")
    tracks = read(warehouse, "playlist_tracks")
    for source in OFFICIAL["playlists"]:
        row = playlists.loc[source["pid"]]
        for field, value in source.items():
            if field in ("tracks", "pid"):  # pid: the index it was found by
                continue
            got = row[field]
            if field == "collaborative":
                assert bool(got) == (value == "true")
            else:
                assert got == value, (field, got, value)
        if "description" not in source:
            assert pd.isna(row["description"])
        got = tracks[tracks.pid == source["pid"]].sort_values("pos")
        assert len(got) == len(source["tracks"])
        for (_, t), expected in zip(got.iterrows(), source["tracks"], strict=True):
            for field, value in expected.items():
                assert t[field] == value, (field, t[field], value)
