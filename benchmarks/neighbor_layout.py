"""`track_neighbors` in PostgreSQL as one row per pair against one row of arrays per track, side
by side on a built data folder: load time, disk, and the service's two statements that read it.

    .venv/bin/python benchmarks/neighbor_layout.py --data-dir data [--queries 200]

From the folder's warehouse it loads the table twice into scratch tables beside the live
version, with the publish's binary COPY and primary key: as (src, dst, weight) rows (primary
key (src, dst), the layout published before) and as (src, dst[], weight[]) lists (primary key
src, the published layout). It prints each one's seconds to load and index and its size
(`pg_total_relation_size`), then times the service's item-kNN song statement
(serving.sql.SONGS) and ranked-evidence statement (serving.sql.EVIDENCE) on each layout,
alternately, for seed sets drawn from the published playlists (their first 10 distinct
tracks), and checks that both layouts give the same rows. The scratch tables are dropped at
the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# this folder's serving.py is not the serving package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from psycopg import sql as pgsql  # noqa: E402

from algorhythms_ml.published_tables import table_rows, track_neighbors  # noqa: E402
from algorhythms_ml.warehouse import Warehouse  # noqa: E402
from algorhythms_store import binary_arrays  # noqa: E402
from algorhythms_store.database import resolve_url  # noqa: E402
from algorhythms_store.ranking import ARTIST_TRACKS, NEAREST, TOP_PLAYLISTS  # noqa: E402
from algorhythms_store.schema import TRACK_NEIGHBORS  # noqa: E402
from serving import sql  # noqa: E402

PAIRS, LISTS = "bench_neighbor_pairs", "bench_neighbor_lists"
LAYOUTS = {
    PAIRS: ("src integer NOT NULL, dst integer NOT NULL, weight real NOT NULL", "src, dst"),
    LISTS: ("src integer NOT NULL, dst integer[] NOT NULL, weight real[] NOT NULL", "src"),
}
COPY_TYPES = {PAIRS: ["int4", "int4", "float4"], LISTS: ["int4", "int4[]", "float4[]"]}
SEEDS = 10


def load(conn: psycopg.Connection, table: str, rows) -> dict:
    columns, key = LAYOUTS[table]
    conn.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(table)))
    conn.execute(f"CREATE TABLE {table} ({columns})")
    start = time.perf_counter()
    n = 0
    with conn.cursor() as cur:
        binary_arrays.register(cur)  # as the publish copies
        with cur.copy(f"COPY {table} FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(COPY_TYPES[table])
            for row in rows:
                copy.write_row(row)
                n += 1
    copied = time.perf_counter() - start
    start = time.perf_counter()
    conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({key})")
    conn.execute(f"ANALYZE {table}")
    indexed = time.perf_counter() - start
    size = conn.execute("SELECT pg_total_relation_size(%s::regclass)", [table]).fetchone()[0]
    return {"rows": n, "copy_s": copied, "index_s": indexed, "bytes": size}


def seed_sets(conn: psycopg.Connection, n: int, seed: int) -> list[list[int]]:
    """The first SEEDS distinct tracks of `n` published playlists drawn at random."""
    pids = conn.execute(
        "SELECT pid FROM playlist_vectors ORDER BY md5(pid::text || %s) LIMIT %s",
        [str(seed), n],
    ).fetchall()
    rows = conn.execute(
        "SELECT pid, track_ids FROM playlist_vectors WHERE pid = ANY(%s)", [[p for (p,) in pids]]
    ).fetchall()
    members = conn.execute(
        "SELECT pid, array_agg(track_id ORDER BY track_id) FROM playlist_members "
        "WHERE pid = ANY(%s) GROUP BY pid",
        [[p for (p,) in pids]],
    ).fetchall()
    held = dict(members)
    out = []
    for pid, first in rows:
        tracks = list(dict.fromkeys(list(first) + list(held.get(pid, []))))[:SEEDS]
        if tracks:
            out.append(tracks)
    return out


def statements(table: str) -> dict[str, str]:
    """The service's two statements reading `table` in place of the published one."""
    songs = sql.SONGS if table == LISTS else sql.SONGS_FROM_NEIGHBOR_ROWS
    evidence = sql.EVIDENCE if table == LISTS else sql.EVIDENCE_FROM_NEIGHBOR_ROWS
    return {
        "songs": songs.replace(f"{TRACK_NEIGHBORS} ", f"{table} "),
        "evidence": evidence.replace(f"{TRACK_NEIGHBORS} ", f"{table} "),
    }


def params(kind: str, seeds: list[int], artists: list[int]) -> dict:
    ids = "{" + ",".join(map(str, seeds)) + "}"
    if kind == "songs":
        return {
            "seeds": ids,
            "cold": None,
            "dislikes": "{}",
            "exclude": ids,
            "pool": 500,
            "k": 100,
            "embedding_weight": 0.5,
            "dislike_weight": 1.0,
        }
    return {
        "ids": ids,
        "artists": "{" + ",".join(map(str, sorted(set(artists)))) + "}",
        "keys": [],
        "n": TOP_PLAYLISTS,
        "artist_tracks": ARTIST_TRACKS,
        "nearest": NEAREST,
        "q": None,
    }


def canonical(kind: str, rows: list[tuple]) -> object:
    """What must agree between the layouts: the song rows; the evidence's neighbour pairs as a
    set (their order in the arrays is the scan's) and its other columns."""
    if kind == "songs":
        return [(r[1], round(r[6], 4), r[7], r[8]) for r in rows]
    row = rows[0]
    pairs = sorted(zip(row[1] or [], row[2] or [], np.round(row[3] or [], 5), strict=True))
    return pairs, row[4:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warehouse = Warehouse.at(str(args.data_dir.resolve() / "warehouse"))
    url = resolve_url(None, args.data_dir)
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            figures = {
                PAIRS: load(conn, PAIRS, table_rows(warehouse, TRACK_NEIGHBORS)),
                LISTS: load(conn, LISTS, track_neighbors(warehouse)),
            }
            for table, f in figures.items():
                print(
                    f"{table}: {f['rows']:,} rows, copy {f['copy_s']:.1f} s, key and analyze "
                    f"{f['index_s']:.1f} s, {f['bytes'] / 1e6:,.1f} MB"
                )
            p, q = figures[PAIRS], figures[LISTS]
            load_ratio = (q["copy_s"] + q["index_s"]) / (p["copy_s"] + p["index_s"])
            print(f"lists / pairs: load {load_ratio:.3f}, size {q['bytes'] / p['bytes']:.3f}")
            time_statements(conn, seed_sets(conn, args.queries, args.seed))
        finally:
            for table in LAYOUTS:
                conn.execute(pgsql.SQL("DROP TABLE IF EXISTS {}").format(pgsql.Identifier(table)))


def time_statements(conn: psycopg.Connection, sets: list[list[int]]) -> None:
    artist_of = dict(
        conn.execute(
            "SELECT track_id, artist_id FROM track_stats WHERE track_id = ANY(%s)",
            [sorted({t for s in sets for t in s})],
        ).fetchall()
    )
    prepared = {t: statements(t) for t in LAYOUTS}
    for kind in ("songs", "evidence"):
        times: dict[str, list[float]] = {t: [] for t in LAYOUTS}
        for i, seeds in enumerate(sets):
            args = params(kind, seeds, [artist_of[t] for t in seeds if t in artist_of])
            answers = {}
            order = list(LAYOUTS) if i % 2 == 0 else list(LAYOUTS)[::-1]
            for table in order:
                conn.execute(prepared[table][kind], args).fetchall()  # warm
                start = time.perf_counter()
                rows = conn.execute(prepared[table][kind], args).fetchall()
                times[table].append(time.perf_counter() - start)
                answers[table] = canonical(kind, rows)
            if answers[PAIRS] != answers[LISTS]:
                raise SystemExit(f"{kind}: the layouts differ for seeds {seeds}")
        medians = {t: statistics.median(v) * 1000 for t, v in times.items()}
        print(
            f"{kind}: {len(sets)} seed sets of up to {SEEDS}, same rows on both layouts; median "
            f"pairs {medians[PAIRS]:.2f} ms, lists {medians[LISTS]:.2f} ms, "
            f"lists / pairs {medians[LISTS] / medians[PAIRS]:.3f}"
        )


if __name__ == "__main__":
    main()
