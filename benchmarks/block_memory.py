"""The memory one task of the co-occurrence block pass needs, on a built warehouse.

    PYTHONPATH=. .venv/bin/python benchmarks/block_memory.py --data-dir DATA [--blocks 4]

A block holds every playlist that has one of its tracks, so with long playlists nearly all the
playlist-track rows: what a task keeps per row, not the number of blocks, bounds the block
pass's memory. The script reads the warehouse's de-duplicated (pid, track_id, pos) rows (with
Spark, as the asset does), picks the rows replicated to block `--block` of `--blocks`, and runs
that task's code (algorhythms_ml.graph.cooccurrence.partition_rows with both tables' default
selectors) in this process on 10,000-row frames handed over one at a time, as Spark's Arrow
batches are. It prints the rows in, the rows out with a digest (the same code gives the same
digest), the seconds, and the peak memory Python allocated (tracemalloc: numpy, pandas and
scipy's arrays) above the input, in MB and in bytes per input row. The input rows themselves
(28 bytes a row here) and Arrow's copy of the current batch are not counted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from algorhythms_ml.graph.cooccurrence import (
    EdgeConfig,
    edge_selector,
    partition_rows,
    playlist_track_ids,
    row_chooser,
)
from algorhythms_ml.mpd.ingest import PLAYLIST_TRACKS, PLAYLIST_TRACKS_SCHEMA
from algorhythms_ml.mpd.tracks import TRACK_METADATA
from algorhythms_ml.recommend.neighbors import NeighborConfig, neighbor_selector
from algorhythms_ml.spark import build_spark_session, spark_conf_from_env
from algorhythms_ml.warehouse import Warehouse, read_table

BATCH = 10_000


def pass_rows(warehouse: Warehouse, out: Path) -> dict[str, np.ndarray]:
    """The block pass's input rows, (pid, track_id, pos) as the asset stages them."""
    spark = build_spark_session(spark_conf_from_env())
    try:
        tracks = read_table(spark, warehouse.table(PLAYLIST_TRACKS), PLAYLIST_TRACKS_SCHEMA)
        meta = spark.read.parquet(warehouse.table(TRACK_METADATA))
        playlist_track_ids(tracks, meta).write.mode("overwrite").parquet(str(out))
    finally:
        spark.stop()
    table = pq.read_table(out)
    return {name: table[name].to_numpy() for name in ("pid", "track_id", "pos")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--blocks", type=int, default=4, help="blocks of the pass (2 per core)")
    parser.add_argument("--block", type=int, default=0)
    args = parser.parse_args()
    warehouse = Warehouse.at(str(args.data_dir.resolve() / "warehouse"))
    with tempfile.TemporaryDirectory(prefix="block-memory-") as work:
        rows = pass_rows(warehouse, Path(work) / "rows")
    pid, track = rows["pid"], rows["track_id"]
    n_by_track = np.bincount(track).astype(np.int64)
    n_playlists = len(np.unique(pid))
    touched = np.zeros(int(pid.max()) + 1, bool)
    touched[pid[track % args.blocks == args.block]] = True
    mine = touched[pid]
    block = {name: values[mine] for name, values in rows.items()}
    block["block"] = np.full(int(mine.sum()), args.block, np.int64)
    del rows, pid, track, mine, touched
    n = len(block["pid"])
    print(
        f"{len(n_by_track):,} track ids, {n_playlists:,} playlists; block {args.block} of "
        f"{args.blocks}: {n:,} playlist-track rows",
        flush=True,
    )

    def batches():
        for start in range(0, n, BATCH):
            yield pd.DataFrame({k: v[start : start + BATCH].copy() for k, v in block.items()})

    selectors = [edge_selector(EdgeConfig()), neighbor_selector(NeighborConfig().neighbor_top_k)]
    chosen = row_chooser(selectors, n_by_track, n_playlists)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    written, digest = 0, 0
    for frame in partition_rows(batches(), args.blocks, EdgeConfig().window, chosen):
        written += len(frame)
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        digest = (digest + int(hashed.sum())) % 2**64  # independent of how rows are chunked
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    print(f"rows out {written:,}, digest {digest:016x}")
    print(f"seconds {seconds:.1f}")
    print(
        f"peak allocated {peak / 1e6:,.0f} MB, {peak / n:.1f} bytes per input row "
        "(the fixed chunk work included)"
    )


if __name__ == "__main__":
    main()
