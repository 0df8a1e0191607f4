"""Fine-tuning and transfer learning: a pretrained zoo model with a new head, frozen and then unfrozen layers.

The pretrained model (a preset tag, preset directory or URL, run directory or
``.weights.h5`` file) is rebuilt for the new data: same architecture and input
standardisation, a freshly initialised head (the ``predictions`` layer and what
follows it) for the new class count and, for models that pool globally, the new
input size. Every other layer gets its pretrained weights; a layer whose shape
no longer fits is an error naming it, never a silent re-initialisation.

``schedule="two_stage"`` (the default) first trains the head alone with the
backbone frozen (``head_epochs``), then unfreezes what ``freeze`` allows at
``lr * unfreeze_lr_scale``; ``"constant"`` and ``"cosine"`` train one stage with
``freeze`` applied throughout (``freeze="backbone"``: a linear probe). Frozen
BatchNormalization layers run in inference mode (Keras 3 does this for
``trainable=False``); they stay frozen after unfreezing too unless
``train_batchnorm=True``, as the Keras transfer-learning guide advises for small data.
Before the first stage, ``head_init="probe"`` (the default) fits the new head of an image
classifier as a logistic regression on the frozen backbone's features
(:mod:`zoo.training.head_probe`), so no stage starts from a random head.
"""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path
from typing import Any

import keras

from zoo.registry import constructor_config, get_entry
from zoo.tasks import TASKS, get_task
from zoo.training import engine, head_probe
from zoo.training.config import FinetuneConfig
from zoo.training.dispatch import check_settings_apply, trainer_of
from zoo.training.engine import Stage, TrainResult
from zoo.transfer import HEAD, head_layers, with_new_head  # noqa: F401  (HEAD re-exported)
from zoo.weights import create_trained

logger = logging.getLogger(__name__)


def stages(config: FinetuneConfig) -> list[Stage]:
    """The schedule as stages: ``two_stage`` is head-only, then unfrozen at the lower rate."""
    if config.schedule != "two_stage":
        return [Stage("finetune", config.epochs, config.lr, config.schedule, config.freeze)]
    head = config.head_epochs or max(1, config.epochs // 2)
    return [
        Stage("head", head, config.lr, "cosine", "backbone"),
        Stage("unfrozen", config.epochs - head, config.lr * config.unfreeze_lr_scale, "cosine", config.freeze),
    ]


def frozen_layers(model: keras.Model, freeze: str) -> set[str]:
    """The top-level layers ``freeze`` (``backbone``, ``none``, ``until:LAYER``) keeps frozen in ``model``.

    Raises:
        ValueError: ``until:LAYER`` names no layer of ``model``, or a layer of its new head.
    """
    names = [layer.name for layer in model.layers]
    head = set(head_layers(model))
    if freeze == "none":
        return set()
    if freeze == "backbone":
        return set(names) - head
    boundary = freeze.removeprefix("until:")
    if boundary not in names:
        from zoo.registry import suggest

        close = suggest(boundary, names)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"freeze=until:{boundary}: {model.name} has no such layer.{hint} Layers: {', '.join(names)} "
            f"(zoo info NAME --layers)."
        )
    if boundary in head:
        raise ValueError(f"freeze=until:{boundary} would freeze the new head.")
    return set(names[: names.index(boundary) + 1])


def apply_freeze(model: keras.Model, freeze: str, *, train_batchnorm: bool = False) -> list[str]:
    """Sets ``trainable`` per layer for ``freeze`` (``backbone``, ``none``, ``until:LAYER``).

    BatchNormalization layers (also inside blocks) stay frozen, in inference mode,
    unless ``train_batchnorm``.

    Returns:
        The names of the frozen top-level layers.
    """
    frozen = frozen_layers(model, freeze)
    for layer in model.layers:
        layer.trainable = layer.name not in frozen
    if not train_batchnorm:
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    return [layer.name for layer in model.layers if layer.name in frozen]


def _target_overrides(pretrained: keras.Model, data, num_classes: int | None) -> dict[str, Any]:
    """What changes for the new data: the class count, and an image size other than the pretrained one."""
    fitted = data.model_overrides()
    overrides = {"num_classes": num_classes or fitted["num_classes"]}
    if overrides["num_classes"] < fitted["num_classes"]:
        raise ValueError(
            f"num_classes={num_classes} is fewer than the {fitted['num_classes']} classes of {data.dataset}."
        )
    config = constructor_config(pretrained)
    if "input_shape" in fitted and list(fitted["input_shape"]) != list(config.get("input_shape", [])):
        old, new = config["input_shape"], fitted["input_shape"]
        if old[-1] != new[-1]:
            raise ValueError(
                f"The pretrained model takes {old[-1]}-channel images, {data.dataset} has {new[-1]} channels."
            )
        overrides["input_shape"] = list(new)
    for key in ("num_features",):  # graphs: the feature space must be the pretrained one
        if key in fitted and fitted[key] != config.get(key):
            raise ValueError(
                f"The pretrained model takes {config.get(key)} node features, {data.dataset} has "
                f"{fitted[key]}: transfer needs the same feature space."
            )
    return overrides


def fixed_image_size(model_name: str, weights: str | Path) -> tuple[int, int] | None:
    """The input size ``weights`` were made for when they fix one (timm presets, runs fine-tuned from them), read
    from the metadata alone: no model is built, so the training strategy is still created first. (A timm checkpoint
    is converted here on its first use; ``zoo pull`` it beforehand for multi-worker runs.)"""
    from zoo import presets
    from zoo.training.classification import pretrained_image_size
    from zoo.weights import resolve_weights

    directory = presets.locate(model_name, weights)
    if directory is not None:
        return pretrained_image_size(presets.store.read_json(directory / presets.METADATA))
    try:
        _, run_config = resolve_weights(weights)
    except (ValueError, FileNotFoundError):
        return None  # create_trained reports it
    return pretrained_image_size(run_config)


def finetune(
    model_name: str,
    weights: str | Path,
    dataset: str,
    *,
    config: FinetuneConfig | None = None,
    out: str | Path | None = None,
) -> TrainResult:
    """Fine-tunes pretrained ``weights`` of ``model_name`` on ``dataset`` and writes a run directory.

    The run directory is that of ``zoo train`` (``config.json`` also records the
    pretrained weights, the transferred layers and the stages), so ``zoo evaluate``,
    ``zoo export`` and a further ``zoo finetune`` read it; strategies, mixed
    precision and ``resume`` work as for ``zoo train``.

    Args:
        model_name: a registered image or node classifier.
        weights: the pretrained weights (preset tag, preset directory or URL, run directory, ``.weights.h5``).
        dataset: the new data: a named set, a class subset (``cifar10:5,6,7,8,9``), a folder of images, a graph.
        config: hyper-parameters; defaults to :class:`FinetuneConfig()` (two stages, 10 epochs).
        out: run directory; defaults to ``runs/<model>-<dataset>-finetune-<time>``.

    Returns:
        A :class:`zoo.training.engine.TrainResult` with the best weights loaded.

    Example:
        >>> result = finetune("lenet5", "mnist", "fashion_mnist")  # doctest: +SKIP
    """
    config = config or FinetuneConfig()
    config.validate()
    task = get_entry(model_name).task
    if not get_task(task).finetune:
        handled = sorted(name for name, definition in TASKS.items() if definition.finetune)
        raise ValueError(f"{model_name} is a {task} model; fine-tuning handles {', '.join(handled)}.")
    check_settings_apply(model_name, task, config)
    load_data = trainer_of(task).finetune_loader()
    pretrained = {}
    image_size = fixed_image_size(model_name, weights) if task == "image_classification" else None
    if image_size is not None:  # weights made for one input size (timm's) get their images resized to it
        load_data = functools.partial(load_data, image_size=image_size)
        pretrained["image_size"] = list(image_size)

    def build(data):
        source, _ = create_trained(model_name, weights)
        model, transferred = with_new_head(source, model_name, _target_overrides(source, data, config.num_classes))
        for stage in stages(config):  # every stage's freeze checked now, before the first stage trains
            frozen_layers(model, stage.freeze)
        pretrained.update(weights=str(weights), transferred_layers=transferred, new_head=head_layers(model))
        batches = data.probe_batches() if config.head_init == "probe" else None
        fitted = head_probe.fit_head(model, batches) if batches is not None else None
        pretrained["head_init"] = fitted or {"method": "random"}
        return model

    def prepare(model, stage: Stage) -> None:
        frozen = apply_freeze(model, stage.freeze, train_batchnorm=config.train_batchnorm)
        logger.info(
            "Stage %s: %d epochs at lr %g, %d frozen layers, %d trainable weights",
            stage.name,
            stage.epochs,
            stage.lr,
            len(frozen),
            len(model.trainable_weights),
        )

    return engine.fit(
        model_name,
        dataset,
        config,
        out=out,
        load_data=load_data,
        build=build,
        stages=stages(config),
        prepare_stage=prepare,
        record={"pretrained": pretrained},
        default_out=Path("runs") / f"{model_name}-{Path(dataset).name}-finetune-{time.strftime('%Y%m%d-%H%M%S')}",
    )
