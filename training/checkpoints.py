"""Fault tolerance: backups of the whole training state, and resuming from them at the exact step.

``Backup`` saves the weights with the optimizer's state and the position in
training (epoch, batches done in it, the history so far) every ``every`` steps
and at every epoch's end, into ``<run>/backup/``. The state file names the
weights file it belongs to and is replaced atomically after that file is
complete, so a kill at any moment leaves a consistent backup. Resuming loads it
and continues with the next batch: the input pipelines are pure functions of
(seed, epoch, position) (``zoo.data.pipeline.epoch_batches``), so a resumed run
takes the same steps an uninterrupted one does.

Keras' own ``BackupAndRestore`` (3.15) restores only the epoch: a backup taken
mid-epoch resumes at the start of that epoch, repeating its first steps on top
of the saved weights. This module keeps its file layout idea and adds the step.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import keras

from zoo.training.run_layout import STATE, backup_dir

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ResumePoint:
    """Where a backup stands: continue at ``epoch`` (0-based) after its first ``step`` batches.

    ``stage`` and ``stage_start`` place it in a schedule of stages (fine-tuning's head-only
    stage may end early); ``callbacks`` holds the state of callbacks that carry one (early stopping).
    """

    epoch: int
    step: int
    history: dict[str, list[Any]]
    weights: Path
    stage: int = 0
    stage_start: int = 0
    callbacks: dict[str, Any] = dataclasses.field(default_factory=dict)


def read_backup(run_dir: Path) -> ResumePoint | None:
    """The backup of an interrupted run, or None when there is none.

    Raises:
        ValueError: the state file is unreadable or names a missing weights file.
    """
    path = backup_dir(run_dir) / STATE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
        point = ResumePoint(
            int(state["epoch"]),
            int(state["step"]),
            state["history"],
            backup_dir(run_dir) / state["weights"],
            int(state.get("stage", 0)),
            int(state.get("stage_start", 0)),
            dict(state.get("callbacks", {})),
        )
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"The backup state {path} is unreadable ({err}); delete {backup_dir(run_dir)} to start over."
        ) from err
    if not point.weights.is_file():
        raise ValueError(
            f"The backup state {path} names {point.weights.name}, which is missing; delete "
            f"{backup_dir(run_dir)} to start over."
        )
    return point


def restore(model: keras.Model, point: ResumePoint) -> None:
    """Loads a backup's weights and optimizer state into a compiled ``model``."""
    if hasattr(model, "build_optimizers"):  # models with several optimizers (the GAN) know which variables each has
        model.build_optimizers()
    elif model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    with warnings.catch_warnings():  # a backup from the previous stage holds that stage's optimizer: not needed
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(point.weights)
    logger.info("Resumed from %s: epoch %d, after %d batches of it", point.weights, point.epoch + 1, point.step)


def remove_backup(run_dir: Path) -> None:
    shutil.rmtree(backup_dir(run_dir), ignore_errors=True)


class EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' early stopping whose patience counter can be carried into the next ``fit`` of the same stage
    (the rest of a resumed epoch, a resumed run): ``carry(state)`` before it; ``state()`` for a backup."""

    carried: dict[str, Any] | None = None

    def state(self) -> dict[str, Any]:
        best = None if self.best is None else float(self.best)
        return {"wait": int(self.wait), "best": best, "best_epoch": int(self.best_epoch)}

    def carry(self, state: dict[str, Any] | None = None) -> None:
        self.carried = state if state is not None else self.state()

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.carried:
            self.wait, self.best, self.best_epoch = (
                self.carried["wait"],
                self.carried["best"],
                self.carried["best_epoch"],
            )
            self.carried = None


class Backup(keras.callbacks.Callback):
    """Saves the training state every ``every`` batches (0: only at epoch ends) and at every epoch end.

    Args:
        run_dir: the run directory (the backup goes to ``run_dir/backup``).
        steps_per_epoch: batches per epoch.
        history: a callable returning the history of the finished epochs (the run logger's).
        every: batches between mid-epoch backups; 0 backs up at epoch ends only.

    The trainer sets ``step_offset`` while it finishes a resumed epoch (whose batches Keras
    counts from 0), ``progress`` (the stage and the epoch it started at) and ``stateful``
    (callbacks whose ``state()`` the backup keeps).
    """

    def __init__(self, run_dir: Path, steps_per_epoch: int, history, every: int = 0):
        super().__init__()
        self.directory = backup_dir(run_dir)
        self.steps_per_epoch, self.history, self.every = steps_per_epoch, history, every
        self.step_offset = 0
        self.progress: dict[str, int] = {"stage": 0, "stage_start": 0}
        self.stateful: dict[str, Any] = {}
        self._epoch = 0
        self._counter = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        done = self.step_offset + batch + 1
        if self.every and done % self.every == 0 and done < self.steps_per_epoch:
            self.save(self._epoch, done)

    def on_epoch_end(self, epoch, logs=None):
        self.step_offset = 0
        self.save(epoch + 1, 0)

    def save(self, epoch: int, step: int) -> None:
        """Writes the weights under a new name, then points the state file at them, then drops the old weights."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter += 1
        weights = f"state-{epoch}-{step}-{self._counter}.weights.h5"
        self.model.save_weights(self.directory / weights, overwrite=True)
        state = {
            "epoch": epoch,
            "step": step,
            "weights": weights,
            "history": self.history(),
            **self.progress,
            "callbacks": {key: callback.state() for key, callback in self.stateful.items()},
        }
        tmp = self.directory / f".{STATE}.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.directory / STATE)
        for old in self.directory.glob("state-*.weights.h5"):
            if old.name != weights:
                old.unlink(missing_ok=True)
