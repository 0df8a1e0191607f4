"""Vision transformers (Dosovitskiy et al. 2021) and Compact Convolutional Transformers (Hassani et al. 2021).

One class covers both: a tokenizer (``patch``: non-overlapping patches; ``conv``: CCT's
convolutional tokenizer, which trains well from scratch on small data sets), a learned
position embedding, pre-norm transformer blocks with dropout and stochastic depth, and a
readout (``class`` token, ``mean`` of the tokens, or CCT's ``attention`` pooling) before the
shared classification head. Variants: ``vit_tiny_patch4_32`` / ``vit_small_patch4_32``
(32x32, CIFAR), ``vit_tiny_patch4_28`` / ``vit_small_patch4_28`` (28x28, MNIST),
``vit_b16``, ``vit_s16``, ``vit_ti16`` (ViT-B/16's, ViT-S/16's and ViT-Ti/16's shapes at 224x224, which
load timm's ImageNet weights: :mod:`zoo.presets.timm`), ``cct_7_3x1_32`` (CCT-7/3x1) and ``cct_2_3x2_28``
(CCT-2/3x2 for 28x28 images, small enough to train on a CPU).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.data.stats import CIFAR10_MEAN, CIFAR10_STD, IMAGENET_MEAN, IMAGENET_STD, MNIST_MEAN, MNIST_STD
from zoo.layers import classification_head
from zoo.layers.transformer import (
    ClassReadout,
    ClassToken,
    ConvTokenizer,
    PatchEmbedding,
    PositionEmbedding,
    SequencePooling,
    TransformerBlock,
    stochastic_depth_rates,
)
from zoo.models.base import ZooModel, check_input_shape, check_positive_ints, check_rate, image_input
from zoo.registry import register_model

TOKENIZERS = ("patch", "conv")
POOLINGS = ("class", "mean", "attention")


@keras.saving.register_keras_serializable(package="kzoo")
class ViT(ZooModel):
    """A vision transformer classifier.

    Args:
        input_shape: (height, width, channels). Defaults to (32, 32, 3).
        num_classes: int. Defaults to 10.
        tokenizer: ``"patch"`` or ``"conv"``. Defaults to ``"patch"``.
        patch_size: int. Patch side (``patch``). Defaults to 4.
        tokenizer_layers: int. Convolution/pooling stages (``conv``). Defaults to 1.
        dim: int. Token width. Defaults to 192.
        depth: int. Transformer blocks. Defaults to 12.
        heads: int. Attention heads. Defaults to 3.
        mlp_ratio: float. MLP width / dim. Defaults to 4.
        dropout: float. Defaults to 0.
        attention_dropout: float. Defaults to 0.
        drop_path: float. Stochastic depth of the last block (linear from 0). Defaults to 0.1.
        pooling: ``"class"``, ``"mean"`` or ``"attention"``. Defaults to ``"class"``.
        input_mean, input_std: standardisation of [0, 1] pixels. Default to CIFAR-10's.

    Example:
        >>> ViT(input_shape=(28, 28, 1), dim=32, depth=2, heads=2, input_mean=None, input_std=None).output_shape
        (None, 10)
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (32, 32, 3),
        num_classes: int = 10,
        tokenizer: str = "patch",
        patch_size: int = 4,
        tokenizer_layers: int = 1,
        dim: int = 192,
        depth: int = 12,
        heads: int = 3,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path: float = 0.1,
        pooling: str = "class",
        input_mean: float | Sequence[float] | None = CIFAR10_MEAN,
        input_std: float | Sequence[float] | None = CIFAR10_STD,
        **kwargs,
    ):
        check_positive_ints(
            "ViT",
            num_classes=num_classes,
            patch_size=patch_size,
            tokenizer_layers=tokenizer_layers,
            dim=dim,
            depth=depth,
            heads=heads,
        )
        check_rate("ViT", dropout=dropout, attention_dropout=attention_dropout, drop_path=drop_path)
        if tokenizer not in TOKENIZERS:
            raise ValueError(f"ViT: tokenizer must be one of {TOKENIZERS}. Received: tokenizer={tokenizer!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"ViT: pooling must be one of {POOLINGS}. Received: pooling={pooling!r}")
        if dim % heads:
            raise ValueError(f"ViT: dim={dim} must split into heads={heads}.")
        if mlp_ratio <= 0:
            raise ValueError(f"ViT: mlp_ratio must be positive. Received: mlp_ratio={mlp_ratio}")
        input_shape = check_input_shape("ViT", input_shape)
        mean = list(input_mean) if isinstance(input_mean, (list, tuple)) else input_mean
        std = list(input_std) if isinstance(input_std, (list, tuple)) else input_std

        # === Functional Model ===
        inputs, x = image_input(input_shape, mean, std)
        tokens = (
            PatchEmbedding(patch_size, dim, name="patches")
            if tokenizer == "patch"
            else ConvTokenizer(dim, tokenizer_layers, name="tokenizer")
        )
        grid = tokens.grid(*input_shape[:2])
        x = tokens(x)
        if pooling == "class":
            x = ClassToken(name="class_token")(x)
        x = PositionEmbedding(grid, extra_tokens=1 if pooling == "class" else 0, name="positions")(x)
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
        for i, rate in enumerate(stochastic_depth_rates(drop_path, depth), start=1):
            x = TransformerBlock(dim, heads, int(dim * mlp_ratio), dropout, attention_dropout, rate, name=f"block{i}")(
                x
            )
        x = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
        if pooling == "class":
            x = ClassReadout(name="class_readout")(x)
        elif pooling == "mean":
            x = keras.layers.GlobalAveragePooling1D(name="mean_readout")(x)
        else:
            x = SequencePooling(name="attention_readout")(x)
        outputs = classification_head(x, num_classes, pooling=None)

        # === Config ===
        super().__init__(
            inputs,
            outputs,
            config={
                "input_shape": list(input_shape),
                "num_classes": num_classes,
                "tokenizer": tokenizer,
                "patch_size": patch_size,
                "tokenizer_layers": tokenizer_layers,
                "dim": dim,
                "depth": depth,
                "heads": heads,
                "mlp_ratio": mlp_ratio,
                "dropout": dropout,
                "attention_dropout": attention_dropout,
                "drop_path": drop_path,
                "pooling": pooling,
                "input_mean": mean,
                "input_std": std,
            },
            **kwargs,
        )


def _vit(name: str, defaults: dict, overrides: dict):
    return ViT(**{**defaults, "name": name, **overrides})


TINY = {"dim": 192, "depth": 12, "heads": 3}
SMALL = {"dim": 384, "depth": 12, "heads": 6}
MNIST = {"input_shape": [28, 28, 1], "input_mean": MNIST_MEAN, "input_std": MNIST_STD}
IMAGENET_B16 = {
    "input_shape": [224, 224, 3],
    "num_classes": 1000,
    "patch_size": 16,
    "input_mean": list(IMAGENET_MEAN),
    "input_std": list(IMAGENET_STD),
}


@register_model("vit_tiny_patch4_32", task="image_classification", dataset="cifar10")
def vit_tiny_patch4_32(**overrides):
    """ViT-Tiny (192 wide, 12 blocks, 3 heads) on 4x4 patches of 32x32 images: 64 tokens and a class token."""
    return _vit("vit_tiny_patch4_32", TINY, overrides)


@register_model("vit_small_patch4_32", task="image_classification", dataset="cifar10")
def vit_small_patch4_32(**overrides):
    """ViT-Small (384 wide, 12 blocks, 6 heads) on 4x4 patches of 32x32 images."""
    return _vit("vit_small_patch4_32", SMALL, overrides)


@register_model("vit_tiny_patch4_28", task="image_classification", dataset="mnist")
def vit_tiny_patch4_28(**overrides):
    """ViT-Tiny on 4x4 patches of 28x28 single-channel images (MNIST, Fashion-MNIST): 49 tokens."""
    return _vit("vit_tiny_patch4_28", {**TINY, **MNIST}, overrides)


@register_model("vit_small_patch4_28", task="image_classification", dataset="mnist")
def vit_small_patch4_28(**overrides):
    """ViT-Small on 4x4 patches of 28x28 single-channel images."""
    return _vit("vit_small_patch4_28", {**SMALL, **MNIST}, overrides)


@register_model("vit_b16", task="image_classification", dataset="imagenet")
def vit_b16(**overrides):
    """ViT-B/16's shape: 16x16 patches of 224x224 images, 768 wide, 12 blocks, 12 heads, 1000 classes."""
    return _vit("vit_b16", {**IMAGENET_B16, "dim": 768, "depth": 12, "heads": 12}, overrides)


@register_model("vit_s16", task="image_classification", dataset="imagenet")
def vit_s16(**overrides):
    """ViT-S/16's shape (timm's vit_small_patch16_224): 16x16 patches of 224x224 images, 384 wide, 6 heads."""
    return _vit("vit_s16", {**IMAGENET_B16, **SMALL}, overrides)


@register_model("vit_ti16", task="image_classification", dataset="imagenet")
def vit_ti16(**overrides):
    """ViT-Ti/16's shape (timm's vit_tiny_patch16_224): 16x16 patches of 224x224 images, 192 wide, 3 heads."""
    return _vit("vit_ti16", {**IMAGENET_B16, **TINY}, overrides)


@register_model("cct_7_3x1_32", task="image_classification", dataset="cifar10")
def cct_7_3x1_32(**overrides):
    """CCT-7/3x1 (Hassani et al. 2021): one 3x3 convolutional tokenizer stage, 7 blocks 256 wide, 4 heads, MLP x2,
    attention pooling; trains well from scratch on small data sets."""
    return _vit(
        "cct_7_3x1_32",
        {
            "tokenizer": "conv",
            "tokenizer_layers": 1,
            "dim": 256,
            "depth": 7,
            "heads": 4,
            "mlp_ratio": 2.0,
            "pooling": "attention",
            "drop_path": 0.1,
        },
        overrides,
    )


@register_model("cct_4_3x2_32", task="image_classification", dataset="cifar10")
def cct_4_3x2_32(**overrides):
    """CCT-4/3x2 (Hassani et al. 2021) on 32x32 colour images: two 3x3 convolutional tokenizer stages down to 64
    tokens, 4 blocks 128 wide, 2 heads, MLP x1, attention pooling; 0.48M weights, sized for CPU training budgets."""
    return _vit(
        "cct_4_3x2_32",
        {
            "tokenizer": "conv",
            "tokenizer_layers": 2,
            "dim": 128,
            "depth": 4,
            "heads": 2,
            "mlp_ratio": 1.0,
            "pooling": "attention",
            "drop_path": 0.1,
        },
        overrides,
    )


@register_model("cct_2_3x2_28", task="image_classification", dataset="mnist")
def cct_2_3x2_28(**overrides):
    """CCT-2/3x2 (Hassani et al. 2021) on 28x28 single-channel images: two 3x3 convolutional tokenizer stages
    (64, 128 filters) down to 49 tokens, 2 blocks 128 wide, 2 heads, MLP x1, attention pooling; 0.28M weights."""
    return _vit(
        "cct_2_3x2_28",
        {
            **MNIST,
            "tokenizer": "conv",
            "tokenizer_layers": 2,
            "dim": 128,
            "depth": 2,
            "heads": 2,
            "mlp_ratio": 1.0,
            "pooling": "attention",
            "drop_path": 0.1,
        },
        overrides,
    )
