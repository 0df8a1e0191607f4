"""Train and evaluate the classic models through the `zoo` CLI and write bench/reports/classic.{json,md}.

Usage:
    python bench/classic_report.py [--only NAME ...]

Each experiment runs `zoo train ... --json` into bench/runs/classic/NAME (git-ignored),
skipping runs that already finished, then `zoo evaluate` on the test split. The
language model's sample text comes from `zoo generate`.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs" / "classic"

#: name -> (model, dataset, zoo train flags, what the figure is compared with)
EXPERIMENTS = {
    "perceptron-mnist01": (
        "perceptron",
        "mnist:0,1",
        "--optimizer gd --lr 1 --batch-size 1 --schedule constant --epochs 3",
        "Rosenblatt's rule; zeros vs ones are linearly separable",
    ),
    "perceptron-mnist49": (
        "perceptron",
        "mnist:4,9",
        "--optimizer gd --lr 1 --batch-size 1 --schedule constant --epochs 3",
        "4 vs 9 is not separable: the rule never settles",
    ),
    "logistic-mnist25": (
        "logistic",
        "mnist:2,5",
        "--optimizer gd --lr 0.1 --batch-size 64 --schedule constant --epochs 10",
        "gradient descent on the cross-entropy",
    ),
    "softmax_regression-fashion_mnist": (
        "softmax_regression",
        "fashion_mnist",
        "--optimizer gd --lr 0.1 --batch-size 64 --schedule constant --epochs 10",
        "d2l.ai 4.5: about 83-85% test accuracy",
    ),
    "linear_regression-diabetes": (
        "linear_regression",
        "diabetes",
        "--optimizer gd --lr 0.1 --batch-size 354 --schedule constant --epochs 1000 --validation-split 0",
        "closed-form least squares on the same split",
    ),
    "char_gru-shakespeare-random": (
        "char_gru",
        "shakespeare",
        "--epochs 3 --batch-size 64 --seq-length 100 --lr 0.002 --schedule cosine --sampling random",
        "random windows, state reset per window",
    ),
    "char_gru-shakespeare-sequential": (
        "char_gru",
        "shakespeare",
        "--epochs 3 --batch-size 64 --seq-length 100 --lr 0.002 --schedule cosine --sampling sequential",
        "sequential streams, state carried across batches",
    ),
}


def run(cmd: list[str]) -> str:
    print("$", shlex.join(cmd), flush=True)
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout


def experiment(name: str, model: str, dataset: str, flags: str, zoo: str) -> dict:
    run_dir = RUNS / name
    train_cmd = [
        zoo,
        "train",
        model,
        "--dataset",
        dataset,
        *shlex.split(flags),
        "--quiet",
        "--json",
        "--out",
        str(run_dir),
    ]
    if not (run_dir / "results.json").exists():
        run(train_cmd)
    results = json.loads((run_dir / "results.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    evaluate_cmd = [zoo, "evaluate", model, "--weights", str(run_dir), "--dataset", dataset, "--json"]
    shown = ["zoo", *train_cmd[1:-1], f"bench/runs/classic/{name}"]
    entry = {
        "model": model,
        "dataset": dataset,
        "train_command": shlex.join(shown),
        "evaluate_command": shlex.join(
            ["zoo", *evaluate_cmd[1:3], "--weights", f"bench/runs/classic/{name}", *evaluate_cmd[5:]]
        ),
        "test": json.loads(run(evaluate_cmd)),
        "train_seconds": results.get("train_seconds"),
        "train_accuracy_per_epoch": history.get("accuracy"),
        "train_loss_per_epoch": history.get("loss"),
    }
    if model.startswith("char_"):
        sample = run(
            [
                zoo,
                "generate",
                model,
                "--weights",
                str(run_dir),
                "--prompt",
                "HAMLET.\n",
                "--length",
                "300",
                "--temperature",
                "0.7",
                "--seed",
                "1",
                "--json",
            ]
        )
        entry["sample"] = json.loads(sample)[0]
    return entry


def figure(entry: dict) -> str:
    test = entry["test"]
    if "accuracy" in test:
        return f"test accuracy {100 * test['accuracy']:.2f}% ({test['examples']} examples)"
    if "r2" in test:
        ls = test["least_squares"]
        return (
            f"test MSE {test['mse']:.1f}, R² {test['r2']:.3f} (least squares: MSE {ls['mse']:.1f}, "
            f"R² {ls['r2']:.3f}); weight gap {test['weight_gap']:.3f}"
        )
    return f"test perplexity {test['perplexity']:.3f} ({test['bits_per_character']:.3f} bits/char, {test['characters']} chars)"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None, help="experiment names to (re)collect")
    args = parser.parse_args(argv)
    zoo = str(Path(sys.executable).with_name("zoo"))
    RUNS.mkdir(parents=True, exist_ok=True)
    report_file = HERE / "reports" / "classic.json"
    payload = json.loads(report_file.read_text()) if report_file.exists() else {"experiments": {}}
    for name, (model, dataset, flags, note) in EXPERIMENTS.items():
        if args.only is None or name in args.only:
            payload["experiments"][name] = {**experiment(name, model, dataset, flags, zoo), "note": note}
    payload["machine"] = (
        f"{platform.machine()} {platform.system()}, {len(__import__('os').sched_getaffinity(0))} CPUs, no GPU"
    )
    payload["date"] = time.strftime("%Y-%m-%d")
    payload["command"] = "python bench/classic_report.py " + " ".join(argv)
    report_file.write_text(json.dumps(payload, indent=2) + "\n")

    lines = [
        "# Classic models",
        "",
        f"Machine: {payload['machine']}. Date: {payload['date']}. "
        "Collected by `python bench/classic_report.py`; each row's `zoo train` command is below the table.",
        "",
        "| experiment | result | train time | compared with |",
        "|---|---|---|---|",
    ]
    for name, entry in payload["experiments"].items():
        lines.append(f"| {name} | {figure(entry)} | {entry['train_seconds']} s | {entry['note']} |")
    lines += ["", "## Commands", ""]
    for name, entry in payload["experiments"].items():
        lines += [f"- {name}: `{entry['train_command']}`, then `{entry['evaluate_command']}`"]
    samples = {n: e["sample"] for n, e in payload["experiments"].items() if "sample" in e}
    for name, sample in samples.items():
        lines += [
            "",
            f"## Sample from {name} (`zoo generate char_gru --prompt 'HAMLET.\\n' --length 300 "
            f"--temperature 0.7 --seed 1`)",
            "",
            "```",
            sample,
            "```",
        ]
    (HERE / "reports" / "classic.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
