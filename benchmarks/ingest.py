"""Generate N playlists of MPD slices, ingest them with Spark, print times and throughput.

.venv/bin/python benchmarks/ingest.py --playlists 100000 [--master local[2]] [--keep DIR]
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from algorhythms_ml.mpd.generator import GeneratorConfig, generate_mpd
from algorhythms_ml.mpd.ingest import ingest_slices
from algorhythms_ml.spark import build_spark_session, spark_conf_from_env
from algorhythms_ml.warehouse import Warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--playlists", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--master", default=os.environ.get("SPARK_MASTER", "local[*]"))
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--keep", help="keep the generated data and warehouse in this folder")
    args = parser.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    mpd = work / "mpd"
    try:
        started = time.perf_counter()
        files = generate_mpd(GeneratorConfig(playlists=args.playlists, seed=args.seed), mpd)
        generate_s = time.perf_counter() - started
        size_gb = sum(f.stat().st_size for f in files) / 1e9

        env = dict(os.environ, SPARK_MASTER=args.master, SPARK_DRIVER_MEMORY=args.driver_memory)
        spark = build_spark_session(spark_conf_from_env(env))
        started = time.perf_counter()
        result = ingest_slices(spark, [f.as_uri() for f in files], Warehouse.at(work / "warehouse"))
        ingest_s = time.perf_counter() - started
        rows = sum(s.tracks for s in result.written.values())
        playlists = sum(s.playlists for s in result.written.values())
        spark.stop()

        print(f"playlists             {playlists:,} in {len(files)} slice files ({size_gb:.2f} GB)")
        print(f"generate              {generate_s:8.1f} s")
        print(f"ingest ({args.master:<10})  {ingest_s:8.1f} s")
        print(f"playlist-track rows   {rows:,}")
        print(f"rows per second       {rows / ingest_s:,.0f}")
        print(f"failed slices         {len(result.failed)}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
