"""Optimiser and learning-rate schedule comparison: one model, one initialisation, several (optimizer, schedule) runs.

Every run starts from the same initial weights and sees the same batches in
the same order (same seed), so the curves differ only by the update rule and
its learning rate over time. Records the per-epoch training loss (mean over the
epoch's batches, as Keras reports it), validation loss and accuracy, the
learning rate at the end of each epoch and, optionally, the test accuracy.

Optimizers (names of :data:`OPTIMIZERS`):

* ``sgd``: plain minibatch SGD, ``w -= lr * g``.
* ``momentum``: classical (heavy-ball) momentum 0.9, ``v = 0.9 v + g; w -= lr v``,
  as in the course notes and :class:`zoo.analysis.numpy_mlp.NumpyMLP`.
* ``nesterov``, ``adam``, ``adamw``, ``rmsprop``: ``zoo.training.optim.make_optimizer``
  (``nesterov`` is its ``sgd``: Nesterov momentum 0.9).

Schedules: ``constant``, ``step`` (x0.1 at 50% and 75% of the run) and
``cosine`` from ``zoo.training.optim.make_schedule``; ``inverse_time``,
``lr / (1 + decay_rate * epoch)`` evaluated per step (Keras' ``InverseTimeDecay``
with ``decay_steps`` = one epoch), the course notes' ``eta0 / (1 + gamma tau)^rho``
with ``rho = 1``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from zoo import data
from zoo.data.pipeline import make_pipeline, split_validation
from zoo.training.classification import build_for_dataset, compile_classifier, evaluate_model
from zoo.training.optim import make_optimizer, make_schedule

logger = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "step", "cosine", "inverse_time")
DEFAULT_RUNS: tuple[tuple[str, str], ...] = (
    ("sgd", "constant"),
    ("momentum", "constant"),
    ("adam", "constant"),
    ("sgd", "step"),
    ("sgd", "inverse_time"),
)
# Base learning rates per optimizer (momentum 0.9 multiplies SGD's effective step by 10).
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}
#: This comparison's names -> ``zoo.training.optim`` names (there ``sgd`` is Nesterov momentum, ``gd`` plain SGD).
_OPTIM_NAMES = {"sgd": "gd", "nesterov": "sgd"}


def make_comparison_schedule(name: str, lr: float, steps_per_epoch: int, epochs: int, *, decay_rate: float = 1.0):
    """A learning rate or schedule by name, from ``zoo.training.optim.make_schedule``.

    Args:
        name: one of :data:`SCHEDULES`.
        lr: base learning rate.
        steps_per_epoch, epochs: length of the run.
        decay_rate: ``inverse_time``'s decay per epoch: ``lr / (1 + decay_rate * step / steps_per_epoch)``.

    Raises:
        ValueError: unknown schedule or non-positive values.

    Example:
        >>> schedule = make_comparison_schedule("inverse_time", 0.1, steps_per_epoch=10, epochs=5)
        >>> round(float(schedule(20)), 4)
        0.0333
    """
    if name not in SCHEDULES:
        raise ValueError(f"expected a schedule in {SCHEDULES}, received {name!r}")
    if steps_per_epoch < 1 or epochs < 1:
        raise ValueError(f"expected positive steps_per_epoch and epochs, received {steps_per_epoch} and {epochs}")
    return make_schedule(
        name, lr, steps_per_epoch * epochs, steps_per_epoch=steps_per_epoch, inverse_time_decay=decay_rate
    )


def make_comparison_optimizer(name: str, learning_rate) -> keras.optimizers.Optimizer:
    """``zoo.training.optim.make_optimizer`` under this comparison's names: ``sgd`` is plain SGD, ``nesterov`` its ``sgd``.

    Raises:
        ValueError: unknown optimizer.

    Example:
        >>> make_comparison_optimizer("momentum", 0.01).momentum
        0.9
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"expected an optimizer in {OPTIMIZERS}, received {name!r}")
    return make_optimizer(_OPTIM_NAMES.get(name, name), learning_rate)


@dataclasses.dataclass
class RunCurves:
    """One (optimizer, schedule) run.

    Attributes:
        optimizer, schedule, lr: the settings; ``label`` joins them for legends.
        history: per epoch: ``loss``, ``accuracy`` (training, running mean over
            the epoch), ``val_loss``, ``val_accuracy`` and ``lr`` (at the epoch's end).
        test: ``evaluate_model``'s test metrics, or None.
        seconds: training time.
    """

    optimizer: str
    schedule: str
    lr: float
    label: str
    history: dict[str, list[float]]
    test: dict[str, Any] | None
    seconds: float


@dataclasses.dataclass
class ComparisonResult:
    """All runs of :func:`compare_optimizers` and their shared setting.

    Attributes:
        initial: loss and accuracy of the shared initial weights on the
            training and validation examples (the curves' epoch 0).
    """

    model: str
    dataset: str
    epochs: int
    batch_size: int
    steps_per_epoch: int
    train_examples: int
    validation_examples: int
    inverse_time_decay: float
    seed: int
    initial: dict[str, float]
    runs: list[RunCurves]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "ComparisonResult":
        """Rebuilds a result from :meth:`to_dict` (or a saved ``optimizers.json``; extra keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)} - {"runs"}
        run_names = {f.name for f in dataclasses.fields(RunCurves)}
        runs = [RunCurves(**{k: v for k, v in run.items() if k in run_names}) for run in payload["runs"]]
        return cls(**{k: payload[k] for k in names}, runs=runs)


def _check_runs(runs: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    checked = []
    for run in runs:
        if len(run) != 2 or run[0] not in OPTIMIZERS or run[1] not in SCHEDULES:
            raise ValueError(
                f"expected (optimizer, schedule) pairs from {OPTIMIZERS} and {SCHEDULES}, received {run!r}"
            )
        checked.append((run[0], run[1]))
    if not checked:
        raise ValueError("expected at least one (optimizer, schedule) run, received none")
    return checked


class _LearningRateLog(keras.callbacks.Callback):
    """Appends the optimizer's learning rate at the end of each epoch."""

    def __init__(self):
        super().__init__()
        self.values: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        self.values.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def compare_optimizers(
    model_name: str,
    dataset: str,
    runs: Sequence[Sequence[str]] = DEFAULT_RUNS,
    *,
    epochs: int = 5,
    batch_size: int = 128,
    lr: dict[str, float] | None = None,
    max_train_examples: int | None = None,
    validation_split: float = 0.1,
    inverse_time_decay: float = 1.0,
    evaluate_test: bool = True,
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    verbose: int | str = 0,
) -> ComparisonResult:
    """Trains ``model_name`` once per (optimizer, schedule) from the same initial weights.

    Args:
        model_name: a registered image classifier.
        dataset: ``mnist``, ``fashion_mnist``, ``cifar10`` or an image folder.
        runs: (optimizer, schedule) pairs, see :data:`OPTIMIZERS` and :data:`SCHEDULES`.
        epochs, batch_size: shared by every run.
        lr: base learning rate per optimizer, merged over :data:`DEFAULT_LR`.
        max_train_examples: train on the first examples only (after the validation hold-out).
        validation_split: fraction of the training split held out for the validation curves.
        inverse_time_decay: ``inverse_time``'s decay rate per epoch.
        evaluate_test: also evaluate each run's final weights on the test split.
        overrides: model constructor overrides.
        seed: initialisation, hold-out and shuffling seed (the same for every run).
        verbose: Keras' ``fit`` verbosity.

    Returns:
        A :class:`ComparisonResult`.

    Raises:
        ValueError: unknown model, data set, optimizer or schedule, or bad sizes.
    """
    runs = _check_runs(runs)
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"expected a positive integer {name}, received {value!r}")
    if max_train_examples is not None and max_train_examples < 1:
        raise ValueError(f"expected a positive max_train_examples, received {max_train_examples}")
    rates = {**DEFAULT_LR, **(lr or {})}
    unknown = sorted(set(rates) - set(OPTIMIZERS))
    if unknown:
        raise ValueError(f"expected learning rates for optimizers in {OPTIMIZERS}, received {unknown}")

    spec, train_split = data.load(dataset, "train")
    train_split, val_split = split_validation(train_split, validation_split, seed=seed)
    train_split = train_split.head(max_train_examples)
    steps = -(-len(train_split) // batch_size)

    keras.utils.set_random_seed(seed)
    reference = build_for_dataset(model_name, spec, overrides)
    initial_weights = reference.get_weights()
    compile_classifier(reference)
    initial = _initial_metrics(reference, spec, train_split, val_split, batch_size)

    results = []
    for optimizer_name, schedule_name in runs:
        keras.utils.set_random_seed(seed)  # same shuffles (and dropout masks) in every run
        model = build_for_dataset(model_name, spec, overrides)
        model.set_weights(initial_weights)
        base_lr = rates[optimizer_name]
        schedule = make_comparison_schedule(schedule_name, base_lr, steps, epochs, decay_rate=inverse_time_decay)
        compile_classifier(model, make_comparison_optimizer(optimizer_name, schedule))
        train_ds = make_pipeline(
            spec, train_split.images, train_split.labels, batch_size=batch_size, training=True, seed=seed, epochs=epochs
        )
        val_ds = (
            make_pipeline(spec, val_split.images, val_split.labels, batch_size=batch_size, training=False)
            if val_split is not None
            else None
        )
        lr_log = _LearningRateLog()
        started = time.perf_counter()
        fitted = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            steps_per_epoch=steps,
            callbacks=[lr_log],
            verbose=verbose,
            shuffle=False,
        )
        seconds = time.perf_counter() - started
        history = {key: [float(v) for v in values] for key, values in fitted.history.items()}
        history["lr"] = lr_log.values
        test = evaluate_model(model, dataset, batch_size=max(batch_size, 256)) if evaluate_test else None
        label = f"{optimizer_name} {schedule_name} (lr {base_lr:g})"
        logger.info("%s: final loss %.4f, %s", label, history["loss"][-1], test)
        results.append(RunCurves(optimizer_name, schedule_name, base_lr, label, history, test, round(seconds, 2)))
    return ComparisonResult(
        model=model_name,
        dataset=dataset,
        epochs=epochs,
        batch_size=batch_size,
        steps_per_epoch=steps,
        train_examples=len(train_split),
        validation_examples=len(val_split) if val_split is not None else 0,
        inverse_time_decay=inverse_time_decay,
        seed=seed,
        initial=initial,
        runs=results,
    )


def _initial_metrics(model, spec, train_split, val_split, batch_size) -> dict[str, float]:
    """Loss and accuracy of the shared initial weights: the curves' epoch 0."""
    metrics = {}
    for prefix, split in (("", train_split), ("val_", val_split)):
        if split is None:
            continue
        ds = make_pipeline(spec, split.images, split.labels, batch_size=max(batch_size, 256), training=False)
        loss, accuracy = model.evaluate(ds, verbose=0)
        metrics[f"{prefix}loss"], metrics[f"{prefix}accuracy"] = float(loss), float(accuracy)
    return metrics


def learning_rate_curve(result: ComparisonResult, run: RunCurves, points: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The run's learning rate at ``points`` steps spread over training, as ``(epochs, rates)``."""
    total = result.steps_per_epoch * result.epochs
    schedule = make_comparison_schedule(
        run.schedule, run.lr, result.steps_per_epoch, result.epochs, decay_rate=result.inverse_time_decay
    )
    steps = np.unique(np.linspace(0, total - 1, min(points, total)).astype(int))
    rates = [
        float(keras.ops.convert_to_numpy(schedule(int(s)))) if callable(schedule) else float(schedule) for s in steps
    ]
    return steps / result.steps_per_epoch, np.asarray(rates)


def plot_curves(result: ComparisonResult, path: str | Path) -> Path:
    """Draws training loss, validation accuracy and the learning rate per epoch, one line per run, into a PNG.

    Epoch 0 of the loss panel is the shared initialisation; the learning rate
    is drawn step by step. Returns the path written.
    """
    from zoo.analysis.plots import pyplot

    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, key, title in (
        (axes[0], "loss", "training loss (mean over the epoch)"),
        (axes[1], "val_accuracy", "validation accuracy"),
    ):
        for run in result.runs:
            values = run.history.get(key)
            if values:  # the loss starts at the shared initialisation; accuracy from epoch 1 (readable scale)
                start = [result.initial[key]] if key == "loss" else []
                ax.plot(
                    np.arange(1 - len(start), len(values) + 1),
                    start + list(values),
                    marker="o",
                    markersize=3,
                    label=run.label,
                )
        ax.set_title(title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].set_yscale("log")
    for index, run in enumerate(result.runs):  # dashes tell apart runs sharing a rate
        epochs, rates = learning_rate_curve(result, run)
        axes[2].plot(epochs, rates, linestyle=("-", "--", "-.", ":")[index % 4], label=run.label)
    axes[2].set_title("learning rate")
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"{result.model} on {result.dataset}: {result.train_examples} training examples, "
        f"batch {result.batch_size}, same initial weights and batches",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
