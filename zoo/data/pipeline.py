"""tf.data input pipelines for image classification (TensorFlow-only, used by ``training``)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from zoo.data.datasets import DatasetSpec, Split


def _crop_flip(image: tf.Tensor, pad: int = 4) -> tf.Tensor:
    """Standard CIFAR augmentation: zero-pad by ``pad``, random crop back, random horizontal flip."""
    height, width, channels = image.shape
    image = tf.image.pad_to_bounding_box(image, pad, pad, height + 2 * pad, width + 2 * pad)
    image = tf.image.random_crop(image, (height, width, channels))
    return tf.image.random_flip_left_right(image)


def _shift(image: tf.Tensor, pad: int = 2) -> tf.Tensor:
    """Random translation by up to ``pad`` pixels (zero fill), no flip: for digits and other oriented images."""
    height, width, channels = image.shape
    image = tf.image.pad_to_bounding_box(image, pad, pad, height + 2 * pad, width + 2 * pad)
    return tf.image.random_crop(image, (height, width, channels))


AUGMENTATIONS = {"crop_flip": _crop_flip, "shift": _shift}


def make_pipeline(
    spec: DatasetSpec,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    training: bool,
    augment: str = "auto",
    seed: int | None = None,
) -> tf.data.Dataset:
    """Batches uint8 images as float32 pixels in [0, 1] with int64 labels.

    Standardisation happens inside the models, so pipelines only scale pixels.

    Args:
        spec: the data set's spec (its ``augment`` names the augmentation).
        images: uint8 (N, H, W, C). labels: int (N,).
        batch_size: int. Global batch size.
        training: bool. Shuffle every epoch and augment when True.
        augment: ``"auto"`` (the data set's standard augmentation), ``"none"``,
            or a name from ``AUGMENTATIONS``. Applies only when ``training``.
        seed: int or None. Shuffle seed.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive. Received: batch_size={batch_size}")
    if augment not in ("auto", "none", *AUGMENTATIONS):
        raise ValueError(f"augment must be 'auto', 'none' or one of {sorted(AUGMENTATIONS)}. Received: augment={augment!r}")
    chosen = spec.augment if augment == "auto" else (None if augment == "none" else augment)
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))
    if training:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)

    def scale(image, label):
        return tf.cast(image, tf.float32) / 255.0, label

    ds = ds.map(scale, num_parallel_calls=tf.data.AUTOTUNE)
    if training and chosen:
        fn = AUGMENTATIONS[chosen]
        ds = ds.map(lambda image, label: (fn(image), label), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def split_validation(split: Split, fraction: float, seed: int = 0) -> tuple[Split, Split | None]:
    """Holds out ``fraction`` of a training split (a fixed random subset) for validation."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_split must be in [0, 1). Received: {fraction}")
    if fraction == 0.0:
        return split, None
    order = np.random.default_rng(seed).permutation(len(split))
    n_val = max(1, int(round(len(split) * fraction)))
    val, train = order[:n_val], order[n_val:]
    return (
        Split(split.images[train], split.labels[train], split.source),
        Split(split.images[val], split.labels[val], split.source),
    )
