"""The mixture prior: value, PRML 5.5.7 gradients against autodiff, stability, serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import logsumexp

from zoo.regularizers import SoftWeightSharing


def make_prior(**kwargs):
    prior = SoftWeightSharing(**{"components": 5, "init_range": (-0.4, 0.4), "init_std": 0.1, **kwargs})
    rng = np.random.default_rng(1)
    prior.means.assign(rng.normal(0, 0.3, prior.means.shape).astype("float32"))
    prior.log_var.assign(rng.normal(-4, 0.5, prior.log_var.shape).astype("float32"))
    prior.mixing_logits.assign(rng.normal(0, 1, prior.mixing_logits.shape).astype("float32"))
    return prior


def numpy_terms(prior, w):
    mu = keras.ops.convert_to_numpy(prior.all_means()).astype(np.float64)
    var = np.exp(prior.log_var.numpy().astype(np.float64))
    log_pi = keras.ops.convert_to_numpy(prior.log_mixing()).astype(np.float64)
    log_joint = log_pi - 0.5 * (np.log(2 * np.pi * var) + (w[:, None] - mu) ** 2 / var)
    gamma = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))
    return mu, var, np.exp(log_pi), log_joint, gamma


def test_value_is_the_negative_log_of_the_mixture():
    prior = make_prior()
    w = np.random.default_rng(2).normal(0, 0.3, 200)
    _, _, _, log_joint, _ = numpy_terms(prior, w)
    np.testing.assert_allclose(float(prior(w.astype("float32"))), -logsumexp(log_joint, axis=1).sum(), rtol=1e-5)


def test_gradients_match_prml_5_5_7():
    prior = make_prior(zero_component=False)
    w_np = np.random.default_rng(3).normal(0, 0.3, 300).astype("float32")
    w = tf.Variable(w_np)
    with tf.GradientTape() as tape:
        omega = prior(w)
    grad_w, grad_mu, grad_log_var, grad_logits = tape.gradient(
        omega, [w, prior.means.value, prior.log_var.value, prior.mixing_logits.value]
    )
    mu, var, pi, _, gamma = numpy_terms(prior, w_np.astype(np.float64))
    diff = w_np[:, None].astype(np.float64) - mu
    np.testing.assert_allclose(grad_w.numpy(), (gamma * diff / var).sum(1), rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(grad_mu.numpy(), (gamma * -diff / var).sum(0), rtol=2e-3, atol=1e-2)
    np.testing.assert_allclose(grad_logits.numpy(), (pi - gamma).sum(0), rtol=2e-3, atol=1e-3)
    # d/d log_var_j of -log(sum_j ...) = sum_i gamma_ij * (1 - (w_i - mu_j)^2 / var_j) / 2
    np.testing.assert_allclose(grad_log_var.numpy(), (gamma * 0.5 * (1 - diff**2 / var)).sum(0), rtol=2e-3, atol=1e-2)


def test_zero_component_is_exactly_zero_and_fixed_mixing_holds():
    prior = make_prior(zero_mixing=0.9)
    assert keras.ops.convert_to_numpy(prior.all_means())[0] == 0.0
    pi = np.exp(keras.ops.convert_to_numpy(prior.log_mixing()))
    assert pi[0] == pytest.approx(0.9) and pi.sum() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("weights", [[1e6, -1e6, 0.0], [1e-30, 3.0, -3.0]])
def test_finite_for_extreme_weights_and_tiny_variances(weights):
    prior = make_prior(gamma_prior=(2.0, 1e-3), beta_prior=(2.0, 1.0))
    prior.log_var.assign(np.full(prior.log_var.shape, -60.0, "float32"))  # sigma^2 ~ 1e-26
    w = tf.Variable(np.asarray(weights, "float32"))
    with tf.GradientTape() as tape:
        omega = prior(w)
    grads = tape.gradient(omega, [w, prior.means.value, prior.log_var.value, prior.mixing_logits.value])
    assert np.isfinite(float(omega))
    assert all(np.isfinite(g.numpy()).all() for g in grads)


def test_gamma_hyperprior_penalises_collapsing_components():
    loose, tight = make_prior(gamma_prior=(2.0, 1.0)), make_prior(gamma_prior=(2.0, 1.0))
    tight.log_var.assign(np.full(tight.log_var.shape, -30.0, "float32"))
    assert float(tight.hyperprior()) > float(loose.hyperprior())


def test_serialization_round_trip():
    prior = make_prior(zero_mixing=0.95, gamma_prior=(5.0, 0.1))
    restored = keras.layers.deserialize(keras.layers.serialize(prior))
    assert restored.get_config() == prior.get_config()
    w = np.linspace(-1, 1, 50).astype("float32")
    restored.set_weights(prior.get_weights())
    assert float(restored(w)) == pytest.approx(float(prior(w)), rel=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(components=1),
        dict(zero_mixing=1.5),
        dict(init_std=0.0),
        dict(gamma_prior=(0.0, 1.0)),
        dict(zero_component=False, zero_mixing=0.9),
    ],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SoftWeightSharing(**kwargs)


def test_gamma_prior_for_std_puts_the_precision_mode_at_one_over_std_squared():
    from zoo.regularizers import gamma_prior_for_std

    a, b = gamma_prior_for_std(0.005)
    assert (a - 1) / b == pytest.approx(1 / 0.005**2)
    with pytest.raises(ValueError, match="std > 0"):
        gamma_prior_for_std(0.0)
