"""The published tables.

A version is published as a set of tables swapped in together:

- `track_model`: one row: the version, the vector dimension, and the cold-start model
  (its JSON spec and its arrays as an .npz blob).
- `track_vectors`: one row per track: id, uri, name, artist, album, duration_ms,
  num_playlists, degree (graph neighbours; 0 means the vector was not trained on edges) and
  `embedding vector(dim)`, with an HNSW index (`vector_cosine_ops`, query with `<=>`), a
  full-text index over name and artist, and a popularity index.
- `track_neighbors`: item-kNN lists: track -> its most frequent co-occurring tracks, with
  cosine weights (primary key (src, dst), so a playlist's neighbours are an index range scan).
- `title_tracks`: playlist-title key (algorhythms_store.text.title_keys) -> track and score
  (the share of playlists with that key that hold the track), and how many playlists carry
  the key.
- `playlist_members`: (pid, track_id, length) of the training playlists, indexed by track
  (which playlists hold a seed) and by playlist (what they hold): playlist-kNN.
- `track_stats`: per track its artist id, popularity, its artist's popularity and the sum of
  its artist's tracks' popularity; indexed by artist and popularity (an artist's top tracks).
- `artist_neighbors`: artist -> its most frequent co-occurring artists, cosine weights.
- `track_model` also holds the playlist ranker (a LightGBM text model,
  algorhythms_store.ranking).

`model_versions` is not swapped: it records every publish (time, run id, rows, dimension,
metrics, status: loading, live, previous, retired or failed).

Locking rule, so that a reader never sees two versions in one statement and never deadlocks
with a swap: every reader statement names `track_model` first (a `WITH published AS (SELECT
version FROM track_model)` prefix), and the swap locks `track_model` first.
"""

from __future__ import annotations

TRACK_MODEL = "track_model"
TRACK_VECTORS = "track_vectors"
TITLE_TRACKS = "title_tracks"
TRACK_NEIGHBORS = "track_neighbors"
PLAYLIST_MEMBERS = "playlist_members"
TRACK_STATS = "track_stats"
ARTIST_NEIGHBORS = "artist_neighbors"
MODEL_VERSIONS = "model_versions"
# Lock order: track_model first.
PUBLISHED = (
    TRACK_MODEL,
    TRACK_VECTORS,
    TITLE_TRACKS,
    TRACK_NEIGHBORS,
    PLAYLIST_MEMBERS,
    TRACK_STATS,
    ARTIST_NEIGHBORS,
)
STAGING = "_staging"
PREVIOUS = "_previous"

TRACK_COLUMNS = (
    "id",
    "uri",
    "name",
    "artist",
    "album",
    "duration_ms",
    "num_playlists",
    "degree",
    "embedding",
)
TRACK_TYPES = ("int4", "text", "text", "text", "text", "int4", "int4", "int4", "vector")
TITLE_COLUMNS = ("key", "track_id", "score", "key_playlists")
TITLE_TYPES = ("text", "int4", "float4", "int4")
MEMBER_COLUMNS = ("pid", "track_id", "length")
MEMBER_TYPES = ("int4", "int4", "int4")
STATS_COLUMNS = (
    "track_id",
    "artist_id",
    "popularity",
    "artist_popularity",
    "artist_tracks_popularity",
)
STATS_TYPES = ("int4", "int4", "int4", "int4", "int8")
NEIGHBOR_COLUMNS = ("src", "dst", "weight")
NEIGHBOR_TYPES = ("int4", "int4", "float4")

SEARCH_DOCUMENT = "to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(artist, ''))"

MODEL_VERSIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {MODEL_VERSIONS} (
    version bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    run_id text,
    status text NOT NULL,
    rows bigint,
    dimension integer,
    metrics jsonb NOT NULL DEFAULT '{{}}',
    error text
)
"""


def staging_ddl(dimension: int) -> dict[str, str]:
    """CREATE TABLE statements for the staging copies of the published tables."""
    return {
        TRACK_MODEL: f"""CREATE TABLE {TRACK_MODEL}{STAGING} (
            version bigint NOT NULL,
            dimension integer NOT NULL,
            published_at timestamptz NOT NULL DEFAULT now(),
            coldstart_spec jsonb,
            coldstart_arrays bytea,
            ranker text
        )""",
        TRACK_VECTORS: f"""CREATE TABLE {TRACK_VECTORS}{STAGING} (
            id integer NOT NULL,
            uri text NOT NULL,
            name text,
            artist text,
            album text,
            duration_ms integer,
            num_playlists integer NOT NULL,
            degree integer NOT NULL,
            embedding vector({int(dimension)}) NOT NULL
        )""",
        TITLE_TRACKS: f"""CREATE TABLE {TITLE_TRACKS}{STAGING} (
            key text NOT NULL,
            track_id integer NOT NULL,
            score real NOT NULL,
            key_playlists integer NOT NULL
        )""",
        TRACK_NEIGHBORS: f"""CREATE TABLE {TRACK_NEIGHBORS}{STAGING} (
            src integer NOT NULL,
            dst integer NOT NULL,
            weight real NOT NULL
        )""",
        PLAYLIST_MEMBERS: f"""CREATE TABLE {PLAYLIST_MEMBERS}{STAGING} (
            pid integer NOT NULL,
            track_id integer NOT NULL,
            length integer NOT NULL
        )""",
        TRACK_STATS: f"""CREATE TABLE {TRACK_STATS}{STAGING} (
            track_id integer NOT NULL,
            artist_id integer NOT NULL,
            popularity integer NOT NULL,
            artist_popularity integer NOT NULL,
            artist_tracks_popularity bigint NOT NULL
        )""",
        ARTIST_NEIGHBORS: f"""CREATE TABLE {ARTIST_NEIGHBORS}{STAGING} (
            src integer NOT NULL,
            dst integer NOT NULL,
            weight real NOT NULL
        )""",
    }


def index_ddl(version: int, m: int, ef_construction: int) -> list[str]:
    """Indexes built on the loaded staging tables; names carry the version, so they stay
    unique while old and new tables exist side by side."""
    v, tv, tt = int(version), f"{TRACK_VECTORS}{STAGING}", f"{TITLE_TRACKS}{STAGING}"
    tn = f"{TRACK_NEIGHBORS}{STAGING}"
    pm, ts, an = (f"{t}{STAGING}" for t in (PLAYLIST_MEMBERS, TRACK_STATS, ARTIST_NEIGHBORS))
    return [
        f"ALTER TABLE {tv} ADD CONSTRAINT {TRACK_VECTORS}_v{v}_pkey PRIMARY KEY (id)",
        f"CREATE UNIQUE INDEX {TRACK_VECTORS}_v{v}_uri ON {tv} (uri)",
        f"CREATE INDEX {TRACK_VECTORS}_v{v}_popularity ON {tv} (num_playlists DESC, id)",
        f"CREATE INDEX {TRACK_VECTORS}_v{v}_search ON {tv} USING gin (({SEARCH_DOCUMENT}))",
        f"CREATE INDEX {TRACK_VECTORS}_v{v}_embedding ON {tv} USING hnsw "
        f"(embedding vector_cosine_ops) "
        f"WITH (m = {int(m)}, ef_construction = {int(ef_construction)})",
        f"ALTER TABLE {tt} ADD CONSTRAINT {TITLE_TRACKS}_v{v}_pkey PRIMARY KEY (key, track_id)",
        f"CREATE INDEX {TITLE_TRACKS}_v{v}_score ON {tt} (key, score DESC)",
        f"ALTER TABLE {tn} ADD CONSTRAINT {TRACK_NEIGHBORS}_v{v}_pkey PRIMARY KEY (src, dst)",
        f"ALTER TABLE {pm} ADD CONSTRAINT {PLAYLIST_MEMBERS}_v{v}_pkey PRIMARY KEY (pid, track_id)",
        f"CREATE INDEX {PLAYLIST_MEMBERS}_v{v}_track ON {pm} (track_id) INCLUDE (pid, length)",
        f"ALTER TABLE {ts} ADD CONSTRAINT {TRACK_STATS}_v{v}_pkey PRIMARY KEY (track_id)",
        f"CREATE INDEX {TRACK_STATS}_v{v}_artist ON {ts} (artist_id, popularity DESC, track_id)",
        f"ALTER TABLE {an} ADD CONSTRAINT {ARTIST_NEIGHBORS}_v{v}_pkey PRIMARY KEY (src, dst)",
    ]
