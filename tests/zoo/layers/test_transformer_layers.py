"""Vision-transformer layers: tokens at odd image sizes, resized position embeddings, stochastic depth, round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from zoo.layers.transformer import (
    ClassToken,
    ConvTokenizer,
    PatchEmbedding,
    PositionEmbedding,
    SequencePooling,
    StochasticDepth,
    TransformerBlock,
    resize_position_table,
    stochastic_depth_rates,
)


@pytest.mark.parametrize("size, grid", [(28, 7), (30, 8), (32, 8), (9, 3)])
def test_patches_cover_odd_sizes_by_padding(size, grid):
    layer = PatchEmbedding(4, 8)
    tokens = layer(np.ones((2, size, size, 3), "float32"))
    assert tuple(tokens.shape) == (2, grid * grid, 8) and layer.grid(size, size) == (grid, grid)


@pytest.mark.parametrize("size", [7, 28, 32])
def test_the_convolutional_tokenizer_halves_each_stage(size):
    layer = ConvTokenizer(16, layers=2)
    side = -(-(-(-size // 2)) // 2)
    assert tuple(layer(np.ones((1, size, size, 1), "float32")).shape) == (1, side * side, 16)


def test_a_resized_position_table_keeps_the_class_token_and_interpolates_the_grid():
    grid = np.arange(16, dtype="float32").reshape(1, 16, 1)
    table = np.concatenate([np.full((1, 1, 1), -5.0, "float32"), grid], axis=1)
    resized = resize_position_table(table, (4, 4), (8, 8), extra_tokens=1)
    assert resized.shape == (1, 65, 1) and resized[0, 0, 0] == -5.0
    assert resized[0, 1:].min() >= 0.0 and resized[0, 1:].max() <= 15.0
    same = resize_position_table(table, (4, 4), (4, 4), extra_tokens=1)
    np.testing.assert_allclose(same, table, atol=1e-5)


def test_attention_blocks_at_odd_token_counts_and_their_round_trip(tmp_path):
    tokens = keras.Input((9, 2))
    x = keras.layers.Dense(16)(tokens)
    x = ClassToken()(x)
    x = PositionEmbedding((3, 3), extra_tokens=1)(x)
    x = TransformerBlock(16, 4, 32, dropout=0.1, drop_path=0.1)(x)
    x = SequencePooling()(x)
    model = keras.Model(tokens, x)
    inputs = np.random.default_rng(0).normal(size=(3, 9, 2)).astype("float32")
    assert tuple(model(inputs).shape) == (3, 16)
    model.save(tmp_path / "blocks.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "blocks.keras")(inputs), model(inputs), atol=1e-5)
    with pytest.raises(ValueError, match="does not split into heads"):
        TransformerBlock(10, 3, 8)


def test_stochastic_depth_drops_whole_examples_and_keeps_the_mean():
    layer = StochasticDepth(0.25, seed=1)
    x = np.ones((4000, 3), "float32")
    dropped = np.asarray(layer(x, training=True))
    assert np.allclose(np.unique(dropped), [0.0, 1.0 / 0.75]) and abs(dropped.mean() - 1.0) < 0.05
    assert np.all((dropped == 0).all(axis=1) | (dropped > 0).all(axis=1))  # per example, not per element
    np.testing.assert_array_equal(layer(x, training=False), x)
    assert stochastic_depth_rates(0.2, 5) == [0.0, 0.05, 0.1, 0.15, 0.2]


def test_a_vit_fine_tunes_at_another_image_size_with_resized_positions():
    from zoo.training.finetune import with_new_head

    small = zoo.create("vit_tiny_patch4_28", dim=32, depth=2, heads=2)
    bigger, transferred = with_new_head(small, "vit_tiny_patch4_28", {"num_classes": 3, "input_shape": [36, 36, 1]})
    assert "positions" in transferred and bigger.get_layer("positions").get_weights()[0].shape == (1, 82, 32)
    np.testing.assert_array_equal(
        bigger.get_layer("block1").get_weights()[0], small.get_layer("block1").get_weights()[0]
    )
    assert bigger.output_shape == (None, 3)
