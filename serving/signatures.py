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
        checks = [tf.debugging.assert_equal(shape, tf.stack([nodes, nodes]), message=(
            "the adjacency must be (nodes, nodes), with nodes = the rows of features"))]
        with tf.control_dependencies(checks):
            probabilities = tf.nn.softmax(model([features, adjacency], training=False), axis=-1)
        return {"scores": probabilities, "classes": tf.argmax(probabilities, axis=-1)}

    @tf.function(input_signature=[tf.TensorSpec([None, num_features], tf.float32, name="features"),
                                  tf.TensorSpec([None, None], tf.float32, name="adjacency")])
    def serving_default(features, adjacency):
        return scores(features, adjacency)

    @tf.function(input_signature=[tf.TensorSpec([None, num_features], tf.float32, name="features"),
                                  tf.TensorSpec([None, 2], tf.int64, name="adjacency_indices"),
                                  tf.TensorSpec([None], tf.float32, name="adjacency_values")])
    def sparse(features, adjacency_indices, adjacency_values):
        nodes = tf.cast(tf.shape(features)[0], tf.int64)
        checks = [tf.debugging.assert_less(adjacency_indices, nodes, message="adjacency indices must be < nodes"),
                  tf.debugging.assert_non_negative(adjacency_indices, message="adjacency indices must be >= 0")]
        with tf.control_dependencies(checks):
            adjacency = tf.scatter_nd(adjacency_indices, adjacency_values, tf.stack([nodes, nodes]))
        return scores(features, adjacency)

    return {"serving_default": serving_default, "sparse": sparse}


def regression(model) -> dict[str, Callable]:
    """``serving_default`` (features -> predictions) and ``regress`` (tf.Example -> outputs, TF Serving's Regress)."""
    num_features = int(model.input_shape[-1])

    @tf.function(input_signature=[tf.TensorSpec([None, num_features], tf.float32, name="features")])
    def serving_default(features):
        return {"predictions": model(features, training=False)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(inputs):
        spec = {"features": tf.io.FixedLenFeature([num_features], tf.float32)}
        features = tf.io.parse_example(inputs, spec)["features"]
        return {"outputs": model(features, training=False)[:, 0]}

    return {"serving_default": serving_default, "regress": regress}


def language_model(model) -> dict[str, Callable]:
    """``serving_default`` (texts -> log-likelihood) and ``generate`` (prompts -> continued texts).

    The model's ``vocabulary`` is compiled into the graph: UTF-8 strings are
    decoded to code points and mapped to token ids (unknown characters to 0),
    so clients send and receive plain strings. ``generate`` samples with
    ``tf.random.stateless_categorical`` seeded by (seed, position): the same
    prompt, seed and temperature give the same text in-process, exported, and
    served; ``temperature=0`` decodes greedily (the most likely character each
    step). The unknown token is never sampled.
    """
    vocabulary = [ord(c) for c in model.vocabulary]
    table = [0] * (max(vocabulary) + 1)
    for token, code in enumerate(vocabulary, start=1):
        table[code] = token
    code_of_token = tf.constant([ord("?")] + vocabulary, tf.int32)
    token_of_code = tf.constant(table, tf.int32)

    def tokenize(text):
        codes = tf.strings.unicode_decode(text, "UTF-8", errors="replace")
        known = tf.gather(token_of_code, tf.minimum(codes, len(table) - 1))
        return tf.where(codes < len(table), known, tf.zeros_like(codes))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serving_default(text):
        tokens = tokenize(text)
        lengths = tokens.row_lengths()
        padded = tf.pad(tokens.to_tensor(), [[0, 0], [0, 2]])  # one input column even for empty texts
        log_probs = tf.nn.log_softmax(model(padded[:, :-1], training=False), axis=-1)
        picked = tf.gather(log_probs, padded[:, 1:], axis=-1, batch_dims=2)
        mask = tf.sequence_mask(lengths - 1, maxlen=tf.shape(picked)[1], dtype=picked.dtype)
        return {"log_prob": tf.reduce_sum(picked * mask, axis=1),
                "characters": tf.cast(tf.maximum(lengths - 1, 0), tf.int32)}

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="prompt"), tf.TensorSpec([], tf.int32, name="length"),
        tf.TensorSpec([], tf.float32, name="temperature"), tf.TensorSpec([], tf.int64, name="seed"),
    ])
    def generate(prompt, length, temperature, seed):
        tokens = tokenize(prompt)
        lengths = tf.cast(tokens.row_lengths(), tf.int32)
        checks = [
            tf.debugging.assert_positive(lengths, message="generate: every prompt needs at least one character"),
            tf.debugging.assert_non_negative(length, message="generate: length must be >= 0"),
            tf.debugging.assert_non_negative(temperature, message="generate: temperature must be >= 0 (0: greedy)"),
        ]
        with tf.control_dependencies(checks):
            padded = tokens.to_tensor()
        steps = tf.shape(padded)[1] + length
        states = model.initial_states(tf.shape(padded)[0])
        token = padded[:, 0]
        written = tf.TensorArray(tf.int32, size=steps).write(0, token)
        for t in tf.range(1, steps):
            logits, states = model.step(token[:, None], states)
            divisor = tf.where(temperature > 0, temperature, tf.ones_like(temperature))
            logits = tf.concat([tf.fill([tf.shape(logits)[0], 1], -1e9), logits[:, 0, 1:] / divisor], axis=-1)
            sampled = tf.random.stateless_categorical(
                logits, 1, seed=tf.stack([seed, tf.cast(t, tf.int64)]), dtype=tf.int32)[:, 0]
            sampled = tf.where(temperature > 0, sampled, tf.argmax(logits, axis=-1, output_type=tf.int32))
            token = tf.where(t < lengths, padded[:, tf.minimum(t, tf.shape(padded)[1] - 1)], sampled)
            written = written.write(t, token)
        ids = tf.RaggedTensor.from_tensor(tf.transpose(written.stack()), lengths=lengths + length)
        return {"text": tf.strings.unicode_encode(tf.gather(code_of_token, ids), "UTF-8")}

    return {"serving_default": serving_default, "generate": generate}


def _image_spec(model, name: str) -> tf.TensorSpec:
    return tf.TensorSpec([None, *model.image_shape], tf.float32, name=name)


def image_generation(model) -> dict[str, Callable]:
    """``serving_default`` (latents -> images) and ``generate`` (num_images, seed -> images and their latents).

    ``generate`` draws standard normal latents with ``tf.random.stateless_normal`` seeded
    by ``seed``: the same seed gives the same images in-process and served.
    """

    @tf.function(input_signature=[tf.TensorSpec([None, model.latent_dim], tf.float32, name="latents")])
    def serving_default(latents):
        return {"images": model.generate(latents)}

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="num_images"),
                                  tf.TensorSpec([], tf.int64, name="seed")])
    def generate(num_images, seed):
        checks = [tf.debugging.assert_positive(num_images, message="generate: num_images must be > 0")]
        with tf.control_dependencies(checks):
            latents = tf.random.stateless_normal(tf.stack([num_images, model.latent_dim]), seed=tf.stack([seed, 0]))
        return {"images": model.generate(latents), "latents": latents}

    return {"serving_default": serving_default, "generate": generate}


def autoencoding(model) -> dict[str, Callable]:
    """``encode`` (images -> mean, log_var), ``decode`` (latents -> images), ``reconstruct`` = ``serving_default``
    (images -> decoded posterior means)."""

    @tf.function(input_signature=[_image_spec(model, "images")])
    def encode(images):
        mean, log_var = model.encode(images)
        return {"mean": mean, "log_var": log_var}

    @tf.function(input_signature=[tf.TensorSpec([None, model.latent_dim], tf.float32, name="latents")])
    def decode(latents):
        return {"images": model.decode(latents)}

    @tf.function(input_signature=[_image_spec(model, "images")])
    def reconstruct(images):
        return {"reconstructions": model.decode(model.encode(images)[0])}

    return {"serving_default": reconstruct, "encode": encode, "decode": decode, "reconstruct": reconstruct}


def diffusion(model) -> dict[str, Callable]:
    """``sample`` (initial noise, steps, eta, seed -> images) and ``serving_default`` (num_images, steps, eta, seed).

    The reverse process runs ``steps`` DDIM updates (``Diffusion.denoise_step``) from
    T - 1 down to 0, in a ``tf.while_loop``; the noise of stochastic steps (eta > 0)
    is ``tf.random.stateless_normal`` seeded by (seed, step), and ``serving_default``'s
    initial noise by (seed, 0): the same seed gives the same images in-process and served.
    """
    timesteps = model.timesteps

    def reverse(noise, steps, eta, seed):
        checks = [tf.debugging.assert_greater_equal(steps, 1, message="sample: steps must be >= 1"),
                  tf.debugging.assert_less_equal(steps, timesteps, message=f"sample: steps must be <= {timesteps}"),
                  tf.debugging.assert_non_negative(eta, message="sample: eta must be >= 0")]
        with tf.control_dependencies(checks):
            schedule = tf.cast(tf.round(tf.linspace(float(timesteps - 1), 0.0, steps)), tf.int32)
        schedule = tf.concat([schedule, [-1]], axis=0)
        x = noise
        for i in tf.range(steps):
            step_noise = tf.random.stateless_normal(tf.shape(noise), seed=tf.stack([seed, tf.cast(i, tf.int64) + 1]))
            x = model.denoise_step(x, schedule[i], schedule[i + 1], eta, step_noise)
        return {"images": model.to_images(x)}

    @tf.function(input_signature=[_image_spec(model, "noise"), tf.TensorSpec([], tf.int32, name="steps"),
                                  tf.TensorSpec([], tf.float32, name="eta"), tf.TensorSpec([], tf.int64, name="seed")])
    def sample(noise, steps, eta, seed):
        return reverse(noise, steps, eta, seed)

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="num_images"),
                                  tf.TensorSpec([], tf.int32, name="steps"), tf.TensorSpec([], tf.float32, name="eta"),
                                  tf.TensorSpec([], tf.int64, name="seed")])
    def serving_default(num_images, steps, eta, seed):
        checks = [tf.debugging.assert_positive(num_images, message="sample: num_images must be > 0")]
        with tf.control_dependencies(checks):
            shape = tf.concat([[num_images], tf.constant(model.image_shape, tf.int32)], axis=0)
        return reverse(tf.random.stateless_normal(shape, seed=tf.stack([seed, 0])), steps, eta, seed)

    return {"serving_default": serving_default, "sample": sample}


_BUILDERS: dict[str, Callable[..., dict[str, Callable]]] = {
    "image_generation": image_generation,
    "autoencoding": autoencoding,
    "diffusion": diffusion,
    "image_classification": image_classification,
    "regression": regression,
    "language_model": language_model,
    "node_classification": node_classification,
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
