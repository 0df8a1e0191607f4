"""Preset declarations: plain data next to each model family (``zoo/models/<family>_presets.py``).

Each family module ``zoo/models/<family>_presets.py`` holds ``PRESETS``, a tuple of dicts
with the keys ``model``, ``tag``, ``dataset``, ``description``, ``metrics`` (name ->
``{"value", "command"}``) and ``location``: ``"packaged"`` (files in
``zoo/pretrained/<model>/<tag>/``, shipped in the wheel) or ``"mirror"`` (files in
``presets-mirror/<model>/<tag>/``, fetched by ``zoo pull``). These declarations are the
source of ``catalog.json``: :func:`catalog_entries` adds each preset's files with their
sha256 and size from its one tree, and ``bench/install_presets.py --catalog-only``
writes the result (a test checks that the committed catalog matches).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

LOCATIONS = ("packaged", "mirror")
KEYS = ("model", "tag", "dataset", "description", "metrics", "location")
SUFFIX = "_presets"


def declarations() -> list[dict[str, Any]]:
    """Every declared preset, sorted by ``(model, tag)``.

    Raises:
        ValueError: a declaration lacks a key, names an unknown location, or repeats a ``model:tag``.

    Example:
        >>> [(d["model"], d["tag"]) for d in declarations() if d["model"] == "lenet5"]
        [('lenet5', 'fashion_mnist'), ('lenet5', 'mnist')]
    """
    return [declaration for _, declaration in _declared()]


def _declared() -> list[tuple[str, dict[str, Any]]]:
    """``(declaring module, declaration)`` of every declared preset, sorted by ``(model, tag)``."""
    import zoo.models

    found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for info in pkgutil.iter_modules(zoo.models.__path__):
        if not info.name.endswith(SUFFIX):
            continue
        module = importlib.import_module(f"zoo.models.{info.name}")
        for declaration in module.PRESETS:
            missing = [k for k in KEYS if k not in declaration]
            if missing:
                raise ValueError(f"Preset declaration in {module.__name__} lacks {missing}: {declaration}")
            if declaration["location"] not in LOCATIONS:
                raise ValueError(
                    f"Preset {declaration['model']}:{declaration['tag']} in {module.__name__}: location "
                    f"must be one of {LOCATIONS}, got {declaration['location']!r}."
                )
            key = (declaration["model"], declaration["tag"])
            if key in found:
                raise ValueError(f"Preset {key[0]}:{key[1]} is declared twice (again in {module.__name__}).")
            found[key] = (module.__name__, dict(declaration))
    return [found[k] for k in sorted(found)]


def tree(declaration: dict[str, Any]) -> Path:
    """The one directory holding a declared preset's files."""
    from zoo.presets import catalog, store

    root = store.PACKAGED if declaration["location"] == "packaged" else catalog.REPOSITORY_MIRROR
    return root / declaration["model"] / declaration["tag"]


def catalog_entries() -> list[dict[str, Any]]:
    """Catalog entries (plain data) built from the declarations and each preset's files.

    Raises:
        ValueError: a declared preset's tree is missing or fails its checksums, or its declaration's
            dataset or metrics differ from those recorded in the tree's metadata (a reinstalled preset
            whose declaration was not updated: the message gives the values to declare).
    """
    from zoo.presets import catalog, store

    entries = []
    for module, declaration in _declared():
        directory = tree(declaration)
        key = f"{declaration['model']}:{declaration['tag']}"
        if not store.is_preset_dir(directory):
            raise ValueError(
                f"Preset {key} is declared {declaration['location']} but {directory} holds no preset; run "
                f"bench/install_presets.py to install it."
            )
        recorded = catalog.entry_for(directory, packaged=declaration["location"] == "packaged")  # from its metadata
        for field in ("dataset", "metrics"):
            if recorded[field] != declaration[field]:
                raise ValueError(
                    f"Preset {key}: the declaration in {module.replace('.', '/')}.py gives {field} "
                    f"{declaration[field]!r}, but {directory} was measured at {recorded[field]!r}; "
                    f"declare the measured {field}, then run bench/install_presets.py --catalog-only."
                )
        entries.append({**recorded, "description": declaration["description"]})
    return entries
