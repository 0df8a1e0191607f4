"""tf.data input pipelines for image classification (TensorFlow-only, used by ``training``)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from zoo.data.datasets import DatasetSpec, Split, stratified_split
from zoo.data.mixing import MIXES, paste_box, random_box


def _crop_flip(image: tf.Tensor, seed: tf.Tensor, pad: int = 4) -> tf.Tensor:
    """Standard CIFAR augmentation: zero-pad by ``pad``, random crop back, random horizontal flip."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    height, width, channels = image.shape
    image = tf.image.pad_to_bounding_box(image, pad, pad, height + 2 * pad, width + 2 * pad)
    image = tf.image.stateless_random_crop(image, (height, width, channels), seed=crop_seed)
    return tf.image.stateless_random_flip_left_right(image, seed=flip_seed)


def _shift(image: tf.Tensor, seed: tf.Tensor, pad: int = 2) -> tf.Tensor:
    """Random translation by up to ``pad`` pixels (zero fill), no flip: for digits and other oriented images."""
    height, width, channels = image.shape
    image = tf.image.pad_to_bounding_box(image, pad, pad, height + 2 * pad, width + 2 * pad)
    return tf.image.stateless_random_crop(image, (height, width, channels), seed=seed)


def _cutout(image: tf.Tensor, seed: tf.Tensor, size: int = 16) -> tf.Tensor:
    """DeVries & Taylor (2017): zero a ``size`` x ``size`` square centred anywhere on the image (clipped at the
    border); 16 for CIFAR-10. Runs on pixels in [0, 1] before the model standardises them."""
    height, width, _ = image.shape
    batch = image[None]
    return paste_box(batch, tf.zeros_like(batch), *random_box(seed, height, width, size, size))[0]


def _crop_flip_cutout(image: tf.Tensor, seed: tf.Tensor, size: int = 16) -> tf.Tensor:
    """Random crop + flip, then a ``size`` x ``size`` cutout."""
    crop_seed, cut_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    return _cutout(_crop_flip(image, crop_seed), cut_seed, size)


def _crop_flip_cutout8(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Crop + flip, then an 8x8 cutout: a quarter of the 16x16 square's area, a lighter regularizer (ResNet-20
    on CIFAR-10 overfitted with it: bench/reports/resnet20-cifar10-run5.md)."""
    return _crop_flip_cutout(image, seed, 8)


AUGMENTATIONS = {
    "crop_flip": _crop_flip,
    "shift": _shift,
    "crop_flip_cutout": _crop_flip_cutout,
    "crop_flip_cutout8": _crop_flip_cutout8,
}


def steps_per_epoch(examples: int, batch_size: int) -> int:
    """Batches in one epoch (the last one may be partial)."""
    return -(-examples // batch_size)


def epoch_batches(
    arrays: tuple[np.ndarray, ...],
    *,
    batch_size: int,
    seed: int,
    first_epoch: int = 0,
    epochs: int = 1,
    skip_batches: int = 0,
    transform=None,
    batch_transform=None,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Shuffled minibatches of epochs ``first_epoch .. epochs - 1``, one after the other.

    Epoch e's order, and the randomness ``transform(element, seed)`` and
    ``batch_transform(batch, seed)`` get, are pure functions of ``(seed, e, position)``
    and ``(seed, e, batch)``: a run resumed at epoch e, batch b
    (``first_epoch=e, skip_batches=b``) sees exactly the batches an uninterrupted run
    would. Fit with ``steps_per_epoch`` so Keras reads the epochs from one iterator.
    ``drop_remainder`` drops each epoch's last, partial batch.
    """
    n = len(arrays[0])
    columns = [tf.convert_to_tensor(a) for a in arrays]  # captured by the epoch function, not copied per epoch

    def one_epoch(e):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=tf.stack([seed, e]))

        def take(position, index):
            element = tuple(tf.gather(c, index) for c in columns)
            return element if transform is None else transform(element, tf.stack([seed, e * n + position]))

        ds = tf.data.Dataset.from_tensor_slices(order).enumerate()
        ds = ds.map(take, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=drop_remainder)
        if batch_transform is None:
            return ds
        epoch_seed = tf.stack([tf.constant(seed, tf.int64), -1 - e])  # apart from the elements' (seed, >= 0)

        def mix(index, batch):
            return batch_transform(batch, tf.random.experimental.stateless_fold_in(epoch_seed, index))

        return ds.enumerate().map(mix, num_parallel_calls=tf.data.AUTOTUNE)

    per_epoch = n // batch_size if drop_remainder else steps_per_epoch(n, batch_size)
    ds = tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch).skip(skip_batches)
    ds = ds.apply(tf.data.experimental.assert_cardinality(max(0, (epochs - first_epoch) * per_epoch - skip_batches)))
    return ds.prefetch(tf.data.AUTOTUNE)


def make_pipeline(
    spec: DatasetSpec,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    batch_size: int,
    training: bool,
    augment: str = "auto",
    mix: str = "none",
    mix_alpha: float = 1.0,
    seed: int | None = None,
    first_epoch: int = 0,
    epochs: int | None = None,
    skip_batches: int = 0,
) -> tf.data.Dataset:
    """Batches uint8 images as float32 pixels in [0, 1] with int64 labels (one-hot float32 labels when mixing).

    Standardisation happens inside the models, so pipelines only scale pixels.

    Args:
        spec: the data set's spec (its ``augment`` names the augmentation).
        images: uint8 (N, H, W, C). labels: int (N,).
        batch_size: int. Global batch size.
        training: bool. Shuffle (each epoch its own order) and augment when True.
        augment: ``"auto"`` (the data set's standard augmentation), ``"none"``,
            or a name from ``AUGMENTATIONS``. Applies only when ``training``.
        mix: ``"none"`` or a name from ``zoo.data.mixing.MIXES`` (mixup, CutMix), applied to each
            training batch after ``augment``; the labels become one-hot class distributions.
        mix_alpha: the Beta(alpha, alpha) parameter of the mixing proportion.
        seed: int or None. Seed of the shuffles and augmentations (None: 0).
        first_epoch, epochs, skip_batches: training only, ``epochs`` required: the epochs to
            produce, one after the other (fit with ``steps_per_epoch``), and how many of the
            first epoch's batches were done already (resuming); see :func:`epoch_batches`.

    Raises:
        ValueError: a training pipeline without ``epochs``; a bad batch size, augmentation or mix.
    """
    if mix != "none" and mix not in MIXES:
        raise ValueError(f"mix must be 'none' or one of {sorted(MIXES)}. Received: mix={mix!r}")
    if mix_alpha <= 0:
        raise ValueError(f"mix_alpha must be positive. Received: mix_alpha={mix_alpha!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive. Received: batch_size={batch_size}")
    if augment not in ("auto", "none", *AUGMENTATIONS):
        raise ValueError(
            f"augment must be 'auto', 'none' or one of {sorted(AUGMENTATIONS)}. Received: augment={augment!r}"
        )
    chosen = spec.augment if augment == "auto" else (None if augment == "none" else augment)
    labels = labels.astype(np.int64)

    def scale(image):
        return tf.cast(image, tf.float32) / 255.0

    if training and epochs is None:
        raise ValueError(
            "A training pipeline yields a fixed run of epochs, each in its own order: pass epochs= "
            "and fit with steps_per_epoch=steps_per_epoch(len(images), batch_size)."
        )
    if not training:
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        ds = ds.map(lambda image, label: (scale(image), label), num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    fn = AUGMENTATIONS[chosen] if chosen else None

    def transform(element, element_seed):
        image, label = element
        image = scale(image)
        return (fn(image, element_seed) if fn else image), label

    mixer = None
    if mix != "none":

        def mixer(batch, batch_seed):
            batch_images, batch_labels = batch
            return MIXES[mix](batch_images, tf.one_hot(batch_labels, spec.num_classes), batch_seed, mix_alpha)

    return epoch_batches(
        (images, labels),
        batch_size=batch_size,
        seed=seed or 0,
        first_epoch=first_epoch,
        epochs=epochs,
        skip_batches=skip_batches,
        transform=transform,
        batch_transform=mixer,
    )


def split_validation(split: Split, fraction: float, seed: int = 0) -> tuple[Split, Split | None]:
    """Holds out ``fraction`` of a training split for validation: a fixed random subset, stratified by label
    (``fraction`` of every class, see :func:`zoo.data.datasets.stratified_split`)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_split must be in [0, 1). Received: {fraction}")
    if fraction == 0.0:
        return split, None
    train, val = stratified_split(split.labels, fraction, seed)
    if not len(val):
        return split, None
    return (
        Split(split.images[train], split.labels[train], split.source),
        Split(split.images[val], split.labels[val], split.source),
    )
