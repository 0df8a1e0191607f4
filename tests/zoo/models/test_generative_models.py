"""The generative families: every variant builds, runs, round-trips; the diffusion forward process and the VAE's
bounds follow their closed forms; sampling is deterministic for a seed."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from zoo.models.diffusion import noise_schedule
from zoo.training.generative import sample

GENERATIVE = (
    zoo.list_models(task="image_generation") + zoo.list_models(task="autoencoding") + zoo.list_models(task="diffusion")
)


def _inputs(model, images):
    """A deterministic call of each family: latents for a GAN, images for a VAE's encoder, (x_0, eps, t) for diffusion."""
    rng = np.random.default_rng(0)
    if hasattr(model, "generate"):
        return rng.normal(size=(2, model.latent_dim)).astype("float32"), model.generate
    if hasattr(model, "encode"):
        return images, lambda x: model.decode(model.encode(x)[0])
    x = {"images": images, "noise": rng.normal(size=images.shape).astype("float32"), "timesteps": np.array([3, 700])}
    return x, lambda inputs: model(inputs, training=False)


@pytest.mark.parametrize("name", GENERATIVE)
def test_variant_builds_runs_and_round_trips_through_a_keras_file(name, real_images, tmp_path):
    model = zoo.create(name)
    assert model.count_params() > 10_000 and zoo.info(name)["parameters"] == model.count_params()
    x, run = _inputs(model, real_images(tuple(model.image_shape)))
    y = np.asarray(run(x))
    assert y.shape == (2, *model.image_shape) and np.isfinite(y).all()
    clone = type(model).from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    model.save(tmp_path / f"{name}.keras")
    loaded = keras.saving.load_model(tmp_path / f"{name}.keras")
    assert type(loaded) is type(model)
    _, run_loaded = _inputs(loaded, real_images(tuple(model.image_shape)))
    np.testing.assert_allclose(np.asarray(run_loaded(x)), y, atol=1e-5)


def test_bad_generative_settings_get_clear_errors():
    with pytest.raises(ValueError, match="divisible by 4"):
        zoo.create("dcgan", image_shape=[30, 30, 1])
    with pytest.raises(ValueError, match="loss must be one of"):
        zoo.create("dcgan", loss="hinge")
    with pytest.raises(ValueError, match="likelihood must be one of"):
        zoo.create("vae", likelihood="poisson")
    with pytest.raises(ValueError, match="schedule must be one of"):
        zoo.create("ddpm", schedule="quadratic")
    with pytest.raises(ValueError, match=r"steps must be in \[1, 1000\]"):
        zoo.create("ddpm_small").sampling_steps(0)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_the_closed_form_forward_process_matches_the_markov_chain(schedule):
    """q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) against t steps of x_s = sqrt(1 - b_s) x_{s-1} + sqrt(b_s) e."""
    model = zoo.create("ddpm_small", schedule=schedule, timesteps=100, image_shape=[4, 4, 1], multipliers=[1])
    abar = noise_schedule(schedule, 100)
    betas = 1.0 - abar / np.concatenate([[1.0], abar[:-1]])
    rng = np.random.default_rng(0)
    x0 = np.full((20000, 4, 4, 1), 0.8, "float32")  # pixels 0.8 -> 0.6 in [-1, 1]
    for t in (0, 10, 60, 99):
        chain = 2.0 * x0.astype(np.float64) - 1.0
        for s in range(t + 1):
            chain = np.sqrt(1.0 - betas[s]) * chain + np.sqrt(betas[s]) * rng.standard_normal(chain.shape)
        closed = np.asarray(model.q_sample(x0, np.full(len(x0), t), rng.standard_normal(x0.shape).astype("float32")))
        for values in (chain, closed):
            assert values.mean() == pytest.approx(np.sqrt(abar[t]) * 0.6, abs=0.01)
            assert values.var() == pytest.approx(1.0 - abar[t], abs=0.01 + 0.02 * (1.0 - abar[t]))


def test_vae_bounds_hold(mnist_test):
    """log w's logsumexp bound is between the ELBO and 0: -log p(x) estimate <= negative ELBO, both positive."""
    from zoo.training.generative import vae_bounds

    model = zoo.create("vae_mlp", latent_dim=8)
    _, split = mnist_test
    images = (split.images[:6] > 127).astype("float32")
    bounds = vae_bounds(model, images, importance_samples=64, batch_size=3)
    assert 0 < bounds["nll"] <= bounds["negative_elbo"]


@pytest.mark.parametrize("name", ["dcgan", "vae_2d", "ddpm_small"])
def test_sampling_is_deterministic_for_a_seed(name):
    model = zoo.create(name)
    a, b, c = (sample(model, 3, seed=s, steps=3) for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, *model.image_shape) and 0.0 <= a.min() and a.max() <= 1.0
    assert not np.allclose(a, c)
