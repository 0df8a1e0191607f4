"""Teaching baselines: the from-scratch NumPy MLP against the zoo's Keras MLP, gradient checks, optimiser comparison.

Usage (from the repository root):
    nice python bench/teaching_report.py [--part all|numpy|optimizers] [--epochs 5]
        [--opt-model lenet5] [--opt-epochs 5] [--opt-examples 20000]

* ``numpy``: (1) the NumPy MLP and the Keras MLP holding the same weights: outputs and gradients;
  (2) ``gradient_check`` on zoo models over three batches of MNIST test digits, at the default
  settings and at the textbook ``epsilon = 1e-3`` and in float32; (3) 784-100-10 ReLU trained from
  the same Glorot initialisation with the same SGD + momentum on the 60,000 MNIST training
  digits, in NumPy and in Keras: test accuracy and seconds per epoch side by side. Writes
  bench/reports/numpy_mlp.{json,md}.
* ``optimizers``: runs ``python -m zoo.cli optimizers`` (the ``zoo optimizers``
  subcommand) and writes bench/reports/optimizers.{json,md,png}; its own output stays in
  bench/runs/optimizers (not committed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPORTS = HERE / "reports"

GRADCHECK_MODELS = ("lenet5", "lenet_300_100", "lenet5_caffe", "mlp")
GRADCHECK_SETTINGS = (  # (label, float64, epsilon)
    ("float64, epsilon 1e-5 (default)", True, None),
    ("float64, epsilon 1e-3", True, 1e-3),
    ("float32, epsilon 1e-2 (default)", False, None),
)


def blas_threads(count: int | None):
    """Limits NumPy's BLAS threads (threadpoolctl, when installed); None leaves them alone."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(count, user_api="blas") if count else contextlib.nullcontext()


def default_blas_threads() -> int | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return max((pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"), default=None)


# --- part 1: the NumPy MLP ---------------------------------------------------------
def equivalence(test) -> dict:
    """Same weights in NumPy (float64) and Keras: forward outputs and gradients on 256 test digits."""
    import keras

    from zoo.analysis.gradcheck import backprop_vs_autodiff, gradient_check
    from zoo.analysis.numpy_mlp import NumpyMLP, to_keras

    x, y = test.images[:256], test.labels[:256]
    out = {}
    for activation in ("relu", "sigmoid"):
        mlp = NumpyMLP([784, 100, 10], activation=activation, seed=0)
        keras_logits = keras.ops.convert_to_numpy(to_keras(mlp)(x.astype("float32") / 255.0, training=False))
        check = gradient_check(mlp, x[:8], y[:8], max_params_per_variable=20)
        out[activation] = {
            "forward_max_abs_diff_float32_keras": float(abs(mlp.forward(x) - keras_logits).max()),
            "backprop_vs_autodiff_float64": max(backprop_vs_autodiff(mlp, x, y).values()),
            "backprop_vs_autodiff_float32": max(
                v for k, v in backprop_vs_autodiff(mlp, x, y, float64=False, floor=1e-6).items() if k != "loss"
            ),
            "backprop_vs_finite_differences": check.max_relative_error,
        }
        print(f"equivalence {activation}: {out[activation]}", flush=True)
    return out


def gradcheck_sweep(test) -> list[dict]:
    """``gradient_check`` on zoo models (random init), three batches of 8 digits, 10 entries per variable."""
    import keras

    import zoo
    from zoo.analysis.gradcheck import gradient_check
    from zoo.analysis.numpy_mlp import NumpyMLP

    rows = []
    for name in (*GRADCHECK_MODELS, "numpy_mlp"):
        keras.utils.set_random_seed(0)
        model = NumpyMLP([784, 100, 10], seed=0) if name == "numpy_mlp" else zoo.create(name)
        for label, float64, epsilon in GRADCHECK_SETTINGS:
            if name == "numpy_mlp" and (not float64 or epsilon):
                continue
            results, seconds = [], []
            for batch in range(3):
                x, y = test.images[8 * batch : 8 * batch + 8], test.labels[8 * batch : 8 * batch + 8]
                started = time.perf_counter()
                results.append(
                    gradient_check(
                        model, x, y, float64=float64, epsilon=epsilon, max_params_per_variable=10, seed=batch
                    )
                )
                seconds.append(time.perf_counter() - started)
            row = {
                "model": name,
                "setting": "float64, epsilon 1e-5 (hand-written backprop)" if name == "numpy_mlp" else label,
                "epsilon": results[0].epsilon,
                "tolerance": results[0].tolerance,
                "passed": sum(r.passed for r in results),
                "batches": len(results),
                "max_relative_error": max(r.max_relative_error for r in results),
                "kinks": sum(r.kinks for r in results),
                "entries": sum(v.checked for r in results for v in r.variables),
                "seconds_per_check": round(statistics.median(seconds), 2),
            }
            rows.append(row)
            print(f"gradcheck {row}", flush=True)
    # A deeper model with batch normalisation (inference mode): one batch of 4 CIFAR-10 test images.
    from zoo import data

    spec, cifar = data.load("cifar10", "test")
    keras.utils.set_random_seed(0)
    started = time.perf_counter()
    result = gradient_check(
        zoo.create("resnet20", **spec.model_overrides()), cifar.images[:4], cifar.labels[:4], max_params_per_variable=3
    )
    rows.append(
        {
            "model": "resnet20 (cifar10, 4 images, 3 entries per variable)",
            "setting": GRADCHECK_SETTINGS[0][0],
            "epsilon": result.epsilon,
            "tolerance": result.tolerance,
            "passed": int(result.passed),
            "batches": 1,
            "max_relative_error": result.max_relative_error,
            "kinks": result.kinks,
            "entries": sum(v.checked for v in result.variables),
            "seconds_per_check": round(time.perf_counter() - started, 2),
        }
    )
    print(f"gradcheck {rows[-1]}", flush=True)
    return rows


def train_side_by_side(train, test, *, epochs: int, batch_size: int, lr: float, momentum: float, hidden: int) -> dict:
    """784-hidden-10 ReLU from one Glorot init: NumPy (1 and default BLAS threads) and Keras, same SGD + momentum."""
    import keras

    from zoo import data
    from zoo.analysis.numpy_mlp import NumpyMLP, to_keras
    from zoo.data.pipeline import make_pipeline, steps_per_epoch
    from zoo.training.classification import compile_classifier

    results = {}
    for threads in (1, None):
        mlp = NumpyMLP([784, hidden, 10], activation="relu", seed=0)
        stamps = [time.perf_counter()]
        with blas_threads(threads):
            history = mlp.fit(
                train.images,
                train.labels,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                momentum=momentum,
                seed=0,
                validation_data=(test.images, test.labels),
                callback=lambda epoch, logs: stamps.append(time.perf_counter()),
            )
        key = f"numpy ({threads or default_blas_threads() or 'default'} BLAS thread{'s' if threads != 1 else ''})"
        results[key] = {"history": history, "epoch_seconds": [b - a for a, b in zip(stamps, stamps[1:])]}
        print(f"{key}: test accuracy {history['val_accuracy']}, seconds {results[key]['epoch_seconds']}", flush=True)

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.started = [], 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    keras.utils.set_random_seed(0)
    model = to_keras(NumpyMLP([784, hidden, 10], activation="relu", seed=0))  # the same initial weights
    compile_classifier(model, keras.optimizers.SGD(lr, momentum=momentum, nesterov=False))
    spec = data.get_spec("mnist")
    train_ds = make_pipeline(
        spec, train.images, train.labels, batch_size=batch_size, training=True, augment="none", seed=0, epochs=epochs
    )
    test_ds = make_pipeline(spec, test.images, test.labels, batch_size=1024, training=False)
    timer = EpochTimer()
    fitted = model.fit(
        train_ds,
        validation_data=test_ds,
        epochs=epochs,
        callbacks=[timer],
        verbose=0,
        steps_per_epoch=steps_per_epoch(len(train.labels), batch_size),
        shuffle=False,
    )  # the pipeline shuffles
    results["keras (tensorflow)"] = {
        "history": {k: [float(v) for v in vs] for k, vs in fitted.history.items()},
        "epoch_seconds": timer.seconds,
    }
    print(f"keras: test accuracy {fitted.history['val_accuracy']}, seconds {timer.seconds}", flush=True)
    return results


def numpy_part(args) -> None:
    from zoo import data
    from zoo.training.run_dir import environment, write_json

    _, train = data.load("mnist", "train")
    _, test = data.load("mnist", "test")
    setup = {
        "architecture": f"784-{args.hidden}-10",
        "activation": "relu",
        "init": "Glorot uniform, zero biases",
        "optimizer": f"SGD, classical momentum {args.momentum}",
        "lr": args.lr,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "train_examples": len(train),
        "test_examples": len(test),
        "inputs": "pixels in [0, 1], no standardisation",
    }
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    report = {
        "command": shlex.join(["nice", "python", "bench/teaching_report.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "environment": environment() | {"blas_threads_default": default_blas_threads()},
        "equivalence": equivalence(test),
        "gradient_check": gradcheck_sweep(test),
        "training": {
            "setup": setup,
            "runs": train_side_by_side(
                train,
                test,
                epochs=args.epochs,
                batch_size=args.batch_size,
                lr=args.lr,
                momentum=args.momentum,
                hidden=args.hidden,
            ),
        },
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["environment"]["load_average_1min"] = {"start": load_before, "end": os.getloadavg()[0]}
    write_json(REPORTS / "numpy_mlp.json", report)
    (REPORTS / "numpy_mlp.md").write_text(numpy_markdown(report))
    print(f"wrote {REPORTS / 'numpy_mlp.md'}")


def numpy_markdown(report: dict) -> str:
    env, setup = report["environment"], report["training"]["setup"]
    lines = [
        "# From-scratch NumPy MLP vs the zoo's Keras MLP",
        "",
        f"`{report['command']}` ({report['date']}, {report['seconds'] / 60:.1f} min). Machine: {env['machine']}; "
        f"Python {env['python']}, NumPy {env['numpy']}, Keras {env['keras']} ({env['keras_backend']}), "
        f"TensorFlow {env['tensorflow']}; BLAS threads by default: {env['blas_threads_default']}; "
        f"1-minute load average {env['load_average_1min']['start']:.1f} at the start, "
        f"{env['load_average_1min']['end']:.1f} at the end (the machine is shared).",
        "",
        "## Same weights, same function",
        "",
        '`NumpyMLP([784, 100, 10], seed=0)` copied into `zoo.create("mlp", ...)` with `to_keras`, '
        "256 MNIST test digits (8 for the finite differences):",
        "",
        "| activation | max abs logit diff (Keras float32) | backprop vs autodiff, float64 | ... float32 | "
        "backprop vs finite differences |",
        "|---|---|---|---|---|",
    ]
    for activation, row in report["equivalence"].items():
        lines.append(
            f"| {activation} | {row['forward_max_abs_diff_float32_keras']:.1e} | "
            f"{row['backprop_vs_autodiff_float64']:.1e} | {row['backprop_vs_autodiff_float32']:.1e} | "
            f"{row['backprop_vs_finite_differences']:.1e} |"
        )
    lines += [
        "",
        "Relative errors are `|a - b| / max(|a|, |b|, floor)` (floor 1e-6), the largest over all parameters.",
        "",
        "## Gradient checks (`zoo.analysis.gradcheck.gradient_check`)",
        "",
        "Random-init models, 3 batches of 8 MNIST test digits, 10 sampled entries per variable; "
        '"kinks" are entries where the one-sided differences disagree (beyond round-off) and the analytic value '
        "lies between them, nearer one of them than the central difference (left out of the error).",
        "",
        "| model | setting | passed | max relative error | tolerance | kinks / entries | s per check |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report["gradient_check"]:
        lines.append(
            f"| {row['model']} | {row['setting']} | {row['passed']}/{row['batches']} | "
            f"{row['max_relative_error']:.1e} | {row['tolerance']:g} | {row['kinks']} / {row['entries']} | "
            f"{row['seconds_per_check']} |"
        )
    lines += [
        "",
        "## Training side by side",
        "",
        f"{setup['architecture']} {setup['activation']}, {setup['init']} (the same initial weights in both), "
        f"{setup['optimizer']}, lr {setup['lr']}, batch {setup['batch_size']}, {setup['epochs']} epochs on "
        f"{setup['train_examples']} MNIST training digits ({setup['inputs']}); test accuracy on "
        f"{setup['test_examples']} test digits after each epoch. Batch orders differ (each shuffles with its own "
        "generator). Seconds per epoch include the test evaluation; Keras' first epoch includes tracing.",
        "",
    ]
    runs = report["training"]["runs"]
    epochs = len(next(iter(runs.values()))["history"]["val_accuracy"])
    lines.append("| epoch | " + " | ".join(f"{name}: test acc / s" for name in runs) + " |")
    lines.append("|---|" + "---|" * len(runs))
    for epoch in range(epochs):
        cells = [
            f"{run['history']['val_accuracy'][epoch]:.4f} / {run['epoch_seconds'][epoch]:.1f}" for run in runs.values()
        ]
        lines.append(f"| {epoch + 1} | " + " | ".join(cells) + " |")
    lines.append(
        "| median s/epoch (2..) | "
        + " | ".join(
            f"{statistics.median(run['epoch_seconds'][1:] or run['epoch_seconds']):.1f}" for run in runs.values()
        )
        + " |"
    )
    lines += [
        "",
        "The NumPy MLP's steps are small matrix products (batch 32): one BLAS thread "
        "(`threadpoolctl.threadpool_limits(1)`) avoids OpenBLAS' threads waiting for a core, which on a busy "
        "machine can cost far more than the product. Keras' time per step at this size is mostly per-step "
        "overhead (tf.data, the compiled train step), not arithmetic.",
        "",
    ]
    return "\n".join(lines)


# --- part 2: optimizers ------------------------------------------------------------------
def optimizers_part(args) -> None:
    runs_dir = HERE / "runs" / "optimizers"
    if runs_dir.exists():
        shutil.rmtree(runs_dir)
    runs = "sgd:constant,momentum:constant,nesterov:constant,adam:constant,sgd:step,sgd:inverse_time"
    cmd = [
        sys.executable,
        "-m",
        "zoo.cli",
        "optimizers",
        args.opt_model,
        "--dataset",
        "mnist",
        "--runs",
        runs,
        "--epochs",
        str(args.opt_epochs),
        "--max-train-examples",
        str(args.opt_examples),
        "--out",
        str(runs_dir.relative_to(ROOT)),
        "--json",
    ]
    shown = shlex.join(["nice", "python", *cmd[1:]])
    print("$", shown, flush=True)
    started = time.perf_counter()
    done = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    report = json.loads(done.stdout)
    report["command"] = shown
    report["wall_seconds"] = round(seconds, 1)
    shutil.copyfile(runs_dir / "optimizers.png", REPORTS / "optimizers.png")
    report["files"] = {"curves": "bench/reports/optimizers.png"}
    (REPORTS / "optimizers.json").write_text(json.dumps(report, indent=2) + "\n")
    (REPORTS / "optimizers.md").write_text(optimizers_markdown(report))
    print(f"wrote {REPORTS / 'optimizers.md'}")


def optimizers_markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        f"# Optimisers and learning-rate schedules: {report['model']} on {report['dataset']}",
        "",
        f"`{report['command']}` ({report['date']}, {report['wall_seconds'] / 60:.1f} min). Machine: {env['machine']}; "
        f"Keras {env['keras']} ({env['keras_backend']}), TensorFlow {env['tensorflow']}, NumPy {env['numpy']}.",
        "",
        f"Every run starts from the same initial weights and sees the same batches: {report['train_examples']} "
        f"training digits, batch {report['batch_size']} ({report['steps_per_epoch']} steps per epoch), "
        f"{report['epochs']} epochs; validation on {report['validation_examples']} held-out training digits, "
        f"test on the 10,000 test digits. Initial loss {report['initial']['loss']:.3f}, "
        f"validation accuracy {report['initial']['val_accuracy']:.3f}.",
        "",
        "| optimizer | schedule | lr | training loss per epoch | final val acc | test acc | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        losses = " → ".join(f"{v:.3f}" for v in run["history"]["loss"])
        lines.append(
            f"| {run['optimizer']} | {run['schedule']} | {run['lr']:g} | {losses} | "
            f"{run['history']['val_accuracy'][-1]:.4f} | {run['test']['accuracy']:.4f} | "
            f"{run['seconds']:.0f} |"
        )
    lines += [
        "",
        "`sgd`: plain SGD; `momentum`: classical momentum 0.9 (`v = 0.9 v + g; w -= lr v`); `nesterov`: "
        '`zoo.training.optim.make_optimizer("sgd")` (Nesterov momentum 0.9); `adam`: `make_optimizer("adam")`. '
        f"`step`: x0.1 at 50% and 75% of the run; `inverse_time`: `lr / (1 + {report['inverse_time_decay']:g} "
        "* epoch)`, updated every step.",
        "",
        "![curves](optimizers.png)",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=["all", "numpy", "optimizers"])
    parser.add_argument("--epochs", type=int, default=5, help="NumPy vs Keras training epochs")
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--opt-model", default="lenet5")
    parser.add_argument("--opt-epochs", type=int, default=5)
    parser.add_argument("--opt-examples", type=int, default=20000)
    args = parser.parse_args(argv)
    os.environ.setdefault("KZOO_OFFLINE", "1")
    REPORTS.mkdir(parents=True, exist_ok=True)
    if args.part in ("all", "numpy"):
        numpy_part(args)
    if args.part in ("all", "optimizers"):
        optimizers_part(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
