"""The from-scratch NumPy MLP: hand-written backprop against finite differences and Keras autodiff, on real MNIST."""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.analysis.gradcheck import backprop_vs_autodiff, float64_clone, gradient_check
from zoo.analysis.numpy_mlp import NumpyMLP, as_features, from_keras, log_softmax, to_keras


def single_blas_thread():
    """Small matmuls run faster on one BLAS thread, and do not stall when the machine is busy (optional)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


@pytest.fixture(scope="module")
def digits(mnist_test):
    """32 real test digits as float64 pixels in [0, 1], and their labels."""
    _, split = mnist_test
    return split.images[:32].astype(np.float64) / 255.0, split.labels[:32]


def _perturbed(mlp: NumpyMLP, seed: int = 1) -> NumpyMLP:
    """Non-zero biases, so their gradients and copies are exercised too."""
    rng = np.random.default_rng(seed)
    mlp.set_params([p + 0.05 * rng.standard_normal(p.shape) for p in mlp.params])
    return mlp


def test_glorot_uniform_init_and_zero_biases():
    mlp = NumpyMLP([784, 300, 100, 10], seed=3)
    assert mlp.param_names == [
        "dense1/kernel",
        "dense1/bias",
        "dense2/kernel",
        "dense2/bias",
        "predictions/kernel",
        "predictions/bias",
    ]
    for (fan_in, fan_out), kernel, bias in zip([(784, 300), (300, 100), (100, 10)], mlp.params[::2], mlp.params[1::2]):
        limit = np.sqrt(6 / (fan_in + fan_out))
        assert kernel.dtype == np.float64 and kernel.shape == (fan_in, fan_out)
        assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
        assert kernel.std() == pytest.approx(limit / np.sqrt(3), rel=0.05)  # the variance of U(-limit, limit)
        assert not bias.any()
    same = NumpyMLP([784, 300, 100, 10], seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(mlp.params, same.params))


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_backprop_matches_finite_differences(digits, activation):
    x, y = digits
    mlp = _perturbed(NumpyMLP([784, 32, 16, 10], activation=activation, seed=0))
    result = gradient_check(mlp, x[:16], y[:16], max_params_per_variable=25, seed=2)
    assert result.dtype == "float64" and result.passed, result.to_dict()
    assert result.max_relative_error < 1e-5


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_backprop_matches_keras_autodiff(digits, activation):
    x, y = digits
    mlp = _perturbed(NumpyMLP([784, 32, 16, 10], activation=activation, seed=0))
    loss, grads = mlp.loss_and_gradients(x, y)

    # float64: the same weights in a float64 copy of the zoo's Keras MLP, differentiated by tf.GradientTape.
    model64 = float64_clone(to_keras(mlp))
    model64.set_weights(mlp.get_params())
    with tf.GradientTape() as tape:
        logits = model64(x.reshape(-1, 28, 28, 1), training=False)
        keras_loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
    keras_grads = tape.gradient(keras_loss, model64.trainable_variables)
    assert [v.path for v in model64.trainable_variables] == mlp.param_names
    assert float(keras_loss) == pytest.approx(loss, rel=1e-12)
    for name, ours, theirs in zip(mlp.param_names, grads, keras_grads):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-5, atol=1e-12, err_msg=name)
    assert max(backprop_vs_autodiff(mlp, x, y).values()) < 1e-8

    # float32: the zoo model as it is, within float32 round-off.
    model32 = to_keras(mlp)
    with tf.GradientTape() as tape:
        logits = model32(x.astype(np.float32).reshape(-1, 28, 28, 1), training=False)
        keras_loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
    for name, ours, theirs in zip(mlp.param_names, grads, tape.gradient(keras_loss, model32.trainable_variables)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-3, atol=1e-6, err_msg=name)


class ForgetsActivationDerivative(NumpyMLP):
    """A classic backprop bug: the error is passed back through W but not through f'(z)."""

    def loss_and_gradients(self, x, y):
        x = as_features(x)
        activations, pre = self._forward(x)
        log_p = log_softmax(pre[-1])
        delta = np.exp(log_p)
        delta[np.arange(len(y)), y] -= 1.0
        delta /= len(y)
        grads = [None] * len(self.params)
        for i in reversed(range(self.num_layers)):
            grads[2 * i], grads[2 * i + 1] = activations[i].T @ delta, delta.sum(axis=0)
            delta = delta @ self.params[2 * i].T  # missing: * f'(z)
        return float(-log_p[np.arange(len(y)), y].mean()), grads


def test_wrong_backprop_is_caught(digits):
    """The comparisons above can fail: without the activation's derivative both checks object."""
    x, y = digits
    broken = _perturbed(ForgetsActivationDerivative([784, 32, 16, 10], seed=0))
    result = gradient_check(broken, x[:16], y[:16], max_params_per_variable=25, seed=2)
    assert not result.passed
    assert set(result.failed) == {"dense1/kernel", "dense1/bias", "dense2/kernel", "dense2/bias"}
    vs_autodiff = backprop_vs_autodiff(broken, x[:16], y[:16])
    assert vs_autodiff["predictions/kernel"] < 1e-8 and vs_autodiff["dense1/kernel"] > 0.1


def test_forward_equals_the_keras_mlp(digits):
    x, _ = digits
    mlp = _perturbed(NumpyMLP([784, 32, 16, 10], activation="sigmoid", seed=0))
    model = to_keras(mlp)
    assert model.get_config()["hidden_units"] == [32, 16] and model.get_config()["activation"] == "sigmoid"
    keras_logits = keras.ops.convert_to_numpy(model(x.astype(np.float32).reshape(-1, 28, 28, 1), training=False))
    np.testing.assert_allclose(mlp.forward(x), keras_logits, atol=1e-5)

    # The other way: lenet_300_100 with its MNIST standardisation, folded into the first layer.
    keras.utils.set_random_seed(0)
    lenet = zoo.create("lenet_300_100")
    copy = from_keras(lenet)
    assert copy.layer_sizes == [784, 300, 100, 10] and copy.activation == "relu"
    expected = keras.ops.convert_to_numpy(lenet(x.astype(np.float32).reshape(-1, 28, 28, 1), training=False))
    np.testing.assert_allclose(copy.forward(x), expected, atol=1e-4)
    assert (copy.predict(x) == expected.argmax(1)).all()
    back = to_keras(copy)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(back(x.astype(np.float32).reshape(-1, 28, 28, 1))), expected, atol=1e-4
    )


def test_momentum_step_equals_keras_sgd_with_momentum(digits):
    """Full-batch steps, so batch order cannot matter: v = 0.9 v + g; w -= lr v is Keras' SGD(momentum=0.9)."""
    x, y = digits
    mlp = _perturbed(NumpyMLP([784, 16, 10], seed=4))
    model = to_keras(mlp)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    for _ in range(3):
        model.train_on_batch(x.astype(np.float32).reshape(-1, 28, 28, 1), y)
    mlp.fit(x, y, epochs=3, batch_size=len(x), lr=0.1, momentum=0.9)
    for name, ours, theirs in zip(mlp.param_names, mlp.params, model.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=2e-5, err_msg=name)


def test_short_fit_on_real_digits_generalises(mnist_test):
    from zoo import data

    _, train = data.load("mnist", "train")
    _, test = mnist_test
    mlp = NumpyMLP([784, 100, 10], activation="relu", seed=0)
    with single_blas_thread():
        history = mlp.fit(
            train.images[:2000],
            train.labels[:2000],
            epochs=10,
            batch_size=16,
            lr=0.01,
            momentum=0.9,
            seed=0,
            validation_data=(test.images[:500], test.labels[:500]),
        )
        accuracy = mlp.accuracy(test.images, test.labels)
    assert history["loss"][-1] < history["loss"][0] < np.log(10)
    assert len(history["val_accuracy"]) == 10 and history["accuracy"][-1] > 0.95
    assert accuracy > 0.85  # on the 10,000 held-out test digits; chance is ~0.10 (measured: 0.90)


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="expected at least two positive layer sizes"):
        NumpyMLP([784])
    with pytest.raises(ValueError, match="expected activation in"):
        NumpyMLP([4, 2], activation="tanh")
    mlp = NumpyMLP([4, 3])
    with pytest.raises(ValueError, match="expected 4 input features per example, received 5"):
        mlp.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"expected labels in \[0, 3\), received values in \[0, 3\]"):
        mlp.loss_and_gradients(np.zeros((2, 4)), np.array([0, 3]))
    with pytest.raises(ValueError, match="expected 2 integer labels"):
        mlp.loss(np.zeros((2, 4)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="expected lr > 0"):
        mlp.fit(np.zeros((2, 4)), np.array([0, 1]), lr=0.0)
    with pytest.raises(ValueError, match=r"expected predictions/kernel of shape \(4, 3\)"):
        mlp.set_params([np.zeros((3, 3)), np.zeros(3)])
    with pytest.raises(ValueError, match="expected an input_shape of 4 values"):
        to_keras(mlp, input_shape=(2, 3, 1))
    with pytest.raises(ValueError, match="expected a zoo MLP"):
        from_keras(zoo.create("lenet5"))
    assert as_features(np.full((1, 2, 2, 1), 255, np.uint8)).tolist() == [[1.0, 1.0, 1.0, 1.0]]
