"""Realistic synthetic data in the Million Playlist Dataset slice format.

The generator draws a catalogue of artists, albums and tracks, each artist belonging to one
latent genre, with heavy-tailed popularity at every level. A playlist picks a main genre
(sometimes a second one, and a little global chart music), draws its length from MPD's
shape, samples tracks from that mixture and repeats artists it already holds, the way
people build playlists around a few artists. Titles are drawn from the main genre's
vocabulary or from a generic pool. The output is valid MPD: every field of a real slice,
1,000 playlists a file, deterministic for a seed.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from algorhythms_ml.mpd.slices import slice_file_name, slice_key_for_pids

SLICE_SIZE = 1000
ARTIST_TAIL = 2.5  # Pareto index of artist popularity: lower is more concentrated
MIN_TRACKS = 5
MAX_TRACKS = 250

# Latent genres with the words people put in titles of such playlists.
GENRE_TITLES: dict[str, list[str]] = {
    "chill": ["chill", "chill vibes", "chillin", "relax", "mellow", "lazy sunday", "calm"],
    "workout": ["workout", "gym", "running", "cardio", "lift", "pump up", "beast mode"],
    "country": ["country", "country music", "country hits", "backroads", "truck songs"],
    "hiphop": ["rap", "hip hop", "bangers", "trap", "hip-hop", "rap caviar", "lit"],
    "rock": ["rock", "classic rock", "rock n roll", "guitar", "dad rock", "rock classics"],
    "pop": ["pop", "pop hits", "top hits", "radio", "sing along", "throwbacks"],
    "edm": ["edm", "house", "dance", "electronic", "festival", "club", "techno"],
    "indie": ["indie", "indie folk", "alternative", "indie rock", "coffee shop"],
    "rnb": ["r&b", "rnb", "slow jams", "soul", "smooth", "baby making music"],
    "latin": ["latin", "reggaeton", "latino", "fiesta", "salsa", "bachata"],
    "christian": ["worship", "christian", "church", "praise", "gospel", "sunday worship"],
    "metal": ["metal", "heavy", "metalcore", "screamo", "hardcore", "thrash"],
    "jazz": ["jazz", "smooth jazz", "jazz cafe", "blue note", "swing"],
    "classical": ["classical", "piano", "study music", "focus", "orchestra"],
    "sleep": ["sleep", "sleepy", "bedtime", "night", "dreams", "rain"],
    "party": ["party", "pregame", "party mix", "turn up", "saturday night"],
    "emo": ["emo", "pop punk", "feels", "sad songs", "emo nite", "breakup"],
    "oldies": ["oldies", "70s", "80s", "motown", "retro", "golden oldies"],
    "reggae": ["reggae", "island", "beach", "summer vibes", "roots"],
    "folk": ["folk", "acoustic", "campfire", "singer songwriter", "banjo"],
    "kpop": ["kpop", "k-pop", "bts", "korean", "idols"],
    "disney": ["disney", "musicals", "broadway", "kids", "soundtracks"],
    "blues": ["blues", "delta blues", "bluesy", "whiskey"],
    "funk": ["funk", "groove", "disco", "boogie", "funky"],
}
GENERIC_TITLES = [
    "my playlist",
    "music",
    "favorites",
    "summer",
    "summer 2017",
    "road trip",
    "new",
    "good vibes",
    "car",
    "driving",
    "mix",
    "random",
    "songs",
    "jams",
    "2016",
    "vibes",
    "stuff",
    "playlist",
    "liked",
    "throwback",
    "spring",
    "drive",
    "fall",
    "lit af",
]
EMOJI = ["🔥", "😎", "💯", "🎶", "✨", "🌴", "❤️", "🙏"]
SYLLABLES = [
    "ka",
    "ri",
    "lo",
    "ve",
    "na",
    "mo",
    "tu",
    "shi",
    "ra",
    "el",
    "an",
    "jo",
    "bi",
    "da",
    "zen",
    "ly",
    "or",
    "mi",
    "sa",
    "ko",
    "ne",
    "vo",
    "lu",
    "ta",
    "ge",
    "wa",
    "qui",
    "fe",
]
WORDS = [
    "love",
    "night",
    "fire",
    "heart",
    "dream",
    "city",
    "rain",
    "gold",
    "summer",
    "road",
    "light",
    "home",
    "wild",
    "blue",
    "forever",
    "dance",
    "story",
    "river",
    "sky",
    "lost",
    "young",
    "shadow",
    "echo",
    "paradise",
    "midnight",
    "diamond",
    "ocean",
    "ghost",
    "angel",
    "money",
    "sunrise",
    "highway",
    "electric",
    "bloom",
    "silver",
    "thunder",
    "velvet",
    "neon",
]
BASE62 = np.frombuffer(
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8
)


@dataclass(frozen=True)
class GeneratorConfig:
    """How much to generate and the knobs of its structure."""

    playlists: int
    seed: int = 0
    slice_size: int = SLICE_SIZE
    # Catalogue size grows sublinearly, as MPD's does: 2.26M distinct tracks at 1M playlists.
    catalogue_at_1m: int = 2_262_292
    catalogue_exponent: float = 0.45
    tracks_per_artist: float = 7.6
    # Lognormal length: MPD's median length is 49, its mean about 66.
    length_median: float = 49.0
    length_sigma: float = 0.9
    second_genre_rate: float = 0.35
    chart_rate: float = 0.05
    # Share of slots drawn uniformly from the genre's catalogue: the long tail of MPD.
    deep_cut_rate: float = 0.3
    artist_repeat_rate: float = 0.45
    duplicate_rate: float = 0.02
    description_rate: float = 0.03


@dataclass
class Catalogue:
    """Tracks grouped by artist (contiguous ids), each artist in one genre."""

    track_artist: np.ndarray  # (n_tracks,) artist index
    track_album: np.ndarray  # (n_tracks,) album index
    track_weight: np.ndarray  # (n_tracks,) popularity weight
    track_duration: np.ndarray  # (n_tracks,) milliseconds
    artist_genre: np.ndarray  # (n_artists,)
    artist_start: np.ndarray  # (n_artists,) first track id of the artist
    artist_count: np.ndarray  # (n_artists,) number of tracks of the artist
    genre_tracks: list[np.ndarray]  # per genre: track ids
    genre_cdf: list[np.ndarray]  # per genre: cumulative sampling probabilities
    chart_tracks: np.ndarray  # the most popular tracks across genres
    chart_cdf: np.ndarray
    genre_weight: np.ndarray  # probability of each genre as a playlist's main genre
    fragments: list[str]  # per track: its JSON after the "pos" field


def _uris(rng: np.random.Generator, n: int, kind: str) -> list[str]:
    codes = BASE62[rng.integers(0, 62, size=(n, 22))]
    prefix = f"spotify:{kind}:"
    return [prefix + row.tobytes().decode("ascii") for row in codes]


def _names(rng: np.random.Generator, n: int, parts: list[str], lo: int, hi: int) -> np.ndarray:
    counts = rng.integers(lo, hi + 1, size=n)
    picks = rng.integers(0, len(parts), size=int(counts.sum()))
    out, i = [], 0
    for c in counts:
        out.append(" ".join(parts[j] for j in picks[i : i + c]))
        i += c
    return np.array(out, dtype=object)


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights, dtype=np.float64)
    return cdf / cdf[-1]


def _catalogue_size(config: GeneratorConfig) -> tuple[int, int]:
    """Target numbers of tracks and artists: the catalogue grows sublinearly with playlists."""
    scale = (config.playlists / 1_000_000) ** config.catalogue_exponent
    n_tracks = max(500, int(config.catalogue_at_1m * scale))
    return n_tracks, max(50, int(n_tracks / config.tracks_per_artist))


def _tracks_per_artist(rng: np.random.Generator, n_artists: int, n_tracks: int) -> np.ndarray:
    """Heavy-tailed catalogue sizes (a few artists with large catalogues), at least 1 each,
    summing to about `n_tracks`."""
    per_artist = rng.lognormal(0.0, 1.0, size=n_artists)
    return np.maximum(1, np.round(per_artist / per_artist.sum() * n_tracks)).astype(np.int64)


def _albums(rng: np.random.Generator, n_tracks: int, artist_start: np.ndarray) -> np.ndarray:
    """Album of each track: consecutive runs of an artist's tracks, 1 to 14 tracks each."""
    album_break = rng.random(n_tracks) < 1 / 6
    album_break[artist_start] = True
    return np.cumsum(album_break) - 1


def _track_popularity(
    rng: np.random.Generator,
    track_artist: np.ndarray,
    track_album: np.ndarray,
    artist_start: np.ndarray,
) -> np.ndarray:
    """Popularity weight of each track: artist (Pareto) x album (lognormal) x track within
    artist (decaying with its rank in the artist's catalogue)."""
    n_tracks = track_artist.size
    artist_pop = rng.pareto(ARTIST_TAIL, size=artist_start.size) + 0.05
    album_pop = rng.lognormal(0.0, 1.0, size=int(track_album[-1]) + 1)
    rank_in_artist = np.arange(n_tracks) - artist_start[track_artist]
    track_pop = rng.lognormal(0.0, 1.0, size=n_tracks) / (1.0 + rank_in_artist) ** 0.5
    return artist_pop[track_artist] * album_pop[track_album] * track_pop


def _genre_pools(
    track_genre: np.ndarray, track_weight: np.ndarray, artist_start: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per genre: its track ids and their cumulative sampling probabilities by popularity."""
    genre_tracks, genre_cdf = [], []
    for g in range(len(GENRE_TITLES)):
        ids = np.flatnonzero(track_genre == g)
        if ids.size == 0:  # a tiny catalogue can leave a genre empty: borrow one artist
            first = artist_start[g % artist_start.size]
            ids = np.arange(first, first + 1)
        genre_tracks.append(ids)
        genre_cdf.append(_cdf(track_weight[ids]))
    return genre_tracks, genre_cdf


def _charts(track_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most popular tracks across genres, and their cumulative sampling probabilities
    (flattened by a square root, so the charts are not only the very top)."""
    chart_tracks = np.argsort(-track_weight)[: max(50, track_weight.size // 200)]
    return chart_tracks, _cdf(np.sqrt(track_weight[chart_tracks]))


def _durations(rng: np.random.Generator, n_tracks: int) -> np.ndarray:
    """Track lengths in milliseconds: about 3.5 minutes, between 30 seconds and 15 minutes."""
    track_duration = np.clip(rng.normal(215_000, 55_000, size=n_tracks), 30_000, 900_000)
    return track_duration.astype(np.int64)


def _track_fragments(
    rng: np.random.Generator,
    track_artist: np.ndarray,
    track_album: np.ndarray,
    track_duration: np.ndarray,
    n_artists: int,
) -> list[str]:
    """Draw names and URIs of artists, albums and tracks, and render each track's JSON after
    its "pos" field once, to be reused in every playlist that holds it."""
    n_tracks, n_albums = track_artist.size, int(track_album[-1]) + 1
    artist_names = _names(rng, n_artists, SYLLABLES, 2, 4)
    artist_names = np.array([a.replace(" ", "").title() for a in artist_names], dtype=object)
    album_names = _names(rng, n_albums, WORDS, 1, 3)
    track_names = _names(rng, n_tracks, WORDS, 1, 4)
    track_uris = _uris(rng, n_tracks, "track")
    artist_uris = _uris(rng, n_artists, "artist")
    album_uris = _uris(rng, n_albums, "album")

    def fragment(t: int, a: int, al: int) -> str:
        return (
            f', "artist_name": {json.dumps(artist_names[a])}, "track_uri": "{track_uris[t]}", '
            f'"artist_uri": "{artist_uris[a]}", '
            f'"track_name": {json.dumps(track_names[t].title())}, '
            f'"album_uri": "{album_uris[al]}", "duration_ms": {int(track_duration[t])}, '
            f'"album_name": {json.dumps(album_names[al].title())}}}'
        )

    return [
        fragment(t, a, al)
        for t, (a, al) in enumerate(zip(track_artist.tolist(), track_album.tolist(), strict=True))
    ]


def build_catalogue(config: GeneratorConfig, rng: np.random.Generator) -> Catalogue:
    """Draw artists, albums and tracks with heavy-tailed popularity."""
    n_tracks, n_artists = _catalogue_size(config)
    per_artist = _tracks_per_artist(rng, n_artists, n_tracks)
    artist_start = np.concatenate([[0], np.cumsum(per_artist)[:-1]])
    track_artist = np.repeat(np.arange(n_artists), per_artist)

    genre_weight = rng.dirichlet(np.full(len(GENRE_TITLES), 2.0))
    artist_genre = rng.choice(len(GENRE_TITLES), size=n_artists, p=genre_weight)

    track_album = _albums(rng, track_artist.size, artist_start)
    track_weight = _track_popularity(rng, track_artist, track_album, artist_start)
    genre_tracks, genre_cdf = _genre_pools(artist_genre[track_artist], track_weight, artist_start)
    chart_tracks, chart_cdf = _charts(track_weight)
    track_duration = _durations(rng, track_artist.size)
    return Catalogue(
        track_artist=track_artist,
        track_album=track_album,
        track_weight=track_weight,
        track_duration=track_duration,
        artist_genre=artist_genre,
        artist_start=artist_start,
        artist_count=per_artist,
        genre_tracks=genre_tracks,
        genre_cdf=genre_cdf,
        chart_tracks=chart_tracks,
        chart_cdf=chart_cdf,
        genre_weight=genre_weight,
        fragments=_track_fragments(rng, track_artist, track_album, track_duration, n_artists),
    )


def _sample(rng: np.random.Generator, ids: np.ndarray, cdf: np.ndarray, n: int) -> np.ndarray:
    return ids[np.minimum(np.searchsorted(cdf, rng.random(n)), ids.size - 1)]


def _playlist_tracks(
    config: GeneratorConfig, cat: Catalogue, rng: np.random.Generator, genre: int, length: int
) -> np.ndarray:
    draw = length + length // 2 + 4  # extra draws absorb duplicates
    source = np.zeros(draw, dtype=np.int8)
    if rng.random() < config.second_genre_rate:
        source[rng.random(draw) < rng.uniform(0.1, 0.4)] = 1
    source[rng.random(draw) < config.chart_rate] = 2
    tracks = np.empty(draw, dtype=np.int64)
    genres = [genre, rng.choice(len(cat.genre_tracks), p=cat.genre_weight)]
    for s in (0, 1):
        mask = source == s
        if mask.any():
            g = genres[s]
            tracks[mask] = _sample(rng, cat.genre_tracks[g], cat.genre_cdf[g], int(mask.sum()))
    mask = source == 2
    if mask.any():
        tracks[mask] = _sample(rng, cat.chart_tracks, cat.chart_cdf, int(mask.sum()))
    deep = np.flatnonzero((rng.random(draw) < config.deep_cut_rate) & (source == 0))
    if deep.size:
        own = cat.genre_tracks[genre]
        tracks[deep] = own[rng.integers(0, own.size, size=deep.size)]

    # Artist repeats: a slot takes another track by the artist of an earlier slot.
    repeat = rng.random(draw) < config.artist_repeat_rate
    repeat[0] = False
    pos = np.flatnonzero(repeat)
    if pos.size:
        earlier = (rng.random(pos.size) * pos).astype(np.int64)
        artists = cat.track_artist[tracks[earlier]]
        offset = (rng.random(pos.size) ** 2 * cat.artist_count[artists]).astype(np.int64)
        tracks[pos] = cat.artist_start[artists] + offset

    _, first = np.unique(tracks, return_index=True)
    tracks = tracks[np.sort(first)][:length]
    if tracks.size < min(length, MIN_TRACKS):  # a narrow genre: top up from the charts
        extra = np.setdiff1d(cat.chart_tracks, tracks)[: MIN_TRACKS - tracks.size]
        tracks = np.concatenate([tracks, extra])
    if 2 < tracks.size < MAX_TRACKS and rng.random() < config.duplicate_rate:
        dup = tracks[rng.integers(0, tracks.size)]
        tracks = np.insert(tracks, rng.integers(0, tracks.size + 1), dup)
    return tracks


def _title(rng: np.random.Generator, genre: int) -> str:
    genre_words = list(GENRE_TITLES.values())[genre]
    base = (
        GENERIC_TITLES[rng.integers(len(GENERIC_TITLES))]
        if rng.random() < 0.15
        else genre_words[rng.integers(len(genre_words))]
    )
    style = rng.random()
    if style < 0.45:
        base = base.lower()
    elif style < 0.8:
        base = base.title()
    elif style < 0.9:
        base = base.upper()
    if rng.random() < 0.06:
        base += " " + EMOJI[rng.integers(len(EMOJI))]
    return base


def _lengths(config: GeneratorConfig, rng: np.random.Generator, n: int) -> np.ndarray:
    lengths = rng.lognormal(np.log(config.length_median), config.length_sigma, size=n)
    return np.clip(np.round(lengths), MIN_TRACKS, MAX_TRACKS).astype(np.int64)


def _playlist_json(
    config: GeneratorConfig, cat: Catalogue, rng: np.random.Generator, pid: int, length: int
) -> str:
    genre = int(rng.choice(cat.genre_weight.size, p=cat.genre_weight))
    tracks = _playlist_tracks(config, cat, rng, genre, int(length))
    frags = cat.fragments
    body = ", ".join('{"pos": ' + str(i) + frags[t] for i, t in enumerate(tracks.tolist()))
    n_followers = int(rng.pareto(1.5) + 1) if rng.random() < 0.6 else 1
    fields = {
        "name": _title(rng, genre),
        "collaborative": "true" if rng.random() < 0.02 else "false",
        "pid": pid,
        "modified_at": int(rng.integers(1_262_304_000, 1_509_494_400)),
        "num_tracks": int(tracks.size),
        "num_albums": int(np.unique(cat.track_album[tracks]).size),
        "num_followers": n_followers,
    }
    head = json.dumps(fields)[:-1]
    tail = {
        "num_edits": int(rng.integers(1, 2 + tracks.size // 3)),
        "duration_ms": int(cat.track_duration[tracks].sum()),
        "num_artists": int(np.unique(cat.track_artist[tracks]).size),
    }
    if rng.random() < config.description_rate:
        tail["description"] = "songs for " + fields["name"].lower()
    return head + ", " + json.dumps(tail)[1:-1] + ', "tracks": [' + body + "]}"


def slice_ranges(playlists: int, slice_size: int = SLICE_SIZE) -> Iterator[tuple[int, int]]:
    """(first pid, last pid) of each slice file."""
    for start in range(0, playlists, slice_size):
        yield start, min(start + slice_size, playlists) - 1


def generate_mpd(
    config: GeneratorConfig, out: Path, log: logging.Logger | None = None, gzipped: bool = False
) -> list[Path]:
    """Write MPD slice files for `config.playlists` playlists under `out`; return their paths.
    `gzipped`: as .json.gz files (ingestion reads either), about a quarter of the disk."""
    log = log or logging.getLogger(__name__)
    if config.playlists < 1:
        raise ValueError("playlists must be at least 1")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    cat = build_catalogue(config, rng)
    log.info("catalogue: %d tracks, %d artists", len(cat.fragments), cat.artist_start.size)
    lengths = _lengths(config, rng, config.playlists)
    paths = []
    for first, last in slice_ranges(config.playlists, config.slice_size):
        info = {
            "generated_on": "2017-12-03 08:41:42.057563",
            "slice": f"{first}-{last}",
            "version": "v1",
        }
        playlists = [
            _playlist_json(config, cat, rng, pid, lengths[pid]) for pid in range(first, last + 1)
        ]
        path = out / slice_file_name(slice_key_for_pids(first, last), gzipped)
        tmp = path.with_name(path.name + ".tmp")
        text = '{"info": ' + json.dumps(info) + ', "playlists": [' + ", ".join(playlists) + "]}"
        data = text.encode("utf-8")
        tmp.write_bytes(gzip.compress(data, compresslevel=6, mtime=0) if gzipped else data)
        tmp.replace(path)
        paths.append(path)
    log.info("wrote %d slice files to %s", len(paths), out)
    return paths
