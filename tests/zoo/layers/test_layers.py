import keras
import numpy as np
import pytest

from zoo.layers import BasicBlock, BottleneckBlock, ConvNormAct, PadShortcut


def _roundtrip(layer, x):
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert clone.built  # the build config travels with the layer
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(x), clone(x), rtol=1e-6, atol=1e-6)
    return clone


@pytest.fixture
def x(real_images):
    return real_images((15, 15, 3), n=2)


def test_conv_norm_act_shape_and_roundtrip(x):
    layer = ConvNormAct(8, 3, strides=2)
    assert tuple(layer(x).shape) == (2, 8, 8, 8)
    assert layer.conv.use_bias is False
    _roundtrip(layer, x)
    plain = ConvNormAct(4, 1, norm=False, activation=None)
    assert plain.bn is None and plain.conv.use_bias


def test_pad_shortcut_odd_sizes_and_no_parameters(x):
    y = PadShortcut(7, strides=2)(x)
    assert tuple(y.shape) == (2, 8, 8, 7)
    np.testing.assert_allclose(np.asarray(y)[..., 2:5], x[:, ::2, ::2, :])
    np.testing.assert_allclose(np.asarray(y)[..., :2], 0)
    with pytest.raises(ValueError, match="cannot shrink"):
        PadShortcut(2)(x)


@pytest.mark.parametrize("shortcut, shortcut_params", [("pad", 0), ("projection", 3 * 16 + 2 * 16)])
def test_basic_block_shortcuts(x, shortcut, shortcut_params):
    block = BasicBlock(16, strides=2, shortcut=shortcut)
    y = block(x)
    assert tuple(y.shape) == (2, 8, 8, 16)
    assert float(np.min(y)) >= 0.0  # ends with ReLU
    branch = (3 * 3 * 3 * 16 + 4 * 16) + (3 * 3 * 16 * 16 + 4 * 16)
    assert block.count_params() == branch + shortcut_params + (2 * 16 if shortcut == "projection" else 0)
    _roundtrip(block, x)


def test_identity_block_has_no_shortcut_layer(x):
    block = BasicBlock(3, shortcut="projection")
    block(x)
    assert block.shortcut_layer is None


def test_bottleneck_expands_by_four(x):
    block = BottleneckBlock(4, strides=2)
    assert tuple(block(x).shape) == (2, 8, 8, 16)
    _roundtrip(block, x)


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="shortcut"):
        BasicBlock(8, shortcut="dense")
    with pytest.raises(ValueError, match="padding"):
        ConvNormAct(8, 3, padding="full")
