"""The published tables.

A version is published as a set of tables swapped in together:

- `track_model`: one row: the version, the vector dimension, and the cold-start model
  (its JSON spec and its arrays as an .npz blob).
- `track_vectors`: one row per track: id, uri, name, artist, album, duration_ms,
  num_playlists, degree (graph neighbours; 0 means the vector was not trained on edges) and
  `embedding vector(dim)`, with an HNSW index (`vector_cosine_ops`, query with `<=>`), a
  full-text index over name and artist, and a popularity index.
- `track_neighbors`: item-kNN lists: one row per track (src) with its most frequent
  co-occurring tracks and their cosine weights as two arrays (dst, weight), heaviest first
  (ties: the smaller dst). A row per pair would cost a tuple header and a (src, dst) key entry
  for each of its 8 bytes of payload: the arrays take about a seventh of the disk, and a
  playlist's neighbours are one primary-key lookup per seed (`unnest(dst, weight)`).
- `title_tracks`: playlist-title key (algorhythms_store.text.title_keys) -> track and score
  (the share of playlists with that key that hold the track), and how many playlists carry
  the key.
- `whole_titles`: one row per whole-title key of `title_tracks` ("=" keys): how many playlists
  carry it and its rows as arrays (track ids, scores), what the service's similar-title index
  (algorhythms_store.title_index) is built from and answers with, read once per version.
- `playlist_members`: (pid, track_id, length) of the training playlists, indexed by track
  (which playlists hold a seed) and by playlist (what they hold): playlist-kNN.
- `track_stats`: per track its artist id, popularity, its artist's popularity and the sum of
  its artist's tracks' popularity; indexed by artist and popularity (an artist's top tracks).
- `artist_neighbors`: artist -> its most frequent co-occurring artists, cosine weights.
- `playlist_vectors`: one row per ingested playlist: pid, name, length (its distinct catalogue
  tracks), track_ids (its first 5 distinct tracks in playlist order) and `embedding
  vector(dim)`, the normalised mean of its tracks' unit vectors, with an HNSW index
  (`vector_cosine_ops`): similar playlists.
- `track_map`: the 2D layout (x, y) of the most popular tracks' vectors, for the embedding map.
- `track_model` also holds the playlist ranker (a LightGBM text model,
  algorhythms_store.ranking).

`model_versions` is not swapped: it records every publish (time, run id, rows, dimension,
metrics, status: loading, live, previous, retired or failed).

Locking rule, so that a reader never sees two versions in one statement and never deadlocks
with a swap: every reader statement names `track_model` first (a `WITH published AS (SELECT
version FROM track_model)` prefix), and the swap locks `track_model` first.

`PUBLISHED_TABLES` is the registry, in lock order: each table's columns (PostgreSQL type,
binary COPY type, nullability, default), primary key and indexes. The staging tables and
their indexes are generated from it, and publishing loads and swaps exactly these tables.
"""

from __future__ import annotations

from dataclasses import dataclass

TRACK_MODEL = "track_model"
TRACK_VECTORS = "track_vectors"
TITLE_TRACKS = "title_tracks"
WHOLE_TITLES = "whole_titles"
TRACK_NEIGHBORS = "track_neighbors"
PLAYLIST_MEMBERS = "playlist_members"
TRACK_STATS = "track_stats"
ARTIST_NEIGHBORS = "artist_neighbors"
PLAYLIST_VECTORS = "playlist_vectors"
TRACK_MAP = "track_map"
MODEL_VERSIONS = "model_versions"
STAGING = "_staging"
PREVIOUS = "_previous"

SEARCH_DOCUMENT = "to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(artist, ''))"


@dataclass(frozen=True)
class ColumnType:
    """A column type as CREATE TABLE writes it (`{dimension}` stands for the vector dimension)
    and as binary COPY sends it."""

    sql: str
    copy: str


INTEGER = ColumnType("integer", "int4")
BIGINT = ColumnType("bigint", "int8")
REAL = ColumnType("real", "float4")
TEXT = ColumnType("text", "text")
JSONB = ColumnType("jsonb", "jsonb")
BYTEA = ColumnType("bytea", "bytea")
TIMESTAMPTZ = ColumnType("timestamptz", "timestamptz")
VECTOR = ColumnType("vector({dimension})", "vector")
INTEGER_ARRAY = ColumnType("integer[]", "int4[]")
REAL_ARRAY = ColumnType("real[]", "float4[]")


@dataclass(frozen=True)
class Column:
    """A column; one with a default is left out of a version's rows and filled by PostgreSQL."""

    name: str
    type: ColumnType
    nullable: bool = False
    default: str | None = None

    def ddl(self, dimension: int) -> str:
        sql_type = self.type.sql.format(dimension=int(dimension))
        null = "" if self.nullable else " NOT NULL"
        default = "" if self.default is None else f" DEFAULT {self.default}"
        return f"{self.name} {sql_type}{null}{default}"


@dataclass(frozen=True)
class Index:
    """A secondary index: named `<table>_v<version>_<suffix>`; `definition` follows
    `ON <table>` and may name the HNSW settings `{m}` and `{ef_construction}`."""

    suffix: str
    definition: str
    unique: bool = False


@dataclass(frozen=True)
class Table:
    """A published table: its columns in load order, primary key and indexes."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()

    @property
    def row_columns(self) -> tuple[Column, ...]:
        """The columns a version's rows give values for, in row order."""
        return tuple(c for c in self.columns if c.default is None)

    def staging_ddl(self, dimension: int) -> str:
        columns = ",\n    ".join(c.ddl(dimension) for c in self.columns)
        return f"CREATE TABLE {self.name}{STAGING} (\n    {columns}\n)"

    def index_ddl(self, version: int, m: int, ef_construction: int) -> list[str]:
        """The primary key, then the indexes, on the staging table; names carry the version,
        so they stay unique while old and new tables exist side by side."""
        staging, prefix = f"{self.name}{STAGING}", f"{self.name}_v{int(version)}"
        statements = []
        if self.primary_key:
            statements.append(
                f"ALTER TABLE {staging} ADD CONSTRAINT {prefix}_pkey "
                f"PRIMARY KEY ({', '.join(self.primary_key)})"
            )
        for index in self.indexes:
            unique = "UNIQUE " if index.unique else ""
            definition = index.definition.format(m=int(m), ef_construction=int(ef_construction))
            statements.append(
                f"CREATE {unique}INDEX {prefix}_{index.suffix} ON {staging} {definition}"
            )
        return statements


HNSW_COSINE = (
    "USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef_construction})"
)


def _neighbors(name: str) -> Table:
    columns = (Column("src", INTEGER), Column("dst", INTEGER), Column("weight", REAL))
    return Table(name, columns, primary_key=("src", "dst"))


def _neighbor_lists(name: str) -> Table:
    columns = (Column("src", INTEGER), Column("dst", INTEGER_ARRAY), Column("weight", REAL_ARRAY))
    return Table(name, columns, primary_key=("src",))


# In lock order: track_model first.
PUBLISHED_TABLES = (
    Table(
        TRACK_MODEL,
        (
            Column("version", BIGINT),
            Column("dimension", INTEGER),
            Column("published_at", TIMESTAMPTZ, default="now()"),
            Column("coldstart_spec", JSONB, nullable=True),
            Column("coldstart_arrays", BYTEA, nullable=True),
            Column("ranker", TEXT, nullable=True),
        ),
    ),
    Table(
        TRACK_VECTORS,
        (
            Column("id", INTEGER),
            Column("uri", TEXT),
            Column("name", TEXT, nullable=True),
            Column("artist", TEXT, nullable=True),
            Column("album", TEXT, nullable=True),
            Column("duration_ms", INTEGER, nullable=True),
            Column("num_playlists", INTEGER),
            Column("degree", INTEGER),
            Column("embedding", VECTOR),
        ),
        primary_key=("id",),
        indexes=(
            Index("uri", "(uri)", unique=True),
            Index("popularity", "(num_playlists DESC, id)"),
            Index("search", f"USING gin (({SEARCH_DOCUMENT}))"),
            Index("embedding", HNSW_COSINE),
        ),
    ),
    Table(
        TITLE_TRACKS,
        (
            Column("key", TEXT),
            Column("track_id", INTEGER),
            Column("score", REAL),
            Column("key_playlists", INTEGER),
        ),
        primary_key=("key", "track_id"),
        indexes=(Index("score", "(key, score DESC)"),),
    ),
    Table(
        WHOLE_TITLES,
        (
            Column("key", TEXT),
            Column("playlists", INTEGER),
            Column("track_ids", INTEGER_ARRAY),
            Column("scores", REAL_ARRAY),
        ),
        primary_key=("key",),
    ),
    _neighbor_lists(TRACK_NEIGHBORS),
    Table(
        PLAYLIST_MEMBERS,
        (Column("pid", INTEGER), Column("track_id", INTEGER), Column("length", INTEGER)),
        primary_key=("pid", "track_id"),
        indexes=(Index("track", "(track_id) INCLUDE (pid, length)"),),
    ),
    Table(
        TRACK_STATS,
        (
            Column("track_id", INTEGER),
            Column("artist_id", INTEGER),
            Column("popularity", INTEGER),
            Column("artist_popularity", INTEGER),
            Column("artist_tracks_popularity", BIGINT),
        ),
        primary_key=("track_id",),
        indexes=(Index("artist", "(artist_id, popularity DESC, track_id)"),),
    ),
    _neighbors(ARTIST_NEIGHBORS),
    Table(
        PLAYLIST_VECTORS,
        (
            Column("pid", INTEGER),
            Column("name", TEXT, nullable=True),
            Column("length", INTEGER),
            Column("track_ids", INTEGER_ARRAY),
            Column("embedding", VECTOR),
        ),
        primary_key=("pid",),
        indexes=(Index("embedding", HNSW_COSINE),),
    ),
    Table(
        TRACK_MAP,
        (Column("track_id", INTEGER), Column("x", REAL), Column("y", REAL)),
        primary_key=("track_id",),
    ),
)


def published_table(name: str) -> Table:
    """The published table called `name`."""
    return next(t for t in PUBLISHED_TABLES if t.name == name)


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
    return {t.name: t.staging_ddl(dimension) for t in PUBLISHED_TABLES}


def index_ddl(version: int, m: int, ef_construction: int) -> list[str]:
    """Keys and indexes built on the loaded staging tables, table by table in lock order."""
    return [s for t in PUBLISHED_TABLES for s in t.index_ddl(version, m, ef_construction)]
