"""Residual blocks (He et al. 2016, https://arxiv.org/abs/1512.03385)."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers.conv import ConvNormAct

SHORTCUTS = ("projection", "pad")


@keras.saving.register_keras_serializable(package="kzoo")
class PadShortcut(keras.layers.Layer):
    """Parameter-free shortcut: subsample by ``strides``, zero-pad the channels.

    "Option A" of He et al. 2016, used by the CIFAR ResNets.

    Args:
        filters: int. Output channels (at least the input channels).
        strides: int. Spatial subsampling factor.
    """

    def __init__(self, filters: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.strides = strides

    def call(self, x):
        if self.strides > 1:
            x = x[:, :: self.strides, :: self.strides, :]
        extra = self.filters - x.shape[-1]
        if extra < 0:
            raise ValueError(f"PadShortcut cannot shrink channels: input has {x.shape[-1]}, filters={self.filters}")
        if extra:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
        return x

    def compute_output_shape(self, input_shape):
        def sub(d):
            return None if d is None else -(-d // self.strides)

        return (input_shape[0], sub(input_shape[1]), sub(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


class _ResidualBlock(keras.layers.Layer):
    """Shared mechanics: a residual branch plus a shortcut, added, then ReLU."""

    expansion = 1

    def __init__(self, filters: int, strides: int = 1, shortcut: str = "projection", padding: str = "same", **kwargs):
        super().__init__(**kwargs)
        if shortcut not in SHORTCUTS:
            raise ValueError(
                f"{type(self).__name__}: shortcut must be one of {SHORTCUTS}. Received: shortcut={shortcut!r}"
            )
        self.filters = filters
        self.strides = strides
        self.shortcut = shortcut
        self.padding = padding
        self.out_channels = filters * self.expansion
        self.branch = self._make_branch()
        self.shortcut_layer = None
        self.relu = keras.layers.ReLU(dtype=self.dtype_policy)

    def _make_branch(self) -> list[keras.layers.Layer]:
        raise NotImplementedError

    def build(self, input_shape):
        if self.strides != 1 or input_shape[-1] != self.out_channels:
            if self.shortcut == "pad":
                self.shortcut_layer = PadShortcut(
                    self.out_channels, self.strides, dtype=self.dtype_policy, name="shortcut"
                )
            else:
                self.shortcut_layer = ConvNormAct(
                    self.out_channels,
                    1,
                    strides=self.strides,
                    activation=None,
                    dtype=self.dtype_policy,
                    name="shortcut",
                )
            self.shortcut_layer.build(input_shape)
        shape = input_shape
        for layer in self.branch:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, x, training=None):
        y = x
        for layer in self.branch:
            y = layer(y, training=training)
        if self.shortcut_layer is not None:
            x = self.shortcut_layer(x, training=training)
        return self.relu(x + y)

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self.branch:
            shape = layer.compute_output_shape(shape)
        return shape

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "shortcut": self.shortcut,
            "padding": self.padding,
        }


@keras.saving.register_keras_serializable(package="kzoo")
class BasicBlock(_ResidualBlock):
    """Two 3x3 convolutions with a shortcut (ResNet-18/34 and the CIFAR ResNets).

    Args:
        filters: int. Output channels.
        strides: int. Stride of the first convolution. Defaults to 1.
        shortcut: str. ``"projection"`` (1x1 conv + BN when the shape
            changes) or ``"pad"`` (parameter-free). Defaults to ``"projection"``.
        padding: str. Padding of the 3x3 convolutions, see :class:`ConvNormAct`; ``"symmetric"``
            is PyTorch's (the ImageNet ResNets, for timm's weights). Defaults to ``"same"``.

    Example:
        >>> import numpy as np
        >>> tuple(BasicBlock(32, strides=2, shortcut="pad")(np.zeros((2, 16, 16, 16), "float32")).shape)
        (2, 8, 8, 32)
    """

    def _make_branch(self):
        return [
            ConvNormAct(
                self.filters, 3, strides=self.strides, padding=self.padding, dtype=self.dtype_policy, name="conv1"
            ),
            ConvNormAct(self.filters, 3, activation=None, dtype=self.dtype_policy, name="conv2"),
        ]


@keras.saving.register_keras_serializable(package="kzoo")
class BottleneckBlock(_ResidualBlock):
    """1x1 reduce, 3x3 (strided, as in ResNet v1.5), 1x1 expand by 4, with a shortcut.

    Args:
        filters: int. Bottleneck width; the block outputs ``4 * filters`` channels.
        strides: int. Stride of the 3x3 convolution. Defaults to 1.
        shortcut: str. As in :class:`BasicBlock`. Defaults to ``"projection"``.
        padding: str. As in :class:`BasicBlock`. Defaults to ``"same"``.

    Example:
        >>> import numpy as np
        >>> tuple(BottleneckBlock(16)(np.zeros((1, 8, 8, 64), "float32")).shape)
        (1, 8, 8, 64)
    """

    expansion = 4

    def _make_branch(self):
        return [
            ConvNormAct(self.filters, 1, dtype=self.dtype_policy, name="conv1"),
            ConvNormAct(
                self.filters, 3, strides=self.strides, padding=self.padding, dtype=self.dtype_policy, name="conv2"
            ),
            ConvNormAct(self.out_channels, 1, activation=None, dtype=self.dtype_policy, name="conv3"),
        ]
