"""Presets: named, versioned, checksummed pretrained weights (DESIGN.md section 4).

A preset is a directory::

    config.json       {"model": registry name, "model_config": constructor arguments}
    model.weights.h5  the weights
    metadata.json     kzoo/keras versions, dataset, metrics with the command that
                      measured each, parameter count, sha256 of every other file
    README.md         the model card

Tags (``zoo.create("lenet5_caffe", weights="mnist-sws")``) are looked up in the
presets shipped inside the package (``zoo/pretrained/<model>/<tag>/``), then in
``$KZOO_HOME/presets/<model>/<tag>/`` (default ``~/.cache/kzoo``). Every file is
checked against its sha256 before anything is loaded.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from zoo.data.settings import kzoo_home

CONFIG = "config.json"
WEIGHTS = "model.weights.h5"
METADATA = "metadata.json"
MODEL_CARD = "README.md"
PACKAGED = Path(__file__).parent / "pretrained"


def _roots() -> list[Path]:
    return [PACKAGED, kzoo_home() / "presets"]


def is_preset_dir(path: str | Path) -> bool:
    path = Path(path)
    return (path / METADATA).is_file() and (path / CONFIG).is_file()


def names_preset(weights: str | Path) -> bool:
    """True for a preset directory or a bare tag (no path, not a ``.h5`` file); False for weights files and run dirs."""
    path = Path(weights)
    if path.exists():
        return is_preset_dir(path)
    return path.name == str(weights) and not str(weights).endswith(".h5")


def list_tags(name: str) -> list[str]:
    """Tags available for model ``name`` (packaged first, then cached)."""
    tags = []
    for root in _roots():
        if (root / name).is_dir():
            tags += [p.name for p in sorted((root / name).iterdir()) if is_preset_dir(p) and p.name not in tags]
    return tags


def find(name: str, tag: str) -> Path:
    """The directory of preset ``name:tag``.

    Raises:
        ValueError: no such preset; the message lists the tags that exist.
    """
    for root in _roots():
        if is_preset_dir(root / name / tag):
            return root / name / tag
    known = list_tags(name)
    raise ValueError(f"No preset {tag!r} for {name}. Available: {', '.join(known) or '(none)'}. "
                     f"Looked in {', '.join(str(r / name) for r in _roots())}.")


def resolve(name: str, weights: str | Path) -> Path:
    """The preset directory that ``weights`` (a tag or a preset directory) names for model ``name``."""
    return Path(weights) if is_preset_dir(weights) else find(name, str(weights))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(directory: str | Path) -> dict[str, Any]:
    """Checks every file listed in a preset's metadata against its sha256.

    Returns:
        The metadata.

    Raises:
        ValueError: a file is missing, or its checksum differs (corrupt or tampered).
    """
    directory = Path(directory)
    try:
        metadata = json.loads((directory / METADATA).read_text())
        files = metadata["files"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{directory / METADATA} is missing or malformed: {err}") from err
    for filename, expected in files.items():
        path = directory / filename
        if not path.is_file():
            raise ValueError(f"Preset {directory} is incomplete: {filename} is missing.")
        actual = sha256(path)
        if actual != expected:
            raise ValueError(f"Preset file {path} is corrupt or was modified: sha256 {actual} != {expected} "
                             f"recorded in {METADATA}. Refusing to load it.")
    return metadata


def load(name: str, weights: str | Path, **overrides):
    """Builds ``name`` from a preset (a tag or a preset directory) and loads its verified weights.

    ``overrides`` may not change the architecture the weights were made for.
    """
    return load_with_metadata(name, weights, **overrides)[0]


def load_with_metadata(name: str, weights: str | Path, **overrides):
    """:func:`load`, also returning the preset's (verified) metadata: ``(model, metadata)``."""
    import zoo

    directory = resolve(name, weights)
    metadata = verify(directory)
    config = json.loads((directory / CONFIG).read_text())
    if config.get("model") != name:
        raise ValueError(f"Preset {directory} holds weights for {config.get('model')!r}, not {name!r}.")
    model = zoo.create(name, **{**config["model_config"], **overrides})
    from zoo.weights import load_file

    load_file(model, directory / WEIGHTS)
    return model, metadata


def save_preset(model, directory: str | Path, *, name: str, dataset: str, metrics: dict[str, Any] | None = None,
                description: str = "", extra: dict[str, Any] | None = None, overwrite: bool = False) -> Path:
    """Writes ``model`` as a preset directory (config, weights, metadata with checksums, model card).

    Args:
        model: a zoo model.
        directory: where to write; written under a temporary name, then renamed.
        name: its registry name.
        dataset: the data it was trained on.
        metrics: ``{metric: {"value": ..., "command": ...}}`` (or plain values).
        description: first paragraph of the model card.
        extra: more metadata (e.g. compression statistics).
        overwrite: replace an existing preset.

    Returns:
        The preset directory.
    """
    import keras

    from zoo.registry import constructor_config

    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{directory} exists; pass overwrite=True to replace it.")
    tmp = directory.with_name(f".{directory.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / CONFIG).write_text(json.dumps({"model": name, "model_config": constructor_config(model)}, indent=2) + "\n")
    model.save_weights(tmp / WEIGHTS)
    metrics = metrics or {}
    lines = [f"# {name} ({directory.name})", "", description or f"{name} trained on {dataset}.", "",
             "| metric | value | command |", "|---|---|---|"]
    for metric, entry in metrics.items():
        entry = entry if isinstance(entry, dict) else {"value": entry}
        lines.append(f"| {metric} | {entry.get('value')} | `{entry.get('command', '')}` |")
    lines += ["", f'Load it with `zoo.create("{name}", weights="{directory.name}")`.', ""]
    (tmp / MODEL_CARD).write_text("\n".join(lines))
    from zoo import __version__

    metadata = {
        "name": name, "tag": directory.name, "dataset": dataset, "kzoo": __version__, "keras": keras.__version__,
        "parameters": int(model.count_params()), "metrics": metrics, **(extra or {}),
        "files": {f: sha256(tmp / f) for f in (CONFIG, WEIGHTS, MODEL_CARD)},
    }
    (tmp / METADATA).write_text(json.dumps(metadata, indent=2, default=float) + "\n")
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    return directory
