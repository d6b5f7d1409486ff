import asyncio
import csv
import json

from algorhythms_cli.challenge import run_challenge
from tests.catalogue import catalogue, coldstart, publish_catalogue, titles, uri


def test_challenge_submission_has_500_distinct_new_tracks_per_playlist(database, tmp_path):
    publish_catalogue(database, catalogue("v1"), coldstart=coldstart(), title_tracks=titles())
    challenge = {
        "date": "2018-01-16",
        "version": "v1",
        "playlists": [
            {"pid": 1000, "name": "rock", "num_holdouts": 10, "num_samples": 0, "tracks": []},
            {
                "pid": 1001,
                "num_holdouts": 5,
                "num_samples": 2,
                "tracks": [
                    {"pos": 0, "track_uri": uri(7), "track_name": "Song 7", "artist_name": "A"},
                    {"pos": 1, "track_uri": "spotify:track:unknown", "track_name": "x"},
                ],
            },
            {"pid": 1002, "name": "", "tracks": []},
        ],
    }
    path = tmp_path / "challenge_set.json"
    path.write_text(json.dumps(challenge))
    out = tmp_path / "submission.csv"
    summary = asyncio.run(run_challenge(database, path, out))
    assert summary["playlists"] == 3
    rows = list(csv.reader(out.open()))
    assert rows[0][0] == "team_info"
    assert [int(r[0]) for r in rows[1:]] == [1000, 1001, 1002]
    for row, playlist in zip(rows[1:], challenge["playlists"], strict=True):
        tracks = [t.strip() for t in row[1:]]
        assert len(tracks) == 500 and len(set(tracks)) == 500
        assert not {t["track_uri"] for t in playlist["tracks"]} & set(tracks)
    assert rows[1][1:51] == [uri(i) for i in range(50)]  # "rock" playlists hold cluster 0
