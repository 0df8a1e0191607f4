"""Training and evaluation of regression models on tabular data, checked against least squares."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import keras
import numpy as np

import zoo
from zoo.data.tabular import load_tabular
from zoo.models.linear import least_squares
from zoo.registry import constructor_config, get_entry
from zoo.weights import BEST_WEIGHTS, RUN_CONFIG, create_trained, load_weights
from training.classification import TrainConfig, TrainResult
from training.optim import make_optimizer, make_schedule
from training.run_dir import RESULTS, environment, prepare_run_dir, standard_callbacks, write_json

logger = logging.getLogger(__name__)


def _compile(model: keras.Model, optimizer=None) -> None:
    model.compile(optimizer=optimizer or "adam", loss=model.training_loss(),
                  metrics=[keras.metrics.MeanAbsoluteError(name="mae")])


def build_for_dataset(model_name: str, dataset: str, overrides: dict[str, Any] | None = None) -> keras.Model:
    """Creates a regression model fitted to a tabular data set's feature count and statistics."""
    entry = get_entry(model_name)
    if entry.task != "regression":
        raise ValueError(f"{model_name} is a {entry.task} model; this trainer handles regression.")
    return zoo.create(model_name, **{**load_tabular(dataset, "train").model_overrides(), **(overrides or {})})


def train(model_name: str, dataset: str, *, config: TrainConfig | None = None, out: str | Path | None = None,
          overrides: dict[str, Any] | None = None) -> TrainResult:
    """Trains a regression model by gradient descent and compares it with the least-squares solution.

    The run directory holds the same files as a classification run; ``results.json``
    adds the closed-form least-squares test metrics and how far the learned
    weights are from them.
    """
    config = config or TrainConfig()
    config.validate()
    train_split = load_tabular(dataset, "train")
    model = build_for_dataset(model_name, dataset, overrides)
    run_dir = prepare_run_dir(out, model_name, dataset)
    keras.utils.set_random_seed(config.seed)
    steps = -(-len(train_split) // config.batch_size)
    schedule = make_schedule(config.schedule, config.lr, steps * config.epochs, steps_per_epoch=steps)
    _compile(model, make_optimizer(config.optimizer, schedule, config.weight_decay))
    write_json(run_dir / RUN_CONFIG, {
        "model": model_name, "model_config": constructor_config(model), "dataset": dataset,
        "data_source": train_split.source, "examples": {"train": len(train_split)},
        "training": dataclasses.asdict(config), "environment": environment(),
    })
    monitor = "val_loss" if config.validation_split else "loss"
    callbacks, run_logger = standard_callbacks(run_dir, monitor, "min")
    started = time.perf_counter()
    model.fit(train_split.features, train_split.targets, batch_size=config.batch_size, epochs=config.epochs,
              validation_split=config.validation_split, callbacks=callbacks, verbose=config.verbose)
    seconds = time.perf_counter() - started
    load_weights(model, run_dir / BEST_WEIGHTS)
    test = evaluate_model(model, dataset)
    write_json(run_dir / RESULTS, {"test": test, "monitor": monitor, "train_seconds": round(seconds, 1)})
    return TrainResult(run_dir, model, run_logger.history, test)


def _metrics(predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    residual = targets - predictions
    mse = float(np.mean(residual**2))
    return {"mse": mse, "mae": float(np.mean(np.abs(residual))),
            "r2": float(1.0 - mse / np.mean((targets - targets.mean(0)) ** 2))}


def evaluate_model(model: keras.Model, dataset: str) -> dict[str, Any]:
    """Test MSE, MAE and R² of ``model``, beside those of the least-squares fit to the training split.

    ``weight_gap`` is the largest difference between the model's effective
    weights on the raw features and the least-squares weights, relative to the
    largest least-squares weight (0 when gradient descent reached the optimum).
    """
    train_split, test_split = load_tabular(dataset, "train"), load_tabular(dataset, "test")
    if model.input_shape[-1] != train_split.features.shape[1]:
        raise ValueError(f"{model.name} takes {model.input_shape[-1]} features; {dataset} has "
                         f"{train_split.features.shape[1]}.")
    predictions = np.asarray(model.predict(test_split.features, verbose=0), dtype=np.float64)
    weights, bias = least_squares(train_split.features, train_split.targets)
    closed_form = test_split.features.astype(np.float64) @ weights + bias
    # The model's effective weights on raw features, read off by probing it with the unit vectors.
    probe = np.vstack([np.zeros(train_split.features.shape[1]), np.eye(train_split.features.shape[1])])
    outputs = np.asarray(model.predict(probe.astype(np.float32), verbose=0), dtype=np.float64)
    effective = outputs[1:] - outputs[:1]
    gap = float(np.max(np.abs(effective - weights)) / max(np.max(np.abs(weights)), 1e-12))
    return {**_metrics(predictions, test_split.targets), "examples": len(test_split), "source": test_split.source,
            "least_squares": _metrics(closed_form, test_split.targets), "weight_gap": gap}


def evaluate(model_name: str, weights: str | Path, dataset: str, *, batch_size: int = 256) -> dict[str, Any]:
    """Loads trained weights (run directory or ``.weights.h5``) and evaluates them on the test split."""
    model, _ = create_trained(model_name, weights, build=lambda: build_for_dataset(model_name, dataset))
    return evaluate_model(model, dataset)
