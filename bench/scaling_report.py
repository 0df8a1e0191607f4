"""Training throughput by strategy on this machine: one process, two workers (MultiWorkerMirroredStrategy on
127.0.0.1), and MirroredStrategy over two virtual CPU devices, side by side in one run.

Usage:
    python bench/scaling_report.py [--model resnet20] [--dataset cifar10] [--examples 5120] [--epochs 3]
                                   [--repeats 3]

Every configuration runs `zoo train` (the multi-worker one once per worker, each with its TF_CONFIG) with the
same global batch; the figure is the training examples per second that `zoo train` logs per epoch
(`history.json`, validation excluded), the first epoch (tracing) left out, median over epochs and repeats.
Writes bench/reports/scaling.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from zoo.training.run_dir import shown_command

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs" / "scaling"
MIRRORED = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from zoo.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _speeds(run_dir: Path) -> list[float]:
    history = json.loads((run_dir / "history.json").read_text())
    return history["examples_per_second"][1:]


def run(kind: str, flags: list[str], out: Path) -> tuple[list[float], str]:
    shutil.rmtree(out, ignore_errors=True)
    zoo = [sys.executable, "-m", "zoo.cli"]
    if kind == "one process":
        command = [*zoo, *flags, "--strategy", "one_device", "--out", str(out)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return _speeds(out), shown_command(["zoo", *command[3:]])
    if kind == "mirrored, 2 virtual CPU devices":
        command = [sys.executable, "-c", MIRRORED, *flags, "--strategy", "mirrored", "--out", str(out)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return _speeds(out), shown_command(["zoo", *command[3:]]) + "  (after splitting the CPU into 2 logical devices)"
    cluster = {"worker": [f"127.0.0.1:{_port()}", f"127.0.0.1:{_port()}"]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        command = [*zoo, *flags, "--strategy", "multi_worker", "--out", str(out / f"worker{index}")]
        workers.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for worker in workers:
        if worker.wait() != 0:
            raise RuntimeError(f"a worker failed: {shlex.join(command)}")
    return _speeds(out / "worker0"), "TF_CONFIG=... " + shown_command(["zoo", *command[3:]]) + "  (once per worker)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--examples", type=int, default=5120)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    flags = [
        "train",
        args.model,
        "--dataset",
        args.dataset,
        "--max-train-examples",
        str(args.examples),
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
        "--validation-split",
        "0.05",
        "--quiet",
        "--json",
    ]
    kinds = ["one process", "two workers (multi_worker, 127.0.0.1)", "mirrored, 2 virtual CPU devices"]
    results = {k: {"examples_per_second": [], "command": None} for k in kinds}
    for repeat in range(args.repeats):  # interleaved, so drift on the machine hits every configuration alike
        for i, kind in enumerate(kinds):
            speeds, command = run(kind, flags, RUNS / f"{i}-{repeat}")
            results[kind]["examples_per_second"] += speeds
            results[kind]["command"] = command
    base = statistics.median(results[kinds[0]]["examples_per_second"])
    for kind in kinds:
        results[kind]["median"] = statistics.median(results[kind]["examples_per_second"])
        results[kind]["ratio_to_one_process"] = results[kind]["median"] / base
    payload = {
        "command": "python bench/scaling_report.py " + " ".join(argv),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.system()}, {len(os.sched_getaffinity(0))} CPUs, no GPU",
        "model": args.model,
        "dataset": args.dataset,
        "global_batch_size": args.batch_size,
        "train_examples": args.examples,
        "results": results,
    }
    (HERE / "reports" / "scaling.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "# Training throughput by strategy",
        "",
        f"`{payload['command']}` on {payload['machine']}, {payload['date']}: `{args.model}` on {args.examples} "
        f"{args.dataset} training images, global batch {args.batch_size}; training examples/s as `zoo train` logs "
        f"them per epoch (validation excluded), the first epoch left out, median over {args.epochs - 1} epochs x "
        f"{args.repeats} interleaved repeats.",
        "",
        "| configuration | examples/s (median) | vs one process |",
        "|---|---|---|",
    ]
    for kind in kinds:
        r = results[kind]
        lines.append(f"| {kind} | {r['median']:.0f} | {r['ratio_to_one_process']:.2f}x |")
    lines += ["", "Commands:", ""] + [f"- {k}: `{results[k]['command']}`" for k in kinds] + [""]
    (HERE / "reports" / "scaling.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
