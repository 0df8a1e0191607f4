"""Variational autoencoders (Kingma & Welling 2014): a Gaussian encoder q(z|x), a decoder p(x|z), the ELBO.

Two encoder/decoder pairs share one class: convolutional (``vae``, ``vae_2d``) and
fully connected (``vae_mlp``). The likelihood is Bernoulli (binarised images; the
decoder outputs logits) or Gaussian (pixels in [0, 1]; the decoder outputs means
and one learned log-scale). Training minimises the negative ELBO per image,
reconstruction negative log-likelihood plus KL(q(z|x) || N(0, I)), both in nats.

The reparameterisation noise comes with the batch (``{"images", "noise"}``), so a
training step is a pure function of its batch: reproducible, resumable and the same
on any number of replicas. Called on images alone, the model draws its own noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from zoo.layers.generative import Sampling
from zoo.models.base import GenerativeModel, check_input_shape, check_positive_ints
from zoo.registry import register_model

LIKELIHOODS = ("bernoulli", "gaussian")
ARCHITECTURES = ("conv", "mlp")
_LOG_2PI = math.log(2.0 * math.pi)


def build_encoder(image_shape, latent_dim: int, architecture: str, filters, hidden_units) -> keras.Model:
    images = keras.Input(image_shape, name="images")
    x = images
    if architecture == "conv":
        for i, f in enumerate(filters, start=1):
            x = keras.layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"conv{i}")(x)
    x = keras.layers.Flatten()(x)
    for i, units in enumerate(hidden_units, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i}")(x)
    mean = keras.layers.Dense(latent_dim, name="mean")(x)
    log_var = keras.layers.Dense(latent_dim, name="log_var")(x)
    return keras.Model(images, [mean, log_var], name="encoder")


def build_decoder(image_shape, latent_dim: int, architecture: str, filters, hidden_units) -> keras.Model:
    height, width, channels = image_shape
    z = keras.Input((latent_dim,), name="latents")
    x = z
    for i, units in enumerate(reversed(hidden_units), start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense{i}")(x)
    if architecture == "conv":
        scale = 2 ** len(filters)
        x = keras.layers.Dense((height // scale) * (width // scale) * filters[-1], activation="relu", name="project")(x)
        x = keras.layers.Reshape((height // scale, width // scale, filters[-1]))(x)
        for i, f in enumerate(reversed(filters), start=1):
            x = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu", name=f"up{i}")(x)
        outputs = keras.layers.Conv2D(channels, 3, padding="same", name="pixels")(x)
    else:
        x = keras.layers.Dense(height * width * channels, name="pixels")(x)
        outputs = keras.layers.Reshape(image_shape)(x)
    return keras.Model(z, outputs, name="decoder")


@keras.saving.register_keras_serializable(package="kzoo")
class NegativeELBO(keras.losses.Loss):
    """Per image: reconstruction NLL (summed over pixels) + KL(q(z|x) || N(0, I)), in nats.

    ``y_pred`` is the VAE's output dict; Keras' reduction averages over the batch and
    scales for the replicas of a distribution strategy.
    """

    def __init__(self, likelihood: str = "bernoulli", name="negative_elbo", **kwargs):
        super().__init__(name=name, **kwargs)
        self.likelihood = likelihood

    def call(self, y_true, y_pred):
        return reconstruction_nll(
            y_true, y_pred["reconstruction"], y_pred.get("log_scale"), self.likelihood
        ) + kl_divergence(y_pred["mean"], y_pred["log_var"])

    def get_config(self):
        return {**super().get_config(), "likelihood": self.likelihood}


def kl_divergence(mean, log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per example, summed over the latent dimensions."""
    return 0.5 * ops.sum(ops.square(mean) + ops.exp(log_var) - 1.0 - log_var, axis=-1)


def reconstruction_nll(images, outputs, log_scale, likelihood: str):
    """-log p(x | z) per example, summed over pixels: Bernoulli on logits, or Gaussian on means with one log-scale."""
    images = ops.cast(images, outputs.dtype)
    if likelihood == "bernoulli":
        nll = ops.maximum(outputs, 0.0) - outputs * images + ops.log1p(ops.exp(-ops.abs(outputs)))
    else:  # log_scale: one value per example, (batch,)
        log_scale = ops.reshape(ops.cast(log_scale, outputs.dtype), (-1,) + (1,) * (len(outputs.shape) - 1))
        nll = 0.5 * (_LOG_2PI + 2.0 * log_scale + ops.square(images - outputs) * ops.exp(-2.0 * log_scale))
    return ops.sum(ops.reshape(nll, (ops.shape(nll)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package="kzoo")
class VAE(GenerativeModel):
    """An encoder, the reparameterisation, a decoder; trained on the negative ELBO.

    Calling the model reconstructs images (the decoder's mean for the sampled z).

    Args:
        latent_dim: int. Size of z. Defaults to 32.
        image_shape: (height, width, channels). Defaults to (28, 28, 1).
        architecture: ``"conv"`` or ``"mlp"``. Defaults to ``"conv"``.
        filters: list of int. Stride-2 convolutions of the conv encoder (mirrored in the decoder).
            Defaults to [32, 64].
        hidden_units: list of int. Dense layers after the convolutions (or of the MLP). Defaults to [256].
        likelihood: ``"bernoulli"`` or ``"gaussian"``. Defaults to ``"bernoulli"``.

    Example:
        >>> import numpy as np
        >>> tuple(VAE(latent_dim=4)(np.zeros((2, 28, 28, 1), "float32")).shape)
        (2, 28, 28, 1)
    """

    def __init__(
        self,
        latent_dim: int = 32,
        image_shape: Sequence[int] = (28, 28, 1),
        architecture: str = "conv",
        filters: Sequence[int] = (32, 64),
        hidden_units: Sequence[int] = (256,),
        likelihood: str = "bernoulli",
        **kwargs,
    ):
        filters, hidden_units = list(filters), list(hidden_units)
        check_positive_ints("VAE", latent_dim=latent_dim)
        if hidden_units:
            check_positive_ints("VAE", hidden_units=hidden_units)
        if architecture not in ARCHITECTURES:
            raise ValueError(
                f"VAE: architecture must be one of {ARCHITECTURES}. Received: architecture={architecture!r}"
            )
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"VAE: likelihood must be one of {LIKELIHOODS}. Received: likelihood={likelihood!r}")
        image_shape = check_input_shape("VAE", image_shape)
        if architecture == "conv":
            check_positive_ints("VAE", filters=filters)
            scale = 2 ** len(filters)
            if image_shape[0] % scale or image_shape[1] % scale:
                raise ValueError(
                    f"VAE: {len(filters)} stride-2 convolutions need height and width divisible by "
                    f"{scale}. Received: image_shape={image_shape}"
                )
        super().__init__(
            config={
                "latent_dim": latent_dim,
                "image_shape": list(image_shape),
                "architecture": architecture,
                "filters": filters,
                "hidden_units": hidden_units,
                "likelihood": likelihood,
            },
            **kwargs,
        )
        self.latent_dim, self.image_shape, self.likelihood = latent_dim, image_shape, likelihood
        self.encoder = build_encoder(image_shape, latent_dim, architecture, filters, hidden_units)
        self.decoder = build_decoder(image_shape, latent_dim, architecture, filters, hidden_units)
        self.sampling = Sampling(name="sampling")
        self.log_scale = self.add_weight(
            shape=(), initializer="zeros", name="log_scale", trainable=likelihood == "gaussian"
        )
        self.elbo = NegativeELBO(likelihood)
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.built = True

    input_shape = property(lambda self: (None, *self.image_shape))
    output_shape = property(lambda self: (None, *self.image_shape))

    def encode(self, images):
        """``(mean, log_var)`` of q(z | x)."""
        return self.encoder(images)

    def decode(self, latents):
        """Images in [0, 1]: the decoder's mean (sigmoid of the Bernoulli logits, or the Gaussian means)."""
        outputs = self.decoder(latents)
        return ops.sigmoid(outputs) if self.likelihood == "bernoulli" else ops.clip(outputs, 0.0, 1.0)

    def sample(self, num_images: int, *, seed: int = 0) -> np.ndarray:
        """``num_images`` images in [0, 1]: the decoded means of :meth:`prior_latents` for ``seed``."""
        check_positive_ints("VAE.sample", num_images=num_images)
        return np.asarray(self.decode(self.prior_latents(num_images, seed)))

    def call(self, inputs, training=False):
        """Images -> reconstructed images; ``{"images", "noise"}`` (training) -> the outputs the ELBO needs."""
        if isinstance(inputs, dict):
            mean, log_var = self.encoder(inputs["images"], training=training)
            z = self.sampling([mean, log_var, inputs["noise"]])
            return {
                "reconstruction": self.decoder(z, training=training),
                "mean": mean,
                "log_var": log_var,
                "log_scale": self.log_scale + ops.zeros_like(mean[:, 0]),
            }
        mean, log_var = self.encoder(inputs, training=training)
        return self.decode(self.sampling([mean, log_var]))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        self.kl_tracker.update_state(kl_divergence(y_pred["mean"], y_pred["log_var"]))
        self.reconstruction_tracker.update_state(
            reconstruction_nll(y, y_pred["reconstruction"], y_pred["log_scale"], self.likelihood)
        )
        return self.elbo(y, y_pred, sample_weight=sample_weight)

    @property
    def metrics(self):
        return [*super().metrics, self.kl_tracker, self.reconstruction_tracker]

    def log_weights(self, images, noise):
        """log p(x|z) + log p(z) - log q(z|x) for each image and noise draw: (batch, k) for noise (batch, k, latent_dim).

        ``logsumexp`` over k minus ``log k`` is the importance-weighted bound on log p(x) (Burda et al. 2016).
        """
        mean, log_var = self.encoder(images)
        batch, k = ops.shape(noise)[0], ops.shape(noise)[1]
        z = mean[:, None, :] + ops.exp(0.5 * log_var)[:, None, :] * noise
        log_q = -0.5 * ops.sum(_LOG_2PI + log_var[:, None, :] + ops.square(noise), axis=-1)
        log_prior = -0.5 * ops.sum(_LOG_2PI + ops.square(z), axis=-1)
        outputs = self.decoder(ops.reshape(z, (-1, self.latent_dim)))
        repeated = ops.repeat(images, k, axis=0)
        log_scale = self.log_scale + ops.zeros((batch * k,), dtype=outputs.dtype)
        log_likelihood = -reconstruction_nll(repeated, outputs, log_scale, self.likelihood)
        return ops.reshape(log_likelihood, (batch, k)) + log_prior - log_q


@register_model("vae", task="autoencoding", dataset="mnist")
def vae(**overrides):
    """Convolutional VAE, 32 latent dimensions, Bernoulli likelihood."""
    return VAE(**{"name": "vae", **overrides})


@register_model("vae_mlp", task="autoencoding", dataset="mnist")
def vae_mlp(**overrides):
    """Fully connected VAE for MNIST-size data: 512-512 ReLU layers, 32 latent dimensions."""
    return VAE(**{"name": "vae_mlp", "architecture": "mlp", "hidden_units": [512, 512], **overrides})


@register_model("vae_2d", task="autoencoding", dataset="mnist")
def vae_2d(**overrides):
    """Convolutional VAE with a 2-D latent space, for latent maps and plots."""
    return VAE(**{"name": "vae_2d", "latent_dim": 2, **overrides})
