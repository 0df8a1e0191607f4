"""``zoo attack`` and ``zoo uncertainty``: accuracy under adversarial attack, and MC-dropout calibration."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

DEFAULT_EPSILONS = (0.0, 0.05, 0.1, 0.2, 0.3)


def _epsilons(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers such as 0,0.1,0.3, received {text!r}")


def _load(args):
    """The trained model, as ``zoo evaluate`` loads it, and the data set's spec."""
    from zoo import data
    from zoo.training.classification import build_for_dataset
    from zoo.weights import create_trained

    spec = data.get_spec(args.dataset)
    model, _ = create_trained(args.name, args.weights, build=lambda: build_for_dataset(args.name, spec))
    return model, spec


def _out_dir(args, what: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("runs") / f"{args.name}-{Path(args.dataset).name}-{what}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_report(path: Path, payload: dict) -> dict:
    """Writes ``payload`` with the versions, machine and command; returns what was written."""
    from zoo.training.run_dir import environment, write_json

    payload = payload | {"environment": environment(), "date": time.strftime("%Y-%m-%d %H:%M")}
    write_json(path, payload)
    return payload


# --- zoo attack -------------------------------------------------------------------
def _targeted_demo(args, model, spec):
    """Attacks the first correctly classified test images of ``--source`` towards ``--target``.

    Returns:
        ``(summary, originals, TargetedResult)``.
    """
    from zoo import data
    from zoo.analysis import attacks

    for flag, value in (("--source", args.source), ("--target", args.target)):
        if not 0 <= value < spec.num_classes:
            raise ValueError(f"expected {flag} in [0, {spec.num_classes}), received {value}")
    if args.source == args.target:
        raise ValueError(f"expected --target to differ from --source, received {args.target} for both")
    if args.count < 1:
        raise ValueError(f"expected --count >= 1, received {args.count}")
    _, split = data.load(args.dataset, "test")
    images = attacks.to_pixels(split.images[split.labels == args.source], model)
    originals = images[attacks.predict_logits(model, images).argmax(-1) == args.source][: args.count]
    if not len(originals):
        raise ValueError(
            f"expected test images of class {args.source} that {args.name} classifies correctly, received none"
        )
    result = attacks.targeted_optimize(
        model, originals, args.target, closeness=args.closeness, steps=args.targeted_steps, lr=args.lr
    )
    summary = {
        "source": args.source,
        "target": args.target,
        "closeness": args.closeness,
        "steps": args.targeted_steps,
        "lr": args.lr,
        **result.summary(),
    }
    return summary, originals, result


def cmd_attack(args) -> int:
    from zoo.analysis import attacks

    if (args.source is None) != (args.target is None):
        raise ValueError("expected --source and --target together (the targeted demo), received only one of them")
    model, spec = _load(args)
    curve = attacks.robustness_curve(
        model,
        args.dataset,
        args.epsilons,
        method=args.method,
        max_examples=args.max_examples,
        samples=args.samples,
        steps=args.steps,
        step_size=args.step_size,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    out = _out_dir(args, "attack")
    report = {
        "model": args.name,
        "weights": str(args.weights),
        "dataset": args.dataset,
        **curve.to_dict(),
        "files": {
            "examples": str(
                attacks.plot_adversarial_examples(curve, out / f"adversarial_{curve.method}.png", spec.class_names)
            )
        },
    }
    if args.target is not None:
        demo, originals, result = _targeted_demo(args, model, spec)
        name = f"targeted_{args.source}_to_{args.target}.png"
        report["targeted"] = demo | {
            "file": str(attacks.plot_targeted(originals, result, out / name, spec.class_names))
        }
    report["files"]["report"] = str(out / f"attack_{curve.method}.json")
    report = _write_report(out / f"attack_{curve.method}.json", report)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"{curve.method.upper()} on {args.name} ({curve.examples} {args.dataset} test examples)")
    print(f"  {'epsilon':>8}  {'accuracy':>8}")
    for epsilon, accuracy in zip(curve.epsilons, curve.accuracy):
        print(f"  {epsilon:>8g}  {accuracy:>8.4f}")
    if "targeted" in report:
        t = report["targeted"]
        print(
            f"targeted {t['source']} -> {t['target']}: {t['reached']}/{t['examples']} reached "
            f"(mean L2 {t['mean_l2']:.2f}, max L-inf {t['max_linf']:.2f}) -> {t['file']}"
        )
    print(f"examples: {report['files']['examples']}\nreport: {report['files']['report']}")
    return 0


# --- zoo uncertainty ----------------------------------------------------------------
def cmd_uncertainty(args) -> int:
    from zoo.analysis import uncertainty

    model, _ = _load(args)
    result = uncertainty.calibration_report(
        model,
        args.dataset,
        samples=args.samples,
        max_examples=args.max_examples,
        bins=args.bins,
        seed=args.seed,
        batch_size=args.batch_size,
    )
    out = _out_dir(args, "uncertainty")
    titles = {"deterministic": "deterministic (dropout off)", "mc_dropout": f"MC dropout (T={result.samples})"}
    files = {
        "reliability": str(
            uncertainty.plot_reliability({titles[k]: v for k, v in result.reliability.items()}, out / "reliability.png")
        ),
        "entropy": str(
            uncertainty.plot_entropy({titles[k]: v for k, v in result.entropy.items()}, out / "entropy.png")
        ),
        "report": str(out / "uncertainty.json"),
    }
    report = {
        "model": args.name,
        "weights": str(args.weights),
        "dataset": args.dataset,
        "bins": args.bins,
        **result.to_dict(),
        "files": files,
    }
    report = _write_report(out / "uncertainty.json", report)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"{args.name} on {result.examples} {args.dataset} test examples ({args.bins} bins)")
    print(f"  {'':<30}{'accuracy':>9}{'NLL':>9}{'ECE':>9}")
    for key, title in titles.items():
        m = result.metrics[key]
        print(f"  {title:<30}{m['accuracy']:>9.4f}{m['nll']:>9.4f}{m['ece']:>9.4f}")
    print(f"reliability diagram: {files['reliability']}\nreport: {files['report']}")
    return 0


# --- parsers ----------------------------------------------------------------------
def add_parsers(sub) -> None:
    """Adds ``attack`` and ``uncertainty`` to the ``zoo`` command's subparsers."""
    p = sub.add_parser("attack", help="accuracy under FGSM or PGD against epsilon, and a targeted attack demo")
    p.add_argument("name", help="registered classifier")
    p.add_argument("--weights", required=True, help="a preset tag, a run directory or a .weights.h5 file")
    p.add_argument("--dataset", required=True, help="its test split is attacked")
    p.add_argument("--method", default="fgsm", choices=["fgsm", "pgd"])
    p.add_argument(
        "--epsilons",
        type=_epsilons,
        default=list(DEFAULT_EPSILONS),
        help="L-inf budgets in pixel units [0, 1], comma-separated (default 0,0.05,0.1,0.2,0.3)",
    )
    p.add_argument("--max-examples", type=int, default=None, help="attack only the first N test examples")
    p.add_argument("--steps", type=int, default=40, help="PGD steps")
    p.add_argument("--step-size", type=float, default=None, help="PGD step (default 2.5 * epsilon / steps)")
    p.add_argument("--source", type=int, default=None, help="targeted demo: class of the images to attack")
    p.add_argument("--target", type=int, default=None, help="targeted demo: class to turn them into")
    p.add_argument("--count", type=int, default=8, help="targeted demo: number of images")
    p.add_argument(
        "--closeness",
        type=float,
        default=0.05,
        help="targeted demo: weight of ||x - x0||^2 against the target's cross entropy",
    )
    p.add_argument("--targeted-steps", type=int, default=100, help="targeted demo: Adam steps on the pixels")
    p.add_argument("--lr", type=float, default=0.01, help="targeted demo: Adam learning rate on the pixels")
    p.add_argument("--samples", type=int, default=8, help="example images per epsilon in the PNG")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--seed", type=int, default=0, help="PGD's random start")
    p.add_argument("--out", default=None, help="output directory (default runs/<model>-<dataset>-attack-<time>)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_attack)

    p = sub.add_parser(
        "uncertainty", help="MC dropout: predictive entropy and calibration (ECE) against the deterministic model"
    )
    p.add_argument("name", help="registered classifier with dropout")
    p.add_argument("--weights", required=True, help="a preset tag, a run directory or a .weights.h5 file")
    p.add_argument("--dataset", required=True, help="its test split is used")
    p.add_argument("--samples", type=int, default=50, help="stochastic forward passes T")
    p.add_argument("--bins", type=int, default=15, help="confidence bins of the ECE and the reliability diagram")
    p.add_argument("--max-examples", type=int, default=None, help="use only the first N test examples")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--seed", type=int, default=0, help="seed of the dropout masks")
    p.add_argument("--out", default=None, help="output directory (default runs/<model>-<dataset>-uncertainty-<time>)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_uncertainty)
