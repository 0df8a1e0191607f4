import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import gelu
from zoo.layers.transformer import TransformerBlock


@pytest.fixture
def pre_activations(real_images):
    """Real CIFAR-10 pixels standardised and spread over [-4, 4]: where GELU bends, and its tails."""
    images = real_images((16, 16, 3), n=4)
    return (4.0 * (images - images.mean()) / images.std()).clip(-4.0, 4.0).reshape(4, 64, 12)


def _grad(activation, x, dtype):
    @tf.function
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = activation(inputs)
            loss = tf.reduce_sum(tf.cast(outputs, "float32") * tf.cast(inputs, "float32"))
        return outputs, tape.gradient(loss, inputs)

    inputs = tf.constant(x, dtype)
    return step(inputs), step.python_function(inputs)  # graph (as in fit) and eager


@pytest.mark.parametrize("dtype, tolerance", [("float32", 1e-6), ("bfloat16", 2e-2)])
def test_gelu_matches_keras_exact_gelu_and_its_gradient(pre_activations, dtype, tolerance):
    reference = _grad(lambda t: keras.activations.gelu(t, approximate=False), pre_activations, dtype)
    for (out, grad), (expected, expected_grad) in zip(_grad(gelu, pre_activations, dtype), reference):
        assert out.dtype == grad.dtype == tf.as_dtype(dtype)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(tf.cast(out, "float32")),
            keras.ops.convert_to_numpy(tf.cast(expected, "float32")),
            rtol=tolerance,
            atol=tolerance,
        )
        np.testing.assert_allclose(
            tf.cast(grad, "float32").numpy(), tf.cast(expected_grad, "float32").numpy(), rtol=tolerance, atol=tolerance
        )


def test_gelu_gradient_is_the_derivative(pre_activations):
    """Against float64 finite differences (Keras' path), not only against Keras' float32 gradient."""
    x = pre_activations.astype("float32").ravel()[:200]
    (_, grad), _ = _grad(gelu, x, "float32")
    x64, h = x.astype("float64"), 1e-6
    numeric = (
        keras.ops.convert_to_numpy(gelu(x64 + h)) * (x64 + h) - keras.ops.convert_to_numpy(gelu(x64 - h)) * (x64 - h)
    ) / (2 * h)
    np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-5, atol=1e-5)


def test_gelu_takes_keras_path_for_float64():
    x = np.array([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gelu(x)), keras.activations.gelu(x, approximate=False))
    assert keras.backend.standardize_dtype(gelu(x).dtype) == "float64"


def test_transformer_block_mlp_uses_it_and_serializes(pre_activations):
    block = TransformerBlock(12, 2, 24)
    block(pre_activations)
    assert block.fc1.activation is gelu
    clone = keras.layers.deserialize(keras.layers.serialize(block))
    clone.set_weights(block.get_weights())
    assert clone.fc1.activation is gelu
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(pre_activations)),
        keras.ops.convert_to_numpy(block(pre_activations)),
        atol=1e-6,
    )
    dense = keras.layers.deserialize(keras.layers.serialize(block.fc1))  # the function by its registered name
    assert dense.activation is gelu
