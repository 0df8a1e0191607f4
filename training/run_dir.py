"""The run directory of ``zoo train``: config, history, curves, checkpoints, TensorBoard logs."""

from __future__ import annotations

import json
import logging
import math
import platform
import sys
from pathlib import Path
from typing import Any

import keras

logger = logging.getLogger(__name__)

HISTORY = "history.json"
CURVES = "curves.png"
RESULTS = "results.json"
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
        "command": " ".join(sys.argv),
    }


def _cpu_count() -> int:
    import os

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
    """Plots loss and accuracy per epoch (train and validation) into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
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

    Written after every epoch, so an interrupted run keeps everything up to its last epoch.
    """

    def __init__(self, run_dir: Path, initial: dict[str, list[float]] | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (initial or {}).items()}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            value = float(value)
            self.history.setdefault(key, []).append(value if math.isfinite(value) else None)
        write_json(self.run_dir / HISTORY, self.history)
        try:
            plot_curves(self.history, self.run_dir / CURVES)
        except Exception as err:  # a plotting problem must never stop training
            logger.warning("Could not draw %s: %s", CURVES, err)
