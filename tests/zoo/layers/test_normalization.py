import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import ConvNormAct, FastLayerNormalization, FusedBatchNormalization
from zoo.layers.transformer import TransformerBlock


@pytest.fixture
def x(real_images):
    return real_images((16, 16, 3), n=6)


def _pair(dtype, shape, **kwargs):
    """The fused layer and the same layer on Keras' path, with the same (non-trivial) weights."""
    fused = FusedBatchNormalization(dtype=dtype, **kwargs)
    reference = FusedBatchNormalization(dtype=dtype, **kwargs)
    reference.use_fused_kernel = False
    fused.build(shape)
    reference.build(shape)
    rng = np.random.default_rng(0)
    weights = [w + rng.uniform(0.1, 0.5, w.shape).astype("float32") for w in fused.get_weights()]
    fused.set_weights(weights)
    reference.set_weights(weights)
    return fused, reference


def _numpy(t):
    return keras.ops.convert_to_numpy(keras.ops.cast(t, "float32"))


@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-5), ("mixed_bfloat16", 2e-2)])
def test_fused_kernel_matches_keras_batch_normalization(x, dtype, tolerance):
    fused, reference = _pair(dtype, x.shape, momentum=0.9, epsilon=1e-5)
    assert fused.fused(x) and not reference.fused(x)
    for training in (True, True, False):  # two updates of the moving statistics, then inference
        out, expected = fused(x, training=training), reference(x, training=training)
        assert out.dtype == expected.dtype == tf.as_dtype(fused.compute_dtype)
        np.testing.assert_allclose(_numpy(out), _numpy(expected), rtol=tolerance, atol=tolerance)
    # moving mean / variance follow Keras' rule (biased batch variance), not the kernel's unbiased one
    for got, want in zip(fused.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(fused.moving_variance.numpy(), 1.0 + 0.0 * fused.moving_variance.numpy())


def test_fused_kernel_gradients_match(x):
    fused, reference = _pair("float32", x.shape)
    target = tf.constant(np.linspace(-1.0, 1.0, np.prod(x.shape)).reshape(x.shape), "float32")
    grads = []
    for layer in (fused, reference):
        inputs = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum((layer(inputs, training=True) - target) ** 2)
        grads.append(tape.gradient(loss, [inputs, *layer.trainable_variables]))
    for got, want in zip(*grads):  # float32 round-off differs between the kernels: compare on the gradient's scale
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-4 * np.abs(want.numpy()).max())


def test_unsupported_inputs_take_keras_path(x):
    layer = FusedBatchNormalization()
    flat = np.reshape(x, (x.shape[0], -1, 3))  # 3-D: Keras' path
    assert not layer.fused(flat)
    assert layer(flat, training=True).shape == flat.shape
    assert not FusedBatchNormalization(axis=1).fused(x)  # channels-first
    assert not FusedBatchNormalization(synchronized=True).fused(x)
    assert not layer.fused(x, mask=np.ones(x.shape[:-1], bool))
    assert not layer.fused(x.astype("float64"))


def test_same_variables_as_keras_layer_and_roundtrip(x):
    """Checkpoints and presets saved with Keras' layer load into the fused one and back."""
    keras_layer = keras.layers.BatchNormalization()
    keras_layer.build(x.shape)
    keras_layer.set_weights([w + 0.25 for w in keras_layer.get_weights()])
    fused = FusedBatchNormalization()
    fused.build(x.shape)
    assert [v.path.split("/")[-1] for v in fused.weights] == [v.path.split("/")[-1] for v in keras_layer.weights]
    fused.set_weights(keras_layer.get_weights())
    np.testing.assert_allclose(_numpy(fused(x)), _numpy(keras_layer(x)), rtol=1e-5, atol=1e-5)
    clone = keras.layers.deserialize(keras.layers.serialize(fused))
    assert isinstance(clone, FusedBatchNormalization) and clone.use_fused_kernel
    assert clone.get_config() == fused.get_config()


def test_conv_norm_act_uses_the_fused_layer(x):
    block = ConvNormAct(4, 3)
    block(x)
    assert isinstance(block.bn, FusedBatchNormalization) and block.bn.fused(block.conv(x))


@pytest.fixture
def tokens(real_images):
    """Real CIFAR-10 pixels as (batch, tokens, dim) sequences: 4x4 patches of 16x16 images, 48 values each."""
    images = real_images((16, 16, 3), n=4)
    patches = tf.image.extract_patches(images, [1, 4, 4, 1], [1, 4, 4, 1], [1, 1, 1, 1], "VALID")
    return tf.reshape(patches, (4, 16, 48)).numpy()


@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-5), ("mixed_bfloat16", 2e-2)])
def test_fast_layer_norm_matches_keras_forward_and_gradients(tokens, dtype, tolerance):
    fast = FastLayerNormalization(epsilon=1e-6, dtype=dtype)
    reference = FastLayerNormalization(epsilon=1e-6, dtype=dtype)
    reference.use_fast_path = False
    for layer in (fast, reference):
        layer.build(tokens.shape)
        layer.set_weights([w + np.linspace(0.1, 0.5, w.size, dtype="float32") for w in layer.get_weights()])
    assert fast.fast(tokens) and not reference.fast(tokens)
    target = tf.constant(np.linspace(-1.0, 1.0, tokens.size).reshape(tokens.shape), "float32")

    @tf.function
    def step(layer, inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = layer(inputs)
            loss = tf.reduce_sum((tf.cast(outputs, "float32") - target) ** 2)
        return outputs, tape.gradient(loss, [inputs, *layer.trainable_variables])

    for run in (step, step.python_function):  # graph (as in fit) and eager
        (out, grads), (expected, expected_grads) = run(fast, tf.constant(tokens)), run(reference, tf.constant(tokens))
        assert out.dtype == expected.dtype == tf.as_dtype(fast.compute_dtype)
        np.testing.assert_allclose(_numpy(out), _numpy(expected), rtol=tolerance, atol=tolerance)
        for got, want in zip(grads, expected_grads):
            want = _numpy(want)
            np.testing.assert_allclose(_numpy(got), want, rtol=0, atol=tolerance * np.abs(want).max())


def test_fast_layer_norm_falls_back_where_it_must(tokens):
    assert not FastLayerNormalization(axis=1).fast(tokens)
    assert not FastLayerNormalization(center=False).fast(tokens)
    assert not FastLayerNormalization(scale=False).fast(tokens)
    assert not FastLayerNormalization().fast(tokens.astype("float64"))
    layer = FastLayerNormalization(axis=1)
    assert layer(tokens).shape == tokens.shape
    keras_layer = keras.layers.LayerNormalization(axis=1)
    keras_layer.build(tokens.shape)
    assert [w.shape for w in layer.weights] == [w.shape for w in keras_layer.weights]


def test_transformer_block_uses_the_fast_layer_norm(tokens):
    block = TransformerBlock(48, 2, 96)
    block(tokens)
    assert isinstance(block.norm1, FastLayerNormalization) and block.norm1.fast(tokens)
    clone = keras.layers.deserialize(keras.layers.serialize(block))
    clone.set_weights(block.get_weights())
    np.testing.assert_allclose(_numpy(clone(tokens)), _numpy(block(tokens)), rtol=1e-5, atol=1e-5)
