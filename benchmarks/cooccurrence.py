"""Spark co-occurrence counts against a single-process scipy sparse product, side by side.

    .venv/bin/python benchmarks/cooccurrence.py --playlists 50000
    .venv/bin/python benchmarks/cooccurrence.py --mpd-dir ../shared/mpd_dev/train
    .venv/bin/python benchmarks/cooccurrence.py --playlists 50000 \\
        --scaling 10000,25000,50000,100000
    .venv/bin/python benchmarks/cooccurrence.py --playlists 20000 --whole-asset

Both engines start from the same de-duplicated (pid, track_id) Parquet rows and write their
unpruned upper-triangle counts to Parquet; the script checks that every count agrees, then
prints both times, the ratio Spark/scipy and edges per second.

With `--whole-asset` it builds the pruned `cooccurrence_edges` table (default `EdgeConfig`) the
way the asset does, from the ingested warehouse, and a single-process scipy reference of the
same table from the same rows (whole rows of X^T X, weighted, each track's top K, the union of
both endpoints' choices); it checks that the two tables are equal row for row and prints
`whole asset ratio: X`, Spark seconds over scipy seconds.
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from algorhythms_ml.graph.cooccurrence import (
    COOCCURRENCE_EDGES,
    EdgeConfig,
    cooccurrence_counts,
    playlist_track_ids,
)
from algorhythms_ml.graph.cooccurrence_tables import build_cooccurrence_tables
from algorhythms_ml.mpd.generator import GeneratorConfig, generate_mpd
from algorhythms_ml.mpd.ingest import ingest_slices
from algorhythms_ml.mpd.tracks import build_track_metadata
from algorhythms_ml.spark import build_spark_session, spark_conf_from_env
from algorhythms_ml.warehouse import Warehouse


def scipy_counts(rows_path: Path, out: Path) -> int:
    table = pq.read_table(rows_path, columns=["pid", "track_id"])
    pids = table["pid"].to_numpy()
    tracks = table["track_id"].to_numpy()
    _, row = np.unique(pids, return_inverse=True)
    n_tracks = int(tracks.max()) + 1
    x = sp.csr_matrix(
        (np.ones(row.size, dtype=np.float32), (row, tracks)), shape=(row.max() + 1, n_tracks)
    )
    product = sp.triu(x.T.tocsr() @ x, k=1).tocoo()
    pq.write_table(
        pa.table(
            {
                "src": product.row.astype(np.int64),
                "dst": product.col.astype(np.int64),
                "count": np.rint(product.data).astype(np.int64),
            }
        ),
        out,
    )
    return product.nnz


def scipy_pruned_edges(rows_path: Path, config: EdgeConfig, chunk: int = 20_000) -> pd.DataFrame:
    """The pruned, symmetric edge table (src, dst, count, weight) from plain whole rows of
    X^T X, one chunk of source tracks at a time, sorted by (src, dst)."""
    table = pq.read_table(rows_path, columns=["pid", "track_id"])
    tracks = table["track_id"].to_numpy()
    _, row = np.unique(table["pid"].to_numpy(), return_inverse=True)
    x = sp.csr_matrix(
        (np.ones(row.size, dtype=np.float32), (row, tracks)),
        shape=(row.max() + 1, int(tracks.max()) + 1),
    )
    xt = x.T.tocsr()
    n = np.bincount(tracks, minlength=x.shape[1]).astype(np.int64)
    kept = []
    for start in range(0, x.shape[1], chunk):
        product = (xt[start : start + chunk] @ x).tocoo()
        src = product.row.astype(np.int64) + start
        dst = product.col.astype(np.int64)
        count = np.rint(product.data).astype(np.int64)
        keep = (src != dst) & (count >= config.min_count)
        src, dst, count = src[keep], dst[keep], count[keep]
        n_src, n_dst = n[src].astype(np.float64), n[dst].astype(np.float64)
        if config.weight == "count":
            weight = count.astype(np.float64)
        elif config.weight == "cosine":
            weight = count / np.sqrt(n_src * n_dst)
        else:
            weight = np.log(count * float(row.max() + 1) / (n[src] * n[dst]))
        keep = weight > 0
        src, dst, count, weight = src[keep], dst[keep], count[keep], weight[keep]
        if config.top_k is not None:
            order = np.lexsort((dst, -count, -weight, src))
            src, dst, count, weight = src[order], dst[order], count[order], weight[order]
            first = np.searchsorted(src, src, side="left")
            top = np.arange(src.size) - first < config.top_k
            src, dst, count, weight = src[top], dst[top], count[top], weight[top]
        kept.append(pd.DataFrame({"src": src, "dst": dst, "count": count, "weight": weight}))
    edges = pd.concat(kept, ignore_index=True)
    if config.top_k is not None:
        lo = edges[["src", "dst"]].min(axis=1)
        hi = edges[["src", "dst"]].max(axis=1)
        undirected = edges.assign(src=lo, dst=hi).drop_duplicates(["src", "dst"])
        flipped = undirected.rename(columns={"src": "dst", "dst": "src"})
        edges = pd.concat([undirected, flipped], ignore_index=True)
    return edges.sort_values(["src", "dst"], ignore_index=True)[["src", "dst", "count", "weight"]]


def measure_whole_asset(spark, warehouse: Warehouse, rows: Path, config: EdgeConfig) -> dict:
    """Seconds of the asset's Spark build and of the scipy reference, and whether their tables
    are equal row for row."""
    started = time.perf_counter()
    build_cooccurrence_tables(spark, warehouse, config, tables=[COOCCURRENCE_EDGES])
    spark_s = time.perf_counter() - started
    started = time.perf_counter()
    expected = scipy_pruned_edges(rows, config)
    scipy_s = time.perf_counter() - started
    got = pd.read_parquet(warehouse.local_path(COOCCURRENCE_EDGES))
    got = got.sort_values(["src", "dst"], ignore_index=True)[list(expected.columns)]
    same = len(got) == len(expected) and all(
        np.array_equal(got[c].to_numpy(), expected[c].to_numpy()) for c in expected.columns
    )
    return {
        "rows": len(got),
        "scipy_rows": len(expected),
        "same": same,
        "spark_s": spark_s,
        "scipy_s": scipy_s,
    }


def spark_counts(spark, rows_uri: str, out_uri: str, blocks: int | None) -> int:
    rows = spark.read.parquet(rows_uri)
    cooccurrence_counts(spark, rows, blocks=blocks).write.mode("overwrite").parquet(out_uri)
    return spark.read.parquet(out_uri).count()


def _as_csr(path: Path, shape: tuple[int, int]) -> sp.csr_matrix:
    table = pq.read_table(path, columns=["src", "dst", "count"])
    return sp.csr_matrix(
        (
            table["count"].to_numpy().astype(np.int32),
            (table["src"].to_numpy().astype(np.int32), table["dst"].to_numpy().astype(np.int32)),
        ),
        shape=shape,
    )


def compare(spark_out: Path, scipy_out: Path, n_tracks: int) -> int:
    """Number of pairs whose counts differ between the two results (sparse, memory-light)."""
    a = _as_csr(spark_out, (n_tracks, n_tracks))  # duplicates would be summed: check nnz too
    b = _as_csr(scipy_out, (n_tracks, n_tracks))
    rows = pq.ParquetDataset(spark_out).read(columns=["src"]).num_rows
    return int((a != b).nnz) + abs(rows - b.nnz)


def measure(spark, rows: Path, work: Path, blocks: int | None, label: str) -> dict:
    table = pq.read_table(rows, columns=["pid"])
    lengths = np.bincount(np.unique(table["pid"].to_numpy(), return_inverse=True)[1])
    raw_pairs = int((lengths * (lengths - 1) // 2).sum())
    spark_out, scipy_out = work / f"spark-{label}", work / f"scipy-{label}.parquet"
    started = time.perf_counter()
    edges = spark_counts(spark, rows.as_uri(), spark_out.as_uri(), blocks)
    spark_s = time.perf_counter() - started
    started = time.perf_counter()
    scipy_edges = scipy_counts(rows, scipy_out)
    scipy_s = time.perf_counter() - started
    n_tracks = int(pq.read_table(rows, columns=["track_id"])["track_id"].to_numpy().max()) + 1
    mismatches = compare(spark_out, scipy_out, n_tracks)
    shutil.rmtree(spark_out, ignore_errors=True)
    scipy_out.unlink(missing_ok=True)
    return {
        "playlists": int(lengths.size),
        "rows": int(lengths.sum()),
        "raw_pairs": raw_pairs,
        "edges": edges,
        "scipy_edges": scipy_edges,
        "mismatches": mismatches,
        "spark_s": spark_s,
        "scipy_s": scipy_s,
    }


def report(m: dict) -> None:
    agree = (
        "all counts agree"
        if m["mismatches"] == 0 and m["edges"] == m["scipy_edges"]
        else (f"MISMATCH: {m['mismatches']} pairs differ")
    )
    print(f"playlists            {m['playlists']:,} ({m['rows']:,} playlist-track rows)")
    print(f"raw pairs            {m['raw_pairs']:,}")
    print(f"distinct pairs       {m['edges']:,} ({agree})")
    print(f"spark                {m['spark_s']:8.2f} s  ({m['edges'] / m['spark_s']:,.0f} edges/s)")
    print(f"scipy X^T X          {m['scipy_s']:8.2f} s  ({m['edges'] / m['scipy_s']:,.0f} edges/s)")
    print(f"ratio spark/scipy    {m['spark_s'] / m['scipy_s']:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--playlists", type=int, default=50_000)
    parser.add_argument("--mpd-dir", help="use these slice files instead of generated ones")
    parser.add_argument("--scaling", help="comma-separated playlist counts to measure as well")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--blocks", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", help="keep data here and reuse its rows.parquet if present")
    parser.add_argument(
        "--whole-asset",
        action="store_true",
        help="time the pruned cooccurrence_edges build against a scipy reference instead",
    )
    args = parser.parse_args()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="cooc-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = work / "rows.parquet"
    try:
        env = dict(os.environ, SPARK_MASTER=args.master, SPARK_DRIVER_MEMORY="6g")
        spark = build_spark_session(spark_conf_from_env(env))
        files = []
        warehouse = Warehouse.at(work / "warehouse")
        if rows.exists() and (not args.whole_asset or (work / "warehouse").exists()):
            print(f"reusing {rows}")
        elif args.mpd_dir:
            files = sorted(Path(args.mpd_dir).resolve().glob("mpd.slice.*.json"))
            if not files:
                raise SystemExit(f"no mpd.slice.*.json files in {args.mpd_dir}")
        else:
            sizes = [int(x) for x in args.scaling.split(",")] if args.scaling else []
            total = max([args.playlists, *sizes])
            files = generate_mpd(GeneratorConfig(playlists=total, seed=args.seed), work / "mpd")
        if not rows.exists() or args.whole_asset and not (work / "warehouse").exists():
            started = time.perf_counter()
            ingest_slices(spark, [f.as_uri() for f in files], warehouse)
            build_track_metadata(spark, warehouse)
            tracks = spark.read.parquet(warehouse.table("playlist_tracks"))
            meta = spark.read.parquet(warehouse.table("track_metadata"))
            playlist_track_ids(tracks, meta).select(
                "pid", "track_id", "pos"
            ).toPandas().sort_values(["pid", "track_id"]).to_parquet(rows, index=False)
            shutil.rmtree(work / "mpd", ignore_errors=True)
            if not args.whole_asset:
                shutil.rmtree(work / "warehouse", ignore_errors=True)
            print(f"setup (ingest, ids)  {time.perf_counter() - started:8.2f} s  [{args.master}]")

        if args.whole_asset:
            config = EdgeConfig(blocks=args.blocks)
            m = measure_whole_asset(spark, warehouse, rows, config)
            agree = "equal row for row" if m["same"] else "MISMATCH"
            print(f"pruned edges         {m['rows']:,} spark, {m['scipy_rows']:,} scipy ({agree})")
            print(f"spark asset          {m['spark_s']:8.2f} s")
            print(f"scipy reference      {m['scipy_s']:8.2f} s")
            print(f"whole asset ratio: {m['spark_s'] / m['scipy_s']:.2f}")
            spark.stop()
            return

        all_rows = pd.read_parquet(rows)
        pids = np.sort(all_rows.pid.unique())

        def subset(n: int) -> Path:
            path = work / f"rows-{n}.parquet"
            all_rows[all_rows.pid.isin(pids[:n])].to_parquet(path, index=False)
            return path

        # A warm-up so that neither side pays for JVM or import start-up in its figure.
        measure(spark, subset(min(2000, pids.size)), work, args.blocks, "warmup")
        main_rows = rows if args.mpd_dir else subset(args.playlists)
        report(measure(spark, main_rows, work, args.blocks, "main"))

        if args.scaling:
            print(
                "\nscaling: playlists, raw pairs, spark s, scipy s, ratio, ns per raw pair (spark)"
            )
            for n in [int(x) for x in args.scaling.split(",")]:
                if n > pids.size:
                    print(f"{n:>9,}  (only {pids.size:,} playlists available)")
                    continue
                m = measure(spark, subset(n), work, args.blocks, f"n{n}")
                flag = "" if m["mismatches"] == 0 else f"  MISMATCH {m['mismatches']}"
                print(
                    f"{n:>9,}  {m['raw_pairs']:>14,}  {m['spark_s']:7.2f}  {m['scipy_s']:7.2f}  "
                    f"{m['spark_s'] / m['scipy_s']:5.2f}  "
                    f"{m['spark_s'] / m['raw_pairs'] * 1e9:6.1f}"
                    f"{flag}"
                )
        spark.stop()
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
