"""The one training loop every task's trainer runs: strategy, precision, seeds, run directory, stages, resume.

A trainer hands :func:`fit` its prepared data (``ImageData``, ``GraphData``,
``TableData``, ``TextData``: each knows how to compile and fit a model on its
task and how to evaluate it) and a function building the model. ``fit`` then:

1. creates the ``tf.distribute`` strategy first (MultiWorkerMirroredStrategy must
   exist before any other TensorFlow op), seeds everything, optionally turns on
   deterministic ops;
2. builds and compiles the model under ``strategy.scope()`` (and a mixed-precision
   policy when asked), the learning rate scaled to the replicas when asked;
3. trains stage by stage (one stage for ``zoo train``; fine-tuning has two; :class:`StageRunner`) with
   the run directory's callbacks: best/last weights on the chief, TensorBoard,
   ``history.json`` with examples/s, and step-exact backups for ``--resume``
   (:class:`Resumption`: where an interrupted run continues);
4. evaluates the best weights on the test split and writes ``results.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

import zoo
from zoo.registry import constructor_config
from zoo.training import checkpoints, distribute
from zoo.training.config import JIT_COMPILE, SELECTIONS, TrainConfig, require_positive_ints  # noqa: F401  (re-exported)
from zoo.training.optim import make_optimizer, make_schedule
from zoo.training.run_dir import (
    RunLogger,
    discard_on_failure,
    environment,
    prepare_run_dir,
    read_json,
    write_json,
)
from zoo.training.run_layout import RESULTS
from zoo.weights import BEST_WEIGHTS, LAST_WEIGHTS, RUN_CONFIG, load_file

logger = logging.getLogger(__name__)

#: TrainConfig fields that may change between an interrupted run and its resumption.
RESUMABLE_CHANGES = {"resume", "verbose"}


@dataclasses.dataclass
class TrainResult:
    """What a run produced: its directory, the model with its best weights, and the metrics."""

    run_dir: Path
    model: keras.Model
    history: dict[str, list[float]]
    test: dict[str, float]


class TaskData:
    """The prepared data of a task, as :func:`fit` uses it; the defaults the tasks share.

    A subclass loads its data (``load(dataset, config)``) and provides ``monitor``,
    ``model_overrides()``, ``compile(model, optimizer)``, ``training_batches(model, first_epoch=,
    epochs=, skip_batches=)`` (or its own ``fit``, when its data is not a stream of batches) and
    ``evaluate(model)``; its ``train`` / ``validation`` splits (with a ``source``) and ``config``
    give the defaults below.
    """

    mode = "min"  # of the monitored quantity
    distributable = True  # False: one indivisible batch (a whole graph), or state carried across batches

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.train) // self.config.batch_size)

    @property
    def examples_per_epoch(self) -> int:
        return len(self.train)

    def trainee(self, model: keras.Model) -> keras.Model:
        """The model that is fitted: ``model`` itself (a language model's stateful copy otherwise)."""
        return model

    def callbacks(self, run_dir: Path) -> list[keras.callbacks.Callback]:
        return []

    def probe_batches(self):
        """The training examples un-augmented, as ``(inputs, labels)`` batches, for fitting a new head on the
        backbone's features (:mod:`zoo.training.head_probe`); None where the task has none."""
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "data_source": self.train.source,
            "examples": {"train": len(self.train), "validation": len(self.validation) if self.validation else 0},
        }

    def training_batches(self, model: keras.Model, *, first_epoch: int, epochs: int, skip_batches: int):
        """The training batches of epochs ``first_epoch .. epochs - 1`` as one stream that shuffles itself
        (``epoch_batches``, ``make_pipeline``), the first epoch without its first ``skip_batches``."""
        raise NotImplementedError(f"{type(self).__name__} gives no training batches: it overrides fit")

    def validation_data(self, model: keras.Model):
        """What ``model.fit`` takes as ``validation_data``: None without a hold-out."""
        return None

    def fit(
        self,
        model: keras.Model,
        *,
        epochs: int,
        initial_epoch: int = 0,
        skip_steps: int = 0,
        callbacks=(),
        verbose="auto",
    ):
        """Fits epochs ``initial_epoch .. epochs - 1`` on ``training_batches``, sharded over the replicas; the
        first epoch lacks its first ``skip_steps`` batches (a resumed run)."""
        batches = self.training_batches(model, first_epoch=initial_epoch, epochs=epochs, skip_batches=skip_steps)
        return model.fit(
            distribute.shard_by_data(batches),
            validation_data=self.validation_data(model),
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=self.steps_per_epoch - skip_steps,
            callbacks=list(callbacks),
            verbose=verbose,
            shuffle=False,
        )


@dataclasses.dataclass(frozen=True)
class Stage:
    """One ``fit`` of a run: epochs, learning rate and schedule, and (fine-tuning) which layers are frozen."""

    name: str
    epochs: int
    lr: float
    schedule: str
    freeze: str | None = None


class Throughput(keras.callbacks.Callback):
    """Adds ``examples_per_second`` (training batches only, validation excluded) and ``epoch_seconds`` to the logs."""

    def __init__(self, examples_per_step: float):
        super().__init__()
        self.examples_per_step = examples_per_step

    def on_epoch_begin(self, epoch, logs=None):
        self._started, self._steps, self._last = time.perf_counter(), 0, None

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self._last is not None:
            train_seconds = max(self._last - self._started, 1e-9)
            logs["examples_per_second"] = self._steps * self.examples_per_step / train_seconds
            logs["epoch_seconds"] = time.perf_counter() - self._started


class RunProgress(keras.callbacks.ProgbarLogger):
    """Keras's progress bar with epochs counted over the whole run: "Epoch 3/8" in every stage.

    Keras numbers epochs by the ``fit`` call, so a run fitted in stages (fine-tuning's head, then
    the whole network) or resumed inside an epoch printed no header for a one-epoch ``fit`` and
    counted the others against the stage's end instead of the run's.
    """

    def __init__(self):
        super().__init__()
        self.total_epochs: int | None = None  # set by the runner before it fits

    def on_epoch_begin(self, epoch, logs=None):
        fit_epochs, self.epochs = self.epochs, self.total_epochs or self.epochs
        try:
            super().on_epoch_begin(epoch, logs)  # "Epoch {epoch + 1}/{self.epochs}" when verbose and > 1
        finally:
            self.epochs = fit_epochs


def best_epoch(history: dict[str, list[float]], monitor: str, mode: str) -> dict[str, Any]:
    """``{"best_epoch": 1-based epoch of the best ``monitor`` value, "monitor": monitor}``."""
    values = history.get(monitor) if monitor else None
    if not values:
        return {"best_epoch": None, "monitor": monitor}
    arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return {"best_epoch": int(np.nanargmax(arr) if mode == "max" else np.nanargmin(arr)) + 1, "monitor": monitor}


def _best_so_far(history: dict[str, list[Any]], monitor: str | None, mode: str) -> float | None:
    values = [v for v in history.get(monitor, []) if v is not None]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def diverged_epoch(history: dict[str, list[Any]]) -> int | None:
    """The first epoch (from 1) whose training loss was NaN or infinite (the run log records it as None), or None."""
    for epoch, loss in enumerate(history.get("loss", []), start=1):
        if loss is None:
            return epoch
    return None


def _selects_best(data, config: TrainConfig) -> bool:
    """Whether the run keeps its best epoch's weights (a validation measure exists and ``select="best"``)."""
    return bool(data.monitor) and config.select == "best"


def _callbacks(run_dir: Path, data, *, chief: bool, history: dict, backup_every: int, best: bool):
    """The run directory's callbacks; weights files only on the chief. Returns ``(callbacks, run_logger, backup)``."""
    run_logger = RunLogger(run_dir, history)
    weights = [keras.callbacks.ModelCheckpoint(run_dir / LAST_WEIGHTS, save_weights_only=True)] if chief else []
    if chief and best:  # generators without a validation measure, and select="last", keep the last weights
        best = _best_so_far(history, data.monitor, data.mode)
        weights.insert(
            0,
            keras.callbacks.ModelCheckpoint(
                run_dir / BEST_WEIGHTS,
                monitor=data.monitor,
                mode=data.mode,
                save_best_only=True,
                save_weights_only=True,
                initial_value_threshold=best,
            ),
        )
    backup = checkpoints.Backup(run_dir, data.steps_per_epoch, lambda: run_logger.history, every=backup_every)
    from zoo.training.run_dir import TENSORBOARD

    callbacks = [
        Throughput(data.examples_per_epoch / data.steps_per_epoch),
        *weights,
        keras.callbacks.TensorBoard(run_dir / TENSORBOARD, write_graph=False),
        keras.callbacks.TerminateOnNaN(),
        run_logger,
        backup,
        RunProgress(),  # last, as Keras's own: it prints the logs the others wrote
    ]
    return callbacks, run_logger, backup


def _check_resumable(run_dir: Path, record: dict[str, Any]) -> None:
    """Raises ValueError when the interrupted run was started with other settings."""
    saved = read_json(run_dir / RUN_CONFIG)
    for key in ("model", "model_config", "dataset"):
        if saved.get(key) != record[key]:
            raise ValueError(
                f"{run_dir} was started with {key}={saved.get(key)!r}; resuming needs the same. "
                f"Received: {record[key]!r}"
            )
    old = {**dataclasses.asdict(TrainConfig()), **saved.get("training", {})}  # fields added since: their defaults
    new = record["training"]
    changed = sorted(k for k in set(old) | set(new) if k not in RESUMABLE_CHANGES and old.get(k) != new.get(k))
    if changed:
        raise ValueError(
            f"{run_dir} was started with other training settings ({', '.join(changed)}: "
            f"{[old.get(k) for k in changed]} vs {[new.get(k) for k in changed]}); resume with the same."
        )


def weights_fingerprint(model: keras.Model) -> float:
    """Sum of every weight in float64: equal across workers that hold the same weights."""
    return float(sum(np.sum(np.asarray(w, dtype=np.float64)) for w in model.get_weights()))


@discard_on_failure
def fit(
    model_name: str,
    dataset: str,
    config: TrainConfig,
    *,
    out: str | Path | None,
    load_data: Callable,
    build: Callable,
    stages: list[Stage] | None = None,
    prepare_stage: Callable | None = None,
    record: dict[str, Any] | None = None,
    default_out: Path | None = None,
) -> TrainResult:
    """Runs training for any task; see the module docstring.

    Args:
        model_name: the registry name (recorded, and checked on resume).
        dataset: the data set name.
        config: the hyper-parameters.
        out: run directory (default ``runs/<model>-<dataset>-<time>``).
        load_data: ``load_data(dataset, config)`` -> the task's prepared data.
        build: ``build(data)`` -> the model, called under the strategy's scope (the evaluated copy is
            rebuilt from its constructor config outside it).
        stages: the fits to run; default one stage of ``config.epochs`` at ``config.lr``.
        prepare_stage: ``prepare_stage(model, stage)`` before a stage is compiled (fine-tuning freezes layers).
        record: more entries for ``config.json`` (fine-tuning: the pretrained weights).
        default_out: run directory when ``out`` is None.

    Returns:
        A :class:`TrainResult` with the best weights (the chief's) loaded.

    Raises:
        ValueError: bad settings; resuming a run started with other settings.
        FileExistsError: ``out`` holds a finished run, or an interrupted one without ``config.resume``.
        FloatingPointError: the loss became NaN or infinite; training stopped at that epoch (no later stage
            runs), and the run directory keeps its record and ``results.json``.
    """
    config.validate()
    if config.resume and out is None:
        raise ValueError("resume continues an interrupted run: give its run directory (--out DIR).")
    strategy, role = _start(config)
    data = load_data(dataset, config)
    run_dir = prepare_run_dir(out or default_out, model_name, dataset, resume=config.resume)
    resumption = Resumption.read(run_dir, config.resume)
    replicas = strategy.num_replicas_in_sync
    stages = _scaled_to_replicas(
        stages or [Stage("train", config.epochs, config.lr, config.schedule)], config, replicas
    )
    _require_divisible(data, dataset, replicas)
    with distribute.precision(config.mixed_precision), strategy.scope():
        model = build(data)
        trainee = data.trainee(model)
    entry = _run_record(model_name, dataset, model, trainee, data, config, strategy, stages, record)
    if resumption.point is not None:
        _check_resumable(run_dir, entry)
    write_json(run_dir / RUN_CONFIG, entry)
    runner = StageRunner.for_run(run_dir, data, trainee, strategy, config, chief=role.chief, resumption=resumption)
    logger.info(
        "Training %s on %s into %s (%s, %d replica(s))", model_name, dataset, run_dir, type(strategy).__name__, replicas
    )
    started = time.perf_counter()
    runner.run(stages, prepare_stage)
    seconds = time.perf_counter() - started + resumption.earlier_seconds()

    evaluated, kept = _with_kept_weights(model_name, model, trainee, run_dir, _selects_best(data, config), role.chief)
    test = data.evaluate(evaluated)
    write_json(run_dir / RESULTS, _results(test, runner, seconds, evaluated, kept, entry["distribution"]))
    checkpoints.remove_backup(run_dir)
    diverged = diverged_epoch(runner.run_logger.history)
    if diverged is not None:
        raise FloatingPointError(
            f"training diverged: the loss was not finite in epoch {diverged}, so the run stopped there. Lower the "
            f"learning rate (it was {config.lr:g}). {run_dir} keeps the run's record and {RESULTS} (the {kept} "
            "weights, tested)."
        )
    return TrainResult(run_dir, evaluated, runner.run_logger.history, test)


def _start(config: TrainConfig):
    """Creates the strategy (before any other TensorFlow op), then seeds everything; returns it and this worker's
    role. Deterministic ops when ``config.deterministic``."""
    import tensorflow as tf

    strategy = distribute.make_strategy(config.strategy)
    role = distribute.worker_role()
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    return strategy, role


def _scaled_to_replicas(stages: list[Stage], config: TrainConfig, replicas: int) -> list[Stage]:
    """The stages with their learning rates scaled to the replicas as ``config.lr_scaling`` says."""
    return [dataclasses.replace(s, lr=distribute.scaled_lr(s.lr, config.lr_scaling, replicas)) for s in stages]


def _require_divisible(data, dataset: str, replicas: int) -> None:
    """Raises ValueError when a task that trains on one indivisible batch would be split across replicas."""
    if replicas > 1 and not data.distributable:
        raise ValueError(
            f"{type(data).__name__} trains on one indivisible batch ({dataset}), which cannot be split "
            f"across {replicas} replicas; use strategy one_device."
        )


def _run_record(model_name, dataset, model, trainee, data, config, strategy, stages, record) -> dict[str, Any]:
    """The run's ``config.json``: model, data, settings, distribution, stages and environment."""
    return {
        "model": model_name,
        "model_config": constructor_config(model),
        "dataset": dataset,
        **data.describe(),
        **(record or {}),
        "training": dataclasses.asdict(config),
        "distribution": {
            **distribute.describe(strategy),
            "per_replica_batch_size": config.batch_size / strategy.num_replicas_in_sync,
            "dtype_policy": trainee.dtype_policy.name,
        },
        "stages": [dataclasses.asdict(s) for s in stages],
        "environment": environment(),
    }


@dataclasses.dataclass
class Resumption:
    """The backup an interrupted run continues from (``point``); ``point=None`` is a run from the start."""

    point: checkpoints.ResumePoint | None = None

    @classmethod
    def read(cls, run_dir: Path, resume: bool) -> Resumption:
        """The run directory's backup when ``resume``, else a run from the start."""
        return cls(checkpoints.read_backup(run_dir) if resume else None)

    @property
    def history(self) -> dict[str, list[Any]]:
        """The history of the epochs finished before the interruption."""
        return self.point.history if self.point is not None else {}

    def finished(self, stage: int) -> bool:
        """Whether stage ``stage`` ended before the interruption."""
        return self.point is not None and stage < self.point.stage

    def interrupted(self, stage: int) -> bool:
        """Whether stage ``stage`` is the one the interruption stopped."""
        return self.point is not None and stage == self.point.stage

    def stage_start(self, stage: int, default: int) -> int:
        """The epoch stage ``stage`` started at: the backup's for the interrupted stage, else ``default``."""
        return self.point.stage_start if self.interrupted(stage) else default

    def earlier_seconds(self) -> float:
        """Training seconds of the epochs finished before the interruption."""
        if self.point is None:
            return 0.0
        seconds = self.point.history.get("epoch_seconds", [])[: self.point.epoch]
        return sum(float(v) for v in seconds if v is not None)

    def restore(self, trainee: keras.Model, stateful: dict[str, Any]) -> None:
        """Loads the backed-up weights and optimizer state, and the state of callbacks that carry one."""
        checkpoints.restore(trainee, self.point)
        for key, callback in stateful.items():
            if key in self.point.callbacks:
                callback.carry(self.point.callbacks[key])


@dataclasses.dataclass
class StageRunner:
    """Compiles and fits the stages of a run with its callbacks; an interrupted run continues where it stopped."""

    data: Any
    trainee: keras.Model
    strategy: Any
    config: TrainConfig
    callbacks: list[keras.callbacks.Callback]
    run_logger: RunLogger
    backup: checkpoints.Backup
    resumption: Resumption

    @classmethod
    def for_run(cls, run_dir: Path, data, trainee, strategy, config, *, chief: bool, resumption) -> StageRunner:
        """The runner with the run directory's callbacks and the task's own (weights files only on the chief)."""
        callbacks, run_logger, backup = _callbacks(
            run_dir,
            data,
            chief=chief,
            history=resumption.history,
            backup_every=config.backup_every,
            best=_selects_best(data, config),
        )
        callbacks += data.callbacks(run_dir)
        runner = cls(data, trainee, strategy, config, callbacks, run_logger, backup, resumption)
        backup.stateful = runner.stateful
        return runner

    @functools.cached_property
    def stateful(self) -> dict[str, Any]:
        """The callbacks whose state a backup keeps (early stopping), by their position."""
        return {str(i): cb for i, cb in enumerate(self.callbacks) if isinstance(cb, checkpoints.EarlyStopping)}

    def run(self, stages: list[Stage], prepare_stage: Callable | None = None) -> None:
        """Fits every stage the interruption (if any) left to do, in order."""
        done = 0
        for callback in self.callbacks:
            if isinstance(callback, RunProgress):
                callback.total_epochs = sum(stage.epochs for stage in stages)
        for index, stage in enumerate(stages):
            if self.resumption.finished(index):
                continue
            done = self._run_stage(index, stage, self.resumption.stage_start(index, done), prepare_stage)
            if diverged_epoch(self.run_logger.history) is not None:
                break  # the weights are not finite: no later stage can train them

    def _run_stage(self, index: int, stage: Stage, start: int, prepare_stage: Callable | None) -> int:
        """Compiles and fits stage ``index`` from epoch ``start``; returns the epoch the next stage starts at."""
        self.backup.progress = {"stage": index, "stage_start": start}
        end = start + stage.epochs
        if prepare_stage is not None:
            prepare_stage(self.trainee, stage)
        self._compile(stage)
        first = self._finish_interrupted_epoch(end) if self.resumption.interrupted(index) else start
        if first < end and not self.trainee.stop_training:
            self.data.fit(
                self.trainee, epochs=end, initial_epoch=first, callbacks=self.callbacks, verbose=self.config.verbose
            )
        done = self.run_logger.epochs if self.trainee.stop_training else end
        self.trainee.stop_training = False
        return done

    def _compile(self, stage: Stage) -> None:
        """Compiles the trainee with a new optimizer whose learning-rate schedule spans the stage."""
        config, steps_per_epoch = self.config, self.data.steps_per_epoch
        warmup = None if config.warmup_epochs is None else int(round(config.warmup_epochs * steps_per_epoch))
        steps = steps_per_epoch * stage.epochs
        with self.strategy.scope():
            schedule = make_schedule(
                stage.schedule, stage.lr, steps, steps_per_epoch=steps_per_epoch, warmup_steps=warmup
            )
            self.data.compile(self.trainee, make_optimizer(config.optimizer, schedule, config.weight_decay))

    def _finish_interrupted_epoch(self, end: int) -> int:
        """Restores the backup and fits the rest of the epoch it stopped in; returns the first epoch still to fit."""
        point = self.resumption.point
        self.resumption.restore(self.trainee, self.stateful)
        first = point.epoch
        if point.step and first < end:
            self.backup.step_offset = point.step
            self.data.fit(
                self.trainee,
                epochs=first + 1,
                initial_epoch=first,
                skip_steps=point.step,
                callbacks=self.callbacks,
                verbose=self.config.verbose,
            )
            first += 1
            for callback in self.stateful.values():
                callback.carry()  # the rest of the stage continues the same patience count
        return first


def _with_kept_weights(model_name, model, trainee, run_dir: Path, select_best: bool, chief: bool):
    """A float32 copy of ``model`` outside the strategy, with the weights the run keeps; returns it and which
    weights those are (``"best"`` or ``"last"``).

    The chief loads its best (or last) weights file; a non-chief worker keeps no files and takes the weights it holds.
    """
    evaluated = zoo.create(model_name, **constructor_config(model))
    kept = run_dir / (BEST_WEIGHTS if select_best else LAST_WEIGHTS)
    if chief and kept.is_file():
        load_file(evaluated, kept)
    else:
        evaluated.set_weights(trainee.get_weights())
    return evaluated, "best" if chief and kept.name == BEST_WEIGHTS and kept.is_file() else "last"


def _results(test, runner: StageRunner, seconds: float, evaluated, kept: str, distribution) -> dict[str, Any]:
    """The run's ``results.json``: test metrics, best epoch, time and speed, the weights kept and their fingerprints."""
    history, data = runner.run_logger.history, runner.data
    return {
        "test": test,
        **best_epoch(history, data.monitor, data.mode),
        "epochs_run": runner.run_logger.epochs,
        "diverged_epoch": diverged_epoch(history),
        "train_seconds": round(seconds, 1),
        "examples_per_second": _median_speed(history),
        "weights": kept,
        "select": runner.config.select,
        "weights_fingerprint": weights_fingerprint(evaluated),
        "final_weights_fingerprint": weights_fingerprint(runner.trainee),
        "distribution": distribution,
    }


def _median_speed(history: dict[str, list[Any]]) -> float | None:
    """The median examples/s over the epochs that measured one."""
    speeds = [v for v in history.get("examples_per_second", []) if v is not None and math.isfinite(v)]
    return round(float(np.median(speeds)), 1) if speeds else None
