"""GCN node classification over 10 seeds (Kipf & Welling 2017, Table 2) through the `zoo` CLI.

Usage:
    python bench/gcn_report.py [--seeds 10] [--graphs cora citeseer]

Each seed runs `zoo train gcn --dataset G --epochs 200 --lr 0.01 --schedule constant --seed S`
into bench/runs/gcn/G-S (git-ignored; finished runs are reused) and writes
bench/reports/gcn.{json,md}. PubMed has no offline copy here, so it is reported only
when Spektral can load it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs" / "gcn"
ANCHORS = {"cora": 81.5, "citeseer": 70.3, "pubmed": 79.0}  # Kipf & Welling 2017, Table 2
FLAGS = "--epochs 200 --lr 0.01 --schedule constant"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--graphs", nargs="+", default=["cora", "citeseer"])
    args = parser.parse_args(argv)
    zoo = str(Path(sys.executable).with_name("zoo"))
    results = {}
    for graph in args.graphs:
        accuracies, epochs, seconds = [], [], []
        for seed in range(args.seeds):
            run_dir = RUNS / f"{graph}-{seed}"
            if not (run_dir / "results.json").exists():
                cmd = [
                    zoo,
                    "train",
                    "gcn",
                    "--dataset",
                    graph,
                    *shlex.split(FLAGS),
                    "--seed",
                    str(seed),
                    "--quiet",
                    "--json",
                    "--out",
                    str(run_dir),
                ]
                print("$", shlex.join(cmd), flush=True)
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            done = json.loads((run_dir / "results.json").read_text())
            accuracies.append(100 * done["test"]["accuracy"])
            epochs.append(done["epochs_run"])
            seconds.append(done["train_seconds"])
        results[graph] = {
            "test_accuracy_percent": accuracies,
            "mean": statistics.mean(accuracies),
            "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "anchor": ANCHORS[graph],
            "epochs_run": epochs,
            "median_train_seconds": statistics.median(seconds),
        }
    payload = {
        "command": "python bench/gcn_report.py " + " ".join(argv),
        "train_command": f"zoo train gcn --dataset GRAPH {FLAGS} --seed S",
        "machine": f"{platform.machine()} {platform.system()}, {len(os.sched_getaffinity(0))} CPUs, no GPU",
        "date": time.strftime("%Y-%m-%d"),
        "seeds": args.seeds,
        "results": results,
    }
    (HERE / "reports" / "gcn.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "# GCN on the Planetoid citation graphs",
        "",
        f"`{payload['command']}` on {payload['machine']}, {payload['date']}. Each seed: "
        f"`{payload['train_command']}` (16 hidden units, dropout 0.5, L2 5e-4 on the first layer, Adam, "
        "early stopping after 10 epochs without a better validation loss, best-validation-loss weights), "
        "then the accuracy on the 1,000 test nodes of the public split.",
        "",
        "| graph | test accuracy, mean ± std over seeds | Kipf & Welling 2017 | epochs run (median) | s per run (median) |",
        "|---|---|---|---|---|",
    ]
    for graph, r in results.items():
        lines.append(
            f"| {graph} | **{r['mean']:.1f} ± {r['std']:.1f}%** ({args.seeds} seeds) | {r['anchor']}% "
            f"| {statistics.median(r['epochs_run'])} | {r['median_train_seconds']} |"
        )
    lines += [
        "",
        "PubMed: no offline copy of its Planetoid files exists on these machines, so it is not measured "
        "here (Spektral would download it where the network allows).",
        "",
    ]
    (HERE / "reports" / "gcn.md").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
