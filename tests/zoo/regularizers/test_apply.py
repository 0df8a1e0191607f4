"""apply_soft_weight_sharing: the prior added to any zoo model, its own learning rate, saving and loading."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from zoo.regularizers import SoftWeightSharingModel, apply_soft_weight_sharing, set_learning_rate_multipliers
from zoo.regularizers.apply import shareable_layers
from zoo.regularizers.learning_rates import learning_rate_multipliers


@pytest.fixture(scope="module")
def digits(mnist_test):
    _, split = mnist_test
    return split.images[:256].astype("float32") / 255.0, split.labels[:256]


def _compile(model, optimizer=None):
    model.compile(
        optimizer=optimizer or keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def test_wraps_every_kernel_layer_and_predicts_like_the_model(digits):
    model = zoo.create("lenet5_caffe")
    wrapped = apply_soft_weight_sharing(model, components=5, num_examples=60000)
    assert wrapped.shared_layers == ["conv1", "conv2", "fc1", "predictions"]
    assert [v.path for _, v in wrapped.shared_variables()] == [
        "conv1/kernel",
        "conv1/bias",
        "conv2/kernel",
        "conv2/bias",
        "fc1/kernel",
        "fc1/bias",
        "predictions/kernel",
        "predictions/bias",
    ]
    images, _ = digits
    np.testing.assert_allclose(wrapped.predict(images[:8], verbose=0), model.predict(images[:8], verbose=0), atol=1e-6)
    # the prior starts where the weights are
    kernels = np.concatenate([np.ravel(layer.kernel) for layer in shareable_layers(model)])
    assert np.isclose(float(wrapped.prior.means[0]), kernels.min()) and np.isclose(
        float(wrapped.prior.means[-1]), kernels.max()
    )


def test_loss_gains_tau_over_n_times_the_prior(digits):
    model = zoo.create("lenet_300_100")
    wrapped = apply_soft_weight_sharing(
        model, components=4, tau=0.5, num_examples=1000, layers=["dense2"], include_bias=False
    )
    images, _ = digits
    wrapped(images[:4])
    (added,) = wrapped.losses
    expected = 0.5 / 1000 * float(wrapped.prior(keras.ops.reshape(model.get_layer("dense2").kernel, (-1,))))
    assert float(added) == pytest.approx(expected, rel=1e-5)


def test_bad_layer_names_and_unbuilt_models_are_refused():
    with pytest.raises(ValueError, match="no layer with a kernel named 'dense9'.*dense1, dense2, predictions"):
        apply_soft_weight_sharing(zoo.create("lenet_300_100"), layers=["dense9"])
    with pytest.raises(ValueError, match="No layer"):
        apply_soft_weight_sharing(zoo.create("lenet_300_100"), layers=lambda layer: False)
    with pytest.raises(ValueError, match="not built"):
        apply_soft_weight_sharing(keras.Sequential([keras.layers.Dense(3)]))
    with pytest.raises(ValueError, match="prior_lr_multiplier"):
        apply_soft_weight_sharing(zoo.create("lenet_300_100"), prior_lr_multiplier={"sigma": 2.0})


def test_training_pulls_weights_toward_the_mixture_on_real_digits(digits):
    images, labels = digits
    model = zoo.create("lenet_300_100")
    wrapped = apply_soft_weight_sharing(
        model, components=5, tau=0.2, num_examples=len(images), zero_mixing=0.9, init_std=0.05
    )
    _compile(wrapped)
    before = float(wrapped.complexity_loss())
    history = wrapped.fit(images, labels, batch_size=64, epochs=3, verbose=0)
    assert float(wrapped.complexity_loss()) < before
    assert history.history["accuracy"][-1] > 0.5  # it still learns the digits


def test_the_prior_has_its_own_learning_rate(digits):
    images, labels = digits
    moves = {}
    for multiplier in (0.0, 1.0, 3.0):
        keras.utils.set_random_seed(1)
        wrapped = apply_soft_weight_sharing(
            zoo.create("lenet_300_100"), components=4, num_examples=256, prior_lr_multiplier={"means": multiplier}
        )
        _compile(wrapped, keras.optimizers.SGD(0.05))
        means = np.array(wrapped.prior.means)
        wrapped.fit(images[:64], labels[:64], batch_size=64, epochs=1, verbose=0)
        moves[multiplier] = np.array(wrapped.prior.means) - means
    assert np.all(moves[0.0] == 0.0)
    assert np.abs(moves[1.0]).max() > 0
    np.testing.assert_allclose(moves[3.0], 3.0 * moves[1.0], rtol=1e-4, atol=1e-9)


def test_learning_rate_multipliers_reject_negatives_and_accumulate():
    opt = set_learning_rate_multipliers(keras.optimizers.Adam(), {"a/x": 2.0})
    set_learning_rate_multipliers(opt, {"b/y": 0.5})
    assert learning_rate_multipliers(opt) == {"a/x": 2.0, "b/y": 0.5}
    with pytest.raises(ValueError, match=">= 0"):
        set_learning_rate_multipliers(opt, {"a/x": -1.0})


def test_save_and_load_keep_the_prior_its_state_and_its_learning_rates(tmp_path, digits):
    images, labels = digits
    wrapped = apply_soft_weight_sharing(
        zoo.create("lenet5_caffe"),
        components=6,
        tau=1e-3,
        num_examples=256,
        zero_mixing=0.95,
        gamma_prior=(250.0, 0.1),
        prior_lr_multiplier=4.0,
    )
    _compile(wrapped)
    wrapped.fit(images[:64], labels[:64], batch_size=32, epochs=1, verbose=0)
    path = tmp_path / "sws.keras"
    wrapped.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, SoftWeightSharingModel)
    assert loaded.shared_layers == wrapped.shared_layers and loaded.prior.get_config() == wrapped.prior.get_config()
    for name in ("means", "log_var", "mixing_logits"):
        np.testing.assert_array_equal(np.array(getattr(loaded.prior, name)), np.array(getattr(wrapped.prior, name)))
    assert float(loaded.complexity_loss()) == pytest.approx(float(wrapped.complexity_loss()), rel=1e-6)
    np.testing.assert_allclose(loaded.predict(images[:8], verbose=0), wrapped.predict(images[:8], verbose=0), atol=1e-5)
    assert set(learning_rate_multipliers(loaded.optimizer).values()) == {4.0}
    loaded.fit(images[:64], labels[:64], batch_size=32, epochs=1, verbose=0)  # and it keeps training


def test_trains_under_a_tf_distribute_strategy_with_its_own_learning_rate(digits):
    import tensorflow as tf

    images, labels = digits
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        wrapped = apply_soft_weight_sharing(
            zoo.create("lenet_300_100"),
            components=4,
            num_examples=256,
            prior_lr_multiplier={"means": 0.0, "log_var": 1.0},
        )
        _compile(wrapped, keras.optimizers.SGD(0.05))
    means, log_var = np.array(wrapped.prior.means), np.array(wrapped.prior.log_var)
    wrapped.fit(images[:64], labels[:64], batch_size=32, epochs=1, verbose=0)
    np.testing.assert_array_equal(np.array(wrapped.prior.means), means)
    assert np.abs(np.array(wrapped.prior.log_var) - log_var).max() > 0
