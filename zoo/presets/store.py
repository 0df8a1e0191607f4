"""The preset directory format (docs/DESIGN.md, Presets): write, checksum, verify, find on disk.

A preset is a directory::

    config.json       {"model": registry name, "model_config": constructor arguments}
    model.weights.h5  the weights (Keras), or instead
    model.weights.kzq the weights of a quantised model in kzoo's compressed
                      format (:mod:`zoo.presets.compressed`)
    metadata.json     kzoo/keras versions, dataset, metrics with the command that
                      measured each, parameter count, sha256 of every other file
    README.md         the model card

Presets live inside the package (``zoo/pretrained/<model>/<tag>/``) and in the
cache (``$KZOO_HOME/presets/<model>/<tag>/``, default ``~/.cache/kzoo``), where
downloads land.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

from zoo.data.settings import kzoo_home

CONFIG = "config.json"
WEIGHTS = "model.weights.h5"
COMPRESSED_WEIGHTS = "model.weights.kzq"
#: The file suffix of kzoo's compressed weights format (:mod:`zoo.presets.compressed`).
COMPRESSED_SUFFIX = ".weights.kzq"
WEIGHT_FILES = (WEIGHTS, COMPRESSED_WEIGHTS)
METADATA = "metadata.json"
MODEL_CARD = "README.md"
FILES = (CONFIG, WEIGHTS, COMPRESSED_WEIGHTS, METADATA, MODEL_CARD)
PACKAGED = Path(__file__).resolve().parent.parent / "pretrained"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def check_name(kind: str, value: str) -> str:
    """A model, tag or file name that stays inside its directory (no separators, no ``..``).

    Raises:
        ValueError: anything else, naming what it is and where it came from.
    """
    if not isinstance(value, str) or not _PLAIN_NAME.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"Not a plain {kind} name (letters, digits, '_', '-', '.'; no path): {value!r}")
    return value


@contextlib.contextmanager
def locked(target: Path):
    """Holds an exclusive lock on ``<target>.lock`` (POSIX), so concurrent downloads of one preset take turns."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(f".{target.name}.lock"), "w") as handle:
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: downloads may then race
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cache_root() -> Path:
    """Where downloaded presets are kept: ``$KZOO_HOME/presets``."""
    return kzoo_home() / "presets"


def roots() -> list[Path]:
    """Preset roots in lookup order: the package's, then the cache."""
    return [PACKAGED, cache_root()]


def is_preset_dir(path: str | Path) -> bool:
    path = Path(path)
    return (path / METADATA).is_file() and (path / CONFIG).is_file()


def local_tags(name: str) -> list[str]:
    """Tags of model ``name`` on this machine (packaged first, then cached)."""
    tags: list[str] = []
    for root in roots():
        if (root / name).is_dir():
            tags += [p.name for p in sorted((root / name).iterdir()) if is_preset_dir(p) and p.name not in tags]
    return tags


def find_local(name: str, tag: str) -> Path | None:
    """The directory of preset ``name:tag`` on this machine, or None."""
    for root in roots():
        if is_preset_dir(root / name / tag):
            return root / name / tag
    return None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: Path) -> dict[str, Any]:
    """A preset's JSON file, or ValueError naming it when it is missing or malformed."""
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is missing or malformed: {err}") from err
    if not isinstance(value, dict):
        raise ValueError(f"{path} is malformed: expected a JSON object.")
    return value


def check_listing(files: Any, source: str | Path) -> dict[str, str]:
    """A metadata's ``files`` (name -> sha256) when it lists the config and exactly one weights file.

    Raises:
        ValueError: anything else, naming ``source``.
    """
    if not isinstance(files, dict) or CONFIG not in files or len(set(WEIGHT_FILES) & set(files)) != 1:
        raise ValueError(
            f"{source} is not a preset's metadata: it must list {CONFIG} and one weights file "
            f"({' or '.join(WEIGHT_FILES)}) with their sha256."
        )
    return files


def verify(directory: str | Path) -> dict[str, Any]:
    """Checks every file listed in a preset's metadata against its sha256.

    Returns:
        The metadata.

    Raises:
        ValueError: a file is missing, or its checksum differs (corrupt or tampered).
    """
    directory = Path(directory)
    metadata = read_json(directory / METADATA)
    files = check_listing(metadata.get("files"), directory / METADATA)
    for filename, expected in files.items():
        check_name("file", filename)
        path = directory / filename
        if not path.is_file():
            raise ValueError(f"Preset {directory} is incomplete: {filename} is missing.")
        actual = sha256(path)
        if actual != expected:
            raise ValueError(
                f"Preset file {path} is corrupt or was modified: sha256 {actual} != {expected} "
                f"recorded in {METADATA}. Refusing to load it."
            )
    return metadata


def weights_file(directory: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """The weights file of a preset: the one its metadata lists (``model.weights.h5`` or ``model.weights.kzq``)."""
    directory = Path(directory)
    files = (metadata if metadata is not None else read_json(directory / METADATA)).get("files", {})
    return directory / next((f for f in WEIGHT_FILES if f in files), WEIGHTS)


def save_preset(
    model,
    directory: str | Path,
    *,
    name: str,
    dataset: str,
    metrics: dict[str, Any] | None = None,
    description: str = "",
    extra: dict[str, Any] | None = None,
    overwrite: bool = False,
    codebook=None,
) -> Path:
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
        codebook: the shared values of a quantised model (``zoo compress``): its weights are then written
            in the compressed format (``model.weights.kzq``) instead of ``model.weights.h5``.

    Returns:
        The preset directory.

    Example:
        >>> import tempfile, zoo
        >>> path = zoo.save_preset(zoo.create("lenet_300_100"), tempfile.mkdtemp() + "/mnist-demo",
        ...                        name="lenet_300_100", dataset="mnist")
        >>> sorted(p.name for p in path.iterdir())
        ['README.md', 'config.json', 'metadata.json', 'model.weights.h5']
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
    if codebook is None:
        weights = WEIGHTS
        model.save_weights(tmp / weights)
    else:
        from zoo.presets import compressed

        weights = COMPRESSED_WEIGHTS
        compressed.save(model, tmp / weights, codebook)
    metrics = metrics or {}
    lines = [
        f"# {name} ({directory.name})",
        "",
        description or f"{name} trained on {dataset}.",
        "",
        "| metric | value | command |",
        "|---|---|---|",
    ]
    for metric, entry in metrics.items():
        entry = entry if isinstance(entry, dict) else {"value": entry}
        lines.append(f"| {metric} | {entry.get('value')} | `{entry.get('command', '')}` |")
    lines += ["", f'Load it with `zoo.create("{name}", weights="{directory.name}")`.', ""]
    (tmp / MODEL_CARD).write_text("\n".join(lines))
    from zoo.version import __version__

    metadata = {
        "name": name,
        "tag": directory.name,
        "dataset": dataset,
        "kzoo": __version__,
        "keras": keras.__version__,
        "parameters": int(model.count_params()),
        "metrics": metrics,
        **(extra or {}),
        "files": {f: sha256(tmp / f) for f in (CONFIG, weights, MODEL_CARD)},
    }
    (tmp / METADATA).write_text(json.dumps(metadata, indent=2, default=float) + "\n")
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    return directory


def load_file(model, weights: Path) -> Path:
    """Loads a ``.weights.h5`` or ``.weights.kzq`` file into ``model``.

    Optimizer state saved beside Keras weights is not needed and skipped. A compressed file is checked
    whole before any weight is assigned.
    """
    if Path(weights).name.endswith(COMPRESSED_SUFFIX):
        from zoo.presets import compressed

        return compressed.load(model, weights)
    from zoo.transfer import short_load_error

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            warnings.filterwarnings("ignore", message="Skipping nested container")  # only ever after a mismatch
            model.load_weights(weights)
    except (ValueError, OSError, KeyError) as err:
        raise ValueError(
            f"Could not load {weights} into {model.name}: {short_load_error(err)}. The file may be corrupt, or made "
            f"for another architecture (check num_classes / input_shape overrides; a preset or run directory "
            f"instead of a bare file gets a new head of another num_classes)."
        ) from None
    return weights
