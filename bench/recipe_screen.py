"""Screen training recipes side by side on a subset before a long run (issue 18's "screen on a subset").

Every variant is one `zoo train` run with the shared flags plus its own, on the same subset, seed and
hold-out; the report compares their test accuracy (all 10,000 test images for CIFAR-10, the run's own
evaluation of its best weights), best hold-out accuracy, examples/s and wall time.

Usage:
    python bench/recipe_screen.py NAME MODEL DATASET --variant LABEL="FLAGS" [--variant ...] -- [shared zoo train flags]

Example:
    python bench/recipe_screen.py resnet20-cifar10-screen resnet20 cifar10 \\
        --variant crop_flip="--augment crop_flip" --variant cutout="--augment crop_flip_cutout" \\
        --variant cutmix="--augment crop_flip --mix cutmix" -- \\
        --max-train-examples 10000 --epochs 15 --batch-size 128 --optimizer sgd --lr 0.1 --weight-decay 2e-3 \\
        --schedule warmup_cosine --warmup-epochs 1 --label-smoothing 0.1 --mixed-precision --validation-split 0.02

Runs go to bench/runs/screen/NAME/LABEL (not committed); the report to bench/reports/NAME.{json,md}.
"""

from __future__ import annotations

import argparse
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

from zoo.cpu_kernels import cpu_model_name

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs" / "screen"


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``LABEL=FLAGS`` -> (label, flags)."""
    label, sep, flags = text.partition("=")
    if not sep or not label.strip():
        raise argparse.ArgumentTypeError(f'a variant is LABEL="FLAGS". Received: {text!r}')
    return label.strip(), shlex.split(flags)


def run_variant(name: str, model: str, dataset: str, label: str, shared: list[str], flags: list[str]) -> dict:
    """Trains one variant (the shared flags, then its own) with `zoo train` and reads back its figures."""
    out = RUNS / name / label
    shutil.rmtree(out, ignore_errors=True)
    command = ["zoo", "train", model, "--dataset", dataset, *shared, *flags, "--out", str(out), "--quiet", "--json"]
    print("$", shlex.join(command), flush=True)
    zoo = str(Path(sys.executable).with_name("zoo"))
    started = time.time()
    done = subprocess.run([zoo, *command[1:]], stdout=subprocess.PIPE, text=True)
    wall = time.time() - started
    if done.returncode != 0:
        return {"label": label, "flags": flags, "failed": done.returncode, "wall_seconds": round(wall, 1)}
    test = json.loads(done.stdout)["test"]
    history = json.loads((out / "history.json").read_text())
    speeds = [v for v in history.get("examples_per_second", []) if v]
    holdout = [v for v in history.get("val_accuracy", []) if v is not None]
    return {
        "label": label,
        "flags": flags,
        "test_accuracy": test["accuracy"],
        "test_examples": test.get("examples"),
        "best_holdout_accuracy": max(holdout) if holdout else None,
        "last_train_accuracy": history["accuracy"][-1] if history.get("accuracy") else None,
        "examples_per_second_median": round(statistics.median(speeds)) if speeds else None,
        "wall_seconds": round(wall, 1),
        "command": shlex.join(command),
    }


def machine() -> str:
    """CPU model and count, e.g. "AMD EPYC 9R14, 2 CPUs (x86_64 Linux)"."""
    return f"{cpu_model_name()}, {os.cpu_count()} CPUs ({platform.machine()} {platform.system()})"


def markdown(report: dict) -> str:
    rows = []
    for r in report["variants"]:
        if "failed" in r:
            rows.append(f"| {r['label']} | `{shlex.join(r['flags']) or '-'}` | failed (exit {r['failed']}) | | | | |")
            continue
        holdout = "-" if r["best_holdout_accuracy"] is None else f"{100 * r['best_holdout_accuracy']:.2f}%"
        train = "-" if r["last_train_accuracy"] is None else f"{100 * r['last_train_accuracy']:.2f}%"
        rows.append(
            f"| {r['label']} | `{shlex.join(r['flags']) or '-'}` | **{100 * r['test_accuracy']:.2f}%** | {holdout} "
            f"| {train} | {r['examples_per_second_median']} | {r['wall_seconds'] / 60:.1f} |"
        )
    return f"""# {report["name"]}: recipes screened side by side

`{report["model"]}` on `{report["dataset"]}`, each variant one `zoo train` run with the shared flags
`{shlex.join(report["shared_flags"])}` plus its own; same subset, seed and hold-out. Test accuracy: the run's own
evaluation of its best weights on the whole test split{report["caveat"]}.

| variant | its flags | test accuracy | best hold-out | last train accuracy (as trained: mixed or augmented) | examples/s (median) | minutes |
|---|---|---:|---:|---:|---:|---:|
{chr(10).join(rows)}

- Command: `{report["command"]}`, {report["date"]}, {report["seconds"] / 60:.0f} minutes.
- Machine: {report["machine"]}.
{f"- Note: {report['note']}" if report.get("note") else ""}
"""


def main(argv: list[str]) -> int:
    if "--" in argv:
        cut = argv.index("--")
        argv, shared = argv[:cut], argv[cut + 1 :]
    else:
        shared = []
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", help="report name, e.g. resnet20-cifar10-screen")
    parser.add_argument("model")
    parser.add_argument("dataset")
    parser.add_argument("--variant", type=parse_variant, action="append", required=True, help='LABEL="FLAGS"')
    parser.add_argument("--note", default="", help="a line for the report (e.g. what else ran meanwhile)")
    parser.add_argument("--out", type=Path, default=HERE / "reports")
    args = parser.parse_args(argv)
    labels = [label for label, _ in args.variant]
    if len(set(labels)) != len(labels):
        parser.error(f"variant labels must differ. Received: {labels}")
    started = time.time()
    variants = [run_variant(args.name, args.model, args.dataset, label, shared, flags) for label, flags in args.variant]
    report = {
        "report": "recipe_screen",
        "name": args.name,
        "model": args.model,
        "dataset": args.dataset,
        "shared_flags": shared,
        "variants": variants,
        "caveat": " (the offline JPEG copy: a lossy re-encoding)" if args.dataset.startswith("cifar10") else "",
        "command": shlex.join(["python", "bench/recipe_screen.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "seconds": round(time.time() - started, 1),
        "machine": machine(),
        "note": args.note,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / f"{args.name}.md").write_text(text)
    print(text)
    return 0 if all("failed" not in v for v in variants) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
