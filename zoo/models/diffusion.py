"""Denoising diffusion (Ho et al. 2020, DDPM) with a small U-Net; DDPM and DDIM sampling (Song et al. 2021).

Training: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps for a uniform step t, and the
U-Net predicts eps (mean squared error). The batch brings x_0, eps and t
(``{"images", "noise", "timesteps"}``), so a step is a pure function of it. Images are
in [0, 1] outside and [-1, 1] inside. Noise schedules: ``linear`` (beta from 1e-4 to
0.02, DDPM) or ``cosine`` (Nichol & Dhariwal 2021).

Sampling: :meth:`Diffusion.denoise_step` is one DDIM update from step t to an earlier
step; with ``eta = 0`` it is deterministic (DDIM), with ``eta = 1`` on every one of the T
steps it is DDPM's ancestral sampler. :meth:`Diffusion.reverse_process` runs the reverse
process from given noise and :meth:`Diffusion.generate_images` from seeded noise (TensorFlow
ops, imported when called, as the GAN's TensorFlow train step does: they run on the
TensorFlow backend, where models are exported); ``zoo.serving.signatures.diffusion`` only wraps
them, and :meth:`Diffusion.sample` calls them from Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from zoo.layers.generative import Downsample, SinusoidalEmbedding, SpatialAttention, TimeResidualBlock, Upsample
from zoo.models.base import GenerativeModel, check_input_shape, check_positive_ints, check_rate, traced
from zoo.registry import register_model
from zoo.tasks import get_task

SCHEDULES = ("linear", "cosine")


#: The arguments (name, dtype, shape) of :meth:`Diffusion.generate_images`, as ``serving_default`` takes them.
GENERATE_SIGNATURE = get_task("diffusion").signatures["serving_default"].input_specs()


def noise_schedule(name: str, timesteps: int) -> np.ndarray:
    """abar_t = prod_{s <= t} (1 - beta_s) for t = 0 .. T-1, as float64.

    Example:
        >>> abar = noise_schedule("linear", 1000)
        >>> round(float(abar[0]), 6), bool(abar[-1] < 1e-4)
        (0.9999, True)
    """
    if name == "linear":
        betas = np.clip(np.linspace(1e-4, 0.02, timesteps, dtype=np.float64) * (1000.0 / timesteps), 0.0, 0.999)
    elif name == "cosine":
        s = 0.008
        f = np.cos((np.arange(timesteps + 1, dtype=np.float64) / timesteps + s) / (1 + s) * math.pi / 2) ** 2
        betas = np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
    else:
        raise ValueError(f"schedule must be one of {SCHEDULES}. Received: schedule={name!r}")
    return np.cumprod(1.0 - betas)


def build_unet(
    image_shape, base_filters: int, multipliers: Sequence[int], blocks: int, attention: bool, dropout: float
) -> keras.Model:
    """A U-Net eps(x_t, t): residual blocks with the timestep embedding at each resolution, skip connections,
    self-attention at the lowest resolution when ``attention``."""
    images = keras.Input(image_shape, name="noisy_images")
    timesteps = keras.Input((), name="timesteps")
    embedding = SinusoidalEmbedding(base_filters, name="time_embedding")(timesteps)
    embedding = keras.layers.Dense(base_filters * 4, activation="silu", name="time_dense1")(embedding)
    embedding = keras.layers.Dense(base_filters * 4, name="time_dense2")(embedding)
    x = keras.layers.Conv2D(base_filters, 3, padding="same", name="stem")(images)
    skips = [x]
    last = len(multipliers) - 1
    for level, m in enumerate(multipliers):
        for b in range(blocks):
            x = TimeResidualBlock(base_filters * m, dropout, name=f"down{level}_block{b}")([x, embedding])
            skips.append(x)
        if level != last:
            x = Downsample(base_filters * m, name=f"down{level}_sample")(x)
            skips.append(x)
    x = TimeResidualBlock(base_filters * multipliers[-1], dropout, name="middle_block1")([x, embedding])
    if attention:
        x = SpatialAttention(name="middle_attention")(x)
    x = TimeResidualBlock(base_filters * multipliers[-1], dropout, name="middle_block2")([x, embedding])
    for level in reversed(range(len(multipliers))):
        for b in range(blocks + 1):
            x = keras.layers.Concatenate(name=f"up{level}_skip{b}")([x, skips.pop()])
            x = TimeResidualBlock(base_filters * multipliers[level], dropout, name=f"up{level}_block{b}")(
                [x, embedding]
            )
        if level != 0:
            x = Upsample(base_filters * multipliers[level], name=f"up{level}_sample")(x)
    x = keras.layers.GroupNormalization(min(8, base_filters), name="out_norm")(x)
    x = keras.layers.Activation("silu")(x)
    noise = keras.layers.Conv2D(image_shape[-1], 3, padding="same", kernel_initializer="zeros", name="noise")(x)
    return keras.Model([images, timesteps], noise, name="denoiser")


@keras.saving.register_keras_serializable(package="kzoo")
class Diffusion(GenerativeModel):
    """A DDPM: the forward noising process and a U-Net that predicts the noise.

    Args:
        image_shape: (height, width, channels), divisible by 2^(len(multipliers) - 1). Defaults to (28, 28, 1).
        timesteps: int. Diffusion steps T. Defaults to 1000.
        schedule: ``"linear"`` or ``"cosine"``. Defaults to ``"linear"``.
        base_filters: int. Channels at full resolution. Defaults to 32.
        multipliers: list of int. Channel multiple per resolution. Defaults to [1, 2, 2].
        blocks: int. Residual blocks per resolution. Defaults to 1.
        attention: bool. Self-attention at the lowest resolution. Defaults to True.
        dropout: float. Defaults to 0.1.

    Example:
        >>> import numpy as np
        >>> model = Diffusion(base_filters=8, multipliers=[1, 2])
        >>> x = {"images": np.zeros((2, 28, 28, 1), "float32"), "noise": np.ones((2, 28, 28, 1), "float32"),
        ...      "timesteps": np.array([0, 999])}
        >>> tuple(model(x).shape)
        (2, 28, 28, 1)
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (28, 28, 1),
        timesteps: int = 1000,
        schedule: str = "linear",
        base_filters: int = 32,
        multipliers: Sequence[int] = (1, 2, 2),
        blocks: int = 1,
        attention: bool = True,
        dropout: float = 0.1,
        **kwargs,
    ):
        multipliers = list(multipliers)
        check_positive_ints(
            "Diffusion", timesteps=timesteps, base_filters=base_filters, multipliers=multipliers, blocks=blocks
        )
        check_rate("Diffusion", dropout=dropout)
        if schedule not in SCHEDULES:
            raise ValueError(f"Diffusion: schedule must be one of {SCHEDULES}. Received: schedule={schedule!r}")
        image_shape = check_input_shape("Diffusion", image_shape)
        scale = 2 ** (len(multipliers) - 1)
        if image_shape[0] % scale or image_shape[1] % scale:
            raise ValueError(
                f"Diffusion: {len(multipliers) - 1} down-samplings need height and width divisible by "
                f"{scale}. Received: image_shape={image_shape}"
            )
        super().__init__(
            config={
                "image_shape": list(image_shape),
                "timesteps": timesteps,
                "schedule": schedule,
                "base_filters": base_filters,
                "multipliers": multipliers,
                "blocks": blocks,
                "attention": attention,
                "dropout": dropout,
            },
            **kwargs,
        )
        self.image_shape, self.timesteps, self.schedule = image_shape, timesteps, schedule
        self.alpha_bar = noise_schedule(schedule, timesteps)
        self.denoiser = build_unet(image_shape, base_filters, multipliers, blocks, attention, dropout)
        self.noise_loss = keras.losses.MeanSquaredError(name="noise_mse")
        self.built = True

    input_shape = property(lambda self: (None, *self.image_shape))
    output_shape = property(lambda self: (None, *self.image_shape))

    def _abar(self, t):
        table = ops.convert_to_tensor(self.alpha_bar.astype("float32"))
        return ops.reshape(ops.take(table, ops.cast(t, "int32")), (-1, 1, 1, 1))

    def q_sample(self, images, t, noise):
        """x_t from x_0 (images in [0, 1]) in closed form, in the model's [-1, 1] space."""
        abar = self._abar(t)
        return ops.sqrt(abar) * (2.0 * ops.cast(images, "float32") - 1.0) + ops.sqrt(1.0 - abar) * noise

    def call(self, inputs, training=False):
        """``{"images", "noise", "timesteps"}`` -> the predicted noise of x_t."""
        noisy = self.q_sample(inputs["images"], inputs["timesteps"], inputs["noise"])
        return self.denoiser([noisy, ops.cast(inputs["timesteps"], "float32")], training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self.noise_loss(y, y_pred, sample_weight=sample_weight)

    def sampling_steps(self, steps: int) -> np.ndarray:
        """The DDIM timestep subsequence of ``steps`` steps, from T - 1 down to 0."""
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"steps must be in [1, {self.timesteps}]. Received: steps={steps}")
        return np.round(np.linspace(self.timesteps - 1, 0, steps)).astype("int32")

    def denoise_step(self, x, t, t_prev, eta, noise):
        """One DDIM update of x_t (in [-1, 1]) to step ``t_prev`` (-1: the end), adding ``eta``-scaled ``noise``."""
        batch = ops.shape(x)[0]
        eps = self.denoiser([x, ops.cast(ops.full((batch,), t), "float32")], training=False)
        abar = self._abar(ops.full((batch,), t))
        abar_prev = ops.where(t_prev >= 0, self._abar(ops.full((batch,), ops.maximum(t_prev, 0))), 1.0)
        x0 = ops.clip((x - ops.sqrt(1.0 - abar) * eps) / ops.sqrt(abar), -1.0, 1.0)
        eps = (x - ops.sqrt(abar) * x0) / ops.sqrt(1.0 - abar)
        sigma = eta * ops.sqrt((1.0 - abar_prev) / (1.0 - abar) * (1.0 - abar / abar_prev))
        direction = ops.sqrt(ops.maximum(1.0 - abar_prev - ops.square(sigma), 0.0)) * eps
        return ops.sqrt(abar_prev) * x0 + direction + sigma * noise

    def to_images(self, x):
        """[-1, 1] -> pixels in [0, 1]."""
        return ops.clip((x + 1.0) / 2.0, 0.0, 1.0)

    def reverse_process(self, noise, steps, eta, seed) -> dict:
        """Runs ``steps`` DDIM updates (:meth:`denoise_step`) from T - 1 down to 0 on ``noise`` (TensorFlow ops,
        graph-friendly: a ``tf.while_loop`` in a ``tf.function``).

        The noise of stochastic steps (eta > 0) is ``tf.random.stateless_normal`` seeded by
        (seed, step + 1). ``steps`` outside [1, T] or ``eta < 0`` fail with ``InvalidArgumentError``.

        Returns:
            ``{"images": pixels in [0, 1]}``.
        """
        import tensorflow as tf

        timesteps = self.timesteps
        checks = [
            tf.debugging.assert_greater_equal(steps, 1, message="sample: steps must be >= 1"),
            tf.debugging.assert_less_equal(steps, timesteps, message=f"sample: steps must be <= {timesteps}"),
            tf.debugging.assert_non_negative(eta, message="sample: eta must be >= 0"),
        ]
        with tf.control_dependencies(checks):
            schedule = tf.cast(tf.round(tf.linspace(float(timesteps - 1), 0.0, steps)), tf.int32)
        schedule = tf.concat([schedule, [-1]], axis=0)
        x = noise
        for i in tf.range(steps):
            step_noise = tf.random.stateless_normal(tf.shape(noise), seed=tf.stack([seed, tf.cast(i, tf.int64) + 1]))
            x = self.denoise_step(x, schedule[i], schedule[i + 1], eta, step_noise)
        return {"images": self.to_images(x)}

    def generate_images(self, num_images, steps, eta, seed) -> dict:
        """:meth:`reverse_process` from initial noise ``tf.random.stateless_normal`` seeded by (seed, 0)
        (TensorFlow ops, graph-friendly). ``num_images < 1`` fails with ``InvalidArgumentError``."""
        import tensorflow as tf

        checks = [tf.debugging.assert_positive(num_images, message="sample: num_images must be > 0")]
        with tf.control_dependencies(checks):
            shape = tf.concat([[num_images], tf.constant(self.image_shape, tf.int32)], axis=0)
        return self.reverse_process(tf.random.stateless_normal(shape, seed=tf.stack([seed, 0])), steps, eta, seed)

    def sample(
        self, num_images: int, *, seed: int = 0, steps: int | None = None, eta: float = 0.0, batch_size: int = 500
    ) -> np.ndarray:
        """``num_images`` images in [0, 1], exactly as the exported ``serving_default`` signature draws them.

        Args:
            num_images: how many.
            seed: the same seed gives the same images (batch b of ``batch_size`` uses seed + b * batch_size).
            steps: DDIM steps (default: all T steps).
            eta: 0 deterministic DDIM, 1 with all T steps DDPM.
            batch_size: images per reverse process.
        """
        import tensorflow as tf

        check_positive_ints("Diffusion.sample", num_images=num_images, batch_size=batch_size)
        steps = steps or self.timesteps
        self.sampling_steps(steps)  # a clear ValueError for steps outside [1, T]
        run = traced(self, "generate_images", self.generate_images, GENERATE_SIGNATURE)
        parts = [
            run(
                num_images=tf.constant(min(batch_size, num_images - s), tf.int32),
                steps=tf.constant(steps, tf.int32),
                eta=tf.constant(eta, tf.float32),
                seed=tf.constant(seed + s, tf.int64),
            )["images"].numpy()
            for s in range(0, num_images, batch_size)
        ]
        return np.concatenate(parts)


@register_model("ddpm", task="diffusion", dataset="mnist")
def ddpm(**overrides):
    """DDPM with a U-Net of 32-64-64 channels, attention at the lowest resolution, 1000 linear-schedule steps."""
    return Diffusion(**{"name": "ddpm", **overrides})


@register_model("ddpm_small", task="diffusion", dataset="mnist")
def ddpm_small(**overrides):
    """A CPU-sized DDPM: 16-32-32 channels, cosine schedule."""
    return Diffusion(**{"name": "ddpm_small", "base_filters": 16, "schedule": "cosine", **overrides})
