"""Print a digest of the live published version, table by table: rows and a content hash.

Two publishes of the same data by two versions of the code are equal table by table when
their digests are. Vectors are compared to `--decimals` places (float text is exact, but a
tolerance makes the check usable across BLAS builds); the cold-start arrays are compared
decoded, not as bytes, so an equal model in another container format still matches.

.venv/bin/python benchmarks/published_digest.py [--data-dir data] [--out digest.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import psycopg

from algorhythms_store.coldstart import unpack_arrays
from algorhythms_store.database import resolve_url

TABLES = {
    "track_vectors": "id, uri, name, artist, album, duration_ms, num_playlists, degree, "
    "(SELECT array_agg(round(x::numeric, {d})) FROM unnest(embedding::real[]) x)",
    "title_tracks": "key, track_id, round(score::numeric, 6), key_playlists",
    "track_neighbors": "src, dst, round(weight::numeric, 6)",  # pairs: see PAIRS
    "playlist_members": "pid, track_id, length",
    "track_stats": "track_id, artist_id, popularity, artist_popularity, artist_tracks_popularity",
    "artist_neighbors": "src, dst, round(weight::numeric, 6)",
}


# Tables published as one row of arrays per source track are digested as their (src, dst,
# weight) pairs, so a publish of either layout gives the same digest and the row count says
# how many pairs.
PAIRS = {
    "track_neighbors": "(SELECT n.src, u.dst, u.weight FROM track_neighbors n "
    "CROSS JOIN LATERAL unnest(n.dst, n.weight) AS u(dst, weight))"
}


def _source(conn: psycopg.Connection, table: str) -> str:
    """What to read `table`'s rows from: its pairs when it holds arrays."""
    if table not in PAIRS:
        return table
    kind = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attname = 'dst'",
        [table],
    ).fetchone()[0]
    return f"{PAIRS[table]} AS {table}" if kind.endswith("[]") else table


def table_digest(conn: psycopg.Connection, table: str, columns: str) -> dict:
    digest = hashlib.sha256()
    rows = 0
    source = _source(conn, table)
    with conn.cursor(name=f"digest_{table}") as cur:
        cur.execute(f"SELECT ({columns})::text FROM {source} ORDER BY 1")
        for (text,) in cur:
            digest.update(text.encode())
            digest.update(b"\n")
            rows += 1
    return {"rows": rows, "sha256": digest.hexdigest()}


def model_digest(conn: psycopg.Connection, decimals: int) -> dict:
    dimension, spec, blob, ranker = conn.execute(
        "SELECT dimension, coldstart_spec, coldstart_arrays, ranker FROM track_model"
    ).fetchone()
    arrays = hashlib.sha256()
    if blob is not None:
        for name, values in sorted(unpack_arrays(bytes(blob)).items()):
            arrays.update(name.encode())
            arrays.update(np.round(values.astype(np.float64), decimals).tobytes())
    return {
        "dimension": dimension,
        "coldstart_spec": hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest(),
        "coldstart_arrays": arrays.hexdigest(),
        "ranker": hashlib.sha256((ranker or "").encode()).hexdigest(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="data folder (default $ALGORHYTHMS_DATA_DIR)")
    parser.add_argument("--decimals", type=int, default=5)
    parser.add_argument("--out", help="also write the digest as JSON here")
    args = parser.parse_args()
    if args.data_dir:
        os.environ["ALGORHYTHMS_DATA_DIR"] = str(Path(args.data_dir).resolve())
    with psycopg.connect(resolve_url()) as conn:
        digest = {"track_model": model_digest(conn, args.decimals)}
        for table, columns in TABLES.items():
            digest[table] = table_digest(conn, table, columns.format(d=args.decimals))
    for table, values in digest.items():
        print(f"{table:<18} " + "  ".join(f"{k}={v}" for k, v in values.items()))
    if args.out:
        Path(args.out).write_text(json.dumps(digest, indent=2))


if __name__ == "__main__":
    main()
