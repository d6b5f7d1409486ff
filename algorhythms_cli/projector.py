"""Export the live version's track vectors for TensorFlow's Embedding Projector
(https://projector.tensorflow.org, "Load"): `vectors.tsv`, one tab-separated row of numbers per
track and no header, and `metadata.tsv`, a header row and one row per track in the same order.

Tracks come most popular first. The rows are read through a server-side cursor held past its
transaction (WITH HOLD): the client's memory stays bounded whatever the catalogue's size, and
the published tables are locked only while PostgreSQL runs the query, never while the files
are written, so a publish can swap its version in during a long export.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from algorhythms_store.schema import TRACK_MODEL, TRACK_VECTORS

VECTORS_FILE = "vectors.tsv"
METADATA_FILE = "metadata.tsv"
METADATA_COLUMNS = ("uri", "name", "artist", "album", "num_playlists")
NOTHING_PUBLISHED = "nothing is published yet: run `make demo` (or `algorhythms materialize`)"
ROWS_PER_FETCH = 10_000
# Characters that would end a TSV field or row.
SEPARATORS = str.maketrans({"\t": " ", "\n": " ", "\r": " "})

# The vector as text with tabs between its numbers: pgvector writes '[1,2.5,-3]'.
QUERY = f"""
WITH published AS (SELECT version FROM {TRACK_MODEL})
SELECT uri, name, artist, album, num_playlists, translate(embedding::text, ',[]', E'\\t')
FROM {TRACK_VECTORS}
ORDER BY num_playlists DESC, id
LIMIT %s
"""


@dataclass(frozen=True)
class Export:
    version: int
    dimension: int
    tracks: int
    vectors: Path
    metadata: Path


def field(value: object) -> str:
    """A metadata value as one TSV field: tabs and line breaks become spaces, none is empty."""
    return "" if value is None else str(value).translate(SEPARATORS)


def live_model(conn: psycopg.Connection) -> tuple[int, int]:
    """(version, dimension) of the live version; LookupError when nothing is published."""
    if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", [TRACK_MODEL]).fetchone()[0]:
        raise LookupError(NOTHING_PUBLISHED)
    row = conn.execute(f"SELECT version, dimension FROM {TRACK_MODEL}").fetchone()
    if row is None:
        raise LookupError(NOTHING_PUBLISHED)
    return row


def export_projector(url: str, out: Path, limit: int | None = None) -> Export:
    """Write the live version's `limit` most popular tracks (all by default) under `out`."""
    vectors_path, metadata_path = out / VECTORS_FILE, out / METADATA_FILE
    with psycopg.connect(url) as conn:
        version, dimension = live_model(conn)  # in the transaction that declares the cursor
        out.mkdir(parents=True, exist_ok=True)
        with conn.cursor("projector_export", withhold=True) as cursor:
            cursor.itersize = ROWS_PER_FETCH
            cursor.execute(QUERY, [limit])
            conn.commit()  # the rows are kept for the cursor; the tables' locks are released
            tracks = 0
            with vectors_path.open("w") as vectors, metadata_path.open("w") as metadata:
                metadata.write("\t".join(METADATA_COLUMNS) + "\n")
                for *columns, vector in cursor:
                    vectors.write(vector + "\n")
                    metadata.write("\t".join(map(field, columns)) + "\n")
                    tracks += 1
    return Export(version, dimension, tracks, vectors_path, metadata_path)
