"""`algorhythms`: the command line of the platform."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import warnings
from pathlib import Path

log = logging.getLogger("algorhythms")


def _generate(args: argparse.Namespace) -> int:
    from algorhythms_ml.mpd.generator import GeneratorConfig, generate_mpd

    config = GeneratorConfig(playlists=args.playlists, seed=args.seed)
    paths = generate_mpd(config, Path(args.out), log=log, gzipped=args.gzip)
    print(f"wrote {len(paths)} slice files ({args.playlists} playlists) to {args.out}")
    return 0


def _spark_in_background() -> threading.Thread:
    """Start the process's Spark session on a thread: its JVM takes seconds to start, which
    pass while the caller imports Dagster and the assets (seconds too); the pyspark resource
    then finds the session running. A failure here is left to the resource to report."""

    def start() -> None:
        try:
            from algorhythms_ml.spark import build_spark_session

            build_spark_session()
        except Exception:  # the resource starts it again and says why it cannot
            log.debug("starting Spark ahead of the run failed", exc_info=True)

    thread = threading.Thread(target=start, name="spark-start", daemon=True)
    thread.start()
    return thread


def _materialize(args: argparse.Namespace) -> int:
    """Register the folder's slice files as partitions, ingest them in one run, then build
    every asset downstream, recording the runs in the Dagster instance at DAGSTER_HOME."""
    if args.mpd_dir and not Path(args.mpd_dir).is_dir():
        print(f"the MPD folder {args.mpd_dir} does not exist (pass --mpd-dir)", file=sys.stderr)
        return 2
    if args.mpd_dir:
        os.environ["ALGORHYTHMS_MPD_DIR"] = str(Path(args.mpd_dir).resolve())
    if args.data_dir:
        os.environ["ALGORHYTHMS_DATA_DIR"] = str(Path(args.data_dir).resolve())
    from algorhythms_ml.allocator import keep_freed_blocks

    keep_freed_blocks()  # before the JVM starts, so that it and its workers start with it
    spark = _spark_in_background()
    try:
        return _materialize_with(args, spark)
    finally:
        spark.join()


def _materialize_with(args: argparse.Namespace, spark: threading.Thread) -> int:
    import dagster as dg

    from algorhythms_assets.definitions import defs
    from algorhythms_assets.partitions import mpd_slices, register_new_slices
    from algorhythms_cli.run_log import LOGGER, with_terminal_logger

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    if instance is None:
        instance = dg.DagsterInstance.ephemeral()
        print("DAGSTER_HOME is not set: runs are not recorded for the UI")
    source = defs.resources["mpd_source"]
    files = source.slice_files()
    if not Path(source.path).is_dir():
        print(f"the MPD folder {source.path} does not exist (pass --mpd-dir)", file=sys.stderr)
        return 2
    if not files:
        print(
            f"no MPD slice files (mpd.slice.*.json or .json.gz) in {source.path} or its data/ "
            "folder",
            file=sys.stderr,
        )
        return 2
    new = register_new_slices(instance, files)
    keys = instance.get_dynamic_partitions(mpd_slices.name)
    print(f"ingesting {len(keys)} slice partitions ({len(new)} new) from {source.path}")
    # The terminal shows each asset's start and end, failures and progress lines as they
    # happen; --verbose adds Dagster's whole log.
    loggers = {"loggers": {LOGGER: {}}}
    if args.verbose:
        loggers["loggers"]["console"] = {"config": {"log_level": "DEBUG"}}
    failed_checks: list[str] = []
    spark.join()
    ingest = with_terminal_logger(
        defs.resolve_job_def("ingest_mpd"), failed_checks=failed_checks
    ).execute_in_process(
        instance=instance,
        run_config=loggers,
        tags={
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        },
        raise_on_error=False,
    )
    if not ingest.success:
        print("ingestion failed for some slices; see the run in the UI", file=sys.stderr)
        if not args.keep_going:
            return 1
    build_config = dict(loggers)
    if args.config:
        import yaml

        build_config.update(yaml.safe_load(Path(args.config).read_text()) or {})
    build = with_terminal_logger(
        defs.resolve_job_def("build_from_slices"), failed_checks=failed_checks
    ).execute_in_process(instance=instance, run_config=build_config, raise_on_error=False)
    if failed_checks:
        print(f"{len(failed_checks)} asset check(s) failed:", file=sys.stderr)
        for line in failed_checks:
            print(f"  {line}", file=sys.stderr)
    if not build.success:
        print("building downstream assets failed; see the run in the UI", file=sys.stderr)
        return 1
    return 0 if ingest.success else 1


def _summary(args: argparse.Namespace) -> int:
    """What the pipeline has built so far, and where to look next."""
    import pyarrow.dataset as ds

    from algorhythms_assets.resources import build_resources

    warehouse = build_resources()["warehouse"].warehouse()
    if not warehouse.root.startswith("file:"):
        print(f"warehouse: {warehouse.root}")
        return 0
    print(f"warehouse: {warehouse.local_path('')}")
    for name in (
        "playlists",
        "playlist_tracks",
        "quarantine",
        "track_metadata",
        "cooccurrence_edges",
        "gcn_embeddings",
        "playlist_vectors",
        "track_map",
    ):
        path = warehouse.local_path(name)
        if not path.exists():
            continue
        rows = ds.dataset(path, format="parquet", partitioning="hive").count_rows()
        print(f"  {name:<20} {rows:>12,} rows   {path}")
    print("next: `make ui` opens the Dagster UI at http://127.0.0.1:3000 on this data")
    return 0


def _serve(args: argparse.Namespace) -> int:
    """Run the recommendation API under uvicorn."""
    if args.data_dir:
        os.environ["ALGORHYTHMS_DATA_DIR"] = str(Path(args.data_dir).resolve())
    import signal

    from serving.server import run

    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting through Python instead
    # runs the exit handlers, so an embedded database this process started is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run(
        args.host,
        args.port,
        args.workers,
        log_level="info" if args.verbose else "warning",
        access_log=args.verbose,
    )
    return 0


def _publish(args: argparse.Namespace) -> int:
    """Roll the published database back to its previous version, or show the versions."""
    if args.data_dir:
        os.environ["ALGORHYTHMS_DATA_DIR"] = str(Path(args.data_dir).resolve())
    import psycopg

    from algorhythms_store.database import resolve_url
    from algorhythms_store.publish import ensure_schema, rollback, sweep_abandoned

    url = resolve_url()
    ensure_schema(url)
    swept = sweep_abandoned(url)
    if swept:
        print(f"marked {swept} version(s) left loading by a publisher that ended as failed")
    if args.rollback:
        print(f"version {rollback(url)} is live again")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT version, status, coalesce(published_at, started_at), rows, dimension, "
            "run_id, error FROM model_versions ORDER BY version DESC LIMIT 20"
        ).fetchall()
    print(f"  {'version':<8} {'status':<9} {'published (or started)':<25} {'tracks':>10}  run")
    for version, status, at, n, dim, run_id, error in rows:
        when = at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if at else "-"
        line = f"  v{version:<7} {status:<9} {when:<25} {n or 0:>10,} x {dim}  {run_id or '-'}"
        print(line + (f"  ({error[:80]})" if error else ""))
    return 0


def _export_embeddings(args: argparse.Namespace) -> int:
    """Write the live version's track vectors and metadata as TSV for the Embedding Projector."""
    if args.data_dir:
        os.environ["ALGORHYTHMS_DATA_DIR"] = str(Path(args.data_dir).resolve())
    from algorhythms_cli.projector import export_projector
    from algorhythms_store.database import resolve_url

    try:
        done = export_projector(resolve_url(), Path(args.out), args.limit)
    except LookupError as error:
        print(error, file=sys.stderr)
        return 1
    print(
        f"wrote {done.tracks:,} tracks of version {done.version} ({done.dimension} dimensions): "
        f"{done.vectors} and {done.metadata}"
    )
    print("load both at https://projector.tensorflow.org (Load: vectors, then metadata)")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _examples(args: argparse.Namespace) -> int:
    """Print requests that work against the published data."""
    import psycopg

    from algorhythms_store.database import resolve_url

    with psycopg.connect(resolve_url()) as conn:
        rows = conn.execute(
            "WITH published AS (SELECT version FROM track_model) "
            "SELECT uri, name, artist FROM track_vectors ORDER BY num_playlists DESC, id LIMIT 2"
        ).fetchall()
    if not rows:
        print("nothing is published yet: run `make demo` first", file=sys.stderr)
        return 1
    (first, name, artist), (second, _, _) = rows
    body = json.dumps({"songs": [{"id": first}, {"id": second}], "count": 5})
    print(f"# five songs to go with {name!r} by {artist} and the next most popular track:")
    print(f"curl -s -X POST {args.api}/v1/recommendations \\")
    print(f"  -H 'content-type: application/json' -d '{body}'")
    body = json.dumps({"name": "summer party", "count": 5})
    print("# continue a playlist known only by its title:")
    print(f"curl -s -X POST {args.api}/v1/playlists/continue \\")
    print(f"  -H 'content-type: application/json' -d '{body}'")
    print(f"curl -s '{args.api}/v1/tracks/{first}/similar?count=5'")
    return 0


def _challenge(args: argparse.Namespace) -> int:
    """Answer a challenge set with the published model; write the submission CSV."""
    if args.data_dir:
        os.environ["ALGORHYTHMS_DATA_DIR"] = str(Path(args.data_dir).resolve())
    import asyncio

    from algorhythms_cli.challenge import run_challenge, team_info
    from algorhythms_store.database import resolve_url

    try:
        team = team_info(args.team, args.track, args.email)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if not Path(args.challenge_set).is_file():
        print(f"no challenge set at {args.challenge_set}", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(
            run_challenge(
                resolve_url(),
                Path(args.challenge_set),
                Path(args.out),
                count=args.count,
                team=team,
            )
        )
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(
        f"wrote {args.out}: {summary['playlists']} playlists in {summary['seconds']:.1f} s "
        f"({summary['ms_per_playlist']:.1f} ms each)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="algorhythms", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate-mpd", help="write realistic MPD-format slice files")
    gen.add_argument("--playlists", type=int, required=True)
    gen.add_argument("--out", required=True)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--gzip", action="store_true", help="write .json.gz slices (ingested alike)")
    gen.set_defaults(func=_generate)

    mat = sub.add_parser("materialize", help="ingest the MPD folder and build every asset")
    mat.add_argument("--mpd-dir", help="folder of slice files (default $ALGORHYTHMS_MPD_DIR)")
    mat.add_argument("--data-dir", help="data folder (default $ALGORHYTHMS_DATA_DIR or ./data)")
    mat.add_argument(
        "--keep-going", action="store_true", help="build downstream assets even if a slice failed"
    )
    mat.add_argument(
        "--config",
        help="Dagster run config (YAML) for the downstream build, e.g. "
        "'ops: {playlist_ranker: {config: {folds: 2}}}'",
    )
    mat.set_defaults(func=_materialize)

    serve = sub.add_parser("serve", help="run the recommendation API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--data-dir", help="data folder (default $ALGORHYTHMS_DATA_DIR or ./data)")
    serve.set_defaults(func=_serve)

    versions = sub.add_parser("versions", help="list published versions; --rollback to go back")
    versions.add_argument("--rollback", action="store_true", help="make the previous version live")
    versions.add_argument(
        "--data-dir", help="data folder (default $ALGORHYTHMS_DATA_DIR or ./data)"
    )
    versions.set_defaults(func=_publish)

    challenge = sub.add_parser(
        "challenge", help="answer a challenge set; write the official submission CSV"
    )
    challenge.add_argument(
        "--challenge-set", required=True, help="challenge_set.json (or .json.gz)"
    )
    challenge.add_argument("--out", required=True, help="submission CSV (gzipped if it ends .gz)")
    challenge.add_argument("--count", type=int, default=500)
    challenge.add_argument("--team", default="AlgoRhythms", help="team name for team_info")
    challenge.add_argument(
        "--track", default="main", choices=("main", "creative"), help="challenge track"
    )
    challenge.add_argument(
        "--email", default="algorhythms@example.org", help="contact address for team_info"
    )
    challenge.add_argument("--data-dir", help="data folder (default $ALGORHYTHMS_DATA_DIR)")
    challenge.set_defaults(func=_challenge)

    export = sub.add_parser(
        "export-embeddings",
        help="write the published track vectors as TSV for TensorFlow's Embedding Projector",
    )
    export.add_argument("--out", required=True, help="folder for vectors.tsv and metadata.tsv")
    export.add_argument(
        "--limit", type=_positive, help="the N most popular tracks only (default: every track)"
    )
    export.add_argument("--data-dir", help="data folder (default $ALGORHYTHMS_DATA_DIR or ./data)")
    export.set_defaults(func=_export_embeddings)

    examples = sub.add_parser("examples", help="print API requests that work on the data")
    examples.add_argument("--api", default="http://127.0.0.1:8000")
    examples.set_defaults(func=_examples)

    summary = sub.add_parser("summary", help="list what has been built and where")
    summary.set_defaults(func=_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if not args.verbose:
        warnings.filterwarnings("ignore", message=".*is currently in beta")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
