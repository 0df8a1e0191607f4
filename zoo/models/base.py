"""The base class of every zoo model: a Functional graph whose config is its arguments.

Follows keras-hub's ``Backbone``: the subclass validates its arguments, builds
the graph, calls ``super().__init__(inputs, outputs, config=...)``; the config
it hands over is exactly its constructor arguments, so ``get_config`` /
``from_config`` and ``.keras`` files round-trip without the Functional graph
description.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import keras


class ArgumentsConfig:
    """``get_config`` / ``from_config`` from the constructor arguments a subclass stored in ``self._zoo_config``."""

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable, **self._zoo_config}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)


class ZooModel(ArgumentsConfig, keras.Model):
    """A Functional model that serialises its constructor arguments.

    Args:
        inputs: the graph's input tensor(s).
        outputs: the graph's output tensor(s).
        config: dict. Every constructor argument of the subclass, as JSON values.
        **kwargs: passed to ``keras.Model`` (``name``, ``trainable``, ``dtype``).
    """

    def __init__(self, inputs, outputs, *, config: dict[str, Any], **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self._zoo_config = dict(config)


class GenerativeModel(ArgumentsConfig, keras.Model):
    """The base of the generative families: a subclassed model (it trains with its own loss or step) whose
    config is its constructor arguments, like :class:`ZooModel`.

    Subclasses build their Functional parts (encoder, generator, denoiser, ...) in
    ``__init__``, so the model is built, counts its parameters and loads weights at once,
    and define ``input_shape`` / ``output_shape`` for the registry: those of their
    default serving call.
    """

    def __init__(self, *, config: dict[str, Any], **kwargs):
        super().__init__(**kwargs)
        self._zoo_config = dict(config)

    def prior_latents(self, num_images, seed):
        """Standard normal latents (num_images, latent_dim) from ``tf.random.stateless_normal`` seeded by (seed, 0):
        the same seed gives the same latents in-process and served (TensorFlow ops, graph-friendly)."""
        require_tensorflow_backend(f"{type(self).__name__}.prior_latents")
        import tensorflow as tf

        return tf.random.stateless_normal(
            tf.stack([num_images, self.latent_dim]), seed=tf.stack([tf.cast(seed, tf.int64), 0])
        )


def require_tensorflow_backend(what: str) -> None:
    """Raises RuntimeError unless Keras runs on TensorFlow: sampling graphs use TensorFlow's stateless random and
    string ops, so that they equal the exported signatures."""
    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            f"{what} runs on the TensorFlow backend (it is the graph the exported signatures run); "
            f"this process uses KERAS_BACKEND={keras.config.backend()}. Save the weights "
            f"(.weights.h5) and load them with KERAS_BACKEND=tensorflow."
        )


_TRACED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def traced(
    model: keras.Model, key: str, function: Callable, signature: Sequence[tuple[str, str, tuple[int | None, ...]]]
) -> Callable:
    """``function`` as a ``tf.function`` with the input ``signature`` ((name, dtype, shape), ...), traced once per
    model and ``key`` (a sampling loop is slow to trace; calls from Python then run the same graph as the export).
    TensorFlow backend only."""
    require_tensorflow_backend(f"{type(model).__name__}.{key}")
    import tensorflow as tf

    functions = _TRACED.setdefault(model, {})
    if key not in functions:
        specs = [tf.TensorSpec(shape, dtype, name=name) for name, dtype, shape in signature]
        functions[key] = tf.function(function, input_signature=specs)
    return functions[key]


def check_positive_ints(owner: str, **values: int | Sequence[int]) -> None:
    """Raises ValueError unless every value (or every item of a sequence) is an int > 0."""
    for name, value in values.items():
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items):
            raise ValueError(f"{owner}: `{name}` must be positive integers. Received: {name}={value!r}")


def check_rate(owner: str, **values: float) -> None:
    """Raises ValueError unless every value is a float in [0, 1)."""
    for name, value in values.items():
        if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(f"{owner}: `{name}` must be in [0, 1). Received: {name}={value!r}")


def check_input_shape(owner: str, input_shape: Sequence[int], *, min_size: int = 1) -> tuple[int, int, int]:
    """Validates an image input shape (height, width, channels) and returns it as a tuple."""
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else None
    if shape is None or len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ValueError(
            f"{owner}: `input_shape` must be (height, width, channels) of positive ints. "
            f"Received: input_shape={input_shape!r}"
        )
    if min(shape[:2]) < min_size:
        raise ValueError(f"{owner}: images must be at least {min_size}x{min_size}. Received: input_shape={shape}")
    return shape


def image_input(input_shape: Sequence[int], mean: Sequence[float] | float | None, std: Sequence[float] | float | None):
    """Returns ``(inputs, x)``: an ``images`` Input and its standardised tensor.

    Models take pixels in [0, 1]; ``(x - mean) / std`` happens inside the model
    so exported models and attacks work on plain pixel values.
    """
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    if mean is None and std is None:
        return inputs, inputs
    if mean is None or std is None:
        raise ValueError(f"Give both input_mean and input_std or neither. Received: mean={mean}, std={std}")
    std_values = std if isinstance(std, (list, tuple)) else [std]
    if any(s <= 0 for s in std_values):
        raise ValueError(f"input_std must be positive. Received: input_std={std!r}")
    variance = [s * s for s in std_values] if isinstance(std, (list, tuple)) else std * std
    x = keras.layers.Normalization(mean=mean, variance=variance, name="standardize")(inputs)
    return inputs, x
