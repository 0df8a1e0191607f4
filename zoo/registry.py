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
import difflib
import fnmatch
import inspect
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _summary(doc: str) -> str:
    """A docstring's first paragraph on one line (a summary may wrap: ``zoo list`` shows it whole)."""
    return " ".join(doc.split("\n\n", 1)[0].split())


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _ensure_families_loaded() -> None:
    import zoo.models  # noqa: F401  (importing registers every family)


INDEX_FILE = Path(__file__).with_name("model_index.json")
"""The built-in models' names, families, tasks, data sets and descriptions, written by :func:`write_index`.

``zoo list``, ``zoo presets`` and ``zoo info --brief`` read it instead of importing Keras to fill the registry;
``tests/zoo/test_model_index.py`` checks it against the registry that ``import zoo.models`` fills.
"""


def _describe(entry: ModelEntry) -> dict[str, Any]:
    return {"name": entry.name, "family": entry.family, "task": entry.task, "dataset": entry.dataset,
            "description": entry.description}


def build_index() -> list[dict[str, Any]]:
    """The index of every registered model, naturally sorted (imports the model families)."""
    _ensure_families_loaded()
    return [_describe(_REGISTRY[n]) for n in sorted(_REGISTRY, key=_natural_key)]


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
        get_entry(name)  # a model registered by a family not in the index, or the unknown-name error
        rows = _index()
    return dict(rows[name])


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
    return sorted(names, key=_natural_key)


def suggest(name: str, choices: list[str], n: int = 3) -> list[str]:
    """Closest choices to a mistyped name: prefix matches first, then similar spellings."""
    prefixed = sorted((c for c in choices if c.startswith(name) or name.startswith(c)), key=_natural_key)

    closeness = {
        c: (difflib.SequenceMatcher(None, name, c).ratio(), len(os.path.commonprefix([name, c]))) for c in choices
    }
    similar = [c for c in sorted(choices, key=closeness.__getitem__, reverse=True) if closeness[c][0] >= 0.6]
    return list(dict.fromkeys(prefixed + similar))[:n]


def unknown_name(kind: str, name: str, known: list[str]) -> ValueError:
    """The error for an unknown ``name`` of some ``kind``, suggesting the closest known names."""
    close = suggest(name, known)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Known: {', '.join(sorted(known))}.")


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


def create(name: str, *, weights: str | None = None, **overrides: Any):
    """Builds the registered model ``name``.

    Args:
        name: str. A registered name (see :func:`list_models`).
        weights: str or None. A preset tag (``"mnist"``, ``"mnist-sws"``, see ``info(name)["weights"]``;
            a published one is downloaded and cached), a preset directory or its ``file://`` /
            ``https://`` URL, a ``.weights.h5`` file or a run directory of ``zoo train``, a timm checkpoint
            (``hf://timm/resnet50.a1_in1k`` or a folder with ``config.json`` + ``model.safetensors``, converted
            once into a preset: :mod:`zoo.presets.timm`); None keeps the random initialisation.
        **overrides: constructor arguments replacing the variant's defaults
            (``num_classes=100``, ``input_shape=(64, 64, 3)``). With a preset or a run directory,
            they replace the pretrained model's arguments: a ``num_classes`` of its own gives a new,
            randomly initialised head on the pretrained backbone (as timm does; a warning says so),
            and a change to a layer outside the head is an error naming it and both shapes.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: unknown name, unknown override or invalid value.

    Example:
        >>> model = create("lenet_300_100", num_classes=5)
        >>> model.output_shape
        (None, 5)
    """
    entry = get_entry(name)
    check_weights_argument(name, weights)
    if weights is not None:
        from zoo import presets

        preset = presets.locate(name, weights)
        if preset is not None:
            if not overrides:
                return presets.load_with_metadata(name, weights, directory=preset)[0]
            from zoo.transfer import rebuild

            pretrained = presets.load_with_metadata(name, weights, directory=preset)[0]
            return rebuild(pretrained, name, overrides, weights=weights)
        if overrides:
            from zoo.weights import resolve_weights

            if resolve_weights(weights)[1] is not None:  # a run directory: it records the model it trained
                from zoo.transfer import rebuild
                from zoo.weights import create_trained

                return rebuild(create_trained(name, weights)[0], name, overrides, weights=weights)
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
    if weights is not None:
        from zoo.weights import load_weights

        load_weights(model, weights)
    return model


def check_weights_argument(name: str, weights: Any) -> None:
    """Rejects a ``weights=`` that is not None, a string or a path (``weights=True`` is not "the pretrained ones").

    Raises:
        ValueError: naming the forms ``weights`` takes and ``name``'s preset tags.
    """
    if weights is None or isinstance(weights, (str, os.PathLike)):
        return
    from zoo import presets

    tags = presets.list_tags(name)
    example = f" e.g. weights={tags[0]!r};" if tags else ""
    raise ValueError(f"weights is a preset tag, a path or a URL (a str), or None. Received: weights={weights!r} "
                     f"({type(weights).__name__}).{example} {name}'s presets: {', '.join(tags) or '(none)'} "
                     f"(`zoo presets {name}`).")


def default_config(name: str) -> dict[str, Any]:
    """Returns the constructor arguments of ``name`` with its defaults filled in."""
    return constructor_config(get_entry(name).builder())


def constructor_config(model) -> dict[str, Any]:
    """Returns a zoo model's ``get_config`` without Keras' bookkeeping keys."""
    config = model.get_config()
    for key in ("name", "trainable", "dtype"):
        config.pop(key, None)
    return config


def _shapes(shape):
    """A shape without its batch dimension, or a list of them for several inputs."""
    if isinstance(shape, list):
        return [list(s[1:]) for s in shape]
    return list(shape[1:])


def info(name: str, *, build: bool = True) -> dict[str, Any]:
    """Describes a registered model.

    Args:
        name: str. A registered name.
        build: bool. False skips building the model (and importing Keras): the dict then holds only
            ``name``, ``family``, ``task``, ``dataset``, ``description``, ``signatures`` and ``weights``.

    Returns:
        A JSON-serialisable dict: ``name``, ``family``, ``task``, ``dataset``,
        ``description``, ``input_shape``, ``output_shape``, ``parameters``,
        ``config`` (the default constructor arguments), ``signatures``
        (the serving signatures its task exports), ``weights`` (the preset
        tags that ``create(name, weights=TAG)`` accepts) and ``layers`` (name, type and
        parameter count of each top-level layer: the names ``zoo finetune --freeze until:LAYER`` takes).

    Example:
        >>> info("lenet5")["parameters"]
        61706
    """
    from zoo import presets

    if not build:
        row = describe(name)
        return row | {"signatures": get_task(row["task"]).signatures, "weights": presets.list_tags(name)}
    entry = get_entry(name)
    model = entry.builder()
    task = get_task(entry.task)
    return {
        "name": entry.name,
        "family": entry.family,
        "task": entry.task,
        "dataset": entry.dataset,
        "description": entry.description,
        "input_shape": _shapes(model.input_shape),
        "output_shape": _shapes(model.output_shape),
        "parameters": int(model.count_params()),
        "config": constructor_config(model),
        "signatures": task.signatures,
        "weights": presets.list_tags(entry.name),
        "layers": [{"name": layer.name, "type": type(layer).__name__, "parameters": int(layer.count_params())}
                   for layer in model.layers if layer.built],
    }
