"""Presets: named, versioned, checksummed pretrained weights (docs/DESIGN.md, Presets).

``zoo.create(name, weights=W)`` accepts for ``W``:

- a tag (``"mnist"``, ``"mnist-sws"``): the packaged preset, else the cached one,
  else the published one (``zoo presets``), downloaded into ``$KZOO_HOME/presets``;
- a preset directory, or ``file://`` URL of one;
- an ``https://`` / ``http://`` URL of a preset directory on a web server;
- a ``.weights.h5`` or ``.weights.kzq`` file, or a ``zoo train`` run directory (see :mod:`zoo.weights`);
- a timm checkpoint: ``hf://timm/<architecture>.<tag>`` (through ``huggingface_hub``) or a folder in
  timm's Hub layout (``config.json`` + ``model.safetensors``), converted once into a cached preset
  (see :mod:`zoo.presets.timm`).

:func:`locate` is the one place that tells these apart.

Every file is checked against its sha256 before anything is loaded. ``KZOO_OFFLINE=1``
uses only what is on disk and says what is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.naming import did_you_mean
from zoo.presets import catalog, remote, store, timm
from zoo.presets.download import DownloadError, is_http, is_url, local_path
from zoo.presets.store import (
    COMPRESSED_WEIGHTS,
    CONFIG,
    METADATA,
    MODEL_CARD,
    PACKAGED,
    WEIGHTS,
    is_preset_dir,
    save_preset,
    sha256,
    verify,
    weights_file,
)

__all__ = [
    "COMPRESSED_WEIGHTS",
    "CONFIG",
    "DownloadError",
    "METADATA",
    "MODEL_CARD",
    "PACKAGED",
    "WEIGHTS",
    "catalog",
    "find",
    "is_preset_dir",
    "list_presets",
    "list_tags",
    "load",
    "load_with_metadata",
    "locate",
    "pull",
    "save_preset",
    "sha256",
    "split_name",
    "verify",
    "weights_file",
]


def _is_tag(weights: str) -> bool:
    text = str(weights)
    return (
        bool(text)
        and "/" not in text
        and "\\" not in text
        and not text.endswith((".h5", ".kzq"))
        and not Path(text).exists()
    )


def list_tags(name: str) -> list[str]:
    """Tags ``zoo.create(name, weights=TAG)`` accepts: on this machine first, then published ones."""
    return list(dict.fromkeys(store.local_tags(name) + catalog.tags(name)))


def find(name: str, tag: str, *, progress: bool = True) -> Path:
    """The verified directory of preset ``name:tag``, downloading a published one that is not on disk yet.

    Raises:
        ValueError: no such preset (the message lists the tags that exist), offline and not cached,
            or a corrupt download.
    """
    local = store.find_local(name, tag)
    entry = catalog.get(name, tag)
    if local is not None and (entry is None or local.parent.parent == store.PACKAGED):
        return local
    if entry is not None:
        return catalog.pull(entry, progress=progress)
    known = list_tags(name)
    raise ValueError(
        f"No preset {tag!r} for {name}.{did_you_mean(tag, known)} Available: {', '.join(known) or '(none)'} "
        f"(`zoo presets {name}`). "
        f"Looked in {', '.join(str(r / name) for r in store.roots())} and the published catalog."
    )


def locate(name: str, weights: str | Path, *, progress: bool = True) -> Path | None:
    """The preset directory ``weights`` names for model ``name`` (fetched if needed), or None when it names
    something else (a weights file or a run directory, which ``zoo.weights`` loads).

    The one resolver of every ``weights=`` string, tried in this order (the README's table):
    ``hf://owner/repo`` or a folder in timm's layout (converted into a preset), ``https://`` (a preset
    directory, downloaded), ``file://`` or a path (a preset directory; else None: a run directory or a
    weights file), and a bare name (a tag of ``name``: packaged, cached or from the mirror). A bare name
    that is both a tag and a folder in the working directory is the tag (``./name`` is the folder).
    """
    text = str(weights)
    if timm.is_source(text):
        return timm.import_checkpoint(text, name=name)
    if is_http(text):
        return remote.fetch(text, progress=progress)
    path = local_path(text) if is_url(text) else Path(text).expanduser()
    if path.exists():
        bare = "/" not in text and "\\" not in text and not is_url(text)
        if bare and (store.find_local(name, text) or catalog.get(name, text)):  # a tag, not the folder of that name
            return find(name, text, progress=progress)
        return path if is_preset_dir(path) else None
    if is_url(text) or not _is_tag(text):
        return None  # a missing file or directory: zoo.weights reports it
    return find(name, text, progress=progress)


def pull(
    spec: str, *, force: bool = False, progress: bool = True, image_size: int | tuple[int, int] | None = None
) -> list[Path]:
    """Downloads published presets: ``"lenet5:mnist"`` one, ``"lenet5"`` every tag of a model, and wildcards
    as ``zoo presets`` takes them (``"*:mnist"``, ``"vae*"``); a timm checkpoint (``hf://timm/resnet50.a1_in1k``
    or a folder) is converted into the cache, at ``image_size`` when given.

    Returns:
        The local directories (packaged presets are used where they are).

    Raises:
        ValueError: unknown model or tag, a wildcard matching nothing, offline, or a failed download.
    """
    if timm.is_source(spec):  # hf://timm/... or a timm folder: converted into the cache
        return [timm.import_checkpoint(spec, force=force, image_size=image_size)]
    if image_size is not None:
        raise ValueError(f"image_size applies to timm checkpoints (hf://... or a timm folder), not {spec!r}.")
    if any(c in spec for c in "*?["):
        chosen = catalog.entries(spec)
        if not chosen:
            raise ValueError(f"No published preset matches {spec!r} (`zoo presets` lists them).")
        return [catalog.pull(entry, force=force, progress=progress) for entry in chosen]
    name, tag = split_name(spec)
    from zoo.registry import get_entry

    get_entry(name)  # unknown models get the registry's suggestions
    chosen = [catalog.get(name, tag)] if tag else catalog.entries(f"{name}:*")
    if not chosen or chosen[0] is None:
        hint = did_you_mean(tag or "", catalog.tags(name), prefix=f"{name}:")
        raise ValueError(
            f"No published preset {spec!r}.{hint} Published for {name}: {', '.join(catalog.tags(name)) or '(none)'}."
        )
    return [catalog.pull(entry, force=force, progress=progress) for entry in chosen]


def split_name(spec: str) -> tuple[str, str | None]:
    """``"resnet20:cifar10"`` or ``"resnet20.cifar10"`` -> ``("resnet20", "cifar10")``; ``"resnet20"`` -> ``(.., None)``."""
    for sep in (":", "."):
        name, found, tag = spec.partition(sep)
        if found:
            return name, tag
    return spec, None


def list_presets(pattern: str | None = None) -> list[dict[str, Any]]:
    """Published and locally saved presets, for ``zoo presets``: model, tag, dataset, metrics, size, where.

    Example:
        >>> row = next(r for r in list_presets("lenet5") if r["tag"] == "mnist")
        >>> row["where"], row["dataset"]
        ('packaged', 'mnist')
    """
    from zoo.registry import list_models

    rows = {}
    for entry in catalog.entries(pattern):
        cached = store.is_preset_dir(store.cache_root() / entry.model / entry.tag)
        rows[entry.key] = {
            "model": entry.model,
            "tag": entry.tag,
            "dataset": entry.dataset,
            "metrics": entry.metrics,
            "size": entry.size,
            "description": entry.description,
            "where": "packaged" if entry.packaged else "cached" if cached else "remote",
            "url": None if entry.packaged else entry.url(""),
        }
    for model in list_models((pattern or "*").partition(":")[0]):
        for tag in store.local_tags(model):
            key = f"{model}:{tag}"
            if key in rows or not catalog.matches(key, pattern):
                continue
            directory = store.find_local(model, tag)
            metadata = store.read_json(directory / METADATA)
            rows[key] = {
                "model": model,
                "tag": tag,
                "dataset": metadata.get("dataset"),
                "metrics": metadata.get("metrics", {}),
                "description": "",
                "size": sum(p.stat().st_size for p in directory.iterdir() if p.is_file()),
                "where": "packaged" if directory.parent.parent == PACKAGED else "cached",
                "url": None,
            }
    return [rows[k] for k in sorted(rows)]


def load(name: str, weights: str | Path, **overrides):
    """Builds ``name`` from a preset (tag, directory or URL) and loads its verified weights.

    ``overrides`` may not change the architecture the weights were made for.
    """
    return load_with_metadata(name, weights, **overrides)[0]


def load_with_metadata(name: str, weights: str | Path, *, directory: Path | None = None, **overrides):
    """:func:`load`, also returning the preset's (verified) metadata: ``(model, metadata)``."""
    from zoo.registry import build

    directory = directory or locate(name, weights)
    if directory is None:
        raise ValueError(f"{weights} is not a preset (tag, preset directory or URL).")
    metadata = verify(directory)
    config = store.read_json(directory / CONFIG)
    if config.get("model") != name:
        raise ValueError(f"Preset {directory} holds weights for {config.get('model')!r}, not {name!r}.")
    model = build(name, **{**config["model_config"], **overrides})
    store.load_file(model, weights_file(directory, metadata))
    return model, metadata
