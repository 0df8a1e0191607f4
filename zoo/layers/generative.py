"""Layers of the generative families: reparameterised sampling, timestep embeddings, a U-Net's blocks.

All backend-agnostic (``keras.ops``) and serializable. The U-Net blocks follow Ho et
al. 2020 (DDPM): residual blocks with GroupNorm and swish that add a projection of
the timestep embedding, self-attention at low resolution, strided down-sampling and
nearest-neighbour up-sampling.
"""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kzoo")
class Sampling(keras.layers.Layer):
    """The reparameterisation trick: ``z = mean + exp(log_var / 2) * eps`` (Kingma & Welling 2014).

    Called on ``[mean, log_var, eps]``; ``eps ~ N(0, I)`` comes from the caller (the training
    pipeline draws it, so a step is a deterministic function of its batch). Called on
    ``[mean, log_var]`` it draws ``eps`` from its own seed generator.

    Example:
        >>> import numpy as np
        >>> tuple(Sampling()([np.zeros((2, 3)), np.zeros((2, 3)), np.ones((2, 3))]).shape)
        (2, 3)
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mean, log_var, *rest = inputs
        eps = rest[0] if rest else keras.random.normal(ops.shape(mean), seed=self.seed_generator)
        return mean + ops.exp(0.5 * log_var) * ops.cast(eps, mean.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="kzoo")
class SinusoidalEmbedding(keras.layers.Layer):
    """The transformer's sinusoidal position embedding of a (continuous) timestep, as in DDPM.

    Args:
        dim: int. Embedding size (even).
        max_period: float. Longest wavelength. Defaults to 10000.

    Example:
        >>> import numpy as np
        >>> tuple(SinusoidalEmbedding(8)(np.array([0.0, 10.0])).shape)
        (2, 8)
    """

    def __init__(self, dim: int, max_period: float = 10000.0, **kwargs):
        super().__init__(**kwargs)
        if dim < 2 or dim % 2:
            raise ValueError(f"SinusoidalEmbedding: dim must be an even integer >= 2. Received: dim={dim}")
        self.dim, self.max_period = dim, max_period

    def call(self, t):
        half = self.dim // 2
        frequencies = ops.exp(-math.log(self.max_period) * ops.arange(half, dtype="float32") / half)
        angles = ops.cast(ops.reshape(t, (-1, 1)), "float32") * frequencies[None, :]
        return ops.cast(ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}


def _groups(channels: int, groups: int) -> int:
    """The largest group count <= ``groups`` that divides ``channels``."""
    return max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)


@keras.saving.register_keras_serializable(package="kzoo")
class TimeResidualBlock(keras.layers.Layer):
    """GroupNorm-swish-conv, plus a projection of the timestep embedding, GroupNorm-swish-dropout-conv, plus a shortcut.

    Called on ``[x, embedding]``.

    Args:
        filters: int. Output channels.
        dropout: float. Dropout before the second convolution. Defaults to 0.
        groups: int. GroupNorm groups (fewer when they do not divide the channels). Defaults to 8.
    """

    def __init__(self, filters: int, dropout: float = 0.0, groups: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.dropout, self.groups = filters, dropout, groups

    def build(self, input_shape):
        x_shape, emb_shape = input_shape
        channels = x_shape[-1]
        self.norm1 = keras.layers.GroupNormalization(_groups(channels, self.groups), name="norm1")
        self.conv1 = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv1")
        self.time = keras.layers.Dense(self.filters, name="time")
        self.norm2 = keras.layers.GroupNormalization(_groups(self.filters, self.groups), name="norm2")
        self.drop = keras.layers.Dropout(self.dropout)
        self.conv2 = keras.layers.Conv2D(self.filters, 3, padding="same", name="conv2", kernel_initializer="zeros")
        self.shortcut = keras.layers.Conv2D(self.filters, 1, name="shortcut") if channels != self.filters else None
        self.norm1.build(x_shape)
        self.conv1.build(x_shape)
        self.time.build(emb_shape)
        out_shape = (*x_shape[:-1], self.filters)
        self.norm2.build(out_shape)
        self.conv2.build(out_shape)
        if self.shortcut is not None:
            self.shortcut.build(x_shape)

    def call(self, inputs, training=None):
        x, embedding = inputs
        h = self.conv1(ops.silu(self.norm1(x)))
        h = h + self.time(ops.silu(embedding))[:, None, None, :]
        h = self.conv2(self.drop(ops.silu(self.norm2(h)), training=training))
        return h + (self.shortcut(x) if self.shortcut is not None else x)

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "dropout": self.dropout, "groups": self.groups}


@keras.saving.register_keras_serializable(package="kzoo")
class SpatialAttention(keras.layers.Layer):
    """Self-attention over the positions of a feature map (one head per ``head_channels``), with a residual.

    Example:
        >>> import numpy as np
        >>> tuple(SpatialAttention()(np.zeros((1, 4, 4, 16), "float32")).shape)
        (1, 4, 4, 16)
    """

    def __init__(self, heads: int = 1, groups: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.groups = heads, groups

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels % self.heads:
            raise ValueError(f"SpatialAttention: {channels} channels do not split into {self.heads} heads.")
        self.norm = keras.layers.GroupNormalization(_groups(channels, self.groups), name="norm")
        self.attention = keras.layers.MultiHeadAttention(self.heads, channels // self.heads, name="attention")
        self.norm.build(input_shape)
        tokens = (input_shape[0], None, channels)
        self.attention.build(tokens, tokens)

    def call(self, x):
        shape = ops.shape(x)
        tokens = ops.reshape(self.norm(x), (shape[0], shape[1] * shape[2], shape[3]))
        attended = self.attention(tokens, tokens)
        return x + ops.reshape(attended, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "groups": self.groups}


@keras.saving.register_keras_serializable(package="kzoo")
class Downsample(keras.layers.Layer):
    """Halves height and width with a stride-2 3x3 convolution (odd sizes round up)."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = keras.layers.Conv2D(filters, 3, strides=2, padding="same", name="conv")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        return self.conv(x)

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="kzoo")
class Upsample(keras.layers.Layer):
    """Doubles height and width (nearest neighbour), then a 3x3 convolution."""

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = keras.layers.Conv2D(filters, 3, padding="same", name="conv")

    def build(self, input_shape):
        self.conv.build((input_shape[0], None, None, input_shape[-1]))

    def call(self, x):
        return self.conv(ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2))

    def compute_output_shape(self, input_shape):
        double = lambda d: None if d is None else 2 * d  # noqa: E731
        return (input_shape[0], double(input_shape[1]), double(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}
