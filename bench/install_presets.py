"""Train (where missing), measure and ship presets in zoo/pretrained/, and regenerate the published catalog.

Usage:
    python bench/install_presets.py                 # train missing runs, measure, install new presets, write the catalog
    python bench/install_presets.py --reinstall     # measure and install every preset again
    python bench/install_presets.py --catalog-only  # only rewrite zoo/presets/catalog.json
    python bench/install_presets.py --publish DIR   # also copy every preset into a mirror tree DIR/<model>/<tag>/
    python bench/install_presets.py --from-run resnet20:cifar10 cifar10 ../runs/resnet20-cifar10 \
        bench/reports/resnet20-cifar10.md           # a long run kept outside the checkout

Each preset MODEL:TAG comes from the run directory runs/bench/MODEL-TAG (outside git: run
directories are never committed; the preset tree is the one committed copy of the weights,
and its metadata keeps the training command). A missing run is trained with the recorded `zoo train` command. Its test
metrics are measured with `zoo evaluate MODEL --weights runs/bench/MODEL-TAG
--dataset D --json`, and `zoo.save_preset` writes zoo/pretrained/MODEL/TAG (config,
weights without optimizer state, metadata with the sha256 of each file and the command
of each metric, model card), which `zoo.create(MODEL, weights=TAG)` loads.

Declarations: each preset is plain data next to its model family in
zoo/models/<family>_presets.py (tag, data set, description, metrics with their commands,
location "packaged" or "mirror"); after installing a new preset, add or update its
declaration (the description and metrics printed here), then run --catalog-only. Until the
declaration gives the metrics measured into the preset's metadata, the catalog is not rewritten
(the script stops, naming the declaration to update and the measured values), so a stale
catalog is never written.

The catalog lists every declared preset under zoo/pretrained/ (packaged) plus those of the mirror
tree presets-mirror/ (too large for the package; `zoo pull` copies them from that tree,
which a checkout and its editable install have, or from `KZOO_PRESET_MIRROR`), each with
its files' sha256 and sizes and its metrics. It names no download host: kzoo runs none.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: (model, tag, dataset, `zoo train` flags of a missing run; None: the run was trained by another report).
PRESETS = (
    ("lenet5", "mnist", "mnist", None),  # bench/classification_report.py
    ("lenet5_caffe", "mnist", "mnist", None),
    ("lenet_300_100", "mnist", "mnist", None),
    ("mlp", "mnist", "mnist", None),
    ("lenet5", "fashion_mnist", "fashion_mnist", "--epochs 15 --lr 0.002"),  # also the FID features of Fashion-MNIST
    ("cct_2_3x2_28", "mnist", "mnist", None),  # bench/classification_report.py
    ("cct_2_3x2_28", "fashion_mnist", "fashion_mnist", None),
    ("gcn", "cora", "cora", "--epochs 200 --lr 0.01 --schedule constant"),
    ("gcn", "citeseer", "citeseer", "--epochs 200 --lr 0.01 --schedule constant"),
    ("perceptron", "mnist-0-1", "mnist:0,1", "--optimizer gd --lr 1 --batch-size 1 --schedule constant --epochs 3"),
    ("logistic", "mnist-2-5", "mnist:2,5", "--optimizer gd --lr 0.1 --batch-size 64 --schedule constant --epochs 10"),
    (
        "softmax_regression",
        "fashion_mnist",
        "fashion_mnist",
        "--optimizer gd --lr 0.1 --batch-size 64 --schedule constant --epochs 10",
    ),
    (
        "linear_regression",
        "diabetes",
        "diabetes",
        "--optimizer gd --lr 0.1 --batch-size 354 --schedule constant --epochs 1000 --validation-split 0",
    ),
    (
        "char_gru",
        "shakespeare",
        "shakespeare",
        "--epochs 3 --batch-size 64 --seq-length 100 --lr 0.002 --schedule cosine --sampling random",
    ),
)
#: Metrics of `zoo evaluate --json` recorded in a preset's metadata, per task.
METRICS = ("accuracy", "loss", "mse", "r2", "perplexity", "bits_per_character")
#: Published presets kept out of the package (their weights are too large for it): the mirror tree
#: presets-mirror/<model>/<tag>/ (written by bench/generative_report.py), the default mirror of `zoo pull`.
MIRROR = HERE.parent / "presets-mirror"  # the default mirror of `zoo pull` (zoo.presets.catalog.REPOSITORY_MIRROR)


def _zoo(*args: str) -> str:
    done = subprocess.run(
        [str(Path(sys.executable).with_name("zoo")), *args], cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True
    )
    return done.stdout


def install(
    model_name: str, tag: str, dataset: str, train_flags: str | None, run: str | None = None, report: str | None = None
) -> None:
    """Measures run ``runs/bench/MODEL-TAG`` (or ``run``) and saves it as the preset tree zoo/pretrained/MODEL/TAG.

    A ``run`` outside the checkout (a long run's directory, never committed) is named by its ``report`` instead,
    and its metrics are recorded with the command that measures the installed preset itself
    (``zoo evaluate MODEL --weights TAG``), which is run once more to check that it gives the same figures.
    """
    import zoo
    from zoo.weights import create_trained

    outside = run is not None
    run = run or f"runs/bench/{model_name}-{tag}"
    if not (ROOT / run / "config.json").is_file():
        if train_flags is None:
            raise SystemExit(f"{run} is missing; its report trains it.")
        _zoo("train", model_name, "--dataset", dataset, *shlex.split(train_flags), "--quiet", "--json", "--out", run)
        (ROOT / run / "last.weights.h5").unlink()  # keep the best weights, config, history and results only
        shutil.rmtree(ROOT / run / "tensorboard")
    command = ["zoo", "evaluate", model_name, "--weights", str(run), "--dataset", dataset, "--json"]
    measured = json.loads(_zoo(*command[1:]))
    if outside:
        command[4] = tag
    model, run_config = create_trained(model_name, ROOT / run)
    training = run_config["training"]
    program, _, train_args = run_config["environment"]["command"].partition(" ")
    target = zoo.save_preset(
        model,
        ROOT / "zoo" / "pretrained" / model_name / tag,
        name=model_name,
        dataset=dataset,
        overwrite=True,
        description=(
            f"{model_name} trained on {dataset} by `zoo train` ({training['epochs']} epochs, "
            f"{training['optimizer']}, lr {training['lr']}, {training['schedule']} schedule); "
            + (f"report: {report}." if outside else f"the weights are kept in {run}.")
        ),
        metrics={k: {"value": measured[k], "command": shlex.join(command)} for k in METRICS if k in measured},
        extra={
            "train_command": f"{Path(program).name} {train_args}",
            **({"class_names": run_config["class_names"]} if "class_names" in run_config else {}),
        },
    )
    print(
        f"{model_name}:{tag}: {', '.join(f'{k} {measured[k]:.4f}' for k in METRICS if k in measured)} "
        f"-> {target.relative_to(ROOT)}"
    )
    if outside:
        again = json.loads(_zoo(*command[1:]))
        differ = {k: (measured[k], again[k]) for k in METRICS if k in measured and measured[k] != again[k]}
        if differ:
            raise SystemExit(f"the installed preset measures differently from its run: {differ}")


def write_catalog(publish: Path | None = None) -> None:
    from zoo.presets import catalog, declared, store

    entries = declared.catalog_entries()
    catalog.write_catalog(catalog.CATALOG, entries)
    print(f"{catalog.CATALOG.relative_to(ROOT)}: {len(entries)} presets")
    undeclared = [
        p
        for root in (store.PACKAGED, MIRROR)
        for p in sorted(root.glob("*/*"))
        if store.is_preset_dir(p) and (p.parent.name, p.name) not in {(e["model"], e["tag"]) for e in entries}
    ]
    for directory in undeclared:
        print(f"warning: {directory.relative_to(ROOT)} holds a preset that no zoo/models/*_presets.py declares")
    if publish is not None:
        for declaration in declared.declarations():
            print(f"published {catalog.publish(declared.tree(declaration), publish)}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--reinstall", action="store_true", help="measure and install every preset again")
    mode.add_argument("--catalog-only", action="store_true", help="only rewrite zoo/presets/catalog.json")
    mode.add_argument(
        "--from-run", nargs=4, metavar=("MODEL:TAG", "DATASET", "RUN", "REPORT"), help="install a run kept elsewhere"
    )
    parser.add_argument("--publish", type=Path, metavar="DIR", help="also copy every preset into a mirror tree")
    args = parser.parse_args(argv)
    if args.from_run:
        preset, dataset, run, report = args.from_run
        model_name, _, tag = preset.partition(":")
        install(model_name, tag, dataset, None, run=run, report=report)
    elif not args.catalog_only:
        for entry in PRESETS:
            if args.reinstall or not (ROOT / "zoo" / "pretrained" / entry[0] / entry[1]).is_dir():
                install(*entry)
    try:
        write_catalog(args.publish)
    except ValueError as err:
        raise SystemExit(f"zoo/presets/catalog.json not rewritten: {err}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
