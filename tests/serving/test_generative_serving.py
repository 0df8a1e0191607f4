"""A GAN, a VAE and a diffusion model exported and served by ``zoo serve``: the images that come back over gRPC
are the ones the same seed gives in-process; bad requests get INVALID_ARGUMENT and the server keeps serving."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

import zoo
from zoo.serving.errors import ServingError
from zoo.training.generative import sample

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models():
    return {
        "dcgan": zoo.create("dcgan", latent_dim=16),
        "vae_2d": zoo.create("vae_2d"),
        "ddpm_small": zoo.create("ddpm_small", timesteps=50),
    }


@pytest.fixture(scope="module")
def server(models, serve_models):
    return serve_models(models)


def test_gan_generate_over_grpc_equals_in_process(server, models):
    with server.client() as client:
        served = client.predict("dcgan", {"num_images": np.int32(4), "seed": np.int64(7)}, signature_name="generate")
        by_latents = client.predict("dcgan", {"latents": served["latents"]})
    np.testing.assert_allclose(served["images"], sample(models["dcgan"], 4, seed=7), atol=1e-6)
    np.testing.assert_allclose(by_latents["images"], served["images"], atol=1e-6)
    assert served["images"].shape == (4, 28, 28, 1)


def test_vae_encode_decode_reconstruct_over_grpc(server, models, mnist_images):
    vae = models["vae_2d"]
    images = mnist_images[0][:3]
    with server.client() as client:
        encoded = client.predict("vae_2d", {"images": images}, signature_name="encode")
        decoded = client.predict("vae_2d", {"latents": encoded["mean"]}, signature_name="decode")
        reconstructed = client.predict("vae_2d", {"images": images}, signature_name="reconstruct")
    mean, log_var = (np.asarray(t) for t in vae.encode(images))
    np.testing.assert_allclose(encoded["mean"], mean, atol=1e-5)
    np.testing.assert_allclose(encoded["log_var"], log_var, atol=1e-5)
    np.testing.assert_allclose(decoded["images"], reconstructed["reconstructions"], atol=1e-6)
    np.testing.assert_allclose(reconstructed["reconstructions"], np.asarray(vae.decode(mean)), atol=1e-5)


def test_diffusion_sample_over_grpc_equals_in_process(server, models):
    request = {"num_images": np.int32(2), "steps": np.int32(4), "eta": np.float32(1.0), "seed": np.int64(3)}
    with server.client() as client:
        served = client.predict("ddpm_small", request)["images"]
        noise = np.random.default_rng(0).normal(size=(2, 28, 28, 1)).astype("float32")
        from_noise = client.predict(
            "ddpm_small",
            {"noise": noise, "steps": np.int32(3), "eta": np.float32(0.0), "seed": np.int64(0)},
            signature_name="sample",
        )["images"]
    np.testing.assert_allclose(served, sample(models["ddpm_small"], 2, seed=3, steps=4, eta=1.0), atol=1e-5)
    assert from_noise.shape == (2, 28, 28, 1) and 0.0 <= from_noise.min() and from_noise.max() <= 1.0


def test_bad_sampling_requests_are_invalid_and_the_server_keeps_serving(server):
    good = {"num_images": np.int32(1), "steps": np.int32(2), "eta": np.float32(0.0), "seed": np.int64(0)}
    with server.client() as client:
        for bad in (
            {"steps": np.int32(0)},
            {"steps": np.int32(51)},
            {"num_images": np.int32(0)},
            {"eta": np.float32(-1.0)},
            {"steps": np.float32(2.0)},
        ):
            with pytest.raises(ServingError) as caught:
                client.predict("ddpm_small", {**good, **bad})
            assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT, caught.value
        with pytest.raises(ServingError) as caught:
            client.predict("dcgan", {"latents": np.zeros((1, 3), "float32")})
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert client.predict("ddpm_small", good)["images"].shape == (1, 28, 28, 1)
