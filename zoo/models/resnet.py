"""Residual networks (He et al. 2016, https://arxiv.org/abs/1512.03385).

Two stem styles share one class:
- ``cifar``: a 3x3 convolution, then three stages of 16/32/64 filters with
  ``n`` basic blocks each, ``depth = 6n + 2`` (section 4.2; ``resnet20/32/56``),
  with parameter-free "pad" shortcuts (option A).
- ``imagenet``: a 7x7/2 convolution and 3x3/2 max pooling, then four stages of
  64/128/256/512 (``resnet18/34`` basic blocks, ``resnet50`` bottlenecks, stride on
  the 3x3), with projection shortcuts (option B). Its strided layers pad as PyTorch
  does (symmetric zeros, then a "valid" window), so timm's weights load exactly
  (:mod:`zoo.presets.timm`).

Both take any input size (the head pools globally) and any class count.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.data.stats import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD
from zoo.layers import BasicBlock, BottleneckBlock, ConvNormAct, classification_head
from zoo.models.base import ZooModel, check_input_shape, check_positive_ints, check_rate, image_input
from zoo.registry import register_model

BLOCKS = {"basic": BasicBlock, "bottleneck": BottleneckBlock}
STEMS = ("cifar", "imagenet")


@keras.saving.register_keras_serializable(package="kzoo")
class ResNet(ZooModel):
    """A ResNet classifier.

    Args:
        stage_blocks: list of int. Residual blocks per stage.
        stage_filters: list of int. Filters per stage (bottleneck blocks output 4x).
        block_type: ``"basic"`` or ``"bottleneck"``. Defaults to ``"basic"``.
        stem: ``"cifar"`` or ``"imagenet"``. Defaults to ``"cifar"``.
        shortcut: ``"pad"`` or ``"projection"``. Defaults to ``"pad"``.
        num_classes: int. Defaults to 10.
        input_shape: (height, width, channels). Defaults to (32, 32, 3).
        dropout: float. Dropout before the classifier. Defaults to 0.
        input_mean, input_std: standardisation of [0, 1] pixels. Default to CIFAR-10's.

    Example:
        >>> ResNet(stage_blocks=[1, 1], stage_filters=[8, 16], num_classes=4).output_shape
        (None, 4)
    """

    def __init__(
        self,
        stage_blocks: Sequence[int] = (3, 3, 3),
        stage_filters: Sequence[int] = (16, 32, 64),
        block_type: str = "basic",
        stem: str = "cifar",
        shortcut: str = "pad",
        num_classes: int = 10,
        input_shape: Sequence[int] = (32, 32, 3),
        dropout: float = 0.0,
        input_mean: float | Sequence[float] | None = CIFAR10_MEAN,
        input_std: float | Sequence[float] | None = CIFAR10_STD,
        **kwargs,
    ):
        stage_blocks, stage_filters = list(stage_blocks), list(stage_filters)
        check_positive_ints("ResNet", stage_blocks=stage_blocks, stage_filters=stage_filters, num_classes=num_classes)
        if len(stage_blocks) != len(stage_filters):
            raise ValueError(
                f"ResNet: stage_blocks and stage_filters need one entry per stage. "
                f"Received: stage_blocks={stage_blocks}, stage_filters={stage_filters}"
            )
        if block_type not in BLOCKS:
            raise ValueError(f"ResNet: block_type must be one of {sorted(BLOCKS)}. Received: block_type={block_type!r}")
        if stem not in STEMS:
            raise ValueError(f"ResNet: stem must be one of {STEMS}. Received: stem={stem!r}")
        check_rate("ResNet", dropout=dropout)
        input_shape = check_input_shape("ResNet", input_shape, min_size=8)
        block_cls = BLOCKS[block_type]

        # === Functional Model ===
        inputs, x = image_input(input_shape, _as_list(input_mean), _as_list(input_std))
        # ImageNet ResNets pad like PyTorch (symmetric, then "valid"), so timm's weights give timm's outputs;
        # the CIFAR ResNets keep "same" padding, which their trained weights were made with.
        padding = "same" if stem == "cifar" else "symmetric"
        if stem == "cifar":
            x = ConvNormAct(stage_filters[0], 3, name="stem_conv")(x)
        else:
            x = ConvNormAct(stage_filters[0], 7, strides=2, padding=padding, name="stem_conv")(x)
            # Zeros pad like PyTorch's -inf here: the pooled activations are ReLU outputs, never negative.
            x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
            x = keras.layers.MaxPooling2D(3, strides=2, padding="valid", name="stem_pool")(x)
        for s, (blocks, filters) in enumerate(zip(stage_blocks, stage_filters), start=1):
            for b in range(1, blocks + 1):
                strides = 2 if (b == 1 and s > 1) else 1
                x = block_cls(filters, strides=strides, shortcut=shortcut, padding=padding, name=f"stack{s}_block{b}")(
                    x
                )
        outputs = classification_head(x, num_classes, dropout=dropout, pooling="avg")

        # === Config ===
        super().__init__(
            inputs,
            outputs,
            config={
                "stage_blocks": stage_blocks,
                "stage_filters": stage_filters,
                "block_type": block_type,
                "stem": stem,
                "shortcut": shortcut,
                "num_classes": num_classes,
                "input_shape": list(input_shape),
                "dropout": dropout,
                "input_mean": _as_list(input_mean),
                "input_std": _as_list(input_std),
            },
            **kwargs,
        )


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def _cifar_resnet(name: str, depth: int, overrides: dict):
    n = (depth - 2) // 6
    return ResNet(**{"stage_blocks": [n, n, n], "name": name, **overrides})


def _imagenet_resnet(name: str, blocks: list[int], block_type: str, overrides: dict):
    return ResNet(
        **{
            "stage_blocks": blocks,
            "stage_filters": [64, 128, 256, 512],
            "block_type": block_type,
            "stem": "imagenet",
            "shortcut": "projection",
            "num_classes": 1000,
            "input_shape": [224, 224, 3],
            "input_mean": list(IMAGENET_MEAN),
            "input_std": list(IMAGENET_STD),
            "name": name,
            **overrides,
        }
    )


@register_model("resnet20", task="image_classification", dataset="cifar10")
def resnet20(**overrides):
    """ResNet-20 for CIFAR (He et al. 2016, section 4.2), 0.27M parameters."""
    return _cifar_resnet("resnet20", 20, overrides)


@register_model("resnet32", task="image_classification", dataset="cifar10")
def resnet32(**overrides):
    """ResNet-32 for CIFAR (He et al. 2016, section 4.2), 0.46M parameters."""
    return _cifar_resnet("resnet32", 32, overrides)


@register_model("resnet56", task="image_classification", dataset="cifar10")
def resnet56(**overrides):
    """ResNet-56 for CIFAR (He et al. 2016, section 4.2), 0.85M parameters."""
    return _cifar_resnet("resnet56", 56, overrides)


@register_model("resnet18", task="image_classification", dataset="imagenet")
def resnet18(**overrides):
    """ResNet-18, ImageNet layout (basic blocks, 2-2-2-2)."""
    return _imagenet_resnet("resnet18", [2, 2, 2, 2], "basic", overrides)


@register_model("resnet34", task="image_classification", dataset="imagenet")
def resnet34(**overrides):
    """ResNet-34, ImageNet layout (basic blocks, 3-4-6-3)."""
    return _imagenet_resnet("resnet34", [3, 4, 6, 3], "basic", overrides)


@register_model("resnet50", task="image_classification", dataset="imagenet")
def resnet50(**overrides):
    """ResNet-50, ImageNet layout (bottleneck blocks, 3-4-6-3, stride on the 3x3)."""
    return _imagenet_resnet("resnet50", [3, 4, 6, 3], "bottleneck", overrides)
