"""Gradient checking of zoo models on real MNIST digits, and that a wrong gradient fails it."""

import argparse
import json

import keras
import numpy as np
import pytest

import zoo
from zoo.analysis.gradcheck import _compare, float64_clone, gradient_check, relative_error


@pytest.fixture(scope="module")
def batch(mnist_test):
    """Eight real test digits (uint8) and their labels."""
    _, split = mnist_test
    return split.images[:8], split.labels[:8]


@keras.saving.register_keras_serializable(package="kzoo_tests")
class Scale(keras.layers.Layer):
    """``x * s`` per feature; ``wrong_gradient=True`` keeps the value but doubles the gradient.

    ``stop_gradient(y - 2y) + 2y`` equals ``y`` forward, while autodiff only sees ``2y``.
    """

    def __init__(self, wrong_gradient: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.wrong_gradient = wrong_gradient

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, x):
        y = x * self.scale
        return keras.ops.stop_gradient(y - 2.0 * y) + 2.0 * y if self.wrong_gradient else y

    def get_config(self):
        return {**super().get_config(), "wrong_gradient": self.wrong_gradient}


def _small_model(wrong_gradient: bool, kinks: bool = False) -> keras.Model:
    """Flatten, Dense(16, tanh), Scale, Dense(10); with ``kinks`` a ReLU convolution and max pooling first."""
    keras.utils.set_random_seed(0)
    inputs = x = keras.Input((28, 28, 1))
    if kinks:
        x = keras.layers.Conv2D(4, 5, activation="relu", name="conv")(x)
        x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu" if kinks else "tanh", name="hidden")(x)
    x = Scale(wrong_gradient, name="scale")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="predictions")(x))


@pytest.mark.parametrize("name", ["lenet5", "lenet_300_100"])
def test_zoo_models_pass(batch, name):
    keras.utils.set_random_seed(0)
    model = zoo.create(name)
    result = gradient_check(model, *batch, max_params_per_variable=5, seed=0)
    assert result.passed, result.to_dict()
    assert result.dtype == "float64" and result.max_relative_error < 1e-4  # measured: about 1e-7
    assert [v.name for v in result.variables] == [v.path for v in model.trainable_variables]
    assert all(v.checked == min(5, int(np.prod(v.shape))) for v in result.variables)
    assert model.trainable_variables[0].dtype == "float32"  # checked on a float64 clone, the model is untouched


@pytest.mark.parametrize("kinks", [False, True], ids=["tanh", "relu_maxpool"])
def test_a_wrong_gradient_fails(batch, kinks):
    honest = gradient_check(_small_model(wrong_gradient=False, kinks=kinks), *batch, max_params_per_variable=8)
    assert honest.passed, honest.to_dict()
    broken = _small_model(wrong_gradient=True, kinks=kinks)
    x = batch[0].astype("float32") / 255.0
    np.testing.assert_allclose(broken(x), _small_model(False, kinks)(x), atol=1e-6)  # same function ...
    result = gradient_check(broken, *batch, max_params_per_variable=8)
    assert not result.passed  # ... wrong gradient: everything before the output layer is doubled
    before = {"conv/kernel", "conv/bias"} if kinks else set()
    assert set(result.failed) == before | {"hidden/kernel", "hidden/bias", "scale/scale"}
    assert result.max_relative_error > 0.3


def test_float32_mode_on_a_smooth_model(batch):
    keras.utils.set_random_seed(0)
    result = gradient_check(zoo.create("lenet5"), *batch, float64=False, max_params_per_variable=3)
    assert result.dtype == "float32" and result.epsilon == 1e-2 and result.passed, result.to_dict()


def test_float64_clone_computes_the_same_function(batch):
    keras.utils.set_random_seed(0)
    model = zoo.create("lenet5_caffe")
    clone = float64_clone(model)
    assert {w.dtype for w in clone.weights} == {"float64"} and clone.inputs[0].dtype == "float64"
    x = batch[0].astype(np.float64) / 255.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-5)


def test_relative_error_and_kinks():
    np.testing.assert_allclose(
        relative_error(np.array([2.0, 0.0, 1e-9]), np.array([1.0, 0.0, 0.0]), floor=1e-6), [0.5, 0.0, 1e-3]
    )
    # f = |w| at w = 0, 0, 0, 2 with epsilon 0.1: at 0 the one-sided slopes are -1 and +1 and the central
    # difference 0. Analytic 0 agrees; 1 is a subgradient (a kink, excused); 3 is not and fails; at 2 all agree.
    w = np.array([0.0, 0.0, 0.0, 2.0])
    plus, minus, base = np.abs(w + 0.1), np.abs(w - 0.1), np.abs(w)
    check = _compare("w", (4,), np.array([0.0, 1.0, 3.0, 1.0]), plus, minus, base, 0.1, 1e-3, 1e-6)
    assert check.kinks == 1 and not check.passed and check.max_relative_error == pytest.approx(1.0)
    keep = [0, 1, 3]
    check = _compare("w", (3,), np.array([0.0, 1.0, 1.0]), plus[keep], minus[keep], base[keep], 0.1, 1e-3, 1e-6)
    assert check.kinks == 1 and check.passed and check.max_relative_error < 1e-12


def test_bad_arguments(batch):
    model = _small_model(False)
    with pytest.raises(ValueError, match="expected a non-empty batch with one integer label per example"):
        gradient_check(model, batch[0], batch[1][:3])
    with pytest.raises(ValueError, match="expected a positive integer max_params_per_variable"):
        gradient_check(model, *batch, max_params_per_variable=0)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(10)

        def call(self, x, training=None):
            return self.dense(keras.ops.reshape(x, (-1, 784)))

    subclassed = Subclassed()
    subclassed(batch[0][:1].astype("float32"))
    with pytest.raises(ValueError, match="expected a Functional or Sequential model"):
        gradient_check(subclassed, *batch)
    assert gradient_check(subclassed, *batch, float64=False, max_params_per_variable=3).dtype == "float32"


def _parser():
    from zoo.cli.teaching import add_parsers

    parser = argparse.ArgumentParser(prog="zoo")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser


def test_gradcheck_command(capsys):
    parser = _parser()
    args = parser.parse_args(["gradcheck", "lenet5"])
    assert (args.dataset, args.weights, args.examples, args.max_params, args.float32) == ("mnist", None, 8, 10, False)
    args = parser.parse_args(["gradcheck", "lenet_300_100", "--examples", "4", "--max-params", "3", "--json"])
    assert args.fn(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] and report["autodiff"]["examples"] == 4
    assert report["numpy_backprop"]["passed"] and max(report["numpy_backprop"]["vs_autodiff"].values()) < 1e-8
    args = parser.parse_args(["gradcheck", "lenet5", "--examples", "2", "--max-params", "2"])
    assert args.fn(args) == 0
    out = capsys.readouterr().out
    assert "conv1/kernel" in out and out.strip().endswith("PASS") and "NumPy MLP" not in out
    # trained weights (the packaged lenet5:mnist preset), loaded as zoo evaluate loads them
    args = parser.parse_args(
        ["gradcheck", "lenet5", "--weights", "mnist", "--examples", "2", "--max-params", "2", "--json"]
    )
    assert args.fn(args) == 0
    assert json.loads(capsys.readouterr().out)["weights"] == "mnist"
    with pytest.raises(ValueError, match="expected --examples >= 1"):
        args = parser.parse_args(["gradcheck", "lenet5", "--examples", "0"])
        args.fn(args)


JAX_SCRIPT = r"""
import json
import keras, zoo
from zoo import data
from zoo.analysis.gradcheck import gradient_check

_, split = data.load("mnist", "test")
x, y = split.images[:4], split.labels[:4]
result = gradient_check(zoo.create("lenet5"), x, y, float64=False, max_params_per_variable=3)
try:
    gradient_check(zoo.create("lenet5"), x, y)
    refused = ""
except ValueError as err:
    refused = str(err)
print(json.dumps({"backend": keras.config.backend(), "passed": result.passed, "refused": refused}))
"""


@pytest.mark.slow
def test_jax_backend_float32_check():
    import os
    import subprocess
    import sys

    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax" and result["passed"]
    assert "expected the tensorflow Keras backend for a float64 check" in result["refused"]
