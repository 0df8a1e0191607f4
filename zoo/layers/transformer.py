"""Vision-transformer layers: tokenizers, a class token, learned position embeddings, pre-norm encoder blocks.

Following Dosovitskiy et al. 2021 (ViT) and Hassani et al. 2021 (Compact Convolutional
Transformers): images become tokens by non-overlapping patches (a strided convolution)
or by a small convolutional tokenizer; a learned position embedding is added (and can
be resized to another token grid, for other image sizes); pre-norm blocks of multi-head
self-attention and an MLP, each with dropout and stochastic depth; a class token, mean
pooling or CCT's attention pooling reads the sequence out. Backend-agnostic, serializable.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from zoo.layers.activations import gelu
from zoo.layers.normalization import FastLayerNormalization


@keras.saving.register_keras_serializable(package="kzoo")
class PatchEmbedding(keras.layers.Layer):
    """Non-overlapping ``patch_size`` patches, each projected to ``dim``: (batch, H, W, C) -> (batch, tokens, dim).

    Images whose sides are not multiples of the patch size are zero-padded at the bottom/right
    (a 30x30 image with 4x4 patches gives an 8x8 grid).

    Example:
        >>> tuple(PatchEmbedding(4, 16)(np.zeros((2, 30, 30, 1), "float32")).shape)
        (2, 64, 16)
    """

    def __init__(self, patch_size: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.patch_size, self.dim = patch_size, dim
        self.projection = keras.layers.Conv2D(dim, patch_size, strides=patch_size, name="projection")

    def build(self, input_shape):
        self.projection.build((input_shape[0], None, None, input_shape[-1]))

    def grid(self, height: int, width: int) -> tuple[int, int]:
        return -(-height // self.patch_size), -(-width // self.patch_size)

    def call(self, images):
        height, width = images.shape[1], images.shape[2]
        grid_h, grid_w = self.grid(height, width)
        pad_h, pad_w = grid_h * self.patch_size - height, grid_w * self.patch_size - width
        if pad_h or pad_w:
            images = ops.pad(images, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]])
        x = self.projection(images)
        return ops.reshape(x, (ops.shape(x)[0], grid_h * grid_w, self.dim))

    def compute_output_shape(self, input_shape):
        grid_h, grid_w = self.grid(input_shape[1], input_shape[2])
        return (input_shape[0], grid_h * grid_w, self.dim)

    def get_config(self):
        return {**super().get_config(), "patch_size": self.patch_size, "dim": self.dim}


@keras.saving.register_keras_serializable(package="kzoo")
class ConvTokenizer(keras.layers.Layer):
    """CCT's tokenizer: ``layers`` x (3x3 convolution, ReLU, 3x3 max pooling with stride 2), then flatten to tokens.

    Example:
        >>> tuple(ConvTokenizer(32, layers=1)(np.zeros((2, 32, 32, 3), "float32")).shape)
        (2, 256, 32)
    """

    def __init__(self, dim: int, layers: int = 1, kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.layers, self.kernel_size = dim, layers, kernel_size
        widths = [dim // 2 ** (layers - 1 - i) for i in range(layers)]
        self.convs = [
            keras.layers.Conv2D(w, kernel_size, padding="same", use_bias=False, name=f"conv{i + 1}")
            for i, w in enumerate(widths)
        ]
        self.pools = [keras.layers.MaxPooling2D(3, strides=2, padding="same") for _ in widths]

    def build(self, input_shape):
        channels = input_shape[-1]
        for conv in self.convs:
            conv.build((None, None, None, channels))
            channels = conv.filters

    def grid(self, height: int, width: int) -> tuple[int, int]:
        for _ in range(self.layers):
            height, width = -(-height // 2), -(-width // 2)
        return height, width

    def call(self, images):
        x = images
        for conv, pool in zip(self.convs, self.pools):
            x = pool(ops.relu(conv(x)))
        return ops.reshape(x, (ops.shape(x)[0], x.shape[1] * x.shape[2], self.dim))

    def compute_output_shape(self, input_shape):
        grid_h, grid_w = self.grid(input_shape[1], input_shape[2])
        return (input_shape[0], grid_h * grid_w, self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "layers": self.layers, "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="kzoo")
class ClassToken(keras.layers.Layer):
    """Prepends one learned token to the sequence: (batch, tokens, dim) -> (batch, tokens + 1, dim)."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros", name="token")

    def call(self, x):
        token = ops.broadcast_to(ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, x.shape[-1]))
        return ops.concatenate([token, x], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None if input_shape[1] is None else input_shape[1] + 1, input_shape[2])


@keras.saving.register_keras_serializable(package="kzoo")
class ClassReadout(keras.layers.Layer):
    """The class token's output: (batch, tokens, dim) -> (batch, dim)."""

    def call(self, x):
        return x[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


def resize_position_table(
    table: np.ndarray, old_grid: tuple[int, int], new_grid: tuple[int, int], extra_tokens: int = 0
) -> np.ndarray:
    """A position table (1, extra + h*w, dim) for another token grid: the grid part resized bilinearly, the
    ``extra_tokens`` (class token) kept.

    Example:
        >>> resize_position_table(np.zeros((1, 1 + 16, 8)), (4, 4), (8, 8), extra_tokens=1).shape
        (1, 65, 8)
    """
    extra, grid = table[:, :extra_tokens], table[:, extra_tokens:]
    dim = table.shape[-1]
    image = ops.reshape(ops.convert_to_tensor(grid, "float32"), (1, *old_grid, dim))
    resized = np.asarray(ops.image.resize(image, new_grid, interpolation="bilinear", antialias=False))
    return np.concatenate([extra, resized.reshape(1, new_grid[0] * new_grid[1], dim)], axis=1).astype(table.dtype)


@keras.saving.register_keras_serializable(package="kzoo")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding per position of a ``grid`` of tokens (plus ``extra_tokens`` in front: a class token).

    ``transfer_weights(other)`` copies another model's table, resized when its grid differs
    (fine-tuning at another image size).
    """

    def __init__(self, grid: tuple[int, int], extra_tokens: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.grid, self.extra_tokens = tuple(int(g) for g in grid), int(extra_tokens)

    def build(self, input_shape):
        tokens = self.extra_tokens + self.grid[0] * self.grid[1]
        if input_shape[1] is not None and input_shape[1] != tokens:
            raise ValueError(
                f"PositionEmbedding for a {self.grid} grid and {self.extra_tokens} extra tokens expects "
                f"{tokens} tokens. Received: {input_shape[1]}"
            )
        self.table = self.add_weight(
            shape=(1, tokens, input_shape[-1]),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="table",
        )

    def call(self, x):
        return x + ops.cast(self.table, x.dtype)

    def transfer_weights(self, other: "PositionEmbedding") -> None:
        table = other.get_weights()[0]
        if tuple(other.grid) != self.grid:
            table = resize_position_table(table, other.grid, self.grid, self.extra_tokens)
        self.set_weights([table])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "grid": list(self.grid), "extra_tokens": self.extra_tokens}


@keras.saving.register_keras_serializable(package="kzoo")
class StochasticDepth(keras.layers.Layer):
    """Drops a residual branch for whole examples with probability ``rate`` while training (Huang et al. 2016),
    scaling the kept ones by 1 / (1 - rate)."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        mask = ops.floor(keep + keras.random.uniform(shape, seed=self.seed_generator, dtype=x.dtype))
        return x * mask / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kzoo")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm encoder block: x + drop(attention(LN(x))), then x + drop(MLP(LN(x))).

    Args:
        dim: int. Token width.
        heads: int. Attention heads (dividing ``dim``).
        mlp_dim: int. Hidden width of the MLP (GELU).
        dropout: float. Dropout after the attention and inside the MLP.
        attention_dropout: float. Dropout on the attention weights.
        drop_path: float. Stochastic depth rate of both residual branches.

    Example:
        >>> tuple(TransformerBlock(16, 2, 32)(np.zeros((2, 5, 16), "float32")).shape)
        (2, 5, 16)
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_dim: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if dim % heads:
            raise ValueError(f"TransformerBlock: dim={dim} does not split into heads={heads}.")
        self.dim, self.heads, self.mlp_dim = dim, heads, mlp_dim
        self.dropout, self.attention_dropout, self.drop_path = dropout, attention_dropout, drop_path
        self.norm1 = FastLayerNormalization(epsilon=1e-6, name="norm1")
        self.attention = keras.layers.MultiHeadAttention(
            heads, dim // heads, dropout=attention_dropout, name="attention"
        )
        self.norm2 = FastLayerNormalization(epsilon=1e-6, name="norm2")
        self.fc1 = keras.layers.Dense(mlp_dim, activation=gelu, name="fc1")
        self.fc2 = keras.layers.Dense(dim, name="fc2")
        self.drop = keras.layers.Dropout(dropout)
        self.residual_drop = StochasticDepth(drop_path)

    def build(self, input_shape):
        self.norm1.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.norm2.build(input_shape)
        self.fc1.build(input_shape)
        self.fc2.build((*input_shape[:-1], self.mlp_dim))

    def call(self, x, training=None):
        h = self.norm1(x)
        h = self.drop(self.attention(h, h, training=training), training=training)
        x = x + self.residual_drop(h, training=training)
        h = self.fc2(self.drop(self.fc1(self.norm2(x)), training=training))
        return x + self.residual_drop(self.drop(h, training=training), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "heads": self.heads,
            "mlp_dim": self.mlp_dim,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "drop_path": self.drop_path,
        }


@keras.saving.register_keras_serializable(package="kzoo")
class SequencePooling(keras.layers.Layer):
    """CCT's attention pooling: softmax(x w) weights the tokens, (batch, tokens, dim) -> (batch, dim)."""

    def build(self, input_shape):
        self.score = keras.layers.Dense(1, name="score")
        self.score.build(input_shape)

    def call(self, x):
        weights = ops.softmax(self.score(x), axis=1)
        return ops.sum(weights * x, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


def stochastic_depth_rates(rate: float, depth: int) -> list[float]:
    """Linearly increasing drop-path rates over ``depth`` blocks, ending at ``rate`` (as in DeiT).

    Example:
        >>> stochastic_depth_rates(0.1, 3)
        [0.0, 0.05, 0.1]
    """
    return [round(rate * i / max(depth - 1, 1), 10) for i in range(depth)]
