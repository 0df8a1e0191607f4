"""Report a long classifier run kept outside the checkout (a CPU-budget CIFAR-10 run): JSON + a markdown block.

Usage:
    python bench/long_run_report.py RUN_DIR REPORT_NAME --goal 0.9125 --started 2026-12-04T07:59:11Z

It measures the run's best weights with `zoo evaluate MODEL --weights RUN_DIR --dataset D --json` (plain
single view, the figure that counts) and, beside it, with horizontal-flip test-time augmentation (the mean of
the softmax of each image and its mirror image), and writes bench/reports/REPORT_NAME.json and the block
between ``<!-- results -->`` and ``<!-- /results -->`` in bench/reports/REPORT_NAME.md (the prose around it
is kept), with the run's curves copied to bench/reports/REPORT_NAME-curves.png. The wall time runs from
``--started`` (when the `zoo train` command was started) to the run's results.json, less ``--paused-seconds``:
time the run was not running at all (the machine suspended between two sessions, or the run stopped and
resumed later with ``--resume``), which the report states beside the wall time.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from zoo.cpu_kernels import cpu_model_name

HERE = Path(__file__).resolve().parent
REPORTS = HERE / "reports"


def flip_tta_accuracy(run: Path, dataset: str) -> float:
    """Accuracy of the softmax averaged over each test image and its horizontal mirror image."""
    import numpy as np

    from zoo import data
    from zoo.weights import create_trained

    model, _ = create_trained(json.loads((run / "config.json").read_text())["model"], run)
    _, split = data.load(dataset, "test")
    images = split.images.astype("float32") / 255.0
    scores = sum(_softmax(model.predict(x, batch_size=250, verbose=0)) for x in (images, images[:, :, ::-1, :]))
    return float(np.mean(np.argmax(scores, axis=-1) == split.labels))


def _softmax(logits):
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _markdown(report: dict) -> str:
    t, h = report["training"], report["history"]
    goal = report["goal_accuracy"]
    met = "met" if report["test_accuracy"] >= goal else "**not met**"
    hours = report["wall_seconds"] / 3600
    paused = report.get("paused_seconds", 0)
    paused_note = f", not counting {paused:.0f} s when it was not running" if paused else ""
    rows = [
        f"| {e + 1} | {h['accuracy'][e]:.4f} | {h['val_accuracy'][e]:.4f} | {h['examples_per_second'][e]:.0f} |"
        for e in range(len(h["val_accuracy"]))
        if (e + 1) % 5 == 0 or e in (0, len(h["val_accuracy"]) - 1)
    ]
    return f"""<!-- results -->
## Result ({report["date"]})

| | figure |
|---|---:|
| test accuracy, single view (`zoo evaluate`, 10,000 images) | **{report["test_accuracy"]:.2%}** (goal ≥ {goal:.2%}: {met}) |
| test accuracy with flip test-time augmentation (beside it, not instead) | {report["flip_tta_accuracy"]:.2%} |
| test loss (label-smoothed targets are not used here: plain cross-entropy) | {report["test_loss"]:.4f} |
| wall time, `zoo train` start to finish (goal ≤ 2.5 h) | {hours:.2f} h ({report["wall_seconds"]:.0f} s{paused_note}) |
| training examples/s, median over epochs (range) | {report["examples_per_second_median"]:.0f} ({min(h["examples_per_second"]):.0f}-{max(h["examples_per_second"]):.0f}) |
| epochs, chosen weights | {t["epochs"]}, epoch {report["best_epoch"]} ({t["select"]} on the {t["validation_split"]:.0%} hold-out) |

- Command: `{report["command"]}`
- Measured: `{report["evaluate_command"]}`
- Machine: {report["machine"]}; Keras {report["environment"]["keras"]} ({report["environment"]["keras_backend"]}),
  TensorFlow {report["environment"]["tensorflow"]}, precision {report["dtype_policy"]}.
- Load while it ran: {report["load_note"]}
- Curves: ![curves]({report["name"]}-curves.png)

| epoch | train accuracy | validation accuracy | examples/s |
|---:|---:|---:|---:|
{chr(10).join(rows)}
<!-- /results -->"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("name", help="report name, e.g. resnet20-cifar10")
    parser.add_argument("--goal", type=float, required=True, help="test accuracy goal, e.g. 0.9125")
    parser.add_argument("--started", required=True, help="UTC time the zoo train command started (ISO 8601)")
    parser.add_argument("--load-note", default="not recorded", help="what else ran on the machine meanwhile")
    parser.add_argument(
        "--paused-seconds",
        type=float,
        default=0.0,
        help="seconds between --started and the end when the run was not running (suspended, or stopped and resumed)",
    )
    args = parser.parse_args(argv)
    if args.paused_seconds < 0:
        parser.error(f"--paused-seconds must be >= 0. Received: {args.paused_seconds}")
    config = json.loads((args.run / "config.json").read_text())
    results = json.loads((args.run / "results.json").read_text())
    history = json.loads((args.run / "history.json").read_text())
    model, dataset = config["model"], config["dataset"]
    shown_run = os.path.relpath(args.run.resolve(), HERE.parent)
    evaluate = ["zoo", "evaluate", model, "--weights", shown_run, "--dataset", dataset, "--json"]
    done = subprocess.run(
        [str(Path(sys.executable).with_name("zoo")), *evaluate[1:]], cwd=HERE.parent, check=True, capture_output=True
    )
    measured = json.loads(done.stdout)
    started = datetime.datetime.fromisoformat(args.started.replace("Z", "+00:00"))
    finished = datetime.datetime.fromtimestamp((args.run / "results.json").stat().st_mtime, datetime.timezone.utc)
    command = config["environment"]["command"].replace(str(args.run.resolve()), shown_run)
    report = {
        "name": args.name,
        "model": model,
        "dataset": dataset,
        "date": finished.strftime("%Y-%m-%d"),
        "goal_accuracy": args.goal,
        "test_accuracy": measured["accuracy"],
        "test_loss": measured["loss"],
        "test_examples": measured["examples"],
        "data_source": measured["source"],
        "flip_tta_accuracy": flip_tta_accuracy(args.run, dataset),
        "meets_goal": measured["accuracy"] >= args.goal,
        "wall_seconds": round((finished - started).total_seconds() - args.paused_seconds),
        "paused_seconds": round(args.paused_seconds),
        "train_seconds": results.get("train_seconds"),
        "examples_per_second_median": statistics.median(history["examples_per_second"]),
        "best_epoch": results.get("best_epoch"),
        "training": config["training"],
        "dtype_policy": config["distribution"]["dtype_policy"],
        "history": history,
        "command": command,
        "evaluate_command": shlex.join(evaluate),
        "environment": config["environment"],
        "machine": f"{config['environment'].get('cpu') or cpu_model_name()}, {os.cpu_count()} CPUs ({config['environment']['machine']})",
        "load_note": args.load_note,
    }
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / f"{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.copy(args.run / "curves.png", REPORTS / f"{args.name}-curves.png")
    md_path = REPORTS / f"{args.name}.md"
    text = md_path.read_text() if md_path.exists() else f"# {args.name}\n"
    block = _markdown(report)
    pattern = re.compile(r"<!-- results -->.*?<!-- /results -->", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    md_path.write_text(text)
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
