"""The model registry: named variants, wildcard listing, creation with overrides.

A family module registers each variant with :func:`register_model` on a small
function that forwards its arguments (merged with the caller's overrides) to
the family's model class, as timm does::

    @register_model("lenet5", task="image_classification", dataset="mnist")
    def lenet5(**overrides):
        return LeNet(**{**LENET5, **overrides})
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import inspect
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

# suggest and unknown_name: exported here too
from zoo.naming import did_you_mean, natural_key, suggest, unknown_name  # noqa: F401
from zoo.tasks import get_task

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One registered variant.

    Attributes:
        name: registry name (``lenet5``).
        family: family module name (``lenet``).
        task: task name, see :mod:`zoo.tasks`.
        builder: function building the model from keyword overrides.
        dataset: the dataset the variant's defaults are made for.
        description: first line of the builder's docstring.
    """

    name: str
    family: str
    task: str
    builder: Callable[..., Any]
    dataset: str | None
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, task: str, dataset: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers a variant builder under ``name``.

    Args:
        name: str. Unique lowercase registry name.
        task: str. A task known to :mod:`zoo.tasks`.
        dataset: str or None. Dataset the default configuration targets.

    Returns:
        The decorator; it returns the function unchanged.

    Raises:
        ValueError: if the name is taken, malformed or the task unknown.
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"Model names are lowercase_with_underscores. Received: name={name!r}")
    get_task(task)  # validates the task name

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"Model {name!r} is already registered by {_REGISTRY[name].family}.")
        doc = inspect.getdoc(fn) or ""
        _REGISTRY[name] = ModelEntry(
            name=name,
            family=fn.__module__.rsplit(".", 1)[-1],
            task=task,
            builder=fn,
            dataset=dataset,
            description=_summary(doc),
        )
        return fn

    return decorator


#: Packages whose import registers model families, imported at the first lookup (``zoo`` declares ``zoo.models``).
_FAMILY_PACKAGES: list[str] = []


def register_family_package(package: str) -> None:
    """Declares a package whose modules register model families with :func:`register_model` when imported.

    The registry imports it at its first lookup, so ``import zoo`` stays fast (no Keras) and the
    registry needs no import of the families it lists (they import it). ``zoo`` declares
    ``zoo.models``; a package of one's own families can be declared the same way.
    """
    if package not in _FAMILY_PACKAGES:
        _FAMILY_PACKAGES.append(package)


def _summary(doc: str) -> str:
    """A docstring's first paragraph on one line (a summary may wrap: ``zoo list`` shows it whole)."""
    return " ".join(doc.split("\n\n", 1)[0].split())


def _ensure_families_loaded() -> None:
    for package in _FAMILY_PACKAGES:
        importlib.import_module(package)  # importing registers every family


BUILTIN_FAMILIES = "zoo.models"
"""The package of zoo's own model families (``zoo`` declares it on import); the index lists what it registers."""

INDEX_FILE = Path(__file__).with_name("model_index.json")
"""The built-in models' names, families, tasks, data sets and descriptions, written by :func:`write_index`.

``zoo list``, ``zoo presets`` and ``zoo info --brief`` read it instead of importing Keras to fill the registry;
``tests/zoo/test_model_index.py`` checks it against the registry that ``import zoo.models`` fills.
"""


def _describe(entry: ModelEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "family": entry.family,
        "task": entry.task,
        "dataset": entry.dataset,
        "description": entry.description,
    }


def build_index() -> list[dict[str, Any]]:
    """The index of every registered model, naturally sorted (imports the model families)."""
    _ensure_families_loaded()
    return [_describe(_REGISTRY[n]) for n in sorted(_REGISTRY, key=natural_key)]


def write_index(path: Path = INDEX_FILE) -> Path:
    """Writes :func:`build_index` to ``path`` (after adding a model:
    ``python -c "from zoo.registry import write_index; write_index()"``)."""
    path.write_text(json.dumps(build_index(), indent=1) + "\n")
    return path


def _index() -> dict[str, dict[str, Any]]:
    """The models known without importing Keras: the index file, plus anything registered in this process."""
    rows = {row["name"]: row for row in json.loads(INDEX_FILE.read_text())} if INDEX_FILE.is_file() else {}
    if not rows:
        _ensure_families_loaded()
    return rows | {name: _describe(entry) for name, entry in _REGISTRY.items()}


def describe(name: str) -> dict[str, Any]:
    """``name``'s family, task, data set and description, without building it or importing Keras.

    Raises:
        ValueError: for an unknown name, listing the closest registered names.

    Example:
        >>> describe("lenet5")["task"]
        'image_classification'
    """
    rows = _index()
    if name not in rows:
        if _index_is_complete():  # no need to import every family (Keras, seconds) to say so
            raise _unknown_model(name, list(rows))
        get_entry(name)  # a model registered by a family not in the index, or the unknown-name error
        rows = _index()
    return dict(rows[name])


def _index_is_complete() -> bool:
    """The index file lists every model that loading the declared family packages could register: only
    :data:`BUILTIN_FAMILIES` is declared (no package of one's own), and the file is there."""
    return _FAMILY_PACKAGES == [BUILTIN_FAMILIES] and INDEX_FILE.is_file()


def _unknown_model(name: str, known: list[str]) -> ValueError:
    return ValueError(
        f"Unknown model {name!r}.{did_you_mean(name, known)} `zoo list` (or zoo.list_models()) shows all "
        f"{len(known)} registered models."
    )


def list_models(pattern: str | None = None, *, task: str | None = None) -> list[str]:
    """Lists registered model names, naturally sorted.

    Args:
        pattern: str or None. A shell-style wildcard (``"res*"``); None lists all.
        task: str or None. Keep only models of this task.

    Returns:
        The matching names (``resnet20`` before ``resnet110``).

    Example:
        >>> list_models("lenet5*")
        ['lenet5', 'lenet5_caffe']
    """
    names = [
        n
        for n, e in _index().items()
        if (pattern is None or fnmatch.fnmatch(n, pattern)) and (task is None or e["task"] == task)
    ]
    return sorted(names, key=natural_key)


def get_entry(name: str) -> ModelEntry:
    """Returns the registry entry for ``name``.

    Raises:
        ValueError: for an unknown name, listing the closest registered names.
    """
    _ensure_families_loaded()
    if name in _REGISTRY:
        return _REGISTRY[name]
    raise _unknown_model(name, list(_REGISTRY))


def build(name: str, **overrides: Any):
    """Builds the registered model ``name`` with random weights (``zoo.create`` without ``weights``).

    Args:
        name: str. A registered name (see :func:`list_models`).
        **overrides: constructor arguments replacing the variant's defaults.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: unknown name, unknown override or invalid value.

    Example:
        >>> build("lenet_300_100", num_classes=5).output_shape
        (None, 5)
    """
    entry = get_entry(name)
    try:
        model = entry.builder(**overrides)
        unknown = sorted(set(overrides) - set(model.get_config()))
    except TypeError as err:
        # A constructor rejecting a keyword: name the argument and what is accepted.
        match = re.search(r"unexpected keyword argument '(\w+)'", str(err))
        if not match:
            raise
        unknown = [match.group(1)]
    if unknown:
        accepted = ", ".join(sorted(default_config(name)))
        raise ValueError(
            f"{name} does not accept the override(s) {', '.join(map(repr, unknown))}. Accepted: {accepted}."
        )
    return model


def default_config(name: str) -> dict[str, Any]:
    """Returns the constructor arguments of ``name`` with its defaults filled in."""
    return constructor_config(get_entry(name).builder())


def constructor_config(model) -> dict[str, Any]:
    """Returns a zoo model's ``get_config`` without Keras' bookkeeping keys."""
    config = model.get_config()
    for key in ("name", "trainable", "dtype"):
        config.pop(key, None)
    return config
