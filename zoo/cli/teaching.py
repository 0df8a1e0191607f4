"""``zoo gradcheck`` and ``zoo optimizers``: gradient checking and the optimiser/schedule comparison."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from zoo.cli.common import print_json


def _runs(text: str) -> list[tuple[str, str]]:
    """``sgd:constant,adam:step`` -> ``[("sgd", "constant"), ("adam", "step")]``."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        optimizer, sep, schedule = part.partition(":")
        if not sep or not optimizer or not schedule:
            raise argparse.ArgumentTypeError(
                f"expected OPTIMIZER:SCHEDULE pairs such as sgd:constant,adam:step, received {text!r}"
            )
        pairs.append((optimizer, schedule))
    return pairs


def _rates(text: str) -> dict[str, float]:
    """``sgd=0.1,adam=0.001`` -> ``{"sgd": 0.1, "adam": 0.001}``."""
    rates = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            rates[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise argparse.ArgumentTypeError(
                f"expected OPTIMIZER=LR pairs such as sgd=0.1,adam=1e-3, received {text!r}"
            )
    return rates


# --- zoo gradcheck ------------------------------------------------------------------
def cmd_gradcheck(args) -> int:
    import keras

    from zoo import data
    from zoo.analysis.gradcheck import backprop_vs_autodiff, gradient_check
    from zoo.analysis.numpy_mlp import from_keras
    from zoo.training.classification import build_for_dataset
    from zoo.weights import create_trained

    if args.examples < 1:
        raise ValueError(f"expected --examples >= 1, received {args.examples}")
    spec, split = data.load(args.dataset, "test")
    keras.utils.set_random_seed(args.seed)
    if args.weights:
        model, _ = create_trained(args.name, args.weights, build=lambda: build_for_dataset(args.name, spec))
    else:
        model = build_for_dataset(args.name, spec)
    x, y = split.images[: args.examples], split.labels[: args.examples]
    result = gradient_check(
        model,
        x,
        y,
        epsilon=args.epsilon,
        tolerance=args.tolerance,
        max_params_per_variable=args.max_params,
        float64=not args.float32,
        seed=args.seed,
    )
    report = {"model": args.name, "weights": args.weights, "dataset": args.dataset, "autodiff": result.to_dict()}
    try:
        mlp = from_keras(model)  # an MLP: check the from-scratch backprop too
    except ValueError:
        mlp = None
    if mlp is not None:
        numpy_check = gradient_check(mlp, x, y, max_params_per_variable=args.max_params, seed=args.seed)
        vs_autodiff = backprop_vs_autodiff(mlp, x, y, float64=not args.float32)
        report["numpy_backprop"] = numpy_check.to_dict() | {"vs_autodiff": vs_autodiff}
    passed = result.passed and (mlp is None or report["numpy_backprop"]["passed"])
    report["passed"] = passed
    if args.json:
        print_json(report)
        return 0 if passed else 1
    print(
        f"{args.name} on {len(x)} {args.dataset} test examples, loss {result.loss:.4f}: autodiff vs central "
        f"differences in {result.dtype} (epsilon {result.epsilon:g}, tolerance {result.tolerance:g})"
    )
    _print_table(result)
    if mlp is not None:
        check = report["numpy_backprop"]
        print(
            f"NumPy MLP (from_keras), hand-written backprop vs central differences: max relative error "
            f"{check['max_relative_error']:.2e} -> {'pass' if check['passed'] else 'FAIL'}; vs Keras autodiff: "
            f"max {max(v for k, v in check['vs_autodiff'].items() if k != 'loss'):.2e}"
        )
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


def _print_table(result) -> None:
    width = max((len(v.name) for v in result.variables), default=8)
    print(f"  {'variable':<{width}}  {'checked':>7}  {'kinks':>5}  {'max rel err':>11}  {'max |grad|':>10}")
    for v in result.variables:
        print(
            f"  {v.name:<{width}}  {v.checked:>7}  {v.kinks:>5}  {v.max_relative_error:>11.2e}  "
            f"{v.max_abs_gradient:>10.2e}{'' if v.passed else '  FAIL'}"
        )


# --- zoo optimizers -----------------------------------------------------------------
def cmd_optimizers(args) -> int:
    from zoo.training.optimizer_comparison import (
        DEFAULT_RUNS,
        compare_optimizers,
        plot_curves,
    )
    from zoo.training.run_dir import environment, write_json

    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = compare_optimizers(
            args.name,
            args.dataset,
            args.runs or DEFAULT_RUNS,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            max_train_examples=args.max_train_examples,
            validation_split=args.validation_split,
            inverse_time_decay=args.inverse_time_decay,
            evaluate_test=not args.no_test,
            seed=args.seed,
            verbose=0 if args.json else 2,
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("runs") / f"{args.name}-{Path(args.dataset).name}-optimizers-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    png = plot_curves(result, out / "optimizers.png")
    report = result.to_dict() | {
        "files": {"report": str(out / "optimizers.json"), "curves": str(png)},
        "environment": environment(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    write_json(out / "optimizers.json", report)
    if args.json:
        print_json(report)
        return 0
    print(
        f"{result.model} on {result.dataset}: {result.train_examples} training examples, "
        f"{result.epochs} epoch{'s' * (result.epochs != 1)}, batch {result.batch_size}; "
        f"initial loss {result.initial['loss']:.4f}"
    )
    width = max(len(run.label) for run in result.runs)
    print(f"  {'run':<{width}}  {'final loss':>10}  {'val acc':>7}  {'test acc':>8}  {'seconds':>7}")
    for run in result.runs:
        test = f"{run.test['accuracy']:.4f}" if run.test else "-"
        val = f"{run.history['val_accuracy'][-1]:.4f}" if run.history.get("val_accuracy") else "-"
        print(f"  {run.label:<{width}}  {run.history['loss'][-1]:>10.4f}  {val:>7}  {test:>8}  {run.seconds:>7.1f}")
    print(f"curves: {png}\nreport: {out / 'optimizers.json'}")
    return 0


def add_parsers(sub) -> None:
    """Adds ``gradcheck`` and ``optimizers`` to the ``zoo`` parser's subcommands (imports nothing heavy)."""
    p = sub.add_parser("gradcheck", help="compare a model's autodiff gradients with finite differences")
    p.add_argument("name", help="registered model name")
    p.add_argument("--dataset", default="mnist", help="data set whose first test examples form the batch")
    p.add_argument("--weights", default=None, help="a preset tag, run directory or .weights.h5 (default: random init)")
    p.add_argument("--examples", type=int, default=8, help="batch size of the checked loss")
    p.add_argument("--max-params", type=int, default=10, help="entries sampled from each parameter tensor")
    p.add_argument("--epsilon", type=float, default=None, help="finite-difference step (default 1e-5 in float64)")
    p.add_argument(
        "--tolerance", type=float, default=None, help="largest relative error that passes (default 1e-3 in float64)"
    )
    p.add_argument(
        "--float32", action="store_true", help="check the float32 model as is (coarse; default: a float64 clone)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_gradcheck)

    p = sub.add_parser("optimizers", help="train one model with several optimizers and schedules; plot the curves")
    p.add_argument("name", help="registered model name")
    p.add_argument("--dataset", required=True)
    p.add_argument(
        "--runs",
        type=_runs,
        default=None,
        metavar="OPT:SCHEDULE,...",
        help="optimizers sgd, momentum, nesterov, adam, adamw, rmsprop; schedules constant, step, cosine, "
        "inverse_time (default: sgd:constant,momentum:constant,adam:constant,sgd:step,"
        "sgd:inverse_time)",
    )
    p.add_argument(
        "--lr",
        type=_rates,
        default=None,
        metavar="OPT=LR,...",
        help="base learning rates (default sgd=0.1,momentum=0.01,nesterov=0.01,adam=0.001,...)",
    )
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--max-train-examples", type=int, default=None)
    p.add_argument("--validation-split", type=float, default=0.1)
    p.add_argument("--inverse-time-decay", type=float, default=1.0, help="inverse_time: lr / (1 + RATE * epoch)")
    p.add_argument("--no-test", action="store_true", help="skip the test-split evaluation of each run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output directory (default runs/<model>-<dataset>-optimizers-<time>)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_optimizers)
