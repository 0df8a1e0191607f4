"""The run directory of ``zoo train``: config, history, curves, checkpoints, TensorBoard logs."""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import math
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from zoo.cpu_kernels import ONEDNN_VARIABLE, cpu_model_name
from zoo.training.run_layout import RESULTS, check_out_dir, has_backup

logger = logging.getLogger(__name__)

HISTORY = "history.json"
#: Per-epoch timings in the history, not plotted as curves.
TIMINGS = ("examples_per_second", "epoch_seconds")
CURVES = "curves.png"
TENSORBOARD = "tensorboard"


def environment() -> dict[str, str]:
    """Versions and machine, recorded with every run and report."""
    import numpy

    try:
        import tensorflow as tf

        tf_version = tf.__version__
    except ImportError:
        tf_version = "not installed"
    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "keras_backend": keras.config.backend(),
        "tensorflow": tf_version,
        "numpy": numpy.__version__,
        "machine": f"{platform.machine()} {platform.system()}, {_cpu_count()} CPUs",
        "cpu": cpu_model_name(),
        "tf_enable_onednn_opts": os.environ.get(ONEDNN_VARIABLE, "unset"),
        "command": shown_command(),
    }


def shown_command(argv: list[str] | None = None) -> str:
    """The command as a user types it, so a record carries no path of the machine that ran it.

    The program is named as it is typed (``zoo``, not a virtualenv's ``.../bin/zoo``; ``python
    script.py`` for a script) and absolute paths under the working directory become relative.

    Args:
        argv: The command line. Defaults to ``sys.argv``.

    Returns:
        The command, quoted for a POSIX shell.

    Example:
        >>> import os
        >>> shown_command(["/venv/bin/zoo", "train", "mlp", "--out", os.path.join(os.getcwd(), "runs", "a")])
        'zoo train mlp --out runs/a'
    """
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    program = Path(argv[0])
    if program.name == "cli.py" and program.parent.name == "zoo":  # python -m zoo.cli
        head = ["zoo"]
    elif program.suffix == ".py":
        head = ["python", _relative(argv[0])]
    else:
        head = [program.name]
    return shlex.join([*head, *(_relative(arg) for arg in argv[1:])])


def _relative(arg: str) -> str:
    """An absolute path under the working directory made relative; anything else unchanged."""
    key, sep, value = arg.partition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
    if not os.path.isabs(value):
        return arg
    try:
        value = Path(value).relative_to(Path.cwd()).as_posix() or "."
    except ValueError:
        return arg
    return f"{key}{sep}{value}"


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def write_json(path: Path, payload: Any) -> None:
    """Writes JSON atomically (temporary file, then rename), so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    tmp.replace(path)


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def plot_curves(history: dict[str, list[float]], path: Path) -> None:
    """Plots the loss and the first other metric (accuracy, mae, ...) per epoch, train and validation, into a PNG."""
    from zoo.analysis.plots import pyplot

    plt = pyplot()

    measured = [k for k in history if not k.startswith("val_") and k not in TIMINGS]
    panels = (["loss"] if "loss" in measured else []) + [k for k in measured if k != "loss"]
    panels = panels[:2]  # loss and accuracy, mae, ...; a GAN's d_loss and g_loss
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, metric in zip(axes[0], panels):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=(prefix or "train_") + metric)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class RunLogger(keras.callbacks.Callback):
    """Appends each epoch's logs to ``history.json`` and redraws ``curves.png``.

    The history is written after every epoch, so an interrupted run keeps everything
    up to its last epoch; the plot is redrawn at most every ``plot_every`` seconds
    (drawing costs about half a second, which dominates runs of many tiny epochs)
    and once more when training ends.
    """

    def __init__(self, run_dir: Path, initial: dict[str, list[float]] | None = None, *, plot_every: float = 10.0):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (initial or {}).items()}
        self.plot_every = plot_every
        self._plotted_at = -math.inf

    @property
    def epochs(self) -> int:
        """Epochs recorded so far."""
        return max((len(v) for v in self.history.values()), default=0)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            value = float(value)
            self.history.setdefault(key, []).append(value if math.isfinite(value) else None)
        write_json(self.run_dir / HISTORY, self.history)
        if time.monotonic() - self._plotted_at >= self.plot_every:
            self._plot()

    def on_train_end(self, logs=None):
        self._plot()

    def _plot(self) -> None:
        self._plotted_at = time.monotonic()
        try:
            plot_curves(self.history, self.run_dir / CURVES)
        except Exception as err:  # a plotting problem must never stop training
            logger.warning("Could not draw %s: %s", CURVES, err)


def read_json(path: Path) -> Any:
    """A JSON file of a run directory, or ValueError naming it."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is missing or not valid JSON: {err}") from err


def prepare_run_dir(out: str | Path | None, model_name: str, dataset: str, *, resume: bool = False) -> Path:
    """Creates the run directory (default ``runs/<model>-<dataset>-<time>``).

    Raises:
        FileExistsError: it already holds a finished run (a ``results.json``), or an interrupted
            one (a backup) and ``resume`` is False.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = Path(out) if out else Path("runs") / f"{model_name}-{Path(dataset).name}-{stamp}"
    check_out_dir(run_dir, resume=resume)
    if resume and not has_backup(run_dir):
        logger.info("%s has no backup to resume from; starting from the beginning", run_dir)
    existed = run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    created = _NEW_RUN_DIRS.get()
    if not existed and created is not None:
        created.append(run_dir)
    return run_dir


_NEW_RUN_DIRS: contextvars.ContextVar[list[Path] | None] = contextvars.ContextVar("new_run_dirs", default=None)


def discard_on_failure(fn: Callable) -> Callable:
    """Decorates a training entry point: a run directory it created is removed when it fails before anything
    in it can be resumed (no backup yet), so a failed run leaves no debris and its name can be used again.

    A run interrupted after a backup keeps its directory: ``--resume`` continues it; so does a run that wrote its
    results before it failed (a diverged one).
    """

    @functools.wraps(fn)
    def run(*args, **kwargs):
        created: list[Path] = []
        token = _NEW_RUN_DIRS.set(created)
        try:
            return fn(*args, **kwargs)
        except BaseException:
            for path in created:
                if not has_backup(path) and not (path / RESULTS).is_file():
                    shutil.rmtree(path, ignore_errors=True)
                    logger.warning("Removed %s: the run failed before it had anything to resume.", path)
            raise
        finally:
            _NEW_RUN_DIRS.reset(token)

    return run
