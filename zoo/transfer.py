"""Pretrained weights on a rebuilt model: a new head of another size on the pretrained backbone.

``zoo.create("lenet5", weights="fashion_mnist", num_classes=5)`` and ``zoo finetune``
both go through :func:`with_new_head`: the model is rebuilt with the overrides, every
layer before the head (the layer named ``predictions`` and what follows it) gets its
pretrained weights, and the head keeps them where its shapes still fit, else starts
from a fresh initialisation. A layer outside the head whose shapes no longer fit is an
error naming it and both shapes, never a silent re-initialisation.
"""

from __future__ import annotations

import logging
import re
from typing import Any

logger = logging.getLogger(__name__)

HEAD = "predictions"


def head_layers(model) -> list[str]:
    """The head: the layer named ``predictions`` and every layer after it (e.g. ``binary_logits``).

    Raises:
        ValueError: the model has no ``predictions`` layer.
    """
    names = [layer.name for layer in model.layers]
    if HEAD not in names:
        raise ValueError(f"{model.name} has no {HEAD!r} layer, so its head cannot be replaced.")
    return names[names.index(HEAD) :]


def _shapes(layer) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in w.shape) for w in layer.weights]


def with_new_head(
    pretrained, model_name: str, overrides: dict[str, Any], *, keep_fitting_head: bool = False
) -> tuple[Any, list[str]]:
    """Rebuilds ``pretrained`` with ``overrides`` (class count, input size, ...) and copies its weights.

    Args:
        pretrained: the model holding the pretrained weights.
        model_name: its registry name.
        overrides: constructor arguments replacing the pretrained model's.
        keep_fitting_head: copy the head's weights too where their shapes are unchanged (``zoo.create``);
            fine-tuning always starts a fresh head.

    Returns:
        ``(model, names of the layers whose weights were transferred)``.

    Raises:
        ValueError: a layer outside the head does not fit the new model (it names the layer and both shapes).
    """
    from zoo.registry import build, constructor_config

    model = build(model_name, **{**constructor_config(pretrained), **overrides})
    head = set(head_layers(model))
    source = {layer.name: layer for layer in pretrained.layers}
    transferred = []
    for layer in model.layers:
        if not layer.weights:
            continue
        old = source.get(layer.name)
        if old is None:
            raise ValueError(f"The pretrained {model_name} has no layer {layer.name!r} to transfer.")
        old_shapes, new_shapes = _shapes(old), _shapes(layer)
        if layer.name in head:
            if keep_fitting_head and old_shapes == new_shapes:
                layer.set_weights(old.get_weights())
                transferred.append(layer.name)
            continue
        if old_shapes != new_shapes and hasattr(layer, "transfer_weights"):  # e.g. positions resized to a new grid
            layer.transfer_weights(old)
            transferred.append(layer.name)
            continue
        if old_shapes != new_shapes:
            raise ValueError(
                f"Layer {layer.name!r} of the pretrained {model_name} has weights {old_shapes}, but the model built "
                f"with {overrides} needs {new_shapes}. Only the head ({', '.join(sorted(head))}) is rebuilt to a new "
                f"size. Models that flatten (LeNet, MLP) keep their input size; models that pool globally (ResNet) "
                f"and vision transformers (their positions are resized) take any."
            )
        layer.set_weights(old.get_weights())
        transferred.append(layer.name)
    return model, transferred


def rebuild(pretrained, model_name: str, overrides: dict[str, Any], *, weights: str) -> Any:
    """``pretrained`` rebuilt with ``overrides`` for :func:`zoo.create`: the weights are kept wherever they fit,
    and a head of another size starts fresh, with a note saying so.

    Raises:
        ValueError: overrides that change a layer outside the head (named, with both shapes).
    """
    from zoo.registry import build, constructor_config

    before = constructor_config(pretrained)
    changed = {k: v for k, v in overrides.items() if before.get(k) != v}
    if not changed:
        return pretrained
    if HEAD not in [layer.name for layer in pretrained.layers]:  # no head to replace: every weight must fit
        model = build(model_name, **{**before, **changed})
        for old, new in zip(pretrained.weights, model.weights, strict=True):
            if tuple(old.shape) != tuple(new.shape):
                raise ValueError(
                    f"{model_name} built with {changed} needs {tuple(new.shape)} for {new.path}, but the "
                    f"weights {str(weights)!r} hold {tuple(old.shape)}; {model_name} has no "
                    f"{HEAD!r} head that could be rebuilt to a new size."
                )
        model.set_weights(pretrained.get_weights())
        return model
    model, transferred = with_new_head(pretrained, model_name, changed, keep_fitting_head=True)
    fresh = [name for name in head_layers(model) if name not in transferred and model.get_layer(name).weights]
    if fresh:
        old_out, new_out = pretrained.output_shape[-1], model.output_shape[-1]
        logger.warning(
            "%s: the weights %r have a %s-output head; built a new head (%s, %s outputs) on the pretrained "
            "backbone. It is randomly initialised: train it before use (zoo finetune).",
            model_name,
            str(weights),
            old_out,
            ", ".join(fresh),
            new_out,
        )
    return model


_ASSIGN = re.compile(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))")
_PATH = re.compile(r"Target variable: <Variable path=([^,\s]+)")


def short_load_error(error: BaseException) -> str:
    """Keras' weight-loading error in one line: the variable and both shapes, without the variable's values."""
    text = str(error)
    shapes, path = _ASSIGN.search(text), _PATH.search(text)
    if shapes and path:
        layer = path.group(1).split("/")[0]
        return (
            f"layer {layer!r} (variable {path.group(1)}) has shape {shapes.group(1)} in the model but "
            f"{shapes.group(2)} in the file"
        )
    return text.split("\n", 1)[0][:300]
