"""``zoo.create`` and ``zoo.info``: the registry's models with their weights and presets.

Above the registry, the presets and the weights loaders, so that none of them imports another back:
the registry only builds (:func:`zoo.registry.build`), and this module adds the weights.
"""

from __future__ import annotations

import os
from typing import Any

from zoo import presets
from zoo.registry import build, constructor_config, describe, get_entry
from zoo.tasks import get_task
from zoo.transfer import rebuild
from zoo.weights import create_trained, load_weights, resolve_weights


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
    get_entry(name)  # unknown names fail here, with suggestions
    check_weights_argument(name, weights)
    if weights is not None:
        preset = presets.locate(name, weights)
        if preset is not None:
            pretrained = presets.load_with_metadata(name, weights, directory=preset)[0]
            return rebuild(pretrained, name, overrides, weights=weights) if overrides else pretrained
        if resolve_weights(weights)[1] is not None:  # a run directory: it records the model it trained
            trained = create_trained(name, weights)[0]
            return rebuild(trained, name, overrides, weights=weights) if overrides else trained
    model = build(name, **overrides)
    if weights is not None:
        load_weights(model, weights)
    return model


def check_weights_argument(name: str, weights: Any) -> None:
    """Rejects a ``weights=`` that is not None, a string or a path (``weights=True`` is not "the pretrained ones").

    Raises:
        ValueError: naming the forms ``weights`` takes and ``name``'s preset tags.
    """
    if weights is None or isinstance(weights, (str, os.PathLike)):
        return
    tags = presets.list_tags(name)
    example = f" e.g. weights={tags[0]!r};" if tags else ""
    raise ValueError(
        f"weights is a preset tag, a path or a URL (a str), or None. Received: weights={weights!r} "
        f"({type(weights).__name__}).{example} {name}'s presets: {', '.join(tags) or '(none)'} "
        f"(`zoo presets {name}`)."
    )


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
    if not build:
        row = describe(name)
        return row | {"signatures": get_task(row["task"]).describe_signatures(), "weights": presets.list_tags(name)}
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
        "signatures": task.describe_signatures(),
        "weights": presets.list_tags(entry.name),
        "layers": [
            {"name": layer.name, "type": type(layer).__name__, "parameters": int(layer.count_params())}
            for layer in model.layers
            if layer.built
        ],
    }
