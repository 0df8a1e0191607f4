"""Training, sampling and evaluation of the generative families: VAE, GAN, diffusion.

``zoo train vae|dcgan|wgan_gp|ddpm --dataset mnist|fashion_mnist|cifar10`` runs the
shared engine (strategies, resume, run directory) with :class:`GenerativeData`,
whose pipeline hands every step its randomness: the VAE's reparameterisation noise
(and the dynamic binarisation of its images), the GAN's latents and penalty mixes,
diffusion's noise and timesteps, all pure functions of (seed, epoch, position).
Each epoch writes a sample grid to ``<run>/samples/``.

``zoo evaluate`` measures a VAE by its negative ELBO and the importance-weighted
estimate of -log p(x) (Burda et al. 2016) on binarised test images, in nats, and
GANs and diffusion models by FID and KID against the test images on a classifier's
features (:mod:`zoo.analysis.generative_metrics`), next to the real-vs-real floor.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

import zoo
from zoo import data
from zoo.data.pipeline import epoch_batches, split_validation
from zoo.registry import get_entry
from zoo.training import dispatch, engine
from zoo.training.distribute import shard_by_data
from zoo.training.engine import TrainConfig, TrainResult
from zoo.weights import create_trained

logger = logging.getLogger(__name__)

#: The tasks this module trains: those whose trainer (``zoo.training.dispatch``) it is.
TASKS = tuple(task for task, trainer in dispatch.TRAINERS.items() if trainer.module == __name__)
SAMPLES = "samples"
GRID = 8
BINARIZE_SEED = 1234  # the fixed binarisation of the test images every VAE evaluation uses


def _pixels(image):
    return tf.cast(image, tf.float32) / 255.0


@dataclasses.dataclass
class GenerativeData(engine.TaskData):
    """An image data set made ready to fit a generative model."""

    dataset: str
    spec: data.DatasetSpec
    train: data.Split
    validation: data.Split | None
    task: str
    model_config: dict[str, Any]
    config: TrainConfig

    @classmethod
    def loader(cls, model_name: str, overrides: dict[str, Any] | None = None):
        """``load(dataset, config)`` for ``model_name`` built with ``overrides`` (their ``critic_steps``,
        ``latent_dim``, ... shape the pipeline)."""
        entry = get_entry(model_name)
        if entry.task not in TASKS:
            raise ValueError(f"{model_name} is a {entry.task} model; this trainer handles {', '.join(TASKS)}.")
        model_config = {**zoo.registry.default_config(model_name), **(overrides or {})}

        def load(dataset: str, config: TrainConfig) -> GenerativeData:
            spec, train_split = data.load(dataset, "train")
            validation = config.validation_split if entry.task != "image_generation" else 0.0  # no GAN validation
            train_split, val_split = split_validation(train_split, validation, seed=config.seed)
            prepared = cls(
                dataset, spec, train_split.head(config.max_train_examples), val_split, entry.task, model_config, config
            )
            if len(prepared.train) < prepared.step_batch:
                raise ValueError(
                    f"{len(prepared.train)} training images cannot fill one step of {prepared.step_batch} "
                    f"(--batch-size {config.batch_size}, critic_steps "
                    f"{model_config.get('critic_steps', 1)}); raise --max-train-examples or lower "
                    f"--batch-size."
                )
            return prepared

        return load

    @property
    def monitor(self) -> str | None:
        """Best weights by the validation loss for VAEs and diffusion; GANs keep their last weights."""
        if self.task == "image_generation":
            return None
        return "val_loss" if self.validation is not None else "loss"

    @property
    def step_batch(self) -> int:
        """Examples per training step: WGAN-GP's step reads ``critic_steps`` minibatches."""
        return self.config.batch_size * (
            self.model_config.get("critic_steps", 1) if self.task == "image_generation" else 1
        )

    @property
    def steps_per_epoch(self) -> int:
        return len(self.train) // self.step_batch  # whole batches only (drop the remainder)

    @property
    def examples_per_epoch(self) -> int:
        return self.steps_per_epoch * self.step_batch

    def model_overrides(self) -> dict[str, Any]:
        return {"image_shape": list(self.spec.input_shape)}

    def compile(self, model, optimizer) -> None:
        if self.task == "image_generation":
            model.compile()  # its own two optimizers (DCGAN's / WGAN-GP's Adam settings)
        else:
            model.compile(optimizer=optimizer)

    def callbacks(self, run_dir: Path) -> list[keras.callbacks.Callback]:
        return [SampleGrid(self, run_dir / SAMPLES)]

    def _transform(self, model_config: dict[str, Any]):
        """The per-example randomness of a training step, from the element's seed."""
        task = self.task

        def transform(element, seed):
            (image,) = element
            pixels = _pixels(image)
            seeds = tf.random.experimental.stateless_split(seed, 3)
            if task == "autoencoding":
                if model_config["likelihood"] == "bernoulli":
                    pixels = tf.cast(tf.random.stateless_uniform(tf.shape(pixels), seeds[0]) < pixels, tf.float32)
                noise = tf.random.stateless_normal([model_config["latent_dim"]], seeds[1])
                return {"images": pixels, "noise": noise}, pixels
            if task == "image_generation":
                return {
                    "images": pixels,
                    "latents": tf.random.stateless_normal([model_config["latent_dim"]], seeds[0]),
                    "mix": tf.random.stateless_uniform([], seeds[1]),
                }
            noise = tf.random.stateless_normal(tf.shape(pixels), seeds[0])
            t = tf.random.stateless_uniform([], seeds[1], maxval=model_config["timesteps"], dtype=tf.int32)
            return {"images": pixels, "noise": noise, "timesteps": t}, noise

        return transform

    def validation_data(self, model):
        if self.validation is None:
            return None
        ds = epoch_batches(
            (self.validation.images,),
            batch_size=self.config.batch_size,
            seed=self.config.seed + 1,
            transform=self._transform(model.get_config()),
        )
        return shard_by_data(ds)

    def training_batches(self, model, *, first_epoch: int, epochs: int, skip_batches: int):
        return epoch_batches(
            (self.train.images,),
            batch_size=self.step_batch,
            seed=self.config.seed,
            first_epoch=first_epoch,
            epochs=epochs,
            skip_batches=skip_batches,
            transform=self._transform(model.get_config()),
            drop_remainder=True,
        )

    def evaluate(self, model) -> dict[str, Any]:
        return evaluate_model(model, self.dataset, quick=True)


class SampleGrid(keras.callbacks.Callback):
    """Writes ``samples/epoch-NNN.png`` after every epoch: generated images (and a VAE's reconstructions)."""

    def __init__(self, prepared: GenerativeData, directory: Path):
        super().__init__()
        self.prepared, self.directory = prepared, Path(directory)

    def on_epoch_end(self, epoch, logs=None):
        from zoo.analysis.plots import image_grid

        images = sample(self.model, GRID * GRID, seed=0, steps=25)
        rows = [images]
        if self.prepared.task == "autoencoding":
            originals = self.prepared.train.images[: GRID * GRID // 2].astype("float32") / 255.0
            reconstructed = np.asarray(self.model.decode(self.model.encode(originals)[0]))
            rows = [np.concatenate([originals, reconstructed]), images]
        self.directory.mkdir(parents=True, exist_ok=True)
        image_grid(
            np.concatenate(rows),
            self.directory / f"epoch-{epoch + 1:03d}.png",
            columns=GRID,
            title=f"{self.model.name}, epoch {epoch + 1}",
        )


def sample(
    model, num_images: int, *, seed: int = 0, steps: int | None = None, eta: float = 0.0, batch_size: int = 500
) -> np.ndarray:
    """``num_images`` images in [0, 1] from a GAN, a VAE's prior, or a diffusion model, exactly as the exported
    ``generate`` / ``serving_default`` signatures draw them for ``seed``.

    Args:
        model: a GAN, VAE or Diffusion model.
        num_images: how many.
        seed: the same seed gives the same images.
        steps: diffusion only: DDIM steps (default: all T steps).
        eta: diffusion only: 0 deterministic DDIM, 1 with all T steps DDPM.
        batch_size: images per call (diffusion: per reverse process).
    """
    if num_images < 1:
        raise ValueError(f"num_images must be positive. Received: num_images={num_images}")
    if hasattr(model, "denoise_step"):
        return model.sample(num_images, seed=seed, steps=steps, eta=eta, batch_size=batch_size)
    return model.sample(num_images, seed=seed)


def binarized_test_images(dataset: str, count: int | None = None) -> np.ndarray:
    """The test images binarised once with a fixed seed: pixel ~ Bernoulli(intensity), as the VAE literature does."""
    _, split = data.load(dataset, "test")
    pixels = split.images[:count].astype(np.float32) / 255.0
    return (np.random.default_rng(BINARIZE_SEED).random(pixels.shape) < pixels).astype(np.float32)


def vae_bounds(
    model, images: np.ndarray, *, importance_samples: int = 1000, batch_size: int | None = None, seed: int = 0
) -> dict[str, float]:
    """Negative ELBO and the importance-weighted -log p(x) estimate (Burda et al. 2016), in nats per image, from the
    same k samples of q(z|x): the ELBO is the mean of log w, the estimate log of the mean of w, so it is never
    above the negative ELBO (Jensen)."""
    from keras import ops

    rng = np.random.default_rng(seed)
    batch_size = batch_size or max(1, 4096 // importance_samples)  # images x samples decoded at once: bounded memory
    elbo, iwae = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        noise = rng.standard_normal((len(batch), importance_samples, model.latent_dim)).astype(np.float32)
        log_w = np.asarray(model.log_weights(batch, noise), np.float64)
        elbo.append(-log_w.mean(axis=1))
        iwae.append(-(np.asarray(ops.logsumexp(log_w, axis=1)) - math.log(importance_samples)))
    return {"negative_elbo": float(np.mean(np.concatenate(elbo))), "nll": float(np.mean(np.concatenate(iwae)))}


def sample_quality(
    model,
    dataset: str,
    *,
    num_samples: int = 5000,
    steps: int | None = None,
    eta: float = 0.0,
    features: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """FID and KID of ``num_samples`` generated images against as many test images, and the real-vs-real floor
    (training images against the same test images), on ``features``."""
    from zoo.analysis.generative_metrics import FeatureExtractor, frechet_distance, kernel_distance

    extract = FeatureExtractor(features, dataset)
    _, test = data.load(dataset, "test")
    _, train_split = data.load(dataset, "train")
    n = min(num_samples, len(test))
    real = extract(test.images[:n].astype(np.float32) / 255.0)
    held_out = extract(
        train_split.images[np.random.default_rng(seed).choice(len(train_split), n, replace=False)].astype(np.float32)
        / 255.0
    )
    generated = extract(sample(model, n, seed=seed, steps=steps, eta=eta))
    kid, kid_std = kernel_distance(generated, real)
    floor_kid, _ = kernel_distance(held_out, real)
    return {
        "fid": frechet_distance(generated, real),
        "kid": kid,
        "kid_std": kid_std,
        "fid_real_vs_real": frechet_distance(held_out, real),
        "kid_real_vs_real": floor_kid,
        "samples": n,
        "features": extract.description,
        **({"steps": steps or model.timesteps, "eta": eta} if hasattr(model, "denoise_step") else {}),
    }


def evaluate_model(
    model,
    dataset: str,
    *,
    importance_samples: int | None = None,
    num_samples: int | None = None,
    steps: int | None = None,
    eta: float = 0.0,
    features: str = "auto",
    max_examples: int | None = None,
    quick: bool = False,
) -> dict[str, Any]:
    """The test metrics of a generative model (see the module docstring); ``quick`` (end of training) measures less."""
    if hasattr(model, "log_weights"):
        k = importance_samples or (100 if quick else 1000)
        count = max_examples or (1000 if quick else None)
        if model.likelihood == "bernoulli":
            images, kind = binarized_test_images(dataset, count), "binarised"
        else:  # a density on [0, 1] pixels: nats of the continuous intensities
            images, kind = data.load(dataset, "test")[1].images[:count].astype(np.float32) / 255.0, "continuous"
        return {
            **vae_bounds(model, images, importance_samples=k),
            "importance_samples": k,
            "examples": len(images),
            "images": kind,
            "unit": "nats",
        }
    if quick:  # the end of a training run: a rough figure (diffusion samples slowly), no error without a feature preset
        diffusion = hasattr(model, "timesteps")
        num_samples = num_samples or (200 if diffusion else 500)
        steps = steps or (min(10, model.timesteps) if diffusion else None)
        try:
            return sample_quality(model, dataset, num_samples=num_samples, steps=steps, eta=eta, features=features)
        except ValueError as err:
            return {"fid": None, "note": str(err)}
    return sample_quality(model, dataset, num_samples=num_samples or 5000, steps=steps, eta=eta, features=features)


def train(
    model_name: str,
    dataset: str,
    *,
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainResult:
    """Trains a VAE, GAN or diffusion model on an image data set and writes a run directory (with sample grids).

    ``config.lr`` is the learning rate of VAEs and diffusion models (Adam); GANs use their
    own two optimizers (DCGAN: Adam 2e-4, beta_1 0.5; WGAN-GP: Adam 1e-4, betas 0.5/0.9).
    """
    config = config or TrainConfig()
    load = GenerativeData.loader(model_name, overrides)

    def build(prepared: GenerativeData):
        model = zoo.create(model_name, **{**prepared.model_overrides(), **(overrides or {})})
        return model

    return engine.fit(model_name, dataset, config, out=out, load_data=load, build=build)


def evaluate(model_name: str, weights: str | Path, dataset: str, *, batch_size: int = 256, **options) -> dict[str, Any]:
    """Loads trained weights and measures them (``options``: ``importance_samples``, ``num_samples``, ``steps``,
    ``eta``, ``features``, ``max_examples``)."""
    spec = data.get_spec(dataset)
    model, _ = create_trained(
        model_name, weights, build=lambda: zoo.create(model_name, image_shape=list(spec.input_shape))
    )
    return evaluate_model(model, dataset, **options)
