"""Generative adversarial networks: DCGAN (Radford et al. 2016) and WGAN-GP (Gulrajani et al. 2017).

The generator maps latent vectors to images in [0, 1] (a tanh, rescaled); the
discriminator (a critic for WGAN-GP) maps images to one logit. Each is a Functional
model, the GAN a model with its own ``train_step``, so ``fit``, callbacks and
``tf.distribute`` work as for any model.

The randomness of a step comes with its batch: the training pipeline yields
``{"images", "latents", "mix"}`` (``mix``: the per-example interpolation weight of the
gradient penalty), so a step is a pure function of the batch and the weights. That
makes runs reproducible, resumable at any step, and the same on one device or many
(replicas split the batch, latents included). The generator's BatchNorm is synchronised
across replicas (statistics over the global batch), for the same reason; the
discriminator has no normalisation.

WGAN-GP's ``critic_steps`` critic updates per generator update read ``critic_steps``
minibatches from one training batch (the pipeline's batch is ``critic_steps`` times
the minibatch), as in Gulrajani et al.'s Algorithm 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from zoo.models.base import GenerativeModel, check_input_shape, check_positive_ints, traced
from zoo.registry import register_model
from zoo.tasks import get_task

LOSSES = ("dcgan", "wgan_gp")
#: The arguments (name, dtype, shape) of :meth:`GAN.generate_images`, as the ``generate`` signature takes them.
GENERATE_SIGNATURE = get_task("image_generation").signatures["generate"].input_specs()
#: Cross-replica BatchNorm statistics (TensorFlow only; one device computes the same).
SYNCHRONIZED = keras.config.backend() == "tensorflow"


def build_generator(latent_dim: int, image_shape: tuple[int, int, int], filters: Sequence[int]) -> keras.Model:
    """Dense to a small feature map, then one stride-2 transposed convolution per entry of ``filters``."""
    height, width, channels = image_shape
    scale = 2 ** len(filters)
    base_h, base_w = height // scale, width // scale
    z = keras.Input((latent_dim,), name="latents")
    x = keras.layers.Dense(base_h * base_w * filters[0] * 2, use_bias=False, name="project")(z)
    x = keras.layers.BatchNormalization(synchronized=SYNCHRONIZED, name="project_norm")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Reshape((base_h, base_w, filters[0] * 2))(x)
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False, name=f"up{i}")(x)
        x = keras.layers.BatchNormalization(synchronized=SYNCHRONIZED, name=f"up{i}_norm")(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="tanh", name="to_image")(x)
    images = keras.layers.Rescaling(0.5, offset=0.5, name="images")(x)  # [-1, 1] -> [0, 1]
    return keras.Model(z, images, name="generator")


def build_discriminator(image_shape: tuple[int, int, int], filters: Sequence[int]) -> keras.Model:
    """Stride-2 convolutions with leaky ReLUs to one logit, without normalisation (as keras.io's DCGAN): each
    image's score depends on that image alone, which WGAN-GP's per-example gradient penalty needs."""
    images = keras.Input(image_shape, name="images")
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_signed")(images)
    for i, f in enumerate(filters, start=1):
        x = keras.layers.Conv2D(f, 4, strides=2, padding="same", name=f"down{i}")(x)
        x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Flatten()(x)
    logits = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(images, logits, name="discriminator")


@keras.saving.register_keras_serializable(package="kzoo")
class GAN(GenerativeModel):
    """A generator and a discriminator trained against each other.

    Calling the model generates: latents (batch, latent_dim) -> images (batch, H, W, C) in [0, 1].

    Args:
        latent_dim: int. Size of the latent vectors. Defaults to 100.
        image_shape: (height, width, channels), divisible by 2^len(generator_filters). Defaults to (28, 28, 1).
        generator_filters: list of int. Filters of the transposed convolutions (the first layer projects
            to twice the first entry). Defaults to [64, 32].
        discriminator_filters: list of int. Filters of the strided convolutions. Defaults to [64, 128].
        loss: ``"dcgan"`` (non-saturating cross-entropy) or ``"wgan_gp"`` (Wasserstein loss with
            gradient penalty). Defaults to ``"dcgan"``.
        gradient_penalty: float. WGAN-GP's lambda. Defaults to 10.
        critic_steps: int. Critic updates per generator update (WGAN-GP: 5). Defaults to 1.

    Example:
        >>> import numpy as np
        >>> tuple(GAN(latent_dim=8)(np.zeros((2, 8), "float32")).shape)
        (2, 28, 28, 1)
    """

    def __init__(
        self,
        latent_dim: int = 100,
        image_shape: Sequence[int] = (28, 28, 1),
        generator_filters: Sequence[int] = (64, 32),
        discriminator_filters: Sequence[int] = (64, 128),
        loss: str = "dcgan",
        gradient_penalty: float = 10.0,
        critic_steps: int = 1,
        **kwargs,
    ):
        generator_filters, discriminator_filters = list(generator_filters), list(discriminator_filters)
        check_positive_ints(
            "GAN",
            latent_dim=latent_dim,
            generator_filters=generator_filters,
            discriminator_filters=discriminator_filters,
            critic_steps=critic_steps,
        )
        if loss not in LOSSES:
            raise ValueError(f"GAN: loss must be one of {LOSSES}. Received: loss={loss!r}")
        image_shape = check_input_shape("GAN", image_shape)
        scale = 2 ** len(generator_filters)
        if image_shape[0] % scale or image_shape[1] % scale:
            raise ValueError(
                f"GAN: {len(generator_filters)} up-samplings need height and width divisible by {scale}. "
                f"Received: image_shape={image_shape}"
            )
        if gradient_penalty < 0:
            raise ValueError(f"GAN: gradient_penalty must be >= 0. Received: {gradient_penalty}")
        super().__init__(
            config={
                "latent_dim": latent_dim,
                "image_shape": list(image_shape),
                "generator_filters": generator_filters,
                "discriminator_filters": discriminator_filters,
                "loss": loss,
                "gradient_penalty": gradient_penalty,
                "critic_steps": critic_steps,
            },
            **kwargs,
        )
        self.latent_dim, self.image_shape, self.loss_name = latent_dim, image_shape, loss
        self.gradient_penalty, self.critic_steps = gradient_penalty, critic_steps
        self.generator = build_generator(latent_dim, image_shape, generator_filters)
        self.discriminator = build_discriminator(image_shape, discriminator_filters)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True

    input_shape = property(lambda self: (None, self.latent_dim))
    output_shape = property(lambda self: (None, *self.image_shape))

    def call(self, latents, training=False):
        return self.generator(latents, training=training)

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Two optimizers; the defaults are DCGAN's Adam(2e-4, beta_1=0.5) and WGAN-GP's Adam(1e-4, 0.5, 0.9).

        Their state is created here, under the caller's distribution scope: created lazily inside a
        replicated training step it would fail under MirroredStrategy.
        """
        betas = (0.5, 0.9) if self.loss_name == "wgan_gp" else (0.5, 0.999)
        lr = 1e-4 if self.loss_name == "wgan_gp" else 2e-4
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(lr, beta_1=betas[0], beta_2=betas[1])
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(lr, beta_1=betas[0], beta_2=betas[1])
        if self.dtype_policy.name == "mixed_float16":  # float16 gradients need loss scaling
            self.d_optimizer = keras.optimizers.LossScaleOptimizer(self.d_optimizer)
            self.g_optimizer = keras.optimizers.LossScaleOptimizer(self.g_optimizer)
        super().compile(**kwargs)
        self.build_optimizers()

    def build_optimizers(self) -> None:
        """Creates each optimizer's state for its own network (before restoring a backup into it)."""
        for optimizer, network in ((self.d_optimizer, self.discriminator), (self.g_optimizer, self.generator)):
            if not optimizer.built:
                optimizer.build(network.trainable_variables)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    # --- losses (backend-agnostic) -------------------------------------------------
    def discriminator_loss(self, real_logits, fake_logits):
        if self.loss_name == "wgan_gp":
            return ops.mean(fake_logits) - ops.mean(real_logits)
        bce = keras.losses.binary_crossentropy
        return ops.mean(
            bce(ops.ones_like(real_logits), real_logits, from_logits=True)
            + bce(ops.zeros_like(fake_logits), fake_logits, from_logits=True)
        )

    def generator_loss(self, fake_logits):
        if self.loss_name == "wgan_gp":
            return -ops.mean(fake_logits)
        return ops.mean(keras.losses.binary_crossentropy(ops.ones_like(fake_logits), fake_logits, from_logits=True))

    # --- training ------------------------------------------------------------------
    def train_step(self, data):
        if keras.config.backend() != "tensorflow":
            raise NotImplementedError(
                f"GAN training runs on the TensorFlow backend (this is {keras.config.backend()}); "
                f"generating and the serving signature work on every backend."
            )
        return self._train_step_tensorflow(data)

    def _train_step_tensorflow(self, data):
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        images, latents, mix = data["images"], data["latents"], data["mix"]
        chunks = [tuple(tf.split(t, self.critic_steps)) for t in (images, latents, mix)]
        critic = self.discriminator.trainable_weights
        for real, z, m in zip(*chunks):
            with tf.GradientTape() as tape:
                fake = self.generator(z, training=True)
                d_loss = self.discriminator_loss(
                    self.discriminator(real, training=True), self.discriminator(fake, training=True)
                )
                if self.loss_name == "wgan_gp":
                    d_loss = d_loss + self.gradient_penalty * self._penalty_tensorflow(real, fake, m)
                # replicas' gradients are summed, so each contributes its share of the mean; scale_loss applies
                # a LossScaleOptimizer's factor (mixed_float16), and is the identity otherwise
                scaled = self.d_optimizer.scale_loss(d_loss / replicas)
            self.d_optimizer.apply(tape.gradient(scaled, critic), critic)
        with tf.GradientTape() as tape:
            g_loss = self.generator_loss(self.discriminator(self.generator(chunks[1][0], training=True), training=True))
            scaled = self.g_optimizer.scale_loss(g_loss / replicas)
        weights = self.generator.trainable_weights
        self.g_optimizer.apply(tape.gradient(scaled, weights), weights)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def _penalty_tensorflow(self, real, fake, mix):
        """(||grad_x D(x)|| - 1)^2 at random points x between real and generated images."""
        import tensorflow as tf

        between = mix[:, None, None, None] * real + (1.0 - mix[:, None, None, None]) * fake
        with tf.GradientTape() as tape:
            tape.watch(between)
            scores = self.discriminator(between, training=True)
        gradients = tape.gradient(scores, between)
        norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=[1, 2, 3]) + 1e-12)
        return tf.reduce_mean(tf.square(norms - 1.0))

    def test_step(self, data):
        """Validation: the losses on held-out images (no update)."""
        images, latents = data["images"], data["latents"]
        fake = self.generator(latents, training=False)
        fake_logits = self.discriminator(fake, training=False)
        self.d_loss_tracker.update_state(
            self.discriminator_loss(self.discriminator(images, training=False), fake_logits)
        )
        self.g_loss_tracker.update_state(self.generator_loss(fake_logits))
        return {m.name: m.result() for m in self.metrics}

    def generate(self, latents):
        """Images in [0, 1] for latent vectors (batch, latent_dim)."""
        return self.generator(latents, training=False)

    def generate_images(self, num_images, seed) -> dict:
        """``{"images", "latents"}`` for :meth:`prior_latents` (TensorFlow ops, graph-friendly; the exported
        ``generate`` signature). ``num_images < 1`` fails with ``InvalidArgumentError``."""
        import tensorflow as tf

        checks = [tf.debugging.assert_positive(num_images, message="generate: num_images must be > 0")]
        with tf.control_dependencies(checks):
            latents = self.prior_latents(num_images, seed)
        return {"images": self.generate(latents), "latents": latents}

    def sample(self, num_images: int, *, seed: int = 0) -> np.ndarray:
        """``num_images`` images in [0, 1], exactly as the exported ``generate`` signature draws them for ``seed``."""
        import tensorflow as tf

        check_positive_ints("GAN.sample", num_images=num_images)
        run = traced(self, "generate_images", self.generate_images, GENERATE_SIGNATURE)
        return run(num_images=tf.constant(num_images, tf.int32), seed=tf.constant(seed, tf.int64))["images"].numpy()


@register_model("dcgan", task="image_generation", dataset="mnist")
def dcgan(**overrides):
    """DCGAN (Radford et al. 2016): transposed-convolution generator with BatchNorm, strided-convolution discriminator,
    non-saturating loss."""
    return GAN(**{"name": "dcgan", **overrides})


@register_model("wgan_gp", task="image_generation", dataset="mnist")
def wgan_gp(**overrides):
    """WGAN-GP (Gulrajani et al. 2017): Wasserstein critic with gradient penalty 10, 5 critic steps per generator step."""
    return GAN(**{"name": "wgan_gp", "loss": "wgan_gp", "critic_steps": 5, **overrides})
