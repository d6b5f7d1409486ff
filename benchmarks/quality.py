"""Recommendation quality on real playlists, RecSys Challenge 2018 protocol, from scratch.

1. `algorhythms materialize` on ../shared/mpd_dev/train into a fresh data folder (every asset:
   graph, embeddings, ranker, the internal evaluation, the published version);
2. `algorhythms challenge` on ../shared/mpd_dev/challenge_set.json (through the service's
   recommender and the published PostgreSQL tables);
3. the hold-out's own scorer (../shared/mpd_dev/score.py) on the submission;

then prints the per-category table next to the reference recommenders and the targets, and the
pipeline's own recommendation_eval figures from the same run, with its ablation: the ranker
trained without each candidate source and without each feature group, on the evaluation's own
hold-out (`--no-ablation` skips those extra trainings).

    .venv/bin/python benchmarks/quality.py [--mpd-dev ../shared/mpd_dev] [--keep DIR]

mpd_dev holds real MPD playlists: it is read in place and never copied into the project.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ABLATION_CONFIG = "ops: {playlist_ranker: {config: {ablation: true}}}"

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = {
    "popularity": (0.0276, 0.0576, 25.34),
    "item-kNN co-occurrence": (0.1188, 0.2032, 11.61),
    "implicit ALS, 128 factors": (0.1326, 0.2294, 10.21),
}
TARGET = (0.153, 0.264, 8.0)


def _cli() -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "algorhythms")]


def _run(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    print("$", " ".join(args), flush=True)
    subprocess.run(args, check=True, env=env, cwd=ROOT)
    return time.perf_counter() - started


def _script(path: Path, name: str):
    """The Python script at `path`, loaded as the module `name`."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _scorer(mpd_dev: Path):
    return _script(mpd_dev / "score.py", "mpd_dev_score")


def _artists(mpd_dev: Path, truth: dict) -> dict[str, str]:
    artist_of = {}
    for path in sorted((mpd_dev / "train").glob("mpd.slice.*.json")):
        for playlist in json.loads(path.read_text())["playlists"]:
            for t in playlist["tracks"]:
                artist_of[t["track_uri"]] = t.get("artist_name")
    for g in truth.values():
        for t in g["tracks"]:
            artist_of[t["track_uri"]] = t.get("artist_name")
    return artist_of


def _baselines(data: Path, mpd_dev: Path, scorer, truth: dict, artist_of: dict) -> dict:
    """item-kNN and popularity over the tables this run built (the pipeline's own baselines),
    on the same challenge set, scored by the same scorer."""
    import pandas as pd

    from algorhythms_ml.recommend.ranker import standard_recommenders
    from algorhythms_store.memory_store import MemoryStore

    warehouse = data / "warehouse"
    names = ["track_neighbors", "title_tracks", "playlist_members", "track_stats"]
    tables = {n: pd.read_parquet(warehouse / n) for n in names + ["artist_neighbors"]}
    store = MemoryStore(tables)
    meta = pd.read_parquet(warehouse / "track_metadata", columns=["track_id", "track_uri"])
    id_of = dict(zip(meta["track_uri"], meta["track_id"], strict=True))
    uri_of = dict(zip(meta["track_id"], meta["track_uri"], strict=True))
    recommenders = standard_recommenders(store, None)
    challenge = json.loads((mpd_dev / "challenge_set.json").read_text())["playlists"]
    out = {}
    for label in ("item_knn", "popularity"):
        recs = {}
        for p in challenge:
            seeds = [id_of[t["track_uri"]] for t in p["tracks"] if t["track_uri"] in id_of]
            query = SimpleNamespace(seeds=seeds, name=p.get("name"))
            recs[str(p["pid"])] = [uri_of[t] for t in recommenders[label](query)]
        overall, categories, _ = scorer.score(truth, recs, artist_of)
        out[label] = {**categories, "all": overall}
    return out


def _load_routes(data: Path, mpd_dev: Path) -> list[tuple[str, str, list[bytes]]]:
    """(path, label, request bodies) of the routes the latency table loads."""
    import pandas as pd

    challenge = json.loads((mpd_dev / "challenge_set.json").read_text())["playlists"]
    known = set(
        pd.read_parquet(data / "warehouse" / "track_metadata", columns=["track_uri"])["track_uri"]
    )

    def body(p: dict, count: int) -> bytes:
        out = {"tracks": [t["track_uri"] for t in p["tracks"]], "count": count}
        if p.get("name"):
            out["name"] = p["name"]
        return json.dumps(out).encode()

    return [
        ("/v1/playlists/continue", "continue, 500 tracks", [body(p, 500) for p in challenge]),
        ("/v1/playlists/continue", "continue, 10 tracks", [body(p, 10) for p in challenge]),
        (
            "/v1/recommendations",
            "recommendations, 10 tracks",
            [
                json.dumps(
                    {"songs": [{"id": t["track_uri"]} for t in p["tracks"][:25]], "count": 10}
                ).encode()
                for p in challenge
                # songs only: a request none of whose songs is known is a 422 by design
                if any(t["track_uri"] in known for t in p["tracks"][:25])
            ],
        ),
    ]


def _warm_up(port: int, body: bytes, log: Path, timeout: float = 60.0) -> None:
    """One continuation loads the version's models and starts compiling its ranker; wait until
    the log says the compiling ended (with -v) or `timeout` seconds (about three times the
    compile on mpd_dev), so that the load measures the steady state."""
    import httpx

    httpx.post(
        f"http://127.0.0.1:{port}/v1/playlists/continue",
        content=body,
        headers={"content-type": "application/json"},
        timeout=120,
    )
    deadline = time.monotonic() + timeout
    ended = ("compiled the ranker", "could not be compiled", "does not match")
    while time.monotonic() < deadline:
        if any(e in log.read_text(errors="replace") for e in ended):
            return
        time.sleep(0.5)


def _benchmark(name: str):
    """Another script of benchmarks/, loaded as a module."""
    return _script(ROOT / "benchmarks" / f"{name}.py", f"{name}_bench")


def _cpu_seconds(root) -> float:
    """User + system CPU seconds so far of the psutil process `root` (None: none) and its
    descendants."""
    import psutil

    total = 0.0
    try:
        processes = [root, *root.children(recursive=True)] if root is not None else []
    except psutil.Error:
        processes = []
    for p in processes:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def _latency(
    data: Path, mpd_dev: Path, seconds: float, concurrency: int, code: Path | None = None
) -> dict[str, dict[str, float]]:
    """Requests per second and latency of the two routes on `data`'s published version, one
    after the other, served by this checkout or the one at `code`: /v1/playlists/continue (the
    ranker; 500 tracks, as the challenge asks, and 10) and /v1/recommendations (item-kNN +
    vectors, one statement; 10 tracks). Measured once the ranker is compiled. Returns by route
    the requests per second and the CPU milliseconds per request of the API process and of
    PostgreSQL (where throughput moved, they say which side's work did)."""
    import asyncio

    import psutil

    bench = _benchmark("serving")
    from algorhythms_store.database import resolve_url

    url = resolve_url(None, data)
    routes = _load_routes(data, mpd_dev)
    port = bench.free_port()
    log = data / "api.log"
    api = bench.start_api(url, port, 1, log, code)
    results = {}
    try:
        _warm_up(port, routes[0][2][0], log)
        print()
        print(
            f"API load: {code or ROOT}, concurrency {concurrency}, {seconds:.0f} s per route, "
            "1 uvicorn worker"
        )
        print(
            "| route | requests/s | p50 ms | p99 ms | errors | API CPU ms/request "
            "| PostgreSQL CPU ms/request |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        server, postgres = psutil.Process(api.pid), _benchmark("scale").postmaster_of(data)
        for path, label, bodies in routes:
            api_cpu, pg_cpu = _cpu_seconds(server), _cpu_seconds(postgres)
            r = asyncio.run(bench.api_load(port, bodies, concurrency, seconds, path))
            n = max(r["requests"] + r["errors"], 1)
            r["api_cpu_ms"] = 1000 * (_cpu_seconds(server) - api_cpu) / n
            r["pg_cpu_ms"] = 1000 * (_cpu_seconds(postgres) - pg_cpu) / n
            results[label] = r
            print(
                f"| {label} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
                f"| {r['errors']} | {r['api_cpu_ms']:.1f} | {r['pg_cpu_ms']:.1f} |"
            )
    finally:
        os.killpg(api.pid, 15)
        api.wait(timeout=30)
    return results


def _latency_side_by_side(args, mpd_dev: Path) -> int:
    """This checkout on --keep's data against --baseline-code on --baseline-data, alternated
    --rounds times; prints each route's throughput ratio (this / baseline) per round, and the
    ratio of CPU per request (API + PostgreSQL; baseline / this, so that above 1 is better)."""
    data, base_data = Path(args.keep).resolve(), Path(args.baseline_data).resolve()
    base_code = Path(args.baseline_code).resolve()
    ratios: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        base = _latency(base_data, mpd_dev, args.load_seconds, args.concurrency, base_code)
        this = _latency(data, mpd_dev, args.load_seconds, args.concurrency)
        for label, r in this.items():
            ratios.setdefault(label, []).append(r["rps"] / max(base[label]["rps"], 1e-9))
            used = r["api_cpu_ms"] + r["pg_cpu_ms"]
            base_used = base[label]["api_cpu_ms"] + base[label]["pg_cpu_ms"]
            cpu.setdefault(label, []).append(base_used / max(used, 1e-9))
    print()
    print("| route | throughput, this / baseline, per round | CPU per request, baseline / this |")
    print("| --- | --- | --- |")
    for label, values in ratios.items():
        print(
            f"| {label} | {' '.join(f'{v:.2f}' for v in values)} "
            f"| {' '.join(f'{v:.2f}' for v in cpu[label])} |"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mpd-dev", default=str(ROOT.parent / "shared" / "mpd_dev"))
    parser.add_argument("--keep", help="data folder to build into and keep (default: temporary)")
    parser.add_argument(
        "--load-seconds",
        type=float,
        default=20,
        help="then load the API with the challenge playlists for this long per route (0: skip)",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--no-ablation",
        action="store_true",
        help="skip the rankers trained without one part each (one boosting per part)",
    )
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="only the API load, on --keep's already built data",
    )
    parser.add_argument("--baseline-code", help="with --latency-only: another checkout to compare")
    parser.add_argument("--baseline-data", help="the data folder that checkout built")
    parser.add_argument("--rounds", type=int, default=2, help="side-by-side rounds")
    args = parser.parse_args()
    mpd_dev = Path(args.mpd_dev).resolve()
    if not (mpd_dev / "score.py").exists():
        print(f"no mpd_dev hold-out at {mpd_dev}: nothing to measure (pass --mpd-dev)")
        return 0
    if args.latency_only:
        if not args.keep:
            parser.error("--latency-only needs --keep DIR (a folder this benchmark built)")
        if args.baseline_code:
            return _latency_side_by_side(args, mpd_dev)
        _latency(Path(args.keep).resolve(), mpd_dev, args.load_seconds, args.concurrency)
        return 0
    data = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="quality-"))
    if data.exists() and any(data.iterdir()):
        print(f"{data} is not empty: the measurement starts from a fresh data folder")
        return 2
    env = dict(os.environ)
    env.pop("DAGSTER_HOME", None)
    env.pop("DATABASE_URL", None)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    submission = data / "submission.csv"
    run_config = data / "run.yaml"
    data.mkdir(parents=True, exist_ok=True)
    run_config.write_text(ABLATION_CONFIG + "\n")
    try:
        seconds = {
            "materialize": _run(
                _cli()
                + ["materialize", "--mpd-dir", str(mpd_dev / "train"), "--data-dir", str(data)]
                + ([] if args.no_ablation else ["--config", str(run_config)]),
                env,
            ),
        }
        seconds["challenge"] = _run(
            _cli()
            + ["challenge", "--challenge-set", str(mpd_dev / "challenge_set.json")]
            + ["--out", str(submission), "--data-dir", str(data)],
            env,
        )
        scorer = _scorer(mpd_dev)
        truth = json.loads((mpd_dev / "ground_truth.json").read_text())
        artist_of = _artists(mpd_dev, truth)
        recs = scorer.load_submission(str(submission), artist_of)
        (r, n, c), categories, missing = scorer.score(truth, recs, artist_of)
        print()
        print(f"mpd_dev challenge ({len(truth)} playlists, {missing} missing), scored by score.py")
        print("| recommender | R-precision | NDCG | clicks |")
        print("| --- | --- | --- | --- |")
        for name, (rr, nn, cc) in REFERENCES.items():
            print(f"| {name} (reference) | {rr:.4f} | {nn:.4f} | {cc:.2f} |")
        print(f"| **AlgoRhythms** | {r:.4f} | {n:.4f} | {c:.2f} |")
        print(f"| target (ALS + 15%) | {TARGET[0]:.3f} | {TARGET[1]:.3f} | {TARGET[2]:.1f} |")
        met = [r >= TARGET[0], n >= TARGET[1], c <= TARGET[2]]
        print(
            "target: "
            + ", ".join(
                f"{label} {'met' if ok else 'missed'}"
                for label, ok in zip(("R-precision", "NDCG", "clicks"), met, strict=True)
            )
        )
        baselines = _baselines(data, mpd_dev, scorer, truth, artist_of)
        print()
        print(
            "per category: AlgoRhythms, and item-kNN over the same published neighbour table "
            "(R-precision / NDCG / clicks)"
        )
        print("| category | AlgoRhythms | item-kNN | popularity | below item-kNN |")
        print("| --- | --- | --- | --- | --- |")
        below = []
        for category, (cr, cn, cc) in categories.items():
            kr, kn, kc = baselines["item_knn"][category]
            pr, pn, pc = baselines["popularity"][category]
            worse = [m for m, a, b in (("R", cr, kr), ("NDCG", cn, kn)) if a < b]
            worse += ["clicks"] if cc > kc else []
            below += [category] if worse else []
            print(
                f"| {category} | {cr:.4f} / {cn:.4f} / {cc:.2f} | {kr:.4f} / {kn:.4f} / {kc:.2f}"
                f" | {pr:.4f} / {pn:.4f} / {pc:.2f} | {', '.join(worse) or '-'} |"
            )
        overall = {k: v["all"] for k, v in baselines.items()}
        print(
            "item-kNN overall {:.4f} / {:.4f} / {:.2f}; popularity {:.4f} / {:.4f} / {:.2f}".format(
                *overall["item_knn"], *overall["popularity"]
            )
        )
        print(f"categories below item-kNN on some metric: {', '.join(below) or 'none'}")
        report = data / "warehouse" / "reports" / "recommendation_eval.csv"
        if report.exists():
            print()
            print("the pipeline's own recommendation_eval (hold-out of the training playlists):")
            print(report.read_text())
        ablation = data / "warehouse" / "reports" / "ablation.csv"
        if ablation.exists():
            print("ablation (same hold-out; each ranker trained and answering without one part):")
            print(ablation.read_text())
        print(", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
        if args.load_seconds > 0:
            _latency(data, mpd_dev, args.load_seconds, args.concurrency)
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    sys.exit(main())
