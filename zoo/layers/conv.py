"""Convolution building blocks."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="kzoo")
class ConvNormAct(keras.layers.Layer):
    """Conv2D, then optional batch normalisation, then optional activation.

    Args:
        filters: int. Output channels.
        kernel_size: int. Square kernel size.
        strides: int. Square stride. Defaults to 1.
        padding: str. ``"same"`` or ``"valid"``. Defaults to ``"same"``.
        norm: bool. Add BatchNormalization after the convolution (the
            convolution then has no bias). Defaults to True.
        activation: str or None. Keras activation name. Defaults to ``"relu"``.
        **kwargs: base layer arguments (``name``, ``dtype``).

    Example:
        >>> import numpy as np
        >>> tuple(ConvNormAct(8, 3, strides=2)(np.zeros((1, 32, 32, 3), "float32")).shape)
        (1, 16, 16, 8)
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        strides: int = 1,
        padding: str = "same",
        norm: bool = True,
        activation: str | None = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if padding not in ("same", "valid"):
            raise ValueError(f"ConvNormAct: padding must be 'same' or 'valid'. Received: padding={padding!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.norm = norm
        self.activation = activation
        self.conv = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            use_bias=not norm,
            kernel_initializer="he_normal",
            dtype=self.dtype_policy,
            name="conv",
        )
        self.bn = (
            keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, dtype=self.dtype_policy, name="bn")
            if norm
            else None
        )
        self.act = keras.layers.Activation(activation, dtype=self.dtype_policy) if activation else None

    def build(self, input_shape):
        self.conv.build(input_shape)
        if self.bn is not None:
            self.bn.build(self.conv.compute_output_shape(input_shape))

    def call(self, x, training=None):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x, training=training)
        return self.act(x) if self.act is not None else x

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "norm": self.norm,
            "activation": self.activation,
        }
