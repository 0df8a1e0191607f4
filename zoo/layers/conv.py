"""Convolution building blocks."""

from __future__ import annotations

import keras

from zoo.layers.normalization import FusedBatchNormalization

PADDINGS = ("same", "valid", "symmetric")


@keras.saving.register_keras_serializable(package="kzoo")
class ConvNormAct(keras.layers.Layer):
    """Conv2D, then optional batch normalisation, then optional activation.

    Args:
        filters: int. Output channels.
        kernel_size: int. Square kernel size.
        strides: int. Square stride. Defaults to 1.
        padding: str. ``"same"``, ``"valid"`` or ``"symmetric"``: PyTorch's ``padding=kernel_size // 2``,
            ``kernel_size // 2`` zeros on every side, then a ``"valid"`` convolution. It equals ``"same"``
            for stride 1; for a strided convolution on an even size, ``"same"`` pads only at the
            bottom/right and shifts every output by half a pixel. Defaults to ``"same"``.
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
        if padding not in PADDINGS:
            raise ValueError(f"ConvNormAct: padding must be one of {PADDINGS}. Received: padding={padding!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.norm = norm
        self.activation = activation
        self.pad = (
            keras.layers.ZeroPadding2D(kernel_size // 2, dtype=self.dtype_policy, name="pad")
            if padding == "symmetric" and kernel_size > 1
            else None
        )
        self.conv = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="valid" if padding == "symmetric" else padding,
            use_bias=not norm,
            kernel_initializer="he_normal",
            dtype=self.dtype_policy,
            name="conv",
        )
        self.bn = (
            FusedBatchNormalization(momentum=0.9, epsilon=1e-5, dtype=self.dtype_policy, name="bn") if norm else None
        )
        self.act = keras.layers.Activation(activation, dtype=self.dtype_policy) if activation else None

    def build(self, input_shape):
        if self.pad is not None:
            input_shape = self.pad.compute_output_shape(input_shape)
        self.conv.build(input_shape)
        if self.bn is not None:
            self.bn.build(self.conv.compute_output_shape(input_shape))

    def call(self, x, training=None):
        if self.pad is not None:
            x = self.pad(x)
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x, training=training)
        return self.act(x) if self.act is not None else x

    def compute_output_shape(self, input_shape):
        if self.pad is not None:
            input_shape = self.pad.compute_output_shape(input_shape)
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
