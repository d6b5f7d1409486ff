import collections
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from algorhythms_ml.mpd.generator import GENRE_TITLES, GeneratorConfig, generate_mpd
from algorhythms_ml.mpd.slices import slice_key

PLAYLIST_FIELDS = {
    "name",
    "collaborative",
    "pid",
    "modified_at",
    "num_tracks",
    "num_albums",
    "num_followers",
    "num_edits",
    "duration_ms",
    "num_artists",
    "tracks",
}
TRACK_FIELDS = {
    "pos",
    "artist_name",
    "track_uri",
    "artist_uri",
    "track_name",
    "album_uri",
    "duration_ms",
    "album_name",
}


@pytest.fixture(scope="module")
def playlists(generated_mpd: Path) -> list[dict]:
    out = []
    for path in sorted(generated_mpd.glob("mpd.slice.*.json")):
        out.extend(json.loads(path.read_text())["playlists"])
    return out


def test_generator_writes_mpd_slice_files_of_1000_playlists(generated_mpd: Path):
    names = sorted(p.name for p in generated_mpd.glob("*.json"))
    assert names == ["mpd.slice.0-999.json", "mpd.slice.1000-1999.json", "mpd.slice.2000-2999.json"]
    doc = json.loads((generated_mpd / "mpd.slice.1000-1999.json").read_text())
    assert doc["info"]["slice"] == "1000-1999"
    assert [p["pid"] for p in doc["playlists"]] == list(range(1000, 2000))


def test_generated_playlists_have_every_mpd_field_with_consistent_counts(playlists):
    for p in playlists[:200]:
        assert PLAYLIST_FIELDS <= set(p)
        assert p["collaborative"] in ("true", "false")
        assert p["num_tracks"] == len(p["tracks"])
        assert p["num_artists"] == len({t["artist_uri"] for t in p["tracks"]})
        assert p["num_albums"] == len({t["album_uri"] for t in p["tracks"]})
        assert p["duration_ms"] == sum(t["duration_ms"] for t in p["tracks"])
        assert [t["pos"] for t in p["tracks"]] == list(range(len(p["tracks"])))
        for t in p["tracks"]:
            assert set(t) == TRACK_FIELDS
            assert t["track_uri"].startswith("spotify:track:") and len(t["track_uri"]) == 36


def test_generator_is_deterministic_for_a_seed(tmp_path: Path):
    a = generate_mpd(GeneratorConfig(playlists=300, seed=5), tmp_path / "a")
    b = generate_mpd(GeneratorConfig(playlists=300, seed=5), tmp_path / "b")
    c = generate_mpd(GeneratorConfig(playlists=300, seed=6), tmp_path / "c")
    assert a[0].read_bytes() == b[0].read_bytes()
    assert a[0].read_bytes() != c[0].read_bytes()
    assert a[0].name == "mpd.slice.0-299.json"


def test_gzipped_slices_hold_the_same_bytes_in_a_fraction_of_the_disk(tmp_path: Path):
    config = GeneratorConfig(playlists=2500, seed=5)
    plain = generate_mpd(config, tmp_path / "plain")
    packed = generate_mpd(config, tmp_path / "packed", gzipped=True)
    assert [p.name for p in packed] == [p.name + ".gz" for p in plain]
    assert [slice_key(p.name) for p in packed] == [slice_key(p.name) for p in plain]
    for a, b in zip(plain, packed, strict=True):
        assert gzip.decompress(b.read_bytes()) == a.read_bytes()
    assert sum(p.stat().st_size for p in packed) < 0.35 * sum(p.stat().st_size for p in plain)
    assert not list((tmp_path / "packed").glob("*.tmp"))


def test_playlist_lengths_follow_mpd_shape(playlists):
    lengths = np.array([len(p["tracks"]) for p in playlists])
    assert lengths.min() >= 5 and lengths.max() <= 250
    assert 55 <= lengths.mean() <= 80  # MPD: mean 66
    assert np.median(lengths) < lengths.mean()  # right-skewed
    assert (lengths >= 200).any()


def test_track_popularity_is_heavy_tailed(playlists):
    counts = np.array(
        list(collections.Counter(t["track_uri"] for p in playlists for t in p["tracks"]).values())
    )
    assert (counts <= 2).mean() > 0.5  # most tracks in one or two playlists
    assert counts.max() > 0.02 * len(playlists)  # a few tracks in many playlists
    assert counts.max() < 0.25 * len(playlists)


def test_artists_have_albums_of_several_tracks(playlists):
    albums_per_artist = collections.defaultdict(set)
    tracks_per_album = collections.defaultdict(set)
    for p in playlists:
        for t in p["tracks"]:
            albums_per_artist[t["artist_uri"]].add(t["album_uri"])
            tracks_per_album[t["album_uri"]].add(t["track_uri"])
    assert max(len(v) for v in albums_per_artist.values()) >= 3
    assert np.mean([len(v) for v in tracks_per_album.values()]) > 1.5


def test_duplicates_within_a_playlist_are_rare_but_present(playlists):
    with_dup = sum(
        len(p["tracks"]) != len({t["track_uri"] for t in p["tracks"]}) for p in playlists
    )
    assert 0 < with_dup / len(playlists) < 0.06


def _artist_sets(playlists, words):
    return [
        {t["artist_uri"] for t in p["tracks"]}
        for p in playlists
        if p["name"].lower().strip(" 🔥😎💯🎶✨🌴❤️🙏") in words
    ]


def test_titles_correlate_with_genre_so_same_title_playlists_share_artists(playlists):
    rng = np.random.default_rng(0)

    def mean_jaccard(sets_a, sets_b):
        scores = []
        for _ in range(400):
            a = sets_a[rng.integers(len(sets_a))]
            b = sets_b[rng.integers(len(sets_b))]
            if a is not b:
                scores.append(len(a & b) / len(a | b))
        return float(np.mean(scores))

    country = _artist_sets(playlists, set(GENRE_TITLES["country"]))
    metal = _artist_sets(playlists, set(GENRE_TITLES["metal"]))
    assert len(country) > 10 and len(metal) > 10
    within = mean_jaccard(country, country)
    across = mean_jaccard(country, metal)
    assert within > 3 * across
