"""Train and evaluate classifiers through the `zoo` CLI and write a report (JSON + markdown).

Usage:
    python bench/classification_report.py REPORT_NAME MODEL DATASET GOAL_ERROR_PCT [zoo train flags...]
    python bench/classification_report.py --report-only REPORT_NAME MODEL DATASET GOAL_ERROR_PCT [flags...]

GOAL_ERROR_PCT may be ``-`` where the issue names an anchor but no goal.
``--report-only`` evaluates the finished run in bench/runs/REPORT_NAME again and rewrites
the report, without training (the flags are only quoted in its train command).

Example:
    python bench/classification_report.py lenet5-mnist lenet5 mnist 0.95 --epochs 30 --lr 0.001

The run directory goes to bench/runs/REPORT_NAME (not committed); its config and
best weights are copied to runs/bench/REPORT_NAME (outside git: run directories are never
committed; bench/install_presets.py turns that run into a preset tree), and the
report to bench/reports/REPORT_NAME.{json,md}.
"""

from __future__ import annotations

import json
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(cmd: list[str]) -> str:
    print("$", shlex.join(cmd), flush=True)
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=HERE.parent)
    return done.stdout


def main(argv: list[str]) -> int:
    report_only = "--report-only" in argv
    report, model, dataset, goal, *flags = [a for a in argv if a != "--report-only"]
    run_dir = HERE / "runs" / report
    relative_run = run_dir.relative_to(HERE.parent)
    train_cmd = ["zoo", "train", model, "--dataset", dataset, "--out", str(relative_run), "--quiet", "--json", *flags]
    eval_cmd = ["zoo", "evaluate", model, "--weights", str(relative_run), "--dataset", dataset, "--json"]
    zoo = str(Path(sys.executable).with_name("zoo"))
    if not report_only:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run([zoo, *train_cmd[1:]])
    metrics = json.loads(run([zoo, *eval_cmd[1:]]))
    error = 100 * (1 - metrics["accuracy"])
    config = json.loads((run_dir / "config.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    minutes = results["train_seconds"] / 60

    weights_dir = HERE.parent / "runs" / "bench" / report
    weights_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "best.weights.h5", weights_dir / "best.weights.h5")
    shutil.copy(run_dir / "config.json", weights_dir / "config.json")
    shutil.copy(run_dir / "history.json", weights_dir / "history.json")
    shutil.copy(run_dir / "curves.png", weights_dir / "curves.png")

    payload = {
        "report": report,
        "model": model,
        "dataset": dataset,
        "data_source": metrics["source"],
        "test_error_percent": round(error, 3),
        "goal_error_percent": None if goal == "-" else float(goal),
        "meets_goal": None if goal == "-" else error <= float(goal),
        "test_accuracy": metrics["accuracy"],
        "test_loss": metrics["loss"],
        "test_examples": metrics["examples"],
        "best_epoch": results["best_epoch"],
        "train_minutes": round(minutes, 1),
        "train_examples_per_second": results["examples_per_second"],
        "training": config["training"],
        "environment": config["environment"],
        "commands": [shlex.join(train_cmd), shlex.join(eval_cmd)],
        "weights": str(weights_dir.relative_to(HERE.parent)),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()}: {config['environment']['machine']}",
    }
    out = HERE / "reports"
    out.mkdir(exist_ok=True)
    (out / f"{report}.json").write_text(json.dumps(payload, indent=2) + "\n")
    t = config["training"]
    goal_text = "-" if goal == "-" else f"≤ {float(goal):.2f}% ({'met' if payload['meets_goal'] else 'NOT met'})"
    md = f"""# {report}

| model | dataset | test error | goal | epochs | optimizer | lr | batch | train time |
|---|---|---|---|---|---|---|---|---|
| {model} | {dataset} | **{error:.2f}%** | {goal_text} | {t["epochs"]} (best {results["best_epoch"]}) | {t["optimizer"]} ({t["schedule"]}) | {t["lr"]} | {t["batch_size"]} | {minutes:.1f} min |

- Data: {metrics["source"]}; {metrics["examples"]} test examples; best weights chosen on a {t["validation_split"]:.0%} validation hold-out of train.
- Machine: {payload["machine"]}; Keras {config["environment"]["keras"]} ({config["environment"]["keras_backend"]}), TensorFlow {config["environment"]["tensorflow"]}.
- Commands:
  - `{payload["commands"][0]}`
  - `{payload["commands"][1]}`
- Weights: `{payload["weights"]}/best.weights.h5` (with its `config.json`).
"""
    (out / f"{report}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
