"""Loading trained weights into zoo models: ``.weights.h5`` files, compressed ``.weights.kzq`` files
(:mod:`zoo.presets.compressed`) and ``zoo train`` run directories."""

from __future__ import annotations

import json
from pathlib import Path

from zoo.presets.store import COMPRESSED_SUFFIX, load_file  # noqa: F401  (exported here too)
from zoo.registry import build as _build

RUN_CONFIG = "config.json"
BEST_WEIGHTS = "best.weights.h5"
LAST_WEIGHTS = "last.weights.h5"


def resolve_weights(path: str | Path) -> tuple[Path, dict | None]:
    """Finds the weights file and, when it comes from a run directory, that run's config.

    Args:
        path: a ``.weights.h5`` or ``.weights.kzq`` file, or a run directory (its best weights are used).

    Returns:
        ``(weights_file, run_config or None)``.

    Raises:
        FileNotFoundError: nothing usable at ``path``.
        ValueError: a weights file without the ``.weights.h5`` / ``.weights.kzq`` suffix, or a corrupt run config.
    """
    from zoo.presets.download import local_path

    if local_path(str(path)) is None:
        raise ValueError(f"A weights URL must name a preset directory (https://.../<tag>/). Received: {path}")
    path = local_path(str(path))
    if path.is_dir():
        for name in (BEST_WEIGHTS, LAST_WEIGHTS):
            if (path / name).is_file():
                weights = path / name
                break
        else:
            raise FileNotFoundError(f"{path} is a directory without {BEST_WEIGHTS} or {LAST_WEIGHTS}.")
    elif path.is_file():
        if not path.name.endswith((".weights.h5", COMPRESSED_SUFFIX)):
            raise ValueError(
                f"Weights files end in .weights.h5 (Keras 3) or {COMPRESSED_SUFFIX} (kzoo's compressed "
                f"format). Received: {path}"
            )
        weights = path
    else:
        raise FileNotFoundError(f"No weights file or run directory at {path}.")
    config_file = weights.parent / RUN_CONFIG
    if not config_file.is_file():
        return weights, None
    try:
        return weights, json.loads(config_file.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_file} is not valid JSON: {err}") from err


def create_trained(name: str, weights: str | Path, build=None):
    """Builds registry model ``name`` for ``weights`` (a preset tag or directory, a file or a run directory) and loads them.

    A run directory's ``config.json`` rebuilds the exact model that was trained;
    otherwise ``build()`` makes the model (default: ``zoo.registry.build(name)``, random weights).

    Returns:
        ``(model, run_config or None)``; for a preset, its metadata stands in for the run config.

    Raises:
        ValueError: the run was trained for another model, or the weights do not fit.
    """
    from zoo import presets

    preset = presets.locate(name, weights)
    if preset is not None:  # its metadata names the data set, as a run's config does
        return presets.load_with_metadata(name, weights, directory=preset)
    weights_file, run_config = resolve_weights(weights)
    if run_config is not None:
        if run_config.get("model") != name:
            raise ValueError(f"{weights_file} was trained for {run_config.get('model')!r}, not {name!r}.")
        model = _build(name, **run_config["model_config"])
    else:
        model = build() if build is not None else _build(name)
    load_file(model, weights_file)
    return model, run_config


def recorded_dataset(name: str, weights: str | Path) -> str:
    """The data set that weights of model ``name`` were trained on, as their run's ``config.json`` or their
    preset's metadata records it.

    Raises:
        ValueError: the weights record none (a bare ``.weights.h5`` file): the caller must name the data set.
        FileNotFoundError: nothing at ``weights``.
    """
    from zoo import presets

    preset = presets.locate(name, weights)
    record = presets.store.read_json(preset / presets.METADATA) if preset is not None else resolve_weights(weights)[1]
    dataset = (record or {}).get("dataset")
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(
            f"{weights} records no data set (only a run directory or a preset does): name the data set "
            f"to evaluate on (--dataset; `zoo datasets` lists them)."
        )
    return dataset


def load_weights(model, path: str | Path) -> Path:
    """Loads weights into ``model``, turning Keras' shape errors into a clear message.

    Returns:
        The weights file that was loaded.
    """
    weights, _ = resolve_weights(path)
    return load_file(model, weights)
