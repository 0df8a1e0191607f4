"""LeNet-5 (LeCun et al. 1998, http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf) and its Caffe variant."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.data.stats import MNIST_MEAN, MNIST_STD
from zoo.layers import classification_head
from zoo.models.base import ZooModel, check_input_shape, check_positive_ints, check_rate, image_input
from zoo.registry import register_model

POOLS = {"avg": keras.layers.AveragePooling2D, "max": keras.layers.MaxPooling2D}


@keras.saving.register_keras_serializable(package="kzoo")
class LeNet(ZooModel):
    """Convolution/pooling stages, fully connected layers, a linear classifier.

    Args:
        conv_filters: list of int. Filters of each 5x5 convolution. Defaults to [6, 16].
        dense_units: list of int. Hidden fully connected widths. Defaults to [120, 84].
        num_classes: int. Defaults to 10.
        input_shape: (height, width, channels). Defaults to (28, 28, 1).
        activation: str. Defaults to ``"tanh"``.
        pooling: ``"avg"`` (LeNet-5's subsampling) or ``"max"``. Defaults to ``"avg"``.
        first_padding: ``"same"`` pads 28x28 inputs as LeCun's 32x32 frame
            did; ``"valid"`` as Caffe's LeNet. Defaults to ``"same"``.
        dropout: float. Dropout before the classifier. Defaults to 0.
        input_mean, input_std: standardisation of [0, 1] pixels. Default to MNIST's.

    Example:
        >>> LeNet().count_params()
        61706
    """

    def __init__(
        self,
        conv_filters: Sequence[int] = (6, 16),
        dense_units: Sequence[int] = (120, 84),
        num_classes: int = 10,
        input_shape: Sequence[int] = (28, 28, 1),
        activation: str = "tanh",
        pooling: str = "avg",
        first_padding: str = "same",
        dropout: float = 0.0,
        input_mean: float | Sequence[float] | None = MNIST_MEAN,
        input_std: float | Sequence[float] | None = MNIST_STD,
        **kwargs,
    ):
        conv_filters, dense_units = list(conv_filters), list(dense_units)
        check_positive_ints("LeNet", conv_filters=conv_filters, num_classes=num_classes)
        if dense_units:
            check_positive_ints("LeNet", dense_units=dense_units)
        check_rate("LeNet", dropout=dropout)
        if pooling not in POOLS:
            raise ValueError(f"LeNet: pooling must be one of {sorted(POOLS)}. Received: pooling={pooling!r}")
        if first_padding not in ("same", "valid"):
            raise ValueError(
                f"LeNet: first_padding must be 'same' or 'valid'. Received: first_padding={first_padding!r}"
            )
        input_shape = check_input_shape("LeNet", input_shape)
        size = min(input_shape[:2])
        for i in range(len(conv_filters)):
            size = (size - (0 if i == 0 and first_padding == "same" else 4)) // 2
        if size < 1:
            raise ValueError(
                f"LeNet: input_shape={tuple(input_shape)} is too small for {len(conv_filters)} conv/pool stages."
            )

        # === Functional Model ===
        inputs, x = image_input(input_shape, input_mean, input_std)
        for i, filters in enumerate(conv_filters, start=1):
            padding = first_padding if i == 1 else "valid"
            x = keras.layers.Conv2D(filters, 5, padding=padding, activation=activation, name=f"conv{i}")(x)
            x = POOLS[pooling](2, name=f"pool{i}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(dense_units, start=1):
            x = keras.layers.Dense(units, activation=activation, name=f"fc{i}")(x)
        outputs = classification_head(x, num_classes, dropout=dropout, pooling=None)

        # === Config ===
        super().__init__(
            inputs,
            outputs,
            config={
                "conv_filters": conv_filters,
                "dense_units": dense_units,
                "num_classes": num_classes,
                "input_shape": list(input_shape),
                "activation": activation,
                "pooling": pooling,
                "first_padding": first_padding,
                "dropout": dropout,
                "input_mean": input_mean,
                "input_std": input_std,
            },
            **kwargs,
        )


@register_model("lenet5", task="image_classification", dataset="mnist")
def lenet5(**overrides):
    """LeNet-5: 6-16-120-84-10, tanh, average pooling (LeCun et al. 1998)."""
    return LeNet(**{"name": "lenet5", **overrides})


@register_model("lenet5_caffe", task="image_classification", dataset="mnist")
def lenet5_caffe(**overrides):
    """LeNet-5-Caffe: 20-50-500-10, ReLU, max pooling (the baseline of Ullrich et al. 2017)."""
    return LeNet(
        **{
            "conv_filters": [20, 50],
            "dense_units": [500],
            "activation": "relu",
            "pooling": "max",
            "first_padding": "valid",
            "name": "lenet5_caffe",
            **overrides,
        }
    )
