"""Transfer learning side by side: fine-tuned pretrained weights vs training from scratch, by labelled examples.

Usage:
    python bench/transfer_report.py [--experiments lenet5 resnet20] [--seeds 3] [--resnet-seeds 1] [--report-only]

Experiments (every run through the `zoo` CLI, into bench/runs/transfer/, finished runs reused):
- lenet5: the shipped `lenet5:mnist` preset -> Fashion-MNIST.
- resnet20: ResNet-20 pretrained on CIFAR-10's classes 0-4 (airplane, automobile, bird,
  cat, deer; `PRETRAIN` below, weights kept in bench/weights/resnet20-cifar10_0-4, the only copy) -> classes 5-9 (dog, frog,
  horse, ship, truck), a new task on the same kind of images.

For each number N of labelled training examples (the first N of the training split;
no validation hold-out, so no other labels are used) and the same epochs, batch
size and learning rate, four methods: `zoo train` from scratch; `zoo finetune` with
the default two-stage schedule (head with the backbone frozen, then everything at
lr x 0.1); full fine-tuning (one stage, nothing frozen); a linear probe (backbone
frozen). The figure is the test accuracy on the whole test split, median over seeds.
Writes bench/reports/transfer.{json,md,png}.
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

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs" / "transfer"
PRETRAIN = {
    "resnet20": (
        "cifar10:0,1,2,3,4",
        "--epochs 30 --optimizer sgd --lr 0.1 --weight-decay 5e-4 --batch-size 128",
        HERE / "weights" / "resnet20-cifar10_0-4",
    ),
}
EXPERIMENTS = {
    # name: (model, pretrained weights, target data set, labelled examples, shared flags)
    "lenet5": (
        "lenet5",
        "mnist",
        "fashion_mnist",
        [100, 300, 1000, 3000, 10000],
        "--epochs 30 --batch-size 32 --lr 3e-3",
    ),
    "resnet20": (
        "resnet20",
        str(PRETRAIN["resnet20"][2]),
        "cifar10:5,6,7,8,9",
        [250, 1000, 5000],
        "--epochs 30 --batch-size 64 --optimizer sgd --lr 0.05 --weight-decay 5e-4",
    ),
}
METHODS = {
    "scratch": None,
    "two_stage": "--schedule two_stage",
    "full": "--schedule cosine --freeze none",
    "probe": "--schedule cosine --freeze backbone",
}


def zoo(*args: str) -> dict:
    command = [str(Path(sys.executable).with_name("zoo")), *args]
    print("$", shlex.join(["zoo", *args]), flush=True)
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout)


def pretrain(model: str) -> None:
    dataset, flags, weights = PRETRAIN[model]
    if (weights / "best.weights.h5").is_file():
        return
    run_dir = RUNS / f"{model}-cifar10-0to4"
    if not (run_dir / "results.json").is_file():
        zoo("train", model, "--dataset", dataset, *shlex.split(flags), "--quiet", "--json", "--out", str(run_dir))
    weights.mkdir(parents=True, exist_ok=True)
    for name in ("best.weights.h5", "config.json", "history.json", "curves.png", "results.json"):
        shutil.copy(run_dir / name, weights / name)


def command(
    method: str, model: str, weights: str, dataset: str, examples: int, flags: str, seed: int, out: Path
) -> list[str]:
    common = [
        "--dataset",
        dataset,
        "--max-train-examples",
        str(examples),
        "--validation-split",
        "0",
        *shlex.split(flags),
        "--seed",
        str(seed),
        "--quiet",
        "--json",
        "--out",
        str(out),
    ]
    if METHODS[method] is None:
        return ["train", model, *common]
    return ["finetune", model, "--weights", weights, *common, *shlex.split(METHODS[method])]


def run_experiment(name: str, seeds: int) -> dict:
    model, weights, dataset, sizes, flags = EXPERIMENTS[name]
    if model in PRETRAIN:
        pretrain(model)
    table, commands = {}, {}
    for examples in sizes:
        for method in METHODS:
            accuracies, seconds = [], []
            for seed in range(seeds):
                out = RUNS / name / f"{method}-{examples}-{seed}"
                args = command(method, model, weights, dataset, examples, flags, seed, out)
                commands.setdefault(method, "zoo " + shlex.join(args).replace(str(HERE.parent) + "/", ""))
                if not (out / "results.json").is_file():
                    shutil.rmtree(out, ignore_errors=True)
                    try:
                        zoo(*args)
                    except subprocess.CalledProcessError:
                        if not (out / "results.json").is_file():
                            raise  # a diverged run exits 2 but keeps its results (a collapsed row); others fail
                results = json.loads((out / "results.json").read_text())
                accuracies.append(100 * results["test"]["accuracy"])
                seconds.append(results["train_seconds"])
            table.setdefault(str(examples), {})[method] = {
                "test_accuracy_percent": accuracies,
                "median": statistics.median(accuracies),
                "median_train_seconds": statistics.median(seconds),
            }
    return {
        "model": model,
        "pretrained": weights.replace(str(HERE.parent) + "/", ""),
        "dataset": dataset,
        "flags": flags,
        "seeds": seeds,
        "results": table,
        "commands": commands,
    }


def plot(payload: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    experiments = payload["experiments"]
    fig, axes = plt.subplots(1, len(experiments), figsize=(6 * len(experiments), 4.2), squeeze=False)
    for ax, (name, e) in zip(axes[0], experiments.items()):
        sizes = [int(n) for n in e["results"]]
        for method in METHODS:
            ax.plot(sizes, [e["results"][str(n)][method]["median"] for n in sizes], "o-", label=method)
        ax.set_xscale("log")
        ax.set_xlabel("labelled training examples")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(f"{e['model']}: {e['pretrained'].split('/')[-1]} -> {e['dataset']}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(payload: dict) -> str:
    from zoo.data.datasets import get_spec

    lines = [
        "# Transfer learning: fine-tuning vs training from scratch",
        "",
        f"`{payload['command']}` on {payload['machine']}, {payload['date']}. Test accuracy on the whole test split, "
        "median over seeds; every method of a row gets the same labelled examples (the first N of the training "
        "split, no validation hold-out), epochs, batch size and learning rate.",
        "",
        "Methods: **scratch** `zoo train`; **two_stage** `zoo finetune` default (new head fitted as a logistic "
        "regression on the frozen features, `--head-init probe`; then head alone with the backbone "
        "frozen for half the epochs, then everything at lr x 0.1; BatchNorm kept in inference mode); **full** "
        "one stage, nothing frozen; **probe** one stage, backbone frozen (a linear probe).",
        "",
    ]
    for name, e in payload["experiments"].items():
        lines += [
            f"## {e['model']}: `{e['pretrained']}` -> `{e['dataset']}` ({e['seeds']} seed(s), `{e['flags']}`)",
            "",
            "| labelled examples | scratch | two_stage | full | probe | best gain over scratch |",
            "|---|---|---|---|---|---|",
        ]
        chance = 100 / get_spec(e["dataset"]).num_classes
        collapsed = False
        for n, row in e["results"].items():
            best = max((m for m in METHODS if m != "scratch"), key=lambda m: row[m]["median"])
            gain = row[best]["median"] - row["scratch"]["median"]
            marks = {m: " (chance)" if row[m]["median"] < chance + 1 else "" for m in METHODS}
            collapsed = collapsed or any(marks.values())
            cells = " | ".join(f"{row[m]['median']:.2f}%{marks[m]}" for m in METHODS)
            lines.append(f"| {n} | {cells} | {gain:+.2f} points ({best}) |")
        if collapsed:
            lines += [
                "",
                f"(chance): within a point of {chance:.0f}%, a collapsed run: its loss diverged (to NaN) in the first "
                "epoch and training stopped. Full fine-tuning at the from-scratch learning rate does this here even "
                "though the new head starts fitted (`--head-init probe`, so not from a random head's gradients): "
                "SGD at that rate on pretrained layers whose BatchNorm statistics are frozen (inference mode) "
                "diverges. The two-stage schedule (head first, then everything at lr x 0.1) is the remedy.",
            ]
        lines += ["", "Commands (N, seed and run directory vary):", ""]
        lines += [f"- {m}: `{c}`" for m, c in e["commands"].items()]
        lines.append("")
    if "resnet20" in payload["experiments"]:
        dataset, flags, weights = PRETRAIN["resnet20"]
        pre = json.loads((weights / "results.json").read_text())
        lines += [
            f"The ResNet-20 backbone: `zoo train resnet20 --dataset {dataset} {flags}` "
            f"({100 * pre['test']['accuracy']:.2f}% test accuracy on those five classes; weights in "
            f"`{weights.relative_to(HERE.parent)}`). CIFAR-10 here is the lossy JPEG copy of the offline data "
            "directory, so figures can sit slightly below ones measured on the original files.",
            "",
        ]
    lines += ["![accuracy vs labelled examples](transfer.png)", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS), choices=list(EXPERIMENTS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--resnet-seeds", type=int, default=1, help="seeds of the (slow on CPU) ResNet experiment")
    parser.add_argument("--report-only", action="store_true", help="rewrite transfer.md and .png from transfer.json")
    args = parser.parse_args(argv)
    out = HERE / "reports"
    if args.report_only:
        payload = json.loads((out / "transfer.json").read_text())
        plot(payload, out / "transfer.png")
        (out / "transfer.md").write_text(markdown(payload))
        return 0
    experiments = {
        name: run_experiment(name, args.resnet_seeds if name == "resnet20" else args.seeds) for name in args.experiments
    }
    payload = {
        "command": "python bench/transfer_report.py " + " ".join(argv),
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.system()}, {len(os.sched_getaffinity(0))} CPUs, no GPU",
        "experiments": experiments,
    }
    (out / "transfer.json").write_text(json.dumps(payload, indent=2) + "\n")
    plot(payload, out / "transfer.png")
    (out / "transfer.md").write_text(markdown(payload))
    print((out / "transfer.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
