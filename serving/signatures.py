"""Serving signatures per task: the ``tf.function``\\ s an export writes.

``zoo.tasks`` declares each task's signatures (names, inputs, outputs, TF Serving
method); this module implements them in TensorFlow, once per task, so export
needs no per-model code. Each builder registers itself as the task's ``serving``
part (:func:`zoo.tasks.register`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from zoo import tasks

#: The layer name this module registers its builders under in :mod:`zoo.tasks`.
LAYER = "serving"
#: Feature key holding the flattened pixels in the ``classify`` signature's tf.Examples.
IMAGE_FEATURE = "images"


def _serves(task: str) -> Callable:
    """Registers the decorated builder as the signatures of ``task``."""
    return functools.partial(tasks.register, LAYER, task)


def task_signature(task: str, key: str, **sizes: int) -> Callable[[Callable], Callable]:
    """Makes the decorated function a ``tf.function`` with the inputs of ``task``'s signature ``key`` (names, dtypes,
    shapes as :mod:`zoo.tasks` describes them; ``sizes``: the dimensions the model fixes).

    Raises:
        ValueError: the function's parameters are not those inputs, in their order.
    """
    specs = tasks.get_task(task).signatures[key].input_specs(**sizes)
    names = [name for name, _, _ in specs]

    def decorate(function: Callable) -> Callable:
        parameters = list(inspect.signature(function).parameters)
        if parameters != names:
            raise ValueError(
                f"{task} {key} takes the inputs {names}, in this order; {function.__name__} takes {parameters}."
            )
        return tf.function(function, input_signature=[tf.TensorSpec(shape, dtype, name=n) for n, dtype, shape in specs])

    return decorate


def _static_image_shape(model) -> tuple[int, int, int]:
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or any(d is None for d in shape):
        raise ValueError(
            f"Image classifiers export with a fixed (height, width, channels) input; {model.name} has {shape}. "
            f"Rebuild it with input_shape=(H, W, C)."
        )
    return shape


@_serves("image_classification")
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

    @task_signature("image_classification", "serving_default", height=height, width=width, channels=channels)
    def serving_default(images):
        scores = tf.nn.softmax(model(images, training=False), axis=-1)
        return {"scores": scores, "classes": tf.argmax(scores, axis=-1)}

    @task_signature("image_classification", "classify")
    def classify(inputs):
        spec = {IMAGE_FEATURE: tf.io.FixedLenFeature([height * width * channels], tf.float32)}
        images = tf.reshape(tf.io.parse_example(inputs, spec)[IMAGE_FEATURE], [-1, height, width, channels])
        scores = tf.nn.softmax(model(images, training=False), axis=-1)
        return {"classes": tf.broadcast_to(labels, tf.shape(scores)), "scores": scores}

    return {"serving_default": serving_default, "classify": classify}


@_serves("node_classification")
def node_classification(model) -> dict[str, Callable]:
    """``serving_default`` (features, dense adjacency) and ``sparse`` (features, adjacency triplets) -> per-node scores.

    The adjacency is the normalised one, D^-1/2 (A + I) D^-1/2; a non-square
    adjacency, or one whose size differs from the number of feature rows, is
    refused with INVALID_ARGUMENT.
    """
    num_features = int(model.input_shape[0][-1])

    def scores(features, adjacency):
        nodes = tf.shape(features)[0]
        shape = tf.shape(adjacency)
        checks = [
            tf.debugging.assert_equal(
                shape,
                tf.stack([nodes, nodes]),
                message=("the adjacency must be (nodes, nodes), with nodes = the rows of features"),
            )
        ]
        with tf.control_dependencies(checks):
            probabilities = tf.nn.softmax(model([features, adjacency], training=False), axis=-1)
        return {"scores": probabilities, "classes": tf.argmax(probabilities, axis=-1)}

    @task_signature("node_classification", "serving_default", features=num_features)
    def serving_default(features, adjacency):
        return scores(features, adjacency)

    @task_signature("node_classification", "sparse", features=num_features)
    def sparse(features, adjacency_indices, adjacency_values):
        nodes = tf.cast(tf.shape(features)[0], tf.int64)
        checks = [
            tf.debugging.assert_less(adjacency_indices, nodes, message="adjacency indices must be < nodes"),
            tf.debugging.assert_non_negative(adjacency_indices, message="adjacency indices must be >= 0"),
        ]
        with tf.control_dependencies(checks):
            adjacency = tf.scatter_nd(adjacency_indices, adjacency_values, tf.stack([nodes, nodes]))
        return scores(features, adjacency)

    return {"serving_default": serving_default, "sparse": sparse}


@_serves("regression")
def regression(model) -> dict[str, Callable]:
    """``serving_default`` (features -> predictions) and ``regress`` (tf.Example -> outputs, TF Serving's Regress)."""
    num_features = int(model.input_shape[-1])

    @task_signature("regression", "serving_default", features=num_features)
    def serving_default(features):
        return {"predictions": model(features, training=False)}

    @task_signature("regression", "regress")
    def regress(inputs):
        spec = {"features": tf.io.FixedLenFeature([num_features], tf.float32)}
        features = tf.io.parse_example(inputs, spec)["features"]
        return {"outputs": model(features, training=False)[:, 0]}

    return {"serving_default": serving_default, "regress": regress}


@_serves("language_model")
def language_model(model) -> dict[str, Callable]:
    """``serving_default`` (texts -> log-likelihood) and ``generate`` (prompts -> continued texts).

    Wraps :meth:`zoo.models.rnn.CharRNN.score_text` and :meth:`~zoo.models.rnn.CharRNN.generate_text`:
    the model's vocabulary is compiled into the graph, so clients send and receive plain
    strings; the same prompt, seed and temperature give the same text in-process, exported
    and served; ``temperature=0`` decodes greedily.
    """

    @task_signature("language_model", "serving_default")
    def serving_default(text):
        return model.score_text(text)

    @task_signature("language_model", "generate")
    def generate(prompt, length, temperature, seed):
        return model.generate_text(prompt, length, temperature, seed)

    return {"serving_default": serving_default, "generate": generate}


def _image_sizes(model) -> dict[str, int]:
    height, width, channels = model.image_shape
    return {"height": height, "width": width, "channels": channels}


@_serves("image_generation")
def image_generation(model) -> dict[str, Callable]:
    """``serving_default`` (latents -> images) and ``generate`` (num_images, seed -> images and their latents).

    ``generate`` wraps :meth:`zoo.models.gan.GAN.generate_images` (standard normal latents seeded
    by ``seed``): the same seed gives the same images in-process and served.
    """

    @task_signature("image_generation", "serving_default", latent_dim=model.latent_dim)
    def serving_default(latents):
        return {"images": model.generate(latents)}

    @task_signature("image_generation", "generate")
    def generate(num_images, seed):
        return model.generate_images(num_images, seed)

    return {"serving_default": serving_default, "generate": generate}


@_serves("autoencoding")
def autoencoding(model) -> dict[str, Callable]:
    """``encode`` (images -> mean, log_var), ``decode`` (latents -> images), ``reconstruct`` = ``serving_default``
    (images -> decoded posterior means)."""

    @task_signature("autoencoding", "encode", **_image_sizes(model))
    def encode(images):
        mean, log_var = model.encode(images)
        return {"mean": mean, "log_var": log_var}

    @task_signature("autoencoding", "decode", latent_dim=model.latent_dim)
    def decode(latents):
        return {"images": model.decode(latents)}

    @task_signature("autoencoding", "reconstruct", **_image_sizes(model))
    def reconstruct(images):
        return {"reconstructions": model.decode(model.encode(images)[0])}

    return {"serving_default": reconstruct, "encode": encode, "decode": decode, "reconstruct": reconstruct}


@_serves("diffusion")
def diffusion(model) -> dict[str, Callable]:
    """``sample`` (initial noise, steps, eta, seed -> images) and ``serving_default`` (num_images, steps, eta, seed).

    Wrap :meth:`zoo.models.diffusion.Diffusion.reverse_process` and
    :meth:`~zoo.models.diffusion.Diffusion.generate_images`: ``steps`` DDIM updates from
    T - 1 down to 0, seeded noise; the same seed gives the same images in-process and served.
    """

    @task_signature("diffusion", "sample", **_image_sizes(model))
    def sample(noise, steps, eta, seed):
        return model.reverse_process(noise, steps, eta, seed)

    @task_signature("diffusion", "serving_default")
    def serving_default(num_images, steps, eta, seed):
        return model.generate_images(num_images, steps, eta, seed)

    return {"serving_default": serving_default, "sample": sample}


def signature_functions(task: str, model, **options: Any) -> dict[str, Callable]:
    """The signature functions of ``task`` for ``model``.

    Raises:
        ValueError: an unknown task, or one with no serving signatures yet.
    """
    return tasks.get_task(task).part(LAYER)(model, **options)
