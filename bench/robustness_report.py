"""Robustness and uncertainty report: LeNet-5 under FGSM/PGD, MC-dropout calibration of a dropout MLP.

Usage (from the repository root):
    nice python bench/robustness_report.py [--max-examples N] [--pgd-steps 40] [--samples 50]

Runs ``zoo attack`` and ``zoo uncertainty`` (through ``python -m
zoo.cli``) on the MNIST test set,
trains the MLP first when runs/bench/mlp-mnist is missing, and writes
bench/reports/robustness.{json,md} and the figures in bench/reports/robustness/.
Their own JSON reports stay in bench/runs/robustness (not committed).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LENET5 = "zoo/pretrained/lenet5/mnist"  # the lenet5:mnist preset tree
MLP = "runs/bench/mlp-mnist"  # a run directory: outside git, never committed
TRAIN_MLP = ["train", "mlp", "--dataset", "mnist", "--epochs", "8", "--set", "dropout=0.5", "--out", MLP, "--quiet"]


def run(cmd: list[str]) -> tuple[str, float]:
    """Runs ``cmd`` from the repository root; returns its stdout and wall-clock seconds."""
    print("$", shlex.join(cmd), flush=True)
    started = time.perf_counter()
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    return done.stdout, time.perf_counter() - started


def shown(cmd: list[str]) -> str:
    """The command as a reader would type it from the repository root."""
    return shlex.join([str(Path(cmd[0]).relative_to(ROOT)) if cmd[0].startswith(str(ROOT)) else cmd[0], *cmd[1:]])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=None, help="test examples (default all 10,000)")
    parser.add_argument("--pgd-steps", type=int, default=40)
    parser.add_argument("--samples", type=int, default=50, help="MC dropout passes T")
    args = parser.parse_args(argv)

    python = str(Path(sys.executable))
    cli = [python, "-m", "zoo.cli"]
    runs = HERE / "runs" / "robustness"
    if runs.exists():
        shutil.rmtree(runs)
    limit = ["--max-examples", str(args.max_examples)] if args.max_examples else []
    commands, seconds = {}, {}

    if not (ROOT / MLP / "best.weights.h5").is_file():
        cmd = [str(Path(sys.executable).with_name("zoo")), *TRAIN_MLP]
        _, seconds["train_mlp"] = run(cmd)
        commands["train_mlp"] = shown(cmd)
        shutil.rmtree(ROOT / MLP / "tensorboard", ignore_errors=True)  # keep the repository small
        (ROOT / MLP / "last.weights.h5").unlink(missing_ok=True)
    mlp_config = json.loads((ROOT / MLP / "config.json").read_text())
    mlp_results = json.loads((ROOT / MLP / "results.json").read_text())

    reports = {}
    for key, method, epsilons, extra in (
        ("fgsm", "fgsm", "0,0.05,0.1,0.2,0.3", ["--source", "4", "--target", "9"]),
        ("pgd", "pgd", "0,0.1,0.3", ["--steps", str(args.pgd_steps)]),
    ):
        cmd = [
            *cli,
            "attack",
            "lenet5",
            "--weights",
            LENET5,
            "--dataset",
            "mnist",
            "--method",
            method,
            "--epsilons",
            epsilons,
            *extra,
            *limit,
            "--out",
            str(runs.relative_to(ROOT)),
            "--json",
        ]
        out, seconds[key] = run(cmd)
        reports[key], commands[key] = json.loads(out), shown(cmd)
    cmd = [
        *cli,
        "uncertainty",
        "mlp",
        "--weights",
        MLP,
        "--dataset",
        "mnist",
        "--samples",
        str(args.samples),
        *limit,
        "--out",
        str(runs.relative_to(ROOT)),
        "--json",
    ]
    out, seconds["uncertainty"] = run(cmd)
    reports["uncertainty"], commands["uncertainty"] = json.loads(out), shown(cmd)

    figures = HERE / "reports" / "robustness"
    figures.mkdir(parents=True, exist_ok=True)
    for png in ("adversarial_fgsm.png", "adversarial_pgd.png", "targeted_4_to_9.png", "reliability.png", "entropy.png"):
        shutil.copy(runs / png, figures / png)

    fgsm, pgd, unc = reports["fgsm"], reports["pgd"], reports["uncertainty"]
    env = unc["environment"]
    payload = {
        "report": "robustness",
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()}: {env['machine']}",
        "versions": {k: env[k] for k in ("python", "keras", "keras_backend", "tensorflow", "numpy")},
        "command": shlex.join(["nice", "python", "bench/robustness_report.py", *argv]),
        "data_source": fgsm["source"],
        "lenet5": {
            "weights": LENET5,
            "fgsm": {"examples": fgsm["examples"], "epsilons": fgsm["epsilons"], "accuracy": fgsm["accuracy"]},
            "pgd": {
                "examples": pgd["examples"],
                "epsilons": pgd["epsilons"],
                "accuracy": pgd["accuracy"],
                **pgd["settings"],
            },
            "targeted_4_to_9": fgsm["targeted"] | {"file": "bench/reports/robustness/targeted_4_to_9.png"},
        },
        "mc_dropout": {
            "model": "mlp",
            "weights": MLP,
            "model_config": mlp_config["model_config"],
            "training": mlp_config["training"],
            "train_test_accuracy": mlp_results["test"]["accuracy"],
            "train_seconds": mlp_results["train_seconds"],
            "train_command": commands.get("train_mlp", shlex.join(["nice", "zoo", *TRAIN_MLP])),
            "examples": unc["examples"],
            "samples": unc["samples"],
            "bins": unc["bins"],
            "deterministic": unc["deterministic"],
            "mc_dropout": unc["mc_dropout"],
            "reliability": unc["reliability"],
        },
        "commands": commands,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "figures": sorted(f"bench/reports/robustness/{p.name}" for p in figures.glob("*.png")),
    }
    (HERE / "reports" / "robustness.json").write_text(json.dumps(payload, indent=2) + "\n")
    (HERE / "reports" / "robustness.md").write_text(markdown(payload))
    print(f"wrote {HERE / 'reports' / 'robustness.md'}")
    return 0


def markdown(p: dict) -> str:
    lenet, mc = p["lenet5"], p["mc_dropout"]
    fgsm, pgd, targeted = lenet["fgsm"], lenet["pgd"], lenet["targeted_4_to_9"]
    pgd_at = dict(zip(pgd["epsilons"], pgd["accuracy"]))
    rows = [
        f"| {e:g} | {100 * a:.2f}% | " + (f"{100 * pgd_at[e]:.2f}% |" if e in pgd_at else "– |")
        for e, a in zip(fgsm["epsilons"], fgsm["accuracy"])
    ]
    d, m = mc["deterministic"], mc["mc_dropout"]
    calibration = [
        f"| deterministic (dropout off) | {100 * d['accuracy']:.2f}% | {d['nll']:.4f} | {100 * d['ece']:.2f}% "
        f"| {d['mean_entropy']:.3f} / {d['mean_entropy_wrong']:.3f} |",
        f"| MC dropout, T = {mc['samples']} | {100 * m['accuracy']:.2f}% | {m['nll']:.4f} | {100 * m['ece']:.2f}% "
        f"| {m['mean_entropy']:.3f} / {m['mean_entropy_wrong']:.3f} |",
    ]

    def gap(key):  # mean confidence minus accuracy over all predictions: > 0 overconfident, < 0 underconfident
        bins = mc["reliability"][key]
        confidence = sum(c * n for c, n in zip(bins["confidence"], bins["counts"]) if n) / sum(bins["counts"])
        return 100 * (confidence - mc[key]["accuracy"])

    step = pgd["step_size"] if pgd["step_size"] is not None else "2.5·ε/steps"
    lines = [
        "# Robustness and uncertainty",
        "",
        f"## LeNet-5 under attack ({fgsm['examples']:,} MNIST test digits)",
        "",
        f"Weights `{lenet['weights']}`; L∞ budget ε in pixel units (pixels in [0, 1]); "
        f"accuracy under attack (ε = 0: clean accuracy).",
        "",
        "| ε | FGSM | PGD |",
        "|---|---|---|",
        *rows,
        "",
        f"- PGD: {pgd['steps']} steps of {step} from a uniform random start in the ball (seed {pgd['seed']}), "
        f"on {pgd['examples']:,} digits.",
        f"- Targeted, 'turn this 4 into a 9' (Adam on the pixels, loss CE(9) + {targeted['closeness']}·‖x − x0‖², "
        f"{targeted['steps']} steps, lr {targeted['lr']}): {targeted['reached']}/{targeted['examples']} of the first "
        f"correctly classified 4s became 9s, mean probability of 9 {targeted['mean_target_probability']:.2f}, "
        f"mean L2 change {targeted['mean_l2']:.2f}, largest pixel change {targeted['max_linf']:.2f}.",
        "- Figures: `robustness/adversarial_fgsm.png`, `robustness/adversarial_pgd.png` (one row per ε, red = "
        "wrong), `robustness/targeted_4_to_9.png`.",
        "",
        f"## MC dropout calibration ({mc['examples']:,} MNIST test digits, {mc['bins']} bins)",
        "",
        f"Model: `mlp` (784-{'-'.join(map(str, mc['model_config']['hidden_units']))}-10, dropout "
        f"{mc['model_config']['dropout']}), {mc['training']['epochs']} epochs, weights `{mc['weights']}` "
        f"(trained in {mc['train_seconds']} s: `{mc['train_command']}`).",
        "",
        "| predictions | accuracy | NLL (nats) | ECE | mean entropy all / wrong (nats) |",
        "|---|---|---|---|---|",
        *calibration,
        "",
        f"- MC dropout: dropout kept on (every other layer in inference mode), softmax averaged over "
        f"T = {mc['samples']} passes; mean mutual information {m['mean_mutual_information']:.4f} nats.",
        f"- Mean confidence minus accuracy (> 0: overconfident, < 0: underconfident): deterministic "
        f"{gap('deterministic'):+.2f} points, MC dropout {gap('mc_dropout'):+.2f} points.",
        "- Figures: `robustness/reliability.png` (accuracy per confidence bin, mean confidence marked, counts "
        "below), `robustness/entropy.png` (predictive entropy of right and wrong predictions).",
        "",
        "## Run",
        "",
        f"- Date {p['date']}; machine {p['machine']}; Keras {p['versions']['keras']} "
        f"({p['versions']['keras_backend']}), TensorFlow {p['versions']['tensorflow']}, "
        f"NumPy {p['versions']['numpy']}, Python {p['versions']['python']}.",
        f"- Data: {p['data_source']}.",
        f"- Report: `{p['command']}`, which ran (wall-clock seconds in brackets; `python -m zoo.cli X` is `zoo X`):",
        *[f"  - `{cmd}` ({p['seconds'][key]} s)" for key, cmd in p["commands"].items()],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
