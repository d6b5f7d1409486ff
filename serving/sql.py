"""Every statement the service runs: parameterised, read-only.

Each statement names `track_model` first (the `published` CTE) and returns the version it read,
so one statement always reads one published version (see algorhythms_store.schema) and a
request that runs two statements can tell whether a swap came between them.
"""

from algorhythms_store.schema import (
    ARTIST_NEIGHBORS,
    PLAYLIST_MEMBERS,
    SEARCH_DOCUMENT,
    TITLE_TRACKS,
    TRACK_MODEL,
    TRACK_NEIGHBORS,
    TRACK_STATS,
    TRACK_VECTORS,
)

PUBLISHED = f"WITH published AS (SELECT version, dimension FROM {TRACK_MODEL}) "
TRACK_FIELDS = "t.id, t.uri, t.name, t.artist, t.album"

VERSION = PUBLISHED + "SELECT version, dimension FROM published"

COLDSTART_MODEL = f"SELECT version, coldstart_spec, coldstart_arrays FROM {TRACK_MODEL}"

# Known tracks among %(uris)s, with their vectors.
LOOKUP = (
    PUBLISHED
    + f"""SELECT p.version, t.id, t.uri, t.embedding
FROM published p LEFT JOIN {TRACK_VECTORS} t ON t.uri = ANY(%(uris)s)"""
)

TRACK = (
    PUBLISHED
    + f"""SELECT p.version, {TRACK_FIELDS}, t.duration_ms, t.num_playlists, t.degree
FROM published p LEFT JOIN {TRACK_VECTORS} t ON t.uri = %(uri)s"""
)


# Nearest tracks to %(q)s by cosine distance (the HNSW index's operator), leaving out
# %(exclude)s ids; one row with null track fields when there are none.
NEAREST = (
    PUBLISHED
    + f"""SELECT p.version, n.id, n.uri, n.name, n.artist, n.album, n.distance
FROM published p LEFT JOIN LATERAL (
    SELECT t.*, t.embedding <=> %(q)s AS distance FROM {TRACK_VECTORS} t
    WHERE t.id <> ALL(%(exclude)s)
    ORDER BY t.embedding <=> %(q)s LIMIT %(k)s
) n ON true"""
)


# Candidates for a playlist come from two sources: item-kNN (the summed neighbour weights of its
# tracks, scaled so the best candidate has 1) and the nearest tracks to the query vector (HNSW).
# A candidate's score is knn + %(embedding_weight)s * cosine(query, candidate).

# The whole answer for catalogue seeds in one statement: the seeds found among %(uris)s, the
# mean of their unit vectors as the query, both candidate sources, and the fused ranking,
# leaving out the seeds and the %(exclude)s uris.
NEAREST_TO_SEEDS = (
    PUBLISHED
    + f""", seeds AS (SELECT id, uri, embedding FROM {TRACK_VECTORS} WHERE uri = ANY(%(uris)s)),
query AS (SELECT avg(l2_normalize(embedding)) AS q FROM seeds),
knn AS (
    SELECT n.dst AS id, sum(n.weight) AS s FROM {TRACK_NEIGHBORS} n
    WHERE n.src IN (SELECT id FROM seeds) GROUP BY n.dst ORDER BY s DESC, n.dst LIMIT %(pool)s
),
ann AS (
    SELECT t.id FROM {TRACK_VECTORS} t WHERE EXISTS (SELECT FROM seeds)
    ORDER BY t.embedding <=> (SELECT q FROM query) LIMIT %(pool)s
),
candidates AS (
    SELECT t.id, t.uri, t.name, t.artist, t.album,
        coalesce(k.s / nullif(max(k.s) OVER (), 0), 0)
        + %(embedding_weight)s * (1 - (t.embedding <=> (SELECT q FROM query))) AS score
    FROM (SELECT id FROM knn UNION SELECT id FROM ann) c
    JOIN {TRACK_VECTORS} t ON t.id = c.id LEFT JOIN knn k ON k.id = c.id
    WHERE t.id NOT IN (SELECT id FROM seeds) AND t.uri <> ALL(%(exclude)s)
)
SELECT p.version, (SELECT array_agg(uri) FROM seeds), n.id, n.uri, n.name, n.artist, n.album,
    n.score
FROM published p LEFT JOIN LATERAL (
    SELECT * FROM candidates ORDER BY score DESC, id LIMIT %(k)s
) n ON true"""
)


def candidates(with_embedding: bool) -> str:
    """Both candidate sources for the query vector %(q)s and the catalogue seeds %(seed_ids)s,
    leaving out %(exclude)s ids: (version, id, uri, name, artist, album, knn, cosine[, vector]);
    one row with null track fields when there are none."""
    extra = ", t.embedding" if with_embedding else ""
    return (
        PUBLISHED
        + f""", knn AS (
    SELECT n.dst AS id, sum(n.weight) AS s FROM {TRACK_NEIGHBORS} n
    WHERE n.src = ANY(%(seed_ids)s) GROUP BY n.dst ORDER BY s DESC, n.dst LIMIT %(pool)s
),
ann AS (SELECT id FROM {TRACK_VECTORS} ORDER BY embedding <=> %(q)s LIMIT %(pool)s),
candidates AS (
    SELECT t.id, t.uri, t.name, t.artist, t.album,
        coalesce(k.s / nullif(max(k.s) OVER (), 0), 0) AS knn,
        1 - (t.embedding <=> %(q)s) AS cosine{extra}
    FROM (SELECT id FROM knn UNION SELECT id FROM ann) c
    JOIN {TRACK_VECTORS} t ON t.id = c.id LEFT JOIN knn k ON k.id = c.id
    WHERE t.id <> ALL(%(exclude)s)
)
SELECT p.version, n.* FROM published p LEFT JOIN LATERAL (SELECT * FROM candidates) n ON true"""
    )


# Tracks of playlists whose titles share keys with %(keys)s; a whole-title match counts double.
TITLE = (
    PUBLISHED
    + f"""SELECT p.version, {TRACK_FIELDS}, s.score
FROM published p LEFT JOIN LATERAL (
    SELECT track_id, sum(score * CASE WHEN key LIKE '=%%' THEN 2 ELSE 1 END) AS score
    FROM {TITLE_TRACKS} WHERE key = ANY(%(keys)s) AND track_id <> ALL(%(exclude)s)
    GROUP BY track_id ORDER BY score DESC, track_id LIMIT %(k)s
) s ON true LEFT JOIN {TRACK_VECTORS} t ON t.id = s.track_id
ORDER BY s.score DESC, t.id"""
)

POPULAR = (
    PUBLISHED
    + f"""SELECT p.version, {TRACK_FIELDS}, t.num_playlists
FROM published p LEFT JOIN LATERAL (
    SELECT * FROM {TRACK_VECTORS} WHERE id <> ALL(%(exclude)s)
    ORDER BY num_playlists DESC, id LIMIT %(k)s
) t ON true"""
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

RANKER_MODEL = f"SELECT version, ranker FROM {TRACK_MODEL}"

# The most popular tracks (ranking candidates of last resort), best first.
RANK_POPULAR = (
    PUBLISHED
    + f"""SELECT p.version, s.track_id FROM published p LEFT JOIN LATERAL (
    SELECT track_id FROM {TRACK_STATS} ORDER BY popularity DESC, track_id LIMIT %(k)s
) s ON true"""
)

# The playlist's catalogue tracks among %(uris)s: id and artist.
RANK_SEEDS = (
    PUBLISHED
    + f"""SELECT p.version, t.uri, t.id, s.artist_id
FROM published p LEFT JOIN {TRACK_VECTORS} t ON t.uri = ANY(%(uris)s)
LEFT JOIN {TRACK_STATS} s ON s.track_id = t.id"""
)

# One row of arrays: far cheaper to read than thousands of rows.
RANK_NEIGHBORS = (
    PUBLISHED
    + f"""SELECT p.version, n.src, n.dst, n.weight
FROM published p LEFT JOIN LATERAL (
    SELECT array_agg(src) AS src, array_agg(dst) AS dst, array_agg(weight) AS weight
    FROM {TRACK_NEIGHBORS} WHERE src = ANY(%(ids)s::int[])
) n ON true"""
)

# The %(n)s playlists most similar to the seeds (shared seeds / sqrt(length); ties: smaller
# pid), with their tracks.
RANK_PLAYLISTS = (
    PUBLISHED
    + f"""SELECT p.version, top.pid, top.overlap, top.length,
    (SELECT array_agg(m.track_id) FROM {PLAYLIST_MEMBERS} m WHERE m.pid = top.pid)
FROM published p LEFT JOIN LATERAL (
    SELECT pid, count(*) AS overlap, max(length) AS length
    FROM {PLAYLIST_MEMBERS} WHERE track_id = ANY(%(ids)s::int[])
    GROUP BY pid
    ORDER BY count(*) / sqrt(greatest(max(length), 1)::float8) DESC, pid
    LIMIT %(n)s
) top ON true"""
)

RANK_TITLES = (
    PUBLISHED
    + f"""SELECT p.version, t.key, t.track_id, t.score, t.key_playlists
FROM published p LEFT JOIN {TITLE_TRACKS} t ON t.key = ANY(%(keys)s)"""
)

# Neighbours of the artists %(artists)s, and each artist's %(n)s most popular tracks.
RANK_ARTISTS = (
    PUBLISHED
    + f"""SELECT p.version, a.src, a.dst, a.weight, NULL::int
FROM published p LEFT JOIN {ARTIST_NEIGHBORS} a ON a.src = ANY(%(artists)s::int[])
UNION ALL
SELECT p.version, NULL, NULL, NULL, x.track_id
FROM published p CROSS JOIN unnest(%(artists)s::int[]) AS artist(id)
CROSS JOIN LATERAL (
    SELECT track_id FROM {TRACK_STATS} WHERE artist_id = artist.id
    ORDER BY popularity DESC, track_id LIMIT %(n)s
) x"""
)

RANK_STATS = (
    PUBLISHED
    + f"""SELECT p.version, s.track_id, s.popularity, s.artist_id, s.artist_popularity,
    s.artist_tracks_popularity
FROM published p LEFT JOIN {TRACK_STATS} s ON s.track_id = ANY(%(ids)s::int[])"""
)

RANK_TRACKS = (
    PUBLISHED
    + f"""SELECT p.version, {TRACK_FIELDS}
FROM published p LEFT JOIN {TRACK_VECTORS} t ON t.id = ANY(%(ids)s::int[])"""
)
