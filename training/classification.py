"""Training and evaluation of zoo image classifiers on named data sets or image folders."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import keras

import zoo
from zoo import data
from zoo.data.datasets import validation_problems
from zoo.data.pipeline import make_pipeline, split_validation
from zoo.losses import SmoothedSparseCrossentropy, SoftTargetCrossentropy, is_distribution
from zoo.registry import get_entry
from zoo.training import engine
from zoo.training.distribute import shard_by_data
from zoo.training.engine import TrainConfig, TrainResult, best_epoch, require_positive_ints  # noqa: F401  (re-exported)
from zoo.weights import create_trained

logger = logging.getLogger(__name__)


def training_loss(model: keras.Model, label_smoothing: float = 0.0, soft_targets: bool = False) -> keras.losses.Loss:
    """The model's own loss (``model.training_loss()``, e.g. the perceptron criterion), else cross-entropy on
    logits, with ``label_smoothing`` (Szegedy et al. 2016) when positive; ``soft_targets``: one that also
    takes class distributions (batches mixed by mixup or CutMix)."""
    own = getattr(model, "training_loss", None)
    if callable(own):
        if label_smoothing or soft_targets:
            setting = f"label_smoothing={label_smoothing}" if label_smoothing else "mixed labels (mix)"
            raise ValueError(
                f"{model.name} trains with its own loss ({own().name}), which takes neither label smoothing "
                f"nor mixed labels. Received: {setting}"
            )
        return own()
    if soft_targets:
        return SoftTargetCrossentropy(label_smoothing)
    if label_smoothing:
        return SmoothedSparseCrossentropy(label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def target_accuracy(y_true, y_pred):
    """Accuracy against integer labels, or against the most probable class of class distributions."""
    if is_distribution(y_true, y_pred):
        y_true = keras.ops.argmax(y_true, axis=-1)
    return keras.metrics.sparse_categorical_accuracy(y_true, y_pred)


def compile_classifier(
    model: keras.Model, optimizer=None, *, jit_compile="auto", label_smoothing: float = 0.0, soft_targets: bool = False
) -> None:
    """Compiles an image classifier as every trainer does: its training loss on logits, and accuracy.

    Args:
        model: a zoo classifier (logits out), or a wrapper of one (soft weight sharing).
        optimizer: a Keras optimizer; defaults to Adam at Keras' default rate.
        jit_compile: passed to ``model.compile``.
        label_smoothing: of the cross-entropy (see :func:`training_loss`).
        soft_targets: training batches carry class distributions (mixup, CutMix); validation keeps integer
            labels, and accuracy counts a mixed example right when it predicts its larger share.
    """
    accuracy = (
        keras.metrics.MeanMetricWrapper(target_accuracy, name="accuracy")
        if soft_targets
        else keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    )
    model.compile(
        optimizer=optimizer or "adam",
        jit_compile=jit_compile,
        loss=training_loss(model, label_smoothing, soft_targets),
        metrics=[accuracy],
    )


def build_for_dataset(name: str, spec: data.DatasetSpec, overrides: dict[str, Any] | None = None) -> keras.Model:
    """Creates model ``name`` fitted to a data set's shapes, classes and pixel statistics.

    ``overrides`` win over what the data set implies.
    """
    entry = get_entry(name)
    if entry.task != "image_classification":
        raise ValueError(f"{name} is a {entry.task} model; this trainer handles image_classification.")
    return zoo.create(name, **{**spec.model_overrides(), **(overrides or {})})


def warn_if_poor_validation(train_labels, validation_labels, class_names=None) -> list[str]:
    """Logs a warning when the validation set that picks the best epoch is too small or lacks classes.

    Returns:
        The problems found (empty when there are none).
    """
    problems = validation_problems(train_labels, validation_labels, class_names)
    if problems:
        logger.warning(
            "The best epoch is chosen on validation accuracy, but %s: that choice is mostly noise. "
            "Use select='last' (--select last) to keep the last epoch's weights, or a larger "
            "validation_split.",
            " and ".join(problems),
        )
    return problems


def resize_to(
    spec: data.DatasetSpec, split: data.Split, image_size: tuple[int, int] | list[int] | None
) -> tuple[data.DatasetSpec, data.Split]:
    """``split``'s images resized (bilinear, antialiased) to ``image_size`` (height, width), for a pretrained model
    that takes one input size (timm's presets record it as ``image_size``); unchanged when None or equal."""
    if image_size is None or tuple(spec.input_shape[:2]) == tuple(image_size):
        return spec, split
    import numpy as np
    import tensorflow as tf

    size = tuple(int(d) for d in image_size)
    resized = [
        tf.image.resize(split.images[i : i + 256], size, antialias=True).numpy() for i in range(0, len(split), 256)
    ]
    images = np.concatenate(resized).round().clip(0, 255).astype(np.uint8)
    logger.info("Resized %s from %s to %s", spec.name, tuple(spec.input_shape[:2]), size)
    return (
        dataclasses.replace(spec, input_shape=(*size, spec.input_shape[-1])),
        dataclasses.replace(split, images=images, source=f"{split.source}, resized to {size[0]}x{size[1]}"),
    )


@dataclasses.dataclass
class ImageData(engine.TaskData):
    """An image-classification data set made ready to fit: held-out validation and tf.data pipelines."""

    dataset: str
    spec: data.DatasetSpec
    train: data.Split
    validation: data.Split | None
    config: TrainConfig
    image_size: tuple[int, int] | None = None  # resize every split to this (a pretrained model's input size)
    mode = "max"

    @classmethod
    def load(cls, dataset: str, config: TrainConfig, *, image_size: tuple[int, int] | None = None) -> "ImageData":
        spec, train_split = data.load(dataset, "train")
        train_split, val_split = split_validation(train_split, config.validation_split, seed=config.seed)
        train_split = train_split.head(config.max_train_examples)
        if val_split is not None and config.select == "best":
            warn_if_poor_validation(train_split.labels, val_split.labels, spec.class_names)
        if image_size is not None:
            _, val_split = resize_to(spec, val_split, image_size) if val_split is not None else (spec, None)
            spec, train_split = resize_to(spec, train_split, image_size)
        return cls(dataset, spec, train_split, val_split, config, image_size)

    @property
    def monitor(self) -> str:
        return "val_accuracy" if self.validation is not None else "accuracy"

    def model_overrides(self) -> dict[str, Any]:
        return self.spec.model_overrides()

    def describe(self) -> dict[str, Any]:
        """Also the class names, so export and Classify name the classes even when the data folder is gone."""
        return {**super().describe(), "class_names": list(self.spec.class_names)}

    def compile(self, model: keras.Model, optimizer) -> None:
        compile_classifier(
            model,
            optimizer,
            jit_compile=engine.JIT_COMPILE[self.config.jit_compile],
            label_smoothing=self.config.label_smoothing,
            soft_targets=self.config.mix != "none",
        )

    def training_batches(self, model: keras.Model, *, first_epoch: int, epochs: int, skip_batches: int):
        c = self.config
        return make_pipeline(
            self.spec,
            self.train.images,
            self.train.labels,
            batch_size=c.batch_size,
            training=True,
            augment=c.augment,
            mix=c.mix,
            mix_alpha=c.mix_alpha,
            seed=c.seed,
            first_epoch=first_epoch,
            epochs=epochs,
            skip_batches=skip_batches,
        )

    def validation_data(self, model: keras.Model):
        if self.validation is None:
            return None
        split = self.validation
        return shard_by_data(
            make_pipeline(self.spec, split.images, split.labels, batch_size=self.config.batch_size, training=False)
        )

    def probe_batches(self):
        split = self.train
        return make_pipeline(self.spec, split.images, split.labels, batch_size=self.config.batch_size, training=False)

    def evaluate(self, model: keras.Model) -> dict[str, Any]:
        return evaluate_model(model, self.dataset, image_size=self.image_size)


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
    return engine.fit(
        model_name,
        dataset,
        config,
        out=out,
        load_data=ImageData.load,
        build=lambda prepared: build_for_dataset(model_name, prepared.spec, overrides),
    )


def evaluate_model(
    model: keras.Model, dataset: str, *, batch_size: int = 256, image_size: tuple[int, int] | None = None
) -> dict[str, float | int | str]:
    """Evaluates a built classifier on the test split of ``dataset``, its images resized to ``image_size`` if given."""
    spec, test_split = resize_to(*data.load(dataset, "test"), image_size)
    expected = tuple(model.input_shape[1:])
    if expected != tuple(spec.input_shape) or model.output_shape[-1] != spec.num_classes:
        raise ValueError(
            f"{model.name} takes {expected} and predicts {model.output_shape[-1]} classes, but {dataset} has "
            f"images of {tuple(spec.input_shape)} and {spec.num_classes} classes."
        )
    if not getattr(model, "compiled", False):
        compile_classifier(model)
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
    model, run_config = create_trained(
        model_name, weights, build=lambda: build_for_dataset(model_name, data.get_spec(dataset))
    )
    return evaluate_model(model, dataset, batch_size=batch_size, image_size=pretrained_image_size(run_config))


def pretrained_image_size(run_config: dict[str, Any] | None) -> tuple[int, int] | None:
    """The input size images are resized to for weights that fix one: a timm preset's ``image_size``, or that of
    the preset a run was fine-tuned from."""
    run_config = run_config or {}
    size = run_config.get("image_size") or (run_config.get("pretrained") or {}).get("image_size")
    return tuple(size) if size else None
