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


def test_gzipped_challenge_set_and_submission_with_the_2018_team_info_line(database, tmp_path):
    import gzip

    import pytest

    from algorhythms_cli.challenge import read_challenge_set, team_info

    publish_catalogue(database, catalogue("v1"), coldstart=coldstart(), title_tracks=titles())
    challenge = {"playlists": [{"pid": 5, "name": "rock", "tracks": [{"track_uri": uri(3)}]}]}
    path = tmp_path / "challenge_set.json.gz"
    with gzip.open(path, "wt") as f:
        json.dump(challenge, f)
    out = tmp_path / "submission.csv.gz"
    team = team_info("The Band", "creative", "band@example.org")
    asyncio.run(run_challenge(database, path, out, count=20, team=team))
    with gzip.open(out, "rt", newline="") as f:
        rows = list(csv.reader(f))
    # the 2018 verify_submission.py: team_info, team name, main|creative, email
    assert rows[0] == ["team_info", "The Band", "creative", "band@example.org"]
    assert rows[1][0] == "5" and len(rows[1]) == 21 and uri(3) not in rows[1]
    assert team_info() == ["team_info", "AlgoRhythms", "main", "algorhythms@example.org"]
    for bad in (("x", "sideways", "a@b"), ("x,y", "main", "a@b"), ("x", "main", "nobody")):
        with pytest.raises(ValueError):
            team_info(*bad)
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="not a challenge set"):
        read_challenge_set(broken)
    (tmp_path / "other.json").write_text('{"items": []}')
    with pytest.raises(ValueError, match='no "playlists"'):
        read_challenge_set(tmp_path / "other.json")
