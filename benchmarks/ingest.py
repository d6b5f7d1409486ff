"""Generate N playlists of MPD slices, ingest them with Spark, print times and throughput.

.venv/bin/python benchmarks/ingest.py --playlists 100000 [--master local[2]] [--keep DIR]
.venv/bin/python benchmarks/ingest.py --playlists 20000 --gzip

With `--gzip` the same playlists are also written as .json.gz slices and ingested into a second
warehouse in the same Spark session, alternately with the plain ones after the first ingestion
(plain, gzipped, gzipped, plain), and it prints the gzipped/plain ratios of disk and ingestion
time; the two warehouses must hold the same rows.
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from algorhythms_ml.mpd.generator import GeneratorConfig, generate_mpd
from algorhythms_ml.mpd.ingest import PLAYLIST_TRACKS, ingest_slices
from algorhythms_ml.spark import build_spark_session, spark_conf_from_env
from algorhythms_ml.warehouse import Warehouse


def ingest(spark, files: list[Path], warehouse: Path) -> tuple[float, object]:
    shutil.rmtree(warehouse, ignore_errors=True)
    started = time.perf_counter()
    result = ingest_slices(spark, [f.as_uri() for f in files], Warehouse.at(warehouse))
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--playlists", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--master", default=os.environ.get("SPARK_MASTER", "local[*]"))
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--keep", help="keep the generated data and warehouse in this folder")
    parser.add_argument("--gzip", action="store_true", help="compare with gzipped slices")
    args = parser.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    config = GeneratorConfig(playlists=args.playlists, seed=args.seed)
    try:
        started = time.perf_counter()
        files = generate_mpd(config, work / "mpd")
        generate_s = time.perf_counter() - started
        size = sum(f.stat().st_size for f in files)

        env = dict(os.environ, SPARK_MASTER=args.master, SPARK_DRIVER_MEMORY=args.driver_memory)
        spark = build_spark_session(spark_conf_from_env(env))
        ingest_s, result = ingest(spark, files, work / "warehouse")
        rows = sum(s.tracks for s in result.written.values())
        playlists = sum(s.playlists for s in result.written.values())

        print(
            f"playlists             {playlists:,} in {len(files)} slice files ({size / 1e9:.2f} GB)"
        )
        print(f"generate              {generate_s:8.1f} s")
        print(f"ingest ({args.master:<10})  {ingest_s:8.1f} s")
        print(f"playlist-track rows   {rows:,}")
        print(f"rows per second       {rows / ingest_s:,.0f}")
        print(f"failed slices         {len(result.failed)}")
        if args.gzip:
            compare_gzip(spark, config, work, files, size)
        spark.stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def compare_gzip(spark, config, work: Path, files: list[Path], size: int) -> None:
    packed = generate_mpd(config, work / "mpd-gz", gzipped=True)
    packed_size = sum(f.stat().st_size for f in packed)
    # after the first ingestion (the JVM's warm-up): plain, gzipped, gzipped, plain
    plain_s = [ingest(spark, files, work / "warehouse")[0]]
    gz_s = [ingest(spark, packed, work / "warehouse-gz")[0] for _ in range(2)]
    plain_s.append(ingest(spark, files, work / "warehouse")[0])
    read = spark.read.parquet
    plain_rows = read(str(work / "warehouse" / PLAYLIST_TRACKS))
    gz_rows = read(str(work / "warehouse-gz" / PLAYLIST_TRACKS))
    same = plain_rows.count() == gz_rows.count() and plain_rows.exceptAll(gz_rows).isEmpty()
    print(f"gzipped slices        {packed_size / 1e9:.2f} GB: {packed_size / size:.3f} of the JSON")
    print(f"ingest gzipped        {' '.join(f'{s:.1f}' for s in gz_s)} s")
    print(f"ingest plain          {' '.join(f'{s:.1f}' for s in plain_s)} s")
    print(f"gzipped / plain time  {sum(gz_s) / sum(plain_s):.3f}")
    print(f"same playlist-track rows: {same}")


if __name__ == "__main__":
    main()
