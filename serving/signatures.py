"""Serving signatures per task: the ``tf.function``\\ s an export writes.

``zoo.tasks`` declares each task's signatures (names, inputs, outputs, TF Serving
method); this module implements them in TensorFlow, once per task, so export
needs no per-model code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

#: Feature key holding the flattened pixels in the ``classify`` signature's tf.Examples.
IMAGE_FEATURE = "images"


def _static_image_shape(model) -> tuple[int, int, int]:
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or any(d is None for d in shape):
        raise ValueError(
            f"Image classifiers export with a fixed (height, width, channels) input; {model.name} has {shape}. "
            f"Rebuild it with input_shape=(H, W, C)."
        )
    return shape


def image_classification(model, class_names: Sequence[str] | None = None) -> dict[str, Callable]:
    """``serving_default`` (images -> scores, classes) and ``classify`` (tf.Example -> labels, scores).

    Args:
        model: a Keras model taking float pixels in [0, 1], ``(batch, H, W, C)``, returning logits.
        class_names: labels the ``classify`` signature returns; defaults to ``"0"``, ``"1"``, ...

    Returns:
        Signature name -> ``tf.function`` with an input signature.
    """
    height, width, channels = _static_image_shape(model)
    num_classes = int(model.output_shape[-1])
    names = [str(n) for n in class_names] if class_names is not None else [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"{model.name} has {num_classes} classes but {len(names)} class names were given.")
    labels = tf.constant(names)

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, name="images")])
    def serving_default(images):
        scores = tf.nn.softmax(model(images, training=False), axis=-1)
        return {"scores": scores, "classes": tf.argmax(scores, axis=-1)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(inputs):
        spec = {IMAGE_FEATURE: tf.io.FixedLenFeature([height * width * channels], tf.float32)}
        images = tf.reshape(tf.io.parse_example(inputs, spec)[IMAGE_FEATURE], [-1, height, width, channels])
        scores = tf.nn.softmax(model(images, training=False), axis=-1)
        return {"classes": tf.broadcast_to(labels, tf.shape(scores)), "scores": scores}

    return {"serving_default": serving_default, "classify": classify}


_BUILDERS: dict[str, Callable[..., dict[str, Callable]]] = {
    "image_classification": image_classification,
}


def signature_functions(task: str, model, **options: Any) -> dict[str, Callable]:
    """The signature functions of ``task`` for ``model``.

    Raises:
        ValueError: a task with no serving signatures yet.
    """
    try:
        builder = _BUILDERS[task]
    except KeyError:
        raise ValueError(f"No serving signatures for task {task!r}. Exportable tasks: {', '.join(sorted(_BUILDERS))}.") from None
    return builder(model, **options)
