"""Multilayer perceptrons for images (flattened) or feature vectors.

``lenet_300_100`` is the 784-300-100-10 network of LeCun et al. 1998 used as a
baseline throughout the compression literature (Han et al. 2015; Ullrich et al. 2017).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from zoo.data.stats import MNIST_MEAN, MNIST_STD
from zoo.layers import classification_head
from zoo.models.base import ZooModel, check_input_shape, check_positive_ints, check_rate, image_input
from zoo.registry import register_model


@keras.saving.register_keras_serializable(package="kzoo")
class MLP(ZooModel):
    """Flatten, then Dense layers, then a linear classifier.

    Args:
        hidden_units: list of int. Width of each hidden layer. Defaults to [300, 100].
        num_classes: int. Number of classes. Defaults to 10.
        input_shape: (height, width, channels). Defaults to (28, 28, 1).
        activation: str. Hidden activation. Defaults to ``"relu"``.
        dropout: float. Dropout after each hidden layer. Defaults to 0.
        input_mean, input_std: float, list or None. Standardisation applied
            inside the model to pixels in [0, 1]. Default to MNIST's.

    Example:
        >>> MLP(hidden_units=[32], num_classes=3).output_shape
        (None, 3)
    """

    def __init__(
        self,
        hidden_units: Sequence[int] = (300, 100),
        num_classes: int = 10,
        input_shape: Sequence[int] = (28, 28, 1),
        activation: str = "relu",
        dropout: float = 0.0,
        input_mean: float | Sequence[float] | None = MNIST_MEAN,
        input_std: float | Sequence[float] | None = MNIST_STD,
        **kwargs,
    ):
        hidden_units = list(hidden_units)
        if hidden_units:
            check_positive_ints("MLP", hidden_units=hidden_units)
        check_positive_ints("MLP", num_classes=num_classes)
        check_rate("MLP", dropout=dropout)
        input_shape = check_input_shape("MLP", input_shape)

        # === Functional Model ===
        inputs, x = image_input(input_shape, input_mean, input_std)
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(hidden_units, start=1):
            x = keras.layers.Dense(units, activation=activation, name=f"dense{i}")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
        outputs = classification_head(x, num_classes, pooling=None)

        # === Config ===
        super().__init__(
            inputs,
            outputs,
            config={
                "hidden_units": hidden_units,
                "num_classes": num_classes,
                "input_shape": list(input_shape),
                "activation": activation,
                "dropout": dropout,
                "input_mean": input_mean,
                "input_std": input_std,
            },
            **kwargs,
        )


@register_model("mlp", task="image_classification", dataset="mnist")
def mlp(**overrides):
    """A configurable MLP; defaults to one hidden layer of 512 ReLU units with dropout 0.2."""
    return MLP(**{"hidden_units": [512], "dropout": 0.2, "name": "mlp", **overrides})


@register_model("lenet_300_100", task="image_classification", dataset="mnist")
def lenet_300_100(**overrides):
    """LeNet-300-100: 784-300-100-10 ReLU MLP (LeCun et al. 1998; the compression baseline)."""
    return MLP(**{"hidden_units": [300, 100], "name": "lenet_300_100", **overrides})
