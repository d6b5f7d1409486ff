"""Publish N synthetic 64-d vectors, then measure the vector index and the API.

For each size: the publish (binary COPY, HNSW build); recall@10 of the HNSW index against exact
search for several `ef_search`; a load test on POST /v1/recommendations (10 seed songs, count
10) through `algorhythms serve` under uvicorn; and the statement the API runs for such a
request sent straight to PostgreSQL at the same concurrency, to give the API overhead as a ratio
of median latencies. Both load generators run in this process, one after the other, against
the same database.

    .venv/bin/python benchmarks/serving.py --sizes 100000,1000000

Vectors: Gaussian clusters of about 100 tracks, centres ~ N(0, I), spread `--noise` (2.0: the
clusters overlap; at 1.0 they separate so well that any index finds them, at 3.0 the data is
close to uniform noise); a request's seeds are 10 tracks from one cluster (a coherent playlist).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# This file's folder comes first on sys.path when it runs as a script, and its name would hide
# the `serving` package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from pgvector.psycopg import register_vector, register_vector_async  # noqa: E402
from psycopg_pool import AsyncConnectionPool  # noqa: E402

from algorhythms_store.database import embedded_url  # noqa: E402
from algorhythms_store.publish import (  # noqa: E402
    HnswConfig,
    PublishOptions,
    TrackModel,
    Tracks,
    publish,
)
from algorhythms_store.schema import TRACK_VECTORS  # noqa: E402
from serving import sql  # noqa: E402
from serving.recommender import catalogue_params  # noqa: E402
from serving.settings import Settings  # noqa: E402

DIM = 64
CLUSTER_SIZE = 100
SEEDS = 10
NOISE = 2.0  # per-dimension spread within a cluster, centres ~ N(0, 1): clusters overlap


def synthetic_tracks(n: int, seed: int = 0, noise: float = NOISE) -> tuple[Tracks, np.ndarray]:
    rng = np.random.default_rng(seed)
    clusters = rng.integers(0, max(1, n // CLUSTER_SIZE), n)
    centres = rng.normal(size=(clusters.max() + 1, DIM)).astype(np.float32)
    vectors = centres[clusters] + noise * rng.normal(size=(n, DIM)).astype(np.float32)
    tracks = Tracks(
        ids=np.arange(n),
        uris=[f"spotify:track:b{i:08d}" for i in range(n)],
        names=[f"Track {i}" for i in range(n)],
        artists=[f"Artist {c}" for c in clusters],
        albums=[None] * n,
        duration_ms=[200_000] * n,
        num_playlists=rng.integers(1, 1000, n),
        degree=np.full(n, 10),
        vectors=vectors,
    )
    return tracks, clusters


def seed_sets(clusters: np.ndarray, count: int, seed: int) -> list[list[int]]:
    """`count` sets of SEEDS track ids, each from one cluster."""
    rng = np.random.default_rng(seed)
    members: dict[int, np.ndarray] = {}
    order = np.argsort(clusters, kind="stable")
    bounds = np.searchsorted(clusters[order], np.arange(clusters.max() + 2))
    sets = []
    while len(sets) < count:
        c = int(rng.integers(0, clusters.max() + 1))
        if c not in members:
            members[c] = order[bounds[c] : bounds[c + 1]]
        if len(members[c]) >= SEEDS:
            sets.append(rng.choice(members[c], SEEDS, replace=False).tolist())
    return sets


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def recall_table(url: str, tracks: Tracks, queries: list[list[int]], efs: list[int]) -> list:
    """recall@10 and median latency of the index query for each ef_search, against exact."""
    catalogue = unit(tracks.vectors)
    vectors = [unit(catalogue[s].mean(0)) for s in queries]
    truth = []
    for q, s in zip(vectors, queries, strict=True):
        scores = catalogue @ q
        scores[s] = -np.inf
        truth.append(set(np.argpartition(-scores, 10)[:10].tolist()))
    rows = []
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("SET hnsw.iterative_scan = relaxed_order")
        for ef in efs:
            conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            hits, latencies = 0, []
            for q, s, t in zip(vectors, queries, truth, strict=True):
                started = time.perf_counter()
                got = conn.execute(
                    "SELECT id FROM track_vectors WHERE id <> ALL(%s) "
                    "ORDER BY embedding <=> %s LIMIT 10",
                    [s, q],
                ).fetchall()
                latencies.append(time.perf_counter() - started)
                hits += len(t & {r[0] for r in got})
            rows.append((ef, hits / (10 * len(queries)), 1000 * float(np.median(latencies))))
    return rows


def live_rows(url: str) -> int | None:
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('track_vectors')").fetchone()[0] is None:
            return None
        return conn.execute("SELECT count(*) FROM track_vectors").fetchone()[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _http_post(reader, writer, host: str, path: str, body: bytes) -> int:
    """One HTTP/1.1 keep-alive POST on an open connection; its status code."""
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length"))
    await reader.readexactly(length)
    return status


async def _load(worker, concurrency: int, seconds: float) -> dict:
    """Run `concurrency` copies of worker(i, record) for `seconds`; latency statistics."""
    latencies: list[float] = []
    errors = [0]
    deadline = time.perf_counter() + seconds

    def record(started: float, ok: bool) -> None:
        if ok:
            latencies.append(time.perf_counter() - started)
        else:
            errors[0] += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i, record, deadline) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    lat = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "errors": errors[0],
        "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan"),
    }


async def api_load(
    port: int,
    bodies: list[bytes],
    concurrency: int,
    seconds: float,
    path: str = "/v1/recommendations",
) -> dict:
    async def worker(i: int, record, deadline: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        k = i
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    status = await _http_post(
                        reader, writer, "127.0.0.1", path, bodies[k % len(bodies)]
                    )
                    record(started, status == 200)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    record(started, False)
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                k += concurrency
        finally:
            writer.close()

    return await _load(worker, concurrency, seconds)


async def sql_load(url: str, uris: list[list[str]], concurrency: int, seconds: float) -> dict:
    """The statement the API runs for such a request (serving.sql.NEAREST_TO_SEEDS), straight
    to PostgreSQL through a pool of the same size as the API's."""
    settings = Settings()

    async def configure(conn):
        await conn.set_autocommit(True)
        await register_vector_async(conn)
        await conn.execute(
            f"SET hnsw.ef_search = {settings.ef_search}; SET hnsw.iterative_scan = relaxed_order"
        )

    async with AsyncConnectionPool(
        url,
        min_size=settings.pool_max_size,
        max_size=settings.pool_max_size,
        configure=configure,
        open=False,
    ) as pool:
        await pool.wait()

        async def worker(i: int, record, deadline: float) -> None:
            k = i
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with pool.connection() as conn:
                    params = catalogue_params(uris[k % len(uris)], 10)
                    rows = await (await conn.execute(sql.NEAREST_TO_SEEDS, params)).fetchall()
                record(started, len(rows) == 10)
                k += concurrency

        return await _load(worker, concurrency, seconds)


def start_api(url: str, port: int, workers: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=url)
    process = subprocess.Popen(
        [sys.executable, "-m", "algorhythms_cli.main", "serve", "--port", str(port)]
        + ["--workers", str(workers)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    import httpx

    for _ in range(240):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"the API did not become ready; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--ef-search", default="16,32,64,128,256")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--repeat", type=int, default=3, help="load rounds (the machine may be noisy)"
    )
    parser.add_argument("--m", type=int, default=HnswConfig().m)
    parser.add_argument("--ef-construction", type=int, default=HnswConfig().ef_construction)
    parser.add_argument("--maintenance-work-mem", default="2GB")
    parser.add_argument("--work", type=Path, help="folder for the embedded database")
    parser.add_argument("--noise", type=float, default=NOISE, help="spread within a cluster")
    parser.add_argument("--no-load", action="store_true", help="index figures only")
    parser.add_argument(
        "--reuse", action="store_true", help="keep a live version of the same size (no publish)"
    )
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="serving-bench-"))
    url = os.environ.get("DATABASE_URL") or embedded_url(work / "postgres")
    print(f"database: {url}")
    efs = [int(x) for x in args.ef_search.split(",")]
    for n in (int(x) for x in args.sizes.split(",")):
        print(f"\n== {n:,} vectors, {DIM} dimensions ==")
        started = time.perf_counter()
        tracks, clusters = synthetic_tracks(n, noise=args.noise)
        print(f"generated in {time.perf_counter() - started:.1f} s")
        hnsw = HnswConfig(
            m=args.m,
            ef_construction=args.ef_construction,
            maintenance_work_mem=args.maintenance_work_mem,
        )
        if args.reuse and live_rows(url) == n:
            print("reusing the live version")
        else:
            result = publish(
                url,
                {TRACK_VECTORS: tracks.rows()},
                TrackModel(dimension=tracks.dimension),
                PublishOptions(hnsw=hnsw),
                run_id=f"bench-{n}",
            )
            s = result.seconds
            print(
                f"publish v{result.version}: COPY {s['copy']:.1f} s, HNSW build (m={args.m}, "
                f"ef_construction={args.ef_construction}) {s['hnsw_index']:.1f} s, all indexes "
                f"{s['indexes']:.1f} s, ANALYZE {s['analyze']:.1f} s, "
                f"swap {s['swap'] * 1000:.0f} ms"
            )
        with psycopg.connect(url) as conn:
            buffers = conn.execute("SHOW shared_buffers").fetchone()[0]
            size = conn.execute(
                "SELECT pg_size_pretty(sum(pg_relation_size(indexrelid))) FROM pg_index "
                "WHERE indrelid = 'track_vectors'::regclass"
            ).fetchone()[0]
        print(f"indexes of track_vectors: {size}; shared_buffers: {buffers}")
        queries = seed_sets(clusters, args.queries, seed=1)
        print("ef_search  recall@10  median query ms")
        for ef, recall, ms in recall_table(url, tracks, queries, efs):
            print(f"{ef:>9}  {recall:>9.4f}  {ms:>15.2f}")

        if args.no_load:
            continue
        bodies = [
            json.dumps({"songs": [{"id": tracks.uris[i]} for i in q], "count": 10}).encode()
            for q in seed_sets(clusters, 2000, seed=2)
        ]
        uris = [[tracks.uris[i] for i in q] for q in seed_sets(clusters, 2000, seed=2)]
        rounds = []
        for round_ in range(args.repeat):
            port = free_port()
            api = start_api(url, port, args.workers, work / f"api-{n}.log")
            try:
                asyncio.run(api_load(port, bodies[:50], 4, 3))  # warm-up
                api_stats = asyncio.run(api_load(port, bodies, args.concurrency, args.seconds))
            finally:
                os.killpg(api.pid, signal.SIGTERM)
                api.wait(timeout=30)
            sql_stats = asyncio.run(sql_load(url, uris, args.concurrency, args.seconds))
            rounds.append((api_stats, sql_stats))
            settings = Settings()
            print(
                f"load round {round_ + 1}, concurrency {args.concurrency}, {args.seconds:.0f} s "
                f"each, {args.workers} uvicorn worker(s), pool {settings.pool_max_size} "
                f"connections, ef_search {settings.ef_search}:"
            )
            for name, st in (
                ("API  POST /v1/recommendations", api_stats),
                ("raw SQL, same statement", sql_stats),
            ):
                print(
                    f"  {name:<30} {st['rps']:>7.1f} req/s  p50 {st['p50_ms']:>6.2f} ms  "
                    f"p99 {st['p99_ms']:>6.2f} ms  errors {st['errors']}  "
                    f"({st['requests']} requests)"
                )
            print(f"  API p50 / SQL p50 = {api_stats['p50_ms'] / sql_stats['p50_ms']:.2f}")
        if len(rounds) > 1:
            med = {
                key: float(np.median([r[0][key] for r in rounds]))
                for key in ("rps", "p50_ms", "p99_ms")
            }
            ratio = float(np.median([r[0]["p50_ms"] / r[1]["p50_ms"] for r in rounds]))
            print(
                f"median of {len(rounds)} rounds: API {med['rps']:.1f} req/s, p50 "
                f"{med['p50_ms']:.2f} ms, p99 {med['p99_ms']:.2f} ms; API/SQL p50 {ratio:.2f}"
            )


if __name__ == "__main__":
    main()
