"""`zoo finetune` from a CIFAR-10 preset onto a folder of colour photos: the new head fitted as a linear probe
(`--head-init probe`, the default) against a randomly initialised one (`--head-init random`), side by side.

The user's task: two classes of their own naming ("plane", "boat") in a folder of PNG photos, the first N
airplane and ship photos of CIFAR-10's test split (photos the pretrained backbone never trained on).
`zoo finetune` holds out 20% of the folder as its own test split; the figure here is the accuracy on every
other airplane and ship photo of the test split (2,000 - N photos), which is less noisy.

Usage:
    python bench/finetune_head_init.py [--weights LABEL=WEIGHTS ...] [--photos 120] [--epochs 2 10]
        [--seeds 0 1 2] [--model resnet20]

Runs go to bench/runs/finetune-head-init/ (not committed); the report to
bench/reports/finetune-head-init.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs" / "finetune-head-init"
REPORT = HERE / "reports" / "finetune-head-init"
READING = "## Reading"  # the hand-written part of the report, kept when the tables are rewritten
CLASSES = {0: "plane", 8: "boat"}  # CIFAR-10 label -> the user's folder name


def write_photos(count: int) -> tuple[Path, tuple]:
    """The first ``count`` airplane and ship test photos as a class folder; returns it and the other photos."""
    import numpy as np
    from PIL import Image

    from zoo import data

    _, split = data.load("cifar10", "test")
    chosen = np.flatnonzero(np.isin(split.labels, list(CLASSES)))
    folder = RUNS / f"photos-{count}"
    shutil.rmtree(folder, ignore_errors=True)
    for i in chosen[:count]:
        (folder / CLASSES[split.labels[i]]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(split.images[i]).save(folder / CLASSES[split.labels[i]] / f"{i}.png")
    rest = chosen[count:]
    return folder, (split.images[rest], split.labels[rest])


def finetune(model: str, weights: str, folder: Path, head_init: str, epochs: int, select: str, seed: int) -> dict:
    """One `zoo finetune` run (a finished one in its directory is reused); returns its directory, results and
    command."""
    out = RUNS / f"{Path(weights).name}-{head_init}-{epochs}-{select}-{seed}"
    command = ["zoo", "finetune", model, "--weights", weights, "--dataset", str(folder), "--epochs", str(epochs)]
    command += ["--batch-size", "16", "--select", select, "--seed", str(seed), "--head-init", head_init]
    command += ["--quiet", "--json", "--out", str(out)]
    if not (out / "results.json").is_file():
        shutil.rmtree(out, ignore_errors=True)
        zoo = str(Path(sys.executable).with_name("zoo"))
        done = subprocess.run([zoo, *command[1:]], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{shlex.join(command)} failed:\n{done.stderr[-2000:]}")
    results = json.loads((out / "results.json").read_text())
    return {"out": out, "command": shlex.join(command).replace(str(HERE.parent) + "/", ""), "results": results}


def held_out_accuracy(model: str, run: Path, photos) -> float:
    """Accuracy of the fine-tuned run on the held-out photos (labels mapped to the folder's class names)."""
    import numpy as np

    import zoo

    classes = json.loads((run / "config.json").read_text())["class_names"]
    images, labels = photos
    targets = np.array([classes.index(CLASSES[label]) for label in labels])
    predicted = np.argmax(zoo.create(model, weights=str(run)).predict(images / 255.0, batch_size=200, verbose=0), -1)
    return float(np.mean(predicted == targets))


def markdown(report: dict) -> str:
    lines = [
        "# Fine-tuning from a CIFAR-10 preset: the new head fitted as a linear probe, or random",
        "",
        f"`{report['command']}`, {report['date']}, {report['machine']}. `zoo finetune {report['model']} --weights "
        f"WEIGHTS --dataset <folder> --epochs E --batch-size 16 --select SELECT --seed S --head-init INIT` on a "
        "folder of the "
        f'first {report["photos"]} airplane and ship photos of CIFAR-10\'s test split ("plane", "boat"; 80% '
        "trains, 20% is the run's own test split). Figure: accuracy on the other "
        f"{report['held_out']} airplane and ship test photos, median over seeds {report['seeds']} (min-max).",
        "",
        "| weights | epochs | `--select` | `--head-init probe` | `--head-init random` | the run's own 20% (probe / "
        "random) | best epoch, median (probe / random) |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        cells = []
        for init in ("probe", "random"):
            values = row[init]["held_out"]
            cells.append(f"{100 * statistics.median(values):.1f}% ({100 * min(values):.1f}-{100 * max(values):.1f})")
        own = " / ".join(f"{100 * statistics.median(row[i]['own_test']):.1f}%" for i in ("probe", "random"))
        kept = " / ".join(f"{statistics.median(row[i]['kept_epoch']):g}" for i in ("probe", "random"))
        lines.append(
            f"| {row['weights']} | {row['epochs']} | {row['select']} | {cells[0]} | {cells[1]} | {own} | {kept} |"
        )
    lines += ["", "Weights: " + ", ".join(f"{k} = `{v}`" for k, v in report["weights"].items()) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", default=["preset=cifar10"], metavar="LABEL=WEIGHTS")
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--epochs", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--select", nargs="+", default=["best", "last"], choices=["best", "last"])
    args = parser.parse_args(argv)
    weights = dict(item.split("=", 1) for item in args.weights)
    folder, photos = write_photos(args.photos)
    rows = []
    for (label, source), epochs, select in itertools.product(weights.items(), args.epochs, args.select):
        row = {"weights": label, "epochs": epochs, "select": select}
        for init in ("probe", "random"):
            runs = [finetune(args.model, source, folder, init, epochs, select, seed) for seed in args.seeds]
            row[init] = {
                "held_out": [held_out_accuracy(args.model, run["out"], photos) for run in runs],
                "own_test": [run["results"]["test"]["accuracy"] for run in runs],
                "kept_epoch": [run["results"]["best_epoch"] if select == "best" else epochs for run in runs],
                "train_seconds": [round(run["results"]["train_seconds"], 1) for run in runs],
                "command": runs[0]["command"],
            }
            print(label, epochs, select, init, row[init]["held_out"], flush=True)
        rows.append(row)
    report = {
        "command": shlex.join(["python", "bench/finetune_head_init.py", *(argv or sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPUs",
        "model": args.model,
        "photos": args.photos,
        "held_out": len(photos[1]),
        "seeds": args.seeds,
        "weights": weights,
        "rows": rows,
    }
    REPORT.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    md_path = REPORT.with_suffix(".md")
    old = md_path.read_text() if md_path.exists() else ""
    reading = old[old.index(READING) :] if READING in old else ""
    md_path.write_text(markdown(report) + ("\n" + reading if reading else ""))
    print(markdown(report))


if __name__ == "__main__":
    main()
