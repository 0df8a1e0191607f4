"""Training and evaluation of regression models on tabular data, checked against least squares."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import keras
import numpy as np

import zoo
from zoo.data.pipeline import epoch_batches
from zoo.data.tabular import TabularSplit, load_tabular
from zoo.models.linear import least_squares
from zoo.registry import get_entry
from zoo.training import engine
from zoo.training.engine import TrainConfig, TrainResult
from zoo.weights import create_trained

logger = logging.getLogger(__name__)


def _compile(model: keras.Model, optimizer=None) -> None:
    model.compile(
        optimizer=optimizer or "adam", loss=model.training_loss(), metrics=[keras.metrics.MeanAbsoluteError(name="mae")]
    )


def build_for_dataset(model_name: str, dataset: str, overrides: dict[str, Any] | None = None) -> keras.Model:
    """Creates a regression model fitted to a tabular data set's feature count and statistics."""
    entry = get_entry(model_name)
    if entry.task != "regression":
        raise ValueError(f"{model_name} is a {entry.task} model; this trainer handles regression.")
    return zoo.create(model_name, **{**load_tabular(dataset, "train").model_overrides(), **(overrides or {})})


@dataclasses.dataclass
class TableData(engine.TaskData):
    """A tabular regression data set made ready to fit: the last ``validation_split`` of train held out."""

    dataset: str
    train: TabularSplit
    validation: TabularSplit | None
    config: TrainConfig

    @classmethod
    def load(cls, dataset: str, config: TrainConfig) -> "TableData":
        whole = load_tabular(dataset, "train")
        n_val = int(len(whole) * config.validation_split)
        if not n_val:
            return cls(dataset, whole, None, config)
        cut = len(whole) - n_val
        part = lambda rows: dataclasses.replace(whole, features=whole.features[rows], targets=whole.targets[rows])  # noqa: E731
        return cls(dataset, part(slice(0, cut)), part(slice(cut, None)), config)

    @property
    def monitor(self) -> str:
        return "val_loss" if self.validation is not None else "loss"

    def compile(self, model: keras.Model, optimizer) -> None:
        _compile(model, optimizer)

    def training_batches(self, model: keras.Model, *, first_epoch: int, epochs: int, skip_batches: int):
        return epoch_batches(
            (self.train.features, self.train.targets),
            batch_size=self.config.batch_size,
            seed=self.config.seed,
            first_epoch=first_epoch,
            epochs=epochs,
            skip_batches=skip_batches,
        )

    def validation_data(self, model: keras.Model):
        return None if self.validation is None else (self.validation.features, self.validation.targets)

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
    """Trains a regression model by gradient descent and compares it with the least-squares solution.

    The run directory holds the same files as a classification run; ``results.json``
    adds the closed-form least-squares test metrics and how far the learned
    weights are from them.
    """
    config = config or TrainConfig()
    get_entry(model_name)
    return engine.fit(
        model_name,
        dataset,
        config,
        out=out,
        load_data=TableData.load,
        build=lambda prepared: build_for_dataset(model_name, dataset, overrides),
    )


def _metrics(predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    residual = targets - predictions
    mse = float(np.mean(residual**2))
    return {
        "mse": mse,
        "mae": float(np.mean(np.abs(residual))),
        "r2": float(1.0 - mse / np.mean((targets - targets.mean(0)) ** 2)),
    }


def evaluate_model(model: keras.Model, dataset: str) -> dict[str, Any]:
    """Test MSE, MAE and R² of ``model``, beside those of the least-squares fit to the training split.

    ``weight_gap`` is the largest difference between the model's effective
    weights on the raw features and the least-squares weights, relative to the
    largest least-squares weight (0 when gradient descent reached the optimum).
    """
    train_split, test_split = load_tabular(dataset, "train"), load_tabular(dataset, "test")
    if model.input_shape[-1] != train_split.features.shape[1]:
        raise ValueError(
            f"{model.name} takes {model.input_shape[-1]} features; {dataset} has {train_split.features.shape[1]}."
        )
    predictions = np.asarray(model.predict(test_split.features, verbose=0), dtype=np.float64)
    weights, bias = least_squares(train_split.features, train_split.targets)
    closed_form = test_split.features.astype(np.float64) @ weights + bias
    # The model's effective weights on raw features, read off by probing it with the unit vectors.
    probe = np.vstack([np.zeros(train_split.features.shape[1]), np.eye(train_split.features.shape[1])])
    outputs = np.asarray(model.predict(probe.astype(np.float32), verbose=0), dtype=np.float64)
    effective = outputs[1:] - outputs[:1]
    gap = float(np.max(np.abs(effective - weights)) / max(np.max(np.abs(weights)), 1e-12))
    return {
        **_metrics(predictions, test_split.targets),
        "examples": len(test_split),
        "source": test_split.source,
        "least_squares": _metrics(closed_form, test_split.targets),
        "weight_gap": gap,
    }


def evaluate(model_name: str, weights: str | Path, dataset: str, *, batch_size: int = 256) -> dict[str, Any]:
    """Loads trained weights (run directory or ``.weights.h5``) and evaluates them on the test split."""
    model, _ = create_trained(model_name, weights, build=lambda: build_for_dataset(model_name, dataset))
    return evaluate_model(model, dataset)
