"""Every statement the service runs: parameterised, read-only.

Each statement names `track_model` first (the `published` CTE) and returns the version it read,
so one statement always reads one published version (see algorhythms_store.schema) and a
request that runs two statements can tell whether a swap came between them.
"""

from algorhythms_store.schema import (
    ARTIST_NEIGHBORS,
    MODEL_VERSIONS,
    PLAYLIST_MEMBERS,
    PLAYLIST_VECTORS,
    SEARCH_DOCUMENT,
    TITLE_TRACKS,
    TRACK_MAP,
    TRACK_MODEL,
    TRACK_NEIGHBORS,
    TRACK_STATS,
    TRACK_VECTORS,
)
from algorhythms_store.schema import WHOLE_TITLES as WHOLE_TITLE_TABLE

PUBLISHED = f"WITH published AS (SELECT version, dimension FROM {TRACK_MODEL}) "
TRACK_FIELDS = "t.id, t.uri, t.name, t.artist, t.album"

VERSION = PUBLISHED + "SELECT version, dimension FROM published"

# The version's models: cold-start spec and arrays, and the ranker (a version published before
# rankers existed has no ranker column: MODELS_WITHOUT_RANKER).
MODELS = f"SELECT version, coldstart_spec, coldstart_arrays, ranker FROM {TRACK_MODEL}"
MODELS_WITHOUT_RANKER = f"SELECT version, coldstart_spec, coldstart_arrays, NULL FROM {TRACK_MODEL}"

# The %(k)s most popular track ids, best first: by the ranking statistics when the version has
# them (the ranker's popularity), else by the catalogue's playlist counts.
POPULAR = (
    PUBLISHED
    + f""", ranked AS (
    SELECT track_id AS id FROM {TRACK_STATS} ORDER BY popularity DESC, track_id LIMIT %(k)s
),
counted AS (
    SELECT id FROM {TRACK_VECTORS} WHERE NOT EXISTS (SELECT FROM ranked)
    ORDER BY num_playlists DESC, id LIMIT %(k)s
)
SELECT p.version, array(SELECT id FROM ranked UNION ALL SELECT id FROM counted)
FROM published p"""
)

# The request's catalogue tracks among %(uris)s: id, artist id (null without ranking
# statistics), name, artist and album (what the reasons of an answer name them by).
RESOLVE = (
    PUBLISHED
    + f"""SELECT p.version, t.uri, t.id, s.artist_id, t.name, t.artist, t.album
FROM published p LEFT JOIN {TRACK_VECTORS} t ON t.uri = ANY(%(uris)s)
LEFT JOIN {TRACK_STATS} s ON s.track_id = t.id"""
)

TRACK = (
    PUBLISHED
    + f"""SELECT p.version, {TRACK_FIELDS}, t.duration_ms, t.num_playlists, t.degree
FROM published p LEFT JOIN {TRACK_VECTORS} t ON t.uri = %(uri)s"""
)

# The fields of the tracks %(ids)s.
TRACKS = (
    PUBLISHED
    + f"""SELECT p.version, {TRACK_FIELDS}
FROM published p LEFT JOIN {TRACK_VECTORS} t ON t.id = ANY(%(ids)s::int[])"""
)

# The %(k)s nearest tracks to the track %(uri)s by cosine distance (the HNSW index's operator):
# (version, the track's id, then id, uri, name, artist, album, distance, then the track's name,
# artist and album); null ids when the track is unknown, null fields when there are none.
NEAREST_TO_TRACK = (
    PUBLISHED
    + f""", seed AS (
    SELECT id, uri, name, artist, album, embedding FROM {TRACK_VECTORS} WHERE uri = %(uri)s
)
SELECT p.version, (SELECT id FROM seed), n.id, n.uri, n.name, n.artist, n.album, n.distance,
    (SELECT name FROM seed), (SELECT artist FROM seed), (SELECT album FROM seed)
FROM published p LEFT JOIN LATERAL (
    SELECT t.*, t.embedding <=> (SELECT embedding FROM seed) AS distance FROM {TRACK_VECTORS} t
    WHERE EXISTS (SELECT FROM seed) AND t.id <> (SELECT id FROM seed)
    ORDER BY t.embedding <=> (SELECT embedding FROM seed) LIMIT %(k)s
) n ON true"""
)

# The fields and vectors of the tracks %(ids)s: what a diverse answer is re-ranked by.
TRACK_VECTORS_OF = (
    PUBLISHED
    + f"""SELECT p.version, {TRACK_FIELDS}, t.embedding
FROM published p LEFT JOIN {TRACK_VECTORS} t ON t.id = ANY(%(ids)s::int[])"""
)

# The %(k)s playlists nearest to the vector %(q)s by cosine distance (HNSW), but %(pid)s:
# (version, pid, name, length, a few track ids, distance); null pids when there are none.
SIMILAR_PLAYLISTS = (
    PUBLISHED
    + f"""SELECT p.version, s.pid, s.name, s.length, s.track_ids, s.distance
FROM published p LEFT JOIN LATERAL (
    SELECT v.pid, v.name, v.length, v.track_ids, v.embedding <=> %(q)s::vector AS distance
    FROM {PLAYLIST_VECTORS} v WHERE v.pid IS DISTINCT FROM %(pid)s::int
    ORDER BY v.embedding <=> %(q)s::vector LIMIT %(k)s
) s ON true"""
)

# The vector of the playlist %(pid)s (null when there is no such playlist).
PLAYLIST_VECTOR = (
    PUBLISHED
    + f"""SELECT p.version, v.embedding
FROM published p LEFT JOIN {PLAYLIST_VECTORS} v ON v.pid = %(pid)s::int"""
)

# The live version's record: when it was published, the figures recorded with it, and how
# many tracks it holds (counted by the publish).
MODEL_INFO = (
    PUBLISHED
    + f"""SELECT p.version, p.dimension, v.published_at, v.metrics, v.rows
FROM published p LEFT JOIN {MODEL_VERSIONS} v ON v.version = p.version"""
)

# The embedding map's points: (version, uri, name, artist, x, y); null uris when there are none.
MAP = (
    PUBLISHED
    + f"""SELECT p.version, m.uri, m.name, m.artist, m.x, m.y
FROM published p LEFT JOIN LATERAL (
    SELECT t.uri, t.name, t.artist, m.x, m.y
    FROM {TRACK_MAP} m JOIN {TRACK_VECTORS} t ON t.id = m.track_id
    ORDER BY t.num_playlists DESC, t.id
) m ON true"""
)


def _seed_neighbors(param: str) -> str:
    """The (src, dst, weight) item-kNN pairs of the seeds %(<param>)s: `track_neighbors` holds
    one row of arrays per source track (algorhythms_store.schema)."""
    return f"""(
    SELECT n.src, u.dst, u.weight
    FROM {TRACK_NEIGHBORS} n CROSS JOIN LATERAL unnest(n.dst, n.weight) AS u(dst, weight)
    WHERE n.src = ANY(%({param})s::int[])
)"""


def _seed_neighbor_rows(param: str) -> str:
    """The same pairs from a version published with one `track_neighbors` row per pair."""
    return (
        f"""(SELECT src, dst, weight FROM {TRACK_NEIGHBORS} WHERE src = ANY(%({param})s::int[]))"""
    )


# Songs: candidates from two sources, item-kNN (the summed neighbour weights of the catalogue
# seeds %(seeds)s, scaled so the best candidate has 1) and the nearest tracks to the query
# vector (HNSW). The query is the normalised sum of the seeds' unit vectors and %(cold)s (the sum
# of the cold-start model's unit vectors for described unknown songs; null without). Score =
# knn + %(embedding_weight)s * cosine(query, candidate) - %(dislike_weight)s * max(0, the
# candidate's highest cosine to a disliked track %(dislikes)s). The %(exclude)s ids are left
# out; the best %(k)s come back with the seed of their heaviest neighbour row (null when item-kNN
# did not find them) and whether the vector search did, one row with null track fields when
# there are none.
_SONGS = (
    PUBLISHED
    + f""", seeds AS (SELECT embedding FROM {TRACK_VECTORS} WHERE id = ANY(%(seeds)s::int[])),
query AS (
    SELECT l2_normalize(coalesce(
        sum(l2_normalize(embedding)) + %(cold)s::vector,
        sum(l2_normalize(embedding)),
        %(cold)s::vector
    )) AS q FROM seeds
),
disliked AS MATERIALIZED (
    SELECT embedding FROM {TRACK_VECTORS} WHERE id = ANY(%(dislikes)s::int[])
),
knn AS (
    SELECT n.dst AS id, sum(n.weight) AS s,
        (array_agg(n.src ORDER BY n.weight DESC, n.src))[1] AS best
    FROM {{seed_neighbors}} n GROUP BY n.dst ORDER BY s DESC, n.dst LIMIT %(pool)s
),
ann AS (
    SELECT t.id FROM {TRACK_VECTORS} t
    ORDER BY t.embedding <=> (SELECT q FROM query) LIMIT %(pool)s
),
candidates AS (
    SELECT t.id, t.uri, t.name, t.artist, t.album,
        coalesce(k.s / nullif(max(k.s) OVER (), 0), 0)
        + %(embedding_weight)s * (1 - (t.embedding <=> (SELECT q FROM query)))
        - %(dislike_weight)s * greatest(0, coalesce(
            (SELECT max(1 - (t.embedding <=> d.embedding)) FROM disliked d), 0
        )) AS score,
        k.best, t.id IN (SELECT id FROM ann) AS near
    FROM (SELECT id FROM knn UNION SELECT id FROM ann) c
    JOIN {TRACK_VECTORS} t ON t.id = c.id LEFT JOIN knn k ON k.id = c.id
    WHERE t.id <> ALL(%(exclude)s::int[])
)
SELECT p.version, n.id, n.uri, n.name, n.artist, n.album, n.score, n.best, n.near
FROM published p LEFT JOIN LATERAL (
    SELECT * FROM candidates ORDER BY score DESC, id LIMIT %(k)s
) n ON true"""
)

SONGS = _SONGS.replace("{seed_neighbors}", _seed_neighbors("seeds"))
SONGS_FROM_NEIGHBOR_ROWS = _SONGS.replace("{seed_neighbors}", _seed_neighbor_rows("seeds"))

# The `title_tracks` rows of the title keys %(keys)s as arrays (whole title?, track, score,
# key playlists), scored by algorhythms_store.ranking.title_scores.
TITLE_ARRAYS = f"""SELECT array_agg(key LIKE '=%%')::bool[] AS exact,
    array_agg(track_id)::int4[] AS track, array_agg(score)::float4[] AS score,
    array_agg(key_playlists)::float4[] AS key_playlists
FROM {TITLE_TRACKS} WHERE key = ANY(%(keys)s)"""

# Every whole title, how many playlists carry it and its `title_tracks` rows as arrays: the
# similar-title index (algorhythms_store.title_index), built once per version.
WHOLE_TITLES = (
    PUBLISHED
    + f"""SELECT p.version, w.key, w.playlists, w.track_ids, w.scores
FROM published p LEFT JOIN LATERAL (SELECT * FROM {WHOLE_TITLE_TABLE}) w ON true"""
)

# The same, for a version published without `whole_titles`: grouped from `title_tracks`.
WHOLE_TITLES_FROM_TITLE_TRACKS = (
    PUBLISHED
    + f"""SELECT p.version, w.key, w.playlists, w.track_ids, w.scores
FROM published p LEFT JOIN LATERAL (
    SELECT key, min(key_playlists) AS playlists,
        array_agg(track_id ORDER BY track_id)::int4[] AS track_ids,
        array_agg(score ORDER BY track_id)::float4[] AS scores
    FROM {TITLE_TRACKS} WHERE left(key, 1) = '=' GROUP BY key
) w ON true"""
)

HAS_WHOLE_TITLES = f"SELECT to_regclass('{WHOLE_TITLE_TABLE}') IS NOT NULL"

TITLES = (
    PUBLISHED
    + f"""SELECT p.version, w.key, w.key_playlists
FROM published p LEFT JOIN LATERAL (
    SELECT key, min(key_playlists) AS key_playlists FROM {TITLE_TRACKS}
    WHERE left(key, 1) = '=' GROUP BY key
) w ON true"""
)

TITLES = (
    PUBLISHED
    + f"""SELECT p.version, x.exact, x.track, x.score, x.key_playlists
FROM published p, LATERAL ({TITLE_ARRAYS}) x"""
)

# Full-text match on name and artist (the GIN index's expression), prefix-matching each word.
SEARCH = (
    PUBLISHED
    + f"""SELECT p.version, {TRACK_FIELDS}, t.num_playlists, t.rank
FROM published p LEFT JOIN LATERAL (
    SELECT *, ts_rank({SEARCH_DOCUMENT}, to_tsquery('simple', %(query)s)) AS rank
    FROM {TRACK_VECTORS}
    WHERE {SEARCH_DOCUMENT} @@ to_tsquery('simple', %(query)s)
    ORDER BY rank DESC, num_playlists DESC, id LIMIT %(k)s
) t ON true"""
)


# --- the ranked playlist path (algorhythms_store.ranking): what an Evidence is made of -------
# Run with binary=True (serving.arrays): one row of arrays is far cheaper to read than
# thousands of rows.

# The song vectors of the tracks with ids from %(low)s up to %(high)s: their ids in order, and
# their vectors in that order as one (ids x dimension) array (serving.arrays reads it
# flattened); and the largest id. The ranker's embedding features read them from memory.
SONG_VECTORS = (
    PUBLISHED
    + f"""SELECT p.version, v.id, v.vectors, (SELECT max(id) FROM {TRACK_VECTORS})
FROM published p, LATERAL (
    SELECT array_agg(id ORDER BY id)::int4[] AS id,
        array_agg(embedding::real[] ORDER BY id)::float4[] AS vectors
    FROM {TRACK_VECTORS} WHERE id >= %(low)s AND id < %(high)s
) v"""
)

# Everything the tables say about a playlist with the catalogue seeds %(ids)s, their artists
# %(artists)s and the title keys %(keys)s, in one row: the seeds' neighbours (src, dst, weight);
# the %(n)s playlists most similar to the seeds (shared seeds / sqrt(length); ties: smaller pid)
# as (pid, overlap, length) and their members (pid, track); the artists' neighbours (src, dst,
# weight) and %(artist_tracks)s most popular tracks each; the title rows (whole title?, track,
# score, key playlists); and the %(nearest)s tracks nearest to the seeds' mean song vector %(q)s
# (the HNSW index, seeds included: a filter on them made the index scan on past its candidate
# list; none when it is null). Arrays are null where empty.
_EVIDENCE = (
    PUBLISHED
    + f""", neighbors AS (
    SELECT array_agg(n.src)::int4[] AS src, array_agg(n.dst)::int4[] AS dst,
        array_agg(n.weight)::float4[] AS weight
    FROM {{seed_neighbors}} n
),
top AS (
    SELECT pid, count(*) AS overlap, max(length) AS length
    FROM {PLAYLIST_MEMBERS} WHERE track_id = ANY(%(ids)s::int[])
    GROUP BY pid
    ORDER BY count(*) / sqrt(greatest(max(length), 1)::float8) DESC, pid
    LIMIT %(n)s
),
playlists AS (
    SELECT array_agg(pid)::int4[] AS pid, array_agg(overlap)::float4[] AS overlap,
        array_agg(length)::float4[] AS length
    FROM top
),
members AS (
    SELECT array_agg(m.pid)::int4[] AS pid, array_agg(m.track_id)::int4[] AS track
    FROM top JOIN {PLAYLIST_MEMBERS} m ON m.pid = top.pid
),
artists AS (
    SELECT array_agg(src)::int4[] AS src, array_agg(dst)::int4[] AS dst,
        array_agg(weight)::float4[] AS weight
    FROM {ARTIST_NEIGHBORS} WHERE src = ANY(%(artists)s::int[])
),
artist_tracks AS (
    SELECT array_agg(x.track_id)::int4[] AS track
    FROM unnest(%(artists)s::int[]) AS artist(id) CROSS JOIN LATERAL (
        SELECT track_id FROM {TRACK_STATS} WHERE artist_id = artist.id
        ORDER BY popularity DESC, track_id LIMIT %(artist_tracks)s
    ) x
),
titles AS ({TITLE_ARRAYS}),
nearest AS (
    SELECT array_agg(id)::int4[] AS id FROM (
        SELECT t.id FROM {TRACK_VECTORS} t
        WHERE %(q)s::vector IS NOT NULL
        ORDER BY t.embedding <=> %(q)s::vector LIMIT %(nearest)s
    ) x
)
SELECT p.version, n.src, n.dst, n.weight, l.pid, l.overlap, l.length, m.pid, m.track,
    a.src, a.dst, a.weight, t.track, x.exact, x.track, x.score, x.key_playlists, e.id
FROM published p, neighbors n, playlists l, members m, artists a, artist_tracks t, titles x,
    nearest e"""
)

EVIDENCE = _EVIDENCE.replace("{seed_neighbors}", _seed_neighbors("ids"))
EVIDENCE_FROM_NEIGHBOR_ROWS = _EVIDENCE.replace("{seed_neighbors}", _seed_neighbor_rows("ids"))

# The ranking statistics of the tracks %(ids)s, as arrays (null when there are none).
STATS = (
    PUBLISHED
    + f"""SELECT p.version, s.track_id, s.popularity, s.artist_id, s.artist_popularity,
    s.artist_tracks_popularity
FROM published p, LATERAL (
    SELECT array_agg(track_id)::int4[] AS track_id, array_agg(popularity)::int4[] AS popularity,
        array_agg(artist_id)::int4[] AS artist_id,
        array_agg(artist_popularity)::int4[] AS artist_popularity,
        array_agg(artist_tracks_popularity)::int8[] AS artist_tracks_popularity
    FROM {TRACK_STATS} WHERE track_id = ANY(%(ids)s::int[])
) s"""
)
