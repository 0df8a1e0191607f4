"""The generative families' layers: shapes (odd sizes too), serialization, the reparameterisation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from zoo.layers.generative import (
    Downsample,
    Sampling,
    SinusoidalEmbedding,
    SpatialAttention,
    TimeResidualBlock,
    Upsample,
)


def _round_trip(layer):
    return type(layer).from_config(layer.get_config())


def test_sampling_is_the_reparameterisation_and_serializes():
    mean, log_var, eps = np.full((3, 2), 1.0), np.full((3, 2), np.log(4.0)), np.full((3, 2), 0.5)
    np.testing.assert_allclose(Sampling()([mean, log_var, eps]), 1.0 + 2.0 * 0.5)
    drawn = np.asarray(Sampling(seed=3)([np.zeros((5000, 1)), np.zeros((5000, 1))]))
    assert abs(drawn.mean()) < 0.05 and abs(drawn.std() - 1.0) < 0.05
    assert _round_trip(Sampling(seed=3)).seed == 3


def test_sinusoidal_embedding_distinguishes_timesteps():
    layer = SinusoidalEmbedding(16)
    e = np.asarray(layer(np.array([0.0, 1.0, 500.0])))
    assert e.shape == (3, 16) and np.allclose(e[0, :8], 0.0) and np.allclose(e[0, 8:], 1.0)
    assert np.linalg.norm(e[1] - e[2]) > 1.0
    assert _round_trip(layer).dim == 16
    with pytest.raises(ValueError, match="dim must be an even integer"):
        SinusoidalEmbedding(7)


@pytest.mark.parametrize("size", [7, 14, 28])
def test_unet_blocks_keep_or_halve_odd_and_even_sizes(size):
    x = np.random.default_rng(0).normal(size=(2, size, size, 12)).astype("float32")
    embedding = np.ones((2, 32), "float32")
    block = TimeResidualBlock(24, dropout=0.1)
    assert tuple(block([x, embedding]).shape) == (2, size, size, 24)
    assert tuple(SpatialAttention(heads=3)(x).shape) == x.shape
    down = Downsample(12)(x)
    assert tuple(down.shape) == (2, -(-size // 2), -(-size // 2), 12)
    assert tuple(Upsample(6)(down).shape)[1] == 2 * -(-size // 2)


def test_blocks_round_trip_through_a_keras_file(tmp_path):
    images, embedding = keras.Input((8, 8, 4)), keras.Input((16,))
    x = TimeResidualBlock(8)([images, embedding])
    x = SpatialAttention(heads=2)(x)
    x = Upsample(4)(Downsample(8)(x))
    model = keras.Model([images, embedding], x)
    inputs = [np.random.default_rng(1).normal(size=(2, 8, 8, 4)).astype("float32"), np.ones((2, 16), "float32")]
    model.save(tmp_path / "blocks.keras")
    loaded = keras.saving.load_model(tmp_path / "blocks.keras")
    np.testing.assert_allclose(loaded(inputs), model(inputs), atol=1e-6)
