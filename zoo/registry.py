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
import logging
import re
from collections.abc import Callable
from typing import Any

from zoo.naming import natural_key, suggest, unknown_name  # noqa: F401  (suggest, unknown_name: exported here too)
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
            description=doc.splitlines()[0] if doc else "",
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


def _ensure_families_loaded() -> None:
    for package in _FAMILY_PACKAGES:
        importlib.import_module(package)  # importing registers every family


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
    _ensure_families_loaded()
    names = [
        n
        for n, e in _REGISTRY.items()
        if (pattern is None or fnmatch.fnmatch(n, pattern)) and (task is None or e.task == task)
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
    close = suggest(name, list(_REGISTRY))
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"Unknown model {name!r}.{hint} `zoo list` (or zoo.list_models()) shows all "
        f"{len(_REGISTRY)} registered models."
    )


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
        raise ValueError(f"{name} does not accept the override(s) {', '.join(map(repr, unknown))}. Accepted: {accepted}.")
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
