"""``train`` and ``evaluate`` for any registered model: each task has its own trainer module."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from zoo.registry import get_entry

logger = logging.getLogger(__name__)

#: Task -> module with ``train(model_name, dataset, config=, out=, overrides=)`` and ``evaluate(...)``.
TRAINERS = {
    "image_classification": "zoo.training.classification",
    "regression": "zoo.training.regression",
    "language_model": "zoo.training.language_model",
    "node_classification": "zoo.training.node_classification",
    "autoencoding": "zoo.training.generative",
    "image_generation": "zoo.training.generative",
    "diffusion": "zoo.training.generative",
}


def trainer_for(model_name: str):
    """The trainer module of ``model_name``'s task.

    Raises:
        ValueError: unknown model, or a task without a trainer.
    """
    task = get_entry(model_name).task
    if task not in TRAINERS:
        raise ValueError(
            f"{model_name} is a {task} model, which `zoo train` cannot train yet. "
            f"Trainable tasks: {', '.join(sorted(TRAINERS))}."
        )
    return importlib.import_module(TRAINERS[task])


def train(
    model_name: str,
    dataset: str,
    *,
    config=None,
    out: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
):
    """Trains ``model_name`` on ``dataset`` with its task's trainer; see ``zoo.training.classification.train``.

    Returns:
        A ``TrainResult`` (run directory, model with its best weights, history, test metrics).
    """
    return trainer_for(model_name).train(model_name, dataset, config=config, out=out, overrides=overrides)


def evaluate(
    model_name: str, weights: str | Path, dataset: str | None = None, *, batch_size: int = 256, **options
) -> dict[str, Any]:
    """Evaluates trained weights of ``model_name`` on the test split of ``dataset`` with its task's metrics.

    ``dataset`` defaults to the one the weights record (a run's ``config.json``, a preset's metadata).
    ``options`` go to generative models' evaluation (``importance_samples``, ``num_samples``, ``steps``,
    ``eta``, ``features``, ``max_examples``; see ``zoo.training.generative.evaluate``).

    Raises:
        ValueError: no ``dataset`` given and the weights record none; see the trainers' ``evaluate``.
    """
    trainer = trainer_for(model_name)
    if dataset is None:
        from zoo.weights import recorded_dataset

        dataset = recorded_dataset(model_name, weights)
        logger.info("Evaluating on %s, the data set %s records", dataset, weights)
    if options and trainer.__name__ != "zoo.training.generative":
        raise ValueError(
            f"{', '.join(sorted(options))}: options of generative models' evaluation; {model_name} is "
            f"a {get_entry(model_name).task} model."
        )
    return trainer.evaluate(model_name, weights, dataset, batch_size=batch_size, **options)
