"""``train`` and ``evaluate`` for any registered model: each task has its own trainer module.

:data:`TRAINERS` is the training layer's part of every task in :mod:`zoo.tasks`, registered there
under ``"training"``; the modules are imported when a model of the task is trained.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

from zoo import tasks
from zoo.registry import get_entry

logger = logging.getLogger(__name__)

#: The layer name of the training parts in :mod:`zoo.tasks`.
LAYER = "training"


@dataclasses.dataclass(frozen=True)
class Trainer:
    """Where a task's training lives, imported on first use.

    Attributes:
        module: module with ``train(model_name, dataset, config=, out=, overrides=)`` and
            ``evaluate(model_name, weights, dataset, batch_size=)``.
        finetune_data: the class of ``module`` whose ``load(dataset, config, ...)`` prepares fine-tuning data;
            ``None`` for tasks ``zoo finetune`` does not handle.
    """

    module: str
    finetune_data: str | None = None

    def load(self) -> ModuleType:
        """The trainer module."""
        return importlib.import_module(self.module)

    def finetune_loader(self):
        """The ``load`` of the fine-tuning data class.

        Raises:
            ValueError: the task has no fine-tuning data.
        """
        if self.finetune_data is None:
            raise ValueError(f"{self.module} prepares no fine-tuning data.")
        return getattr(self.load(), self.finetune_data).load


#: Task -> its trainer; every task of :mod:`zoo.tasks` has one (tests/test_task_layers.py).
TRAINERS = {
    "image_classification": Trainer("zoo.training.classification", finetune_data="ImageData"),
    "regression": Trainer("zoo.training.regression"),
    "language_model": Trainer("zoo.training.language_model"),
    "node_classification": Trainer("zoo.training.node_classification", finetune_data="GraphData"),
    "autoencoding": Trainer("zoo.training.generative"),
    "image_generation": Trainer("zoo.training.generative"),
    "diffusion": Trainer("zoo.training.generative"),
}
for _task, _trainer in TRAINERS.items():
    tasks.register(LAYER, _task, _trainer)


def trainer_of(task: str) -> Trainer:
    """The trainer of ``task``.

    Raises:
        ValueError: an unknown task, or one without a trainer.
    """
    return tasks.get_task(task).part(LAYER)


def trainer_for(model_name: str) -> ModuleType:
    """The trainer module of ``model_name``'s task.

    Raises:
        ValueError: unknown model, or a task without a trainer.
    """
    task = get_entry(model_name).task
    try:
        trainer = trainer_of(task)
    except ValueError:
        raise ValueError(
            f"{model_name} is a {task} model, which `zoo train` cannot train yet. "
            f"Trainable tasks: {', '.join(sorted(tasks.registered(LAYER)))}."
        ) from None
    return trainer.load()


#: Settings only the image classifiers' trainer reads; their defaults are those of the config dataclass.
IMAGE_ONLY_SETTINGS = ("augment", "mix", "label_smoothing", "head_init")


def check_settings_apply(model_name: str, task: str, config) -> None:
    """Raises ValueError when ``config`` sets what only image classifiers use for a model of another task.

    A setting counts as set when it differs from the default of ``config``'s own dataclass field.
    """
    if config is None or task == "image_classification":
        return
    defaults = {f.name: f.default for f in dataclasses.fields(config) if f.name in IMAGE_ONLY_SETTINGS}
    changed = [f"{k}={getattr(config, k)!r}" for k, v in defaults.items() if getattr(config, k) != v]
    if changed:
        raise ValueError(
            f"{', '.join(changed)}: settings of image classifiers; {model_name} is a {task} model. "
            f"Leave them at their defaults."
        )


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
    trainer = trainer_for(model_name)
    check_settings_apply(model_name, get_entry(model_name).task, config)
    return trainer.train(model_name, dataset, config=config, out=out, overrides=overrides)


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
