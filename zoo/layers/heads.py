"""Task heads shared by the families."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kzoo")
class BinaryLogits(keras.layers.Layer):
    """Turns one score z per example into the two logits (0, z).

    softmax((0, z)) = (1 - sigmoid(z), sigmoid(z)), so a single linear unit with a
    logistic output trains and serves like any two-class zoo classifier.
    """

    def call(self, z):
        return ops.concatenate([ops.zeros_like(z), z], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2)


def binary_head(x, *, kernel_initializer: str = "glorot_uniform"):
    """One linear unit named ``predictions`` whose score z becomes the logits (0, z), see :class:`BinaryLogits`."""
    z = keras.layers.Dense(1, kernel_initializer=kernel_initializer, name="predictions")(x)
    return BinaryLogits(name="binary_logits")(z)


def classification_head(x, num_classes: int, *, dropout: float = 0.0, pooling: str | None = "avg"):
    """Pools (or flattens) features and returns class logits from a Dense layer named ``predictions``.

    Args:
        x: feature tensor, (batch, h, w, c) or (batch, features).
        num_classes: int. Number of output logits.
        dropout: float. Dropout rate before the classifier. Defaults to 0.
        pooling: ``"avg"``, ``"max"``, ``"flatten"`` or None (x is already flat).

    Returns:
        Logits, (batch, num_classes). Models output logits; serving adds the softmax.
    """
    pools = {
        "avg": keras.layers.GlobalAveragePooling2D,
        "max": keras.layers.GlobalMaxPooling2D,
        "flatten": keras.layers.Flatten,
    }
    if pooling is not None:
        if pooling not in pools:
            raise ValueError(f"pooling must be one of {sorted(pools)} or None. Received: pooling={pooling!r}")
        x = pools[pooling](name="pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return keras.layers.Dense(num_classes, name="predictions")(x)
