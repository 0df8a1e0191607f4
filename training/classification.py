"""Training and evaluation of zoo image classifiers on named data sets or image folders."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import zoo
from zoo import data
from zoo.data.pipeline import make_pipeline, split_validation
from zoo.registry import constructor_config, get_entry
from zoo.weights import BEST_WEIGHTS, RUN_CONFIG, create_trained, load_weights
from training.optim import make_optimizer, make_schedule
from training.run_dir import RESULTS, environment, prepare_run_dir, standard_callbacks, write_json

logger = logging.getLogger(__name__)


def require_positive_ints(config, *names: str) -> None:
    """Raises ValueError naming the first of ``config``'s fields ``names`` that is not a positive int."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")


@dataclasses.dataclass
class TrainConfig:
    """Hyper-parameters of one classification run (every field is a CLI flag of ``zoo train``)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = "adam"
    schedule: str = "cosine"
    weight_decay: float = 0.0
    validation_split: float = 0.1
    max_train_examples: int | None = None
    augment: str = "auto"
    seed: int = 0
    verbose: int | str = "auto"
    seq_length: int = 100  # language models: characters per training window
    sampling: str = "random"  # language models: "random" windows or "sequential" streams

    def validate(self) -> None:
        require_positive_ints(self, "epochs", "batch_size", "seq_length")
        if self.max_train_examples is not None and self.max_train_examples < 1:
            raise ValueError(f"max_train_examples must be positive. Received: {self.max_train_examples}")


@dataclasses.dataclass
class TrainResult:
    """What a run produced: its directory, the model with its best weights, and the metrics."""

    run_dir: Path
    model: keras.Model
    history: dict[str, list[float]]
    test: dict[str, float]


def training_loss(model: keras.Model) -> keras.losses.Loss:
    """The model's own loss (``model.training_loss()``, e.g. the perceptron criterion), else cross-entropy on logits."""
    own = getattr(model, "training_loss", None)
    return own() if callable(own) else keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _compile(model: keras.Model, optimizer=None, *, jit_compile="auto") -> None:
    model.compile(
        optimizer=optimizer or "adam", jit_compile=jit_compile, loss=training_loss(model),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )


def build_for_dataset(name: str, spec: data.DatasetSpec, overrides: dict[str, Any] | None = None) -> keras.Model:
    """Creates model ``name`` fitted to a data set's shapes, classes and pixel statistics.

    ``overrides`` win over what the data set implies.
    """
    entry = get_entry(name)
    if entry.task != "image_classification":
        raise ValueError(f"{name} is a {entry.task} model; this trainer handles image_classification.")
    return zoo.create(name, **{**spec.model_overrides(), **(overrides or {})})


@dataclasses.dataclass
class ImageData:
    """An image-classification data set made ready to fit: held-out validation and tf.data pipelines.

    The interface fine-tuning shares with :class:`training.node_classification.GraphData`.
    """

    dataset: str
    spec: data.DatasetSpec
    train: data.Split
    validation: data.Split | None
    config: TrainConfig
    mode = "max"

    @classmethod
    def load(cls, dataset: str, config: TrainConfig) -> "ImageData":
        spec, train_split = data.load(dataset, "train")
        train_split, val_split = split_validation(train_split, config.validation_split, seed=config.seed)
        return cls(dataset, spec, train_split.head(config.max_train_examples), val_split, config)

    @property
    def monitor(self) -> str:
        return "val_accuracy" if self.validation is not None else "accuracy"

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.train) // self.config.batch_size)

    def model_overrides(self) -> dict[str, Any]:
        return self.spec.model_overrides()

    def describe(self) -> dict[str, Any]:
        return {"data_source": self.train.source,
                "examples": {"train": len(self.train), "validation": len(self.validation) if self.validation else 0}}

    def compile(self, model: keras.Model, optimizer) -> None:
        _compile(model, optimizer)

    def callbacks(self) -> list[keras.callbacks.Callback]:
        return []

    def fit(self, model: keras.Model, *, epochs: int, initial_epoch: int = 0, callbacks=(), verbose="auto"):
        c = self.config
        train_ds = make_pipeline(self.spec, self.train.images, self.train.labels, batch_size=c.batch_size,
                                 training=True, augment=c.augment, seed=c.seed)
        val_ds = (make_pipeline(self.spec, self.validation.images, self.validation.labels, batch_size=c.batch_size,
                                training=False) if self.validation is not None else None)
        return model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch,
                         callbacks=list(callbacks), verbose=verbose, shuffle=False)  # the pipeline shuffles

    def evaluate(self, model: keras.Model) -> dict[str, Any]:
        return evaluate_model(model, self.dataset)


def train(
    model_name: str,
    dataset: str,
    *,
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainResult:
    """Trains a registered classifier and writes a run directory.

    The run directory holds ``config.json`` (model config, data source,
    hyper-parameters, versions), ``best.weights.h5`` (best validation
    accuracy), ``last.weights.h5``, ``history.json`` and ``curves.png``
    (updated every epoch), ``tensorboard/`` and ``results.json`` (test metrics
    of the best weights).

    Args:
        model_name: a registered image classifier (``zoo.list_models()``).
        dataset: ``mnist``, ``fashion_mnist``, ``cifar10`` or a folder of images.
        config: hyper-parameters; defaults to :class:`TrainConfig()`.
        out: run directory; defaults to ``runs/<model>-<dataset>-<time>``.
        overrides: model constructor overrides (``{"dropout": 0.1}``).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: unknown model or data set, bad hyper-parameters or overrides.
        FileExistsError: ``out`` already holds a finished run.
    """
    config = config or TrainConfig()
    config.validate()
    prepared = ImageData.load(dataset, config)
    model = build_for_dataset(model_name, prepared.spec, overrides)  # validates name and overrides early
    run_dir = prepare_run_dir(out, model_name, dataset)

    keras.utils.set_random_seed(config.seed)
    steps = prepared.steps_per_epoch
    optimizer = make_optimizer(
        config.optimizer, make_schedule(config.schedule, config.lr, steps * config.epochs, steps_per_epoch=steps),
        config.weight_decay
    )
    prepared.compile(model, optimizer)
    write_json(
        run_dir / RUN_CONFIG,
        {
            "model": model_name,
            "model_config": constructor_config(model),
            "dataset": dataset,
            **prepared.describe(),
            "training": dataclasses.asdict(config),
            "environment": environment(),
        },
    )
    callbacks, run_logger = standard_callbacks(run_dir, prepared.monitor, prepared.mode)
    logger.info("Training %s on %s (%d examples from %s) into %s", model_name, dataset, len(prepared.train),
                prepared.train.source, run_dir)
    started = time.perf_counter()
    prepared.fit(model, epochs=config.epochs, callbacks=callbacks, verbose=config.verbose)
    seconds = time.perf_counter() - started

    load_weights(model, run_dir / BEST_WEIGHTS)
    test = prepared.evaluate(model)
    history = run_logger.history
    write_json(run_dir / RESULTS, {"test": test, **best_epoch(history, prepared.monitor, prepared.mode),
                                   "train_seconds": round(seconds, 1),
                                   "train_examples_per_second": round(len(prepared.train) * config.epochs / seconds, 1)})
    return TrainResult(run_dir, model, history, test)


def best_epoch(history: dict[str, list[float]], monitor: str, mode: str) -> dict[str, Any]:
    """``{"best_epoch": 1-based epoch of the best ``monitor`` value, "monitor": monitor}``."""
    values = history.get(monitor)
    if not values:
        return {"best_epoch": None, "monitor": monitor}
    arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return {"best_epoch": int(np.nanargmax(arr) if mode == "max" else np.nanargmin(arr)) + 1, "monitor": monitor}


def evaluate_model(model: keras.Model, dataset: str, *, batch_size: int = 256) -> dict[str, float | int | str]:
    """Evaluates a built classifier on the test split of ``dataset``."""
    spec, test_split = data.load(dataset, "test")
    expected = tuple(model.input_shape[1:])
    if expected != tuple(spec.input_shape) or model.output_shape[-1] != spec.num_classes:
        raise ValueError(
            f"{model.name} takes {expected} and predicts {model.output_shape[-1]} classes, but {dataset} has "
            f"images of {tuple(spec.input_shape)} and {spec.num_classes} classes."
        )
    if not getattr(model, "compiled", False):
        _compile(model)
    ds = make_pipeline(spec, test_split.images, test_split.labels, batch_size=batch_size, training=False)
    loss, accuracy = model.evaluate(ds, verbose=0)
    return {"accuracy": float(accuracy), "loss": float(loss), "examples": len(test_split), "source": test_split.source}


def evaluate(model_name: str, weights: str | Path, dataset: str, *, batch_size: int = 256) -> dict[str, Any]:
    """Loads ``weights`` (a ``.weights.h5`` file or a run directory) into ``model_name`` and evaluates it.

    A run directory's ``config.json`` (beside the weights) rebuilds the exact
    model that was trained; otherwise the model is fitted to ``dataset``.

    Returns:
        ``{"accuracy", "loss", "examples", "source"}`` on the test split.

    Example:
        >>> evaluate("lenet5", "runs/lenet5-mnist", "mnist")  # doctest: +SKIP
        {'accuracy': 0.9912, 'loss': 0.028, 'examples': 10000, 'source': '...'}
    """
    model, _ = create_trained(model_name, weights, build=lambda: build_for_dataset(model_name, data.get_spec(dataset)))
    return evaluate_model(model, dataset, batch_size=batch_size)
