"""Measure the API under load: on synthetic vectors, or on a real MPD publish.

Synthetic (`--sizes`): for each size N, publish N synthetic 64-d vectors (binary COPY, HNSW
build); recall@10 of the HNSW index against exact search for several `ef_search`; a load test
on POST /v1/recommendations (10 seed songs, count 10) through `algorhythms serve` under
uvicorn; and the statements the API runs for such requests sent straight to PostgreSQL at the
same concurrency, to give the API overhead as a ratio of median latencies. The load
generators run in this process and a child, one after the other, against the same database.

    .venv/bin/python benchmarks/serving.py --sizes 100000,1000000

Vectors: Gaussian clusters of about 100 tracks, centres ~ N(0, I), spread `--noise` (2.0: the
clusters overlap; at 1.0 they separate so well that any index finds them, at 3.0 the data is
close to uniform noise); a request's seeds are 10 tracks from one cluster (a coherent playlist).

MPD (`--mpd-dir`): `algorhythms materialize` the folder's slices into a fresh data folder (or
`--reuse DATA` a data folder built so), then load POST /v1/playlists/continue (the challenge
set's playlists next to the folder, 500 tracks each) and POST /v1/recommendations (their first
25 songs, 10 tracks) through one uvicorn worker, and, for the same requests, the statements the
service ran for them replayed straight to PostgreSQL (the SQL floor). `--baseline DIR` measures
another checkout's service (e.g. an older commit) the same way in the same run.

    .venv/bin/python benchmarks/serving.py --mpd-dir ../shared/mpd_dev/train
        [--reuse DATA] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

# This file's folder comes first on sys.path when it runs as a script, and its name would hide
# the `serving` package it measures.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
from pgvector.psycopg import register_vector, register_vector_async  # noqa: E402
from psycopg_pool import AsyncConnectionPool  # noqa: E402

from algorhythms_store.database import embedded_url  # noqa: E402

# Only HnswConfig and Tracks at import: the SQL floor also runs this file under a baseline
# checkout (--baseline), whose publish API may be older.
from algorhythms_store.publish import HnswConfig, Tracks  # noqa: E402
from algorhythms_store.schema import TRACK_VECTORS  # noqa: E402
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


async def sql_load(
    url: str,
    requests: list[list[tuple]],
    concurrency: int,
    seconds: float,
    configure_session=None,
) -> dict:
    """The recorded statements of each request (see `record`), run one request after another
    straight to PostgreSQL through a pool of the same size as the API's, each connection set up
    as the service's (`configure_session(conn)`)."""
    settings = Settings()

    async def configure(conn):
        if configure_session is not None:
            await configure_session(conn)
            return
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
                    for statement, params, binary in requests[k % len(requests)]:
                        await (await conn.execute(statement, params, binary=binary)).fetchall()
                record(started, True)
                k += concurrency

        return await _load(worker, concurrency, seconds)


class _Recorder:
    """A connection that notes every statement run through it."""

    def __init__(self, conn) -> None:
        self._conn = conn
        self.statements: list[tuple] = []

    async def execute(self, query, params=None, **kwargs):
        self.statements.append((query, params, kwargs.get("binary", False)))
        return await self._conn.execute(query, params, **kwargs)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def _service():
    """The measured checkout's service: (configure_connection, ModelCache, SongSeed,
    continue_playlist, recommend_songs), as laid out now or before the one-path layout."""
    from serving.recommender import continue_playlist, recommend_songs

    try:
        from serving.models import ModelCache
        from serving.pool import configure_connection
        from serving.query import SongSeed
    except ImportError:
        from serving.db import ModelCache, configure_connection

        from serving.recommender import SongSeed
    return configure_connection, ModelCache, SongSeed, continue_playlist, recommend_songs


async def record(url: str, route: str, bodies: list[dict]) -> list[list[tuple]]:
    """The statements the service runs to answer each body (the models already loaded)."""
    configure_connection, ModelCache, SongSeed, continue_playlist, recommend_songs = _service()
    settings = Settings()
    models = ModelCache()
    out = []
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await configure_connection(conn, settings)
        for i, body in enumerate(bodies):
            recorder = _Recorder(conn)
            if route == "continue":
                seeds = [SongSeed(u) for u in body["tracks"]]
                answer = continue_playlist(
                    recorder if i else conn, models, body.get("name"), seeds, body["count"]
                )
            else:
                seeds = [SongSeed(song["id"]) for song in body["songs"]]
                answer = recommend_songs(recorder if i else conn, models, seeds, body["count"])
            await answer
            if i:  # the first request loaded the models
                out.append(recorder.statements)
    return out


async def sql_floor(url: str, route: str, bodies: list[dict], concurrency: int, seconds: float):
    """The SQL floor of `route` for `bodies`: statements per request, and the load figures."""
    configure_connection, *_ = _service()
    requests = await record(url, route, bodies)
    settings = Settings()
    stats = await sql_load(
        url, requests, concurrency, seconds, lambda conn: configure_connection(conn, settings)
    )
    stats["statements"] = float(np.mean([len(r) for r in requests]))
    return stats


def _env(code: Path | None, **extra: str) -> dict:
    """The environment that runs the checkout `code` (None: the installed one)."""
    env = dict(os.environ, **extra)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(code)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
    return env


def start_api(
    url: str, port: int, workers: int, log: Path, code: Path | None = None
) -> subprocess.Popen:
    env = _env(code, DATABASE_URL=url)
    process = subprocess.Popen(
        [sys.executable, "-m", "algorhythms_cli.main", "serve", "--port", str(port)]
        + ["--workers", str(workers)],
        env=env,
        cwd=code,
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


@contextlib.contextmanager
def api_on(data: Path, log_name: str) -> Iterator[int]:
    """The port of this checkout's API, one worker, on the version a data folder published."""
    from algorhythms_store.database import resolve_url

    port = free_port()
    api = start_api(resolve_url(None, data), port, 1, data / log_name)
    try:
        yield port
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(timeout=30)


def challenge_bodies(playlists: list[dict], **fields) -> dict[str, dict]:
    """pid -> a request body of each challenge playlist: its track uris, its title, `fields`."""
    bodies = {}
    for p in playlists:
        body = {"tracks": [t["track_uri"] for t in p["tracks"]], **fields}
        if p.get("name"):
            body["name"] = p["name"]
        bodies[str(p["pid"])] = body
    return bodies


async def post_each(
    port: int, path: str, bodies: dict[str, dict], concurrency: int = 4
) -> dict[str, tuple[int, object]]:
    """key -> (status, JSON answer) of each body posted to `path`, `concurrency` at a time."""
    import httpx

    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:

        async def one(key: str, body: dict) -> tuple[str, tuple[int, object]]:
            async with limit:
                response = await client.post(path, json=body)
            return key, (response.status_code, response.json())

        return dict(await asyncio.gather(*(one(k, b) for k, b in bodies.items())))


ROOT = Path(__file__).resolve().parents[1]
ROUTES = {"continue": "/v1/playlists/continue", "recommendations": "/v1/recommendations"}


def floor(code: Path | None, url: str, route: str, bodies: list[dict], args, work: Path) -> dict:
    """`sql_floor` run by the checkout `code` (None: this one) in a process of its own."""
    path = work / f"floor-{route}.json"
    path.write_text(json.dumps(bodies))
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--floor", route, "--bodies", str(path)]
        + ["--url", url, "--concurrency", str(args.concurrency), "--seconds", str(args.seconds)],
        env=_env(code or ROOT),
        cwd=code or ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def materialize(mpd_dir: Path, data: Path) -> None:
    """`algorhythms materialize` of `mpd_dir` into the fresh data folder `data`."""
    env = _env(ROOT, SPARK_LOCAL_IP=os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"))
    env.pop("DAGSTER_HOME", None)
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "algorhythms_cli.main", "materialize"]
    command += ["--mpd-dir", str(mpd_dir), "--data-dir", str(data)]
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=ROOT, check=True)
    print(f"materialized in {time.perf_counter() - started:.0f} s")


def mpd_bodies(mpd_dir: Path, url: str) -> dict[str, list[dict]]:
    """Request bodies per route: the challenge set's playlists next to `mpd_dir` (else the
    slices' own playlists, first 25 tracks), as an app would send them."""
    challenge = mpd_dir.parent / "challenge_set.json"
    if challenge.exists():
        playlists = json.loads(challenge.read_text())["playlists"]
    else:
        playlists = []
        for path in sorted(mpd_dir.glob("mpd.slice.*.json")):
            for p in json.loads(path.read_text())["playlists"]:
                playlists.append({"name": p.get("name"), "tracks": p["tracks"][:25]})
        playlists = playlists[:1000]
    with psycopg.connect(url) as conn:
        known = {r[0] for r in conn.execute("SELECT uri FROM track_vectors")}
    out: dict[str, list[dict]] = {"continue": [], "recommendations": []}
    for p in playlists:
        uris = [t["track_uri"] for t in p.get("tracks") or []]
        if uris or (p.get("name") or "").strip():
            body = {"tracks": uris, "count": 500}
            if p.get("name"):
                body["name"] = p["name"]
            out["continue"].append(body)
        # songs only: a request none of whose songs is known is a 422 by design
        if any(u in known for u in uris[:25]):
            out["recommendations"].append({"songs": [{"id": u} for u in uris[:25]], "count": 10})
    return out


def measure(code: Path | None, url: str, bodies: dict, args, work: Path) -> dict:
    """API and SQL-floor figures per route for the service of checkout `code`."""
    port = free_port()
    label = "this checkout" if code is None else str(code)
    api = start_api(url, port, 1, work / f"api-{port}.log", code)
    encoded = {route: [json.dumps(b).encode() for b in bs] for route, bs in bodies.items()}
    figures = {}
    try:
        # the version's models load and the ranker compiles in the first seconds
        asyncio.run(api_load(port, encoded["continue"], 4, args.warmup, ROUTES["continue"]))
        asyncio.run(api_load(port, encoded["recommendations"], 4, 3, ROUTES["recommendations"]))
        for route, path in ROUTES.items():
            figures[route] = {
                "api": asyncio.run(
                    api_load(port, encoded[route], args.concurrency, args.seconds, path)
                )
            }
    finally:
        os.killpg(api.pid, signal.SIGTERM)
        api.wait(timeout=60)
    for route in ROUTES:
        figures[route]["sql"] = floor(code, url, route, bodies[route][:300], args, work)
    print(f"\n== {label}: concurrency {args.concurrency}, {args.seconds:.0f} s per route, 1 worker")
    print(
        "| route | requests/s | p50 ms | p99 ms | errors | SQL floor req/s | p50 ms | p99 ms "
        "| statements/request |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for route, f in figures.items():
        a, q = f["api"], f["sql"]
        print(
            f"| {ROUTES[route]} | {a['rps']:.1f} | {a['p50_ms']:.1f} | {a['p99_ms']:.1f} "
            f"| {a['errors']} | {q['rps']:.1f} | {q['p50_ms']:.1f} | {q['p99_ms']:.1f} "
            f"| {q['statements']:.1f} |"
        )
    for route, f in figures.items():
        print(f"{route}: {f['api']['rps']:.1f} req/s p99 {f['api']['p99_ms']:.1f} ms")
    return figures


def ranker_timing(data: Path, url: str, bodies: list[dict]) -> None:
    """The published ranker's scores over the continuations' real feature matrices: LightGBM's
    own predict against the compiled predictor, per continuation, single-threaded."""
    import pandas as pd

    from algorhythms_store.memory_store import MemoryStore
    from algorhythms_store.ranking import Ranker

    with psycopg.connect(url) as conn:
        text = conn.execute("SELECT ranker FROM track_model").fetchone()[0]
        id_of = dict(conn.execute("SELECT uri, id FROM track_vectors").fetchall())
    if text is None:
        print("no ranker published")
        return
    names = ["track_neighbors", "title_tracks", "playlist_members", "track_stats"]
    from algorhythms_ml.embeddings.pipeline import read_vectors
    from algorhythms_ml.warehouse import Warehouse

    store = MemoryStore(
        {n: pd.read_parquet(data / "warehouse" / n) for n in names + ["artist_neighbors"]},
        vectors=read_vectors(Warehouse.at(data / "warehouse"))[1],
    )
    matrices = [
        store.features([id_of[u] for u in b["tracks"] if u in id_of], b.get("name"))[2]
        for b in bodies
    ]
    ranker = Ranker(text)
    started = time.perf_counter()
    ranker.compile()
    compile_s = time.perf_counter() - started
    timings = {}
    for label, predict in (
        ("LightGBM", lambda X: ranker.booster.predict(X, num_threads=1)),
        ("compiled", ranker.score),
    ):
        started = time.perf_counter()
        scores = [predict(X) for X in matrices]
        timings[label] = (1000 * (time.perf_counter() - started) / len(matrices), scores)
    diff = max(
        float(np.abs(a - b).max()) if len(a) else 0.0
        for a, b in zip(timings["LightGBM"][1], timings["compiled"][1], strict=True)
    )
    rows = np.mean([len(X) for X in matrices])
    print(
        f"ranker over {len(matrices)} continuations ({rows:.0f} candidates each): LightGBM "
        f"{timings['LightGBM'][0]:.2f} ms, compiled (lleaves) {timings['compiled'][0]:.2f} ms "
        f"per continuation; max |score difference| {diff:.1e}; compiled in {compile_s:.1f} s"
    )


def mpd_benchmark(args) -> None:
    mpd_dir = args.mpd_dir.resolve()
    if isinstance(args.reuse, str):
        data = Path(args.reuse).resolve()
    else:
        data = (args.work or Path(tempfile.mkdtemp(prefix="serving-mpd-"))).resolve()
        if data.exists() and any(data.iterdir()):
            raise SystemExit(f"{data} is not empty: pass --reuse {data} to measure its publish")
        materialize(mpd_dir, data)
    os.environ.pop("DATABASE_URL", None)
    url = embedded_url(data / "postgres")
    bodies = mpd_bodies(mpd_dir, url)
    print(
        f"data: {data}; {len(bodies['continue'])} playlists to continue, "
        f"{len(bodies['recommendations'])} song sets"
    )
    ranker_timing(data, url, bodies["continue"])
    work = Path(tempfile.mkdtemp(prefix="serving-bench-"))
    if args.baseline:
        measure(args.baseline.resolve(), url, bodies, args, work)
    measure(None, url, bodies, args, work)


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
        "--reuse",
        nargs="?",
        const=True,
        help="synthetic: keep a live version of the same size (no publish); with --mpd-dir: "
        "the data folder of an earlier materialize of it",
    )
    parser.add_argument("--mpd-dir", type=Path, help="measure on a materialize of these slices")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure alongside")
    parser.add_argument(
        "--warmup", type=float, default=40, help="seconds of load before measuring (models load)"
    )
    parser.add_argument("--floor", help=argparse.SUPPRESS)  # internal: one SQL floor, as JSON
    parser.add_argument("--bodies", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        bodies = json.loads(args.bodies.read_text())
        stats = asyncio.run(sql_floor(args.url, args.floor, bodies, args.concurrency, args.seconds))
        print(json.dumps(stats))
        return
    if args.mpd_dir:
        mpd_benchmark(args)
        return

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
        from algorhythms_store.publish import PublishOptions, TrackModel, publish

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
                f"ef_construction={args.ef_construction}) "
                f"{s['hnsw_index_track_vectors']:.1f} s, all indexes "
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
        songs = [
            {"songs": [{"id": tracks.uris[i]} for i in q], "count": 10}
            for q in seed_sets(clusters, 300, seed=2)
        ]
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
            sql_stats = floor(None, url, "recommendations", songs, args, work)
            rounds.append((api_stats, sql_stats))
            settings = Settings()
            print(
                f"load round {round_ + 1}, concurrency {args.concurrency}, {args.seconds:.0f} s "
                f"each, {args.workers} uvicorn worker(s), pool {settings.pool_max_size} "
                f"connections, ef_search {settings.ef_search}:"
            )
            for name, st in (
                ("API  POST /v1/recommendations", api_stats),
                ("raw SQL, same statements", sql_stats),
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
