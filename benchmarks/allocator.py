"""The C allocator's settings (algorhythms_ml/allocator.py) against glibc's defaults, side by
side: the same GCN fit in fresh processes, alternately with ALGORHYTHMS_MALLOC_TUNING=0 and 1,
each printing its fit seconds, the kernel time and minor page faults of the whole process, and
its peak resident memory; then the ratios of the medians (tuned / default).

    .venv/bin/python benchmarks/allocator.py --warehouse data/warehouse      # a built graph
    .venv/bin/python benchmarks/allocator.py --synthetic-nodes 122000 --synthetic-edges 3700000

The synthetic graph is the power-law graph with planted communities of benchmarks/train.py (the
defaults are about the 5,000-playlist demo's co-occurrence graph). Both settings train the same
model on the same split; the script prints each run's test metrics (the allocator changes no
arithmetic, but a multi-threaded sparse product may sum in another order from run to run).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from algorhythms_ml.allocator import ENV, keep_freed_blocks
from algorhythms_ml.embeddings.pipeline import load_graph
from algorhythms_ml.embeddings.train import GCNConfig, fit
from algorhythms_ml.warehouse import Warehouse


def child(args: argparse.Namespace) -> None:
    tuned = keep_freed_blocks()
    if args.warehouse:
        graph, _ = load_graph(Warehouse.at(args.warehouse))
    else:
        from train import synthetic_graph  # benchmarks/train.py, beside this file

        graph = synthetic_graph(
            args.synthetic_nodes, args.synthetic_edges, 0, max(1, args.synthetic_nodes // 1000)
        )
    config = GCNConfig(passes=args.passes, epochs=args.epochs)
    started = time.perf_counter()
    _, history, _ = fit(config, graph)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "tuned": tuned,
                "fit_s": seconds,
                "sys_s": usage.ru_stime,
                "minor_faults": usage.ru_minflt,
                "peak_rss_gb": usage.ru_maxrss / 1e6,
                "test": history.test,
                "nodes": graph.num_nodes,
                "edges": int(graph.edge_index.size(1)),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warehouse", help="a built warehouse: its cooccurrence_edges graph")
    parser.add_argument("--synthetic-nodes", type=int, default=122_000)
    parser.add_argument("--synthetic-edges", type=int, default=3_700_000)
    parser.add_argument("--passes", type=float, default=0.5, help="the demo's budget")
    parser.add_argument("--epochs", type=int, default=GCNConfig().epochs)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each setting")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    runs: dict[str, list[dict]] = {"default": [], "tuned": []}
    for i in range(args.repeat):
        for label, value in (("default", "0"), ("tuned", "1")):
            out = subprocess.run(
                [sys.executable, __file__, "--child", *sys.argv[1:]],
                env=dict(os.environ, **{ENV: value}),
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            runs[label].append(result)
            print(
                f"run {i + 1} {label:>7}: fit {result['fit_s']:6.1f} s, kernel "
                f"{result['sys_s']:5.1f} s, {result['minor_faults']:>10,} minor faults, peak "
                f"{result['peak_rss_gb']:.2f} GB ({result['nodes']:,} nodes, "
                f"{result['edges']:,} edges)",
                flush=True,
            )
    if any(not r["tuned"] for r in runs["tuned"]):
        print("the C library did not take the settings (not glibc?): nothing to compare")
        return
    for label, results in runs.items():
        for r in results:
            print(f"{label} test:", {k: round(v, 4) for k, v in r["test"].items()})
    for key in ("fit_s", "sys_s", "minor_faults", "peak_rss_gb"):
        default = statistics.median(r[key] for r in runs["default"])
        tuned = statistics.median(r[key] for r in runs["tuned"])
        print(f"{key}: default {default:,.2f}, tuned {tuned:,.2f}, ratio {tuned / default:.3f}")


if __name__ == "__main__":
    main()
