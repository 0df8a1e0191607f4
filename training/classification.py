"""Training and evaluation of zoo image classifiers on named data sets or image folders."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import keras

import zoo
from zoo import data
from zoo.data.pipeline import make_pipeline, split_validation
from zoo.losses import SmoothedSparseCrossentropy
from zoo.registry import get_entry
from zoo.weights import create_trained
from training import engine
from training.distribute import shard_by_data
from training.engine import TrainConfig, TrainResult, best_epoch, require_positive_ints  # noqa: F401  (re-exported)

logger = logging.getLogger(__name__)


def training_loss(model: keras.Model, label_smoothing: float = 0.0) -> keras.losses.Loss:
    """The model's own loss (``model.training_loss()``, e.g. the perceptron criterion), else cross-entropy on
    logits, with ``label_smoothing`` (Szegedy et al. 2016) when positive."""
    own = getattr(model, "training_loss", None)
    if callable(own):
        if label_smoothing:
            raise ValueError(f"{model.name} trains with its own loss ({own().name}), which has no label smoothing; "
                             f"use label_smoothing=0. Received: label_smoothing={label_smoothing}")
        return own()
    if label_smoothing:
        return SmoothedSparseCrossentropy(label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _compile(model: keras.Model, optimizer=None, *, jit_compile="auto", label_smoothing: float = 0.0) -> None:
    model.compile(
        optimizer=optimizer or "adam", jit_compile=jit_compile, loss=training_loss(model, label_smoothing),
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
class ImageData(engine.TaskData):
    """An image-classification data set made ready to fit: held-out validation and tf.data pipelines."""

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

    def model_overrides(self) -> dict[str, Any]:
        return self.spec.model_overrides()

    def compile(self, model: keras.Model, optimizer) -> None:
        _compile(model, optimizer, jit_compile=engine.JIT_COMPILE[self.config.jit_compile],
                 label_smoothing=self.config.label_smoothing)

    def fit(self, model: keras.Model, *, epochs: int, initial_epoch: int = 0, skip_steps: int = 0, callbacks=(),
            verbose="auto"):
        """Fits epochs ``initial_epoch .. epochs - 1``, the first without its first ``skip_steps`` batches."""
        c = self.config
        train_ds = make_pipeline(self.spec, self.train.images, self.train.labels, batch_size=c.batch_size,
                                 training=True, augment=c.augment, seed=c.seed, first_epoch=initial_epoch,
                                 epochs=epochs, skip_batches=skip_steps)
        val_ds = (shard_by_data(make_pipeline(self.spec, self.validation.images, self.validation.labels,
                                              batch_size=c.batch_size, training=False))
                  if self.validation is not None else None)
        return model.fit(shard_by_data(train_ds), validation_data=val_ds, epochs=epochs,
                         initial_epoch=initial_epoch, steps_per_epoch=self.steps_per_epoch - skip_steps,
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
    hyper-parameters, strategy, versions), ``best.weights.h5`` (best validation
    accuracy), ``last.weights.h5``, ``history.json`` and ``curves.png``
    (updated every epoch, with examples/s), ``tensorboard/`` and ``results.json``
    (test metrics of the best weights); ``backup/`` while it runs.

    Args:
        model_name: a registered image classifier (``zoo.list_models()``).
        dataset: ``mnist``, ``fashion_mnist``, ``cifar10`` or a folder of images.
        config: hyper-parameters, strategy, resume; defaults to :class:`TrainConfig()`.
        out: run directory; defaults to ``runs/<model>-<dataset>-<time>``.
        overrides: model constructor overrides (``{"dropout": 0.1}``).

    Returns:
        A :class:`TrainResult`.

    Raises:
        ValueError: unknown model or data set, bad hyper-parameters or overrides.
        FileExistsError: ``out`` already holds a finished run.
    """
    config = config or TrainConfig()
    get_entry(model_name)  # unknown names fail before any data is read
    return engine.fit(model_name, dataset, config, out=out, load_data=ImageData.load,
                      build=lambda prepared: build_for_dataset(model_name, prepared.spec, overrides))


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
