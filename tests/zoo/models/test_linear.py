"""The classic linear models: perceptron rule, logistic unit, softmax regression, least squares."""

import keras
import numpy as np
import pytest

import zoo
from zoo.data.tabular import load_tabular
from zoo.losses import PerceptronCriterion
from zoo.models.linear import least_squares


def _pixels(split, n=None):
    return split.images[:n].astype("float32") / 255.0, split.labels[:n]


def test_two_class_units_output_zero_and_z():
    model = zoo.create("logistic")
    z = model.get_layer("predictions")
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    logits = np.asarray(model(x))
    np.testing.assert_array_equal(logits[:, 0], 0.0)
    np.testing.assert_allclose(keras.ops.softmax(logits)[:, 1], keras.ops.sigmoid(logits[:, 1]), rtol=1e-6)
    assert z.units == 1
    with pytest.raises(ValueError, match="mnist:2,5"):
        zoo.create("perceptron", num_classes=10)
    with pytest.raises(ValueError, match="output"):
        zoo.create("softmax_regression", output="probit")


def test_perceptron_criterion_gradient_is_the_perceptron_rule(mnist_test):
    """d(loss)/dw = -t x on mistakes, 0 on correct examples: one SGD step (lr 1, batch 1) is w <- w + t x."""
    import tensorflow as tf

    x, _ = _pixels(mnist_test[1], 2)
    model = zoo.create("perceptron", input_mean=None, input_std=None)
    kernel = model.get_layer("predictions").kernel
    kernel.assign(np.full(kernel.shape, 1e-3, "float32"))  # z > 0 for any image: predicts class 1
    for label, expected_sign in ((0, 1.0), (1, 0.0)):  # class 0 is a mistake, class 1 is correct
        with tf.GradientTape() as tape:
            loss = PerceptronCriterion()(np.array([label]), model(x[:1]))
        grad = tape.gradient(loss, kernel).numpy().ravel()
        np.testing.assert_allclose(grad, expected_sign * x[0].ravel(), atol=1e-7)  # t = -1: grad = -t x = x


def test_perceptron_converges_on_separable_real_digits(mnist_test):
    """Zeros and ones of MNIST are linearly separable: the mistake-driven rule reaches zero training errors."""
    from zoo import data

    _, split = data.load("mnist:0,1", "test")
    x, y = _pixels(split, 400)
    model = zoo.create("perceptron")
    model.compile(
        optimizer=keras.optimizers.SGD(1.0),
        loss=PerceptronCriterion(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    for epoch in range(20):
        model.fit(x, y, batch_size=1, epochs=1, verbose=0, shuffle=True)
        mistakes = int(np.sum(np.argmax(model.predict(x, verbose=0), -1) != y))
        if mistakes == 0:
            break
    assert mistakes == 0, f"{mistakes} mistakes left after {epoch + 1} epochs"
    held_out, labels = _pixels(split)
    assert np.mean(np.argmax(model.predict(held_out[400:], verbose=0), -1) == labels[400:]) > 0.98


def test_least_squares_matches_the_normal_equations():
    train = load_tabular("diabetes", "train")
    w, b = least_squares(train.features, train.targets)
    design = np.c_[train.features.astype(np.float64), np.ones(len(train))]
    normal = np.linalg.solve(design.T @ design, design.T @ train.targets.astype(np.float64))
    np.testing.assert_allclose(np.r_[w, b[None]], normal, rtol=1e-6)


def test_gradient_descent_reaches_least_squares():
    keras.utils.set_random_seed(0)
    train = load_tabular("diabetes", "train")
    model = zoo.create("linear_regression", **train.model_overrides())
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=model.training_loss())
    steps = 3000  # full-batch steps, run as one epoch over the tiled data (per-epoch overhead dominates otherwise)
    model.fit(
        np.tile(train.features, (steps, 1)),
        np.tile(train.targets, (steps, 1)),
        batch_size=len(train),
        epochs=1,
        shuffle=False,
        verbose=0,
    )
    w, b = least_squares(train.features, train.targets)
    predicted = np.asarray(model.predict(train.features, verbose=0), dtype=np.float64)
    np.testing.assert_allclose(predicted, train.features.astype(np.float64) @ w + b, rtol=0, atol=0.05)


@pytest.mark.parametrize("name", ["linear_regression"])
def test_regression_variant_round_trips(name, tmp_path):
    test = load_tabular("diabetes", "test")
    model = zoo.create(name, **load_tabular("diabetes", "train").model_overrides())
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(model(test.features[:4]), clone(test.features[:4]), rtol=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(model(test.features[:4]), loaded(test.features[:4]), rtol=1e-6)
    with pytest.raises(ValueError, match="input_mean"):
        zoo.create(name, num_features=3, input_mean=[0.0], input_std=[1.0, 1.0, 1.0])
