"""Tasks: what a family's models do, one definition per task that every layer registers its part into.

A :class:`Task` holds what the core knows: its serving signatures (names, inputs and
outputs with dtypes and shapes, TF Serving method) as ``zoo info`` shows them, the
metrics its evaluation reports and their one-line summary, and whether fine-tuning
supports it. The layers above add their implementation with :func:`register`, keyed by
the task's name, without the core importing them: ``zoo.training.dispatch`` registers
each task's trainer (``train``, ``evaluate`` and fine-tuning data), and
``zoo.serving.signatures`` each task's signature builder. ``tests/test_task_layers.py``
checks that every layer covers every task, and ``tests/serving/test_task_signatures.py``
that the signatures described here are the ones an export writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from zoo.naming import unknown_name

PREDICT = "tensorflow/serving/predict"
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"

#: Dimensions each request chooses: ``None`` in the exported input signatures. Other named
#: dimensions (``height``, ``features``, ...) are fixed by the model when it is exported.
REQUEST_DIMS = frozenset({"batch", "nodes", "edges", "num_images"})


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One input or output of a signature.

    Attributes:
        dtype: TensorFlow dtype name (``float32``, ``string``, ...).
        shape: one entry per dimension, a name (``batch``, ``height``) or a fixed size; ``()`` is a scalar.
        note: what the values mean, for people.
    """

    dtype: str
    shape: tuple[str | int, ...]
    note: str = ""

    def describe(self) -> str:
        """The line ``zoo info`` shows.

        Example:
            >>> Tensor("int64", ("batch",), "the most probable class").describe()
            'int64 (batch,), the most probable class'
            >>> Tensor("int32", ()).describe()
            'int32 scalar'
        """
        dims = ", ".join(str(d) for d in self.shape)
        shape = f"({dims},)" if len(self.shape) == 1 else f"({dims})" if self.shape else "scalar"
        return f"{self.dtype} {shape}" + (f", {self.note}" if self.note else "")


@dataclasses.dataclass(frozen=True)
class Signature:
    """A serving signature: TF Serving method name, named inputs and outputs."""

    method: str
    inputs: Mapping[str, Tensor]
    outputs: Mapping[str, Tensor]

    def input_specs(self, **sizes: int) -> tuple[tuple[str, str, tuple[int | None, ...]], ...]:
        """The inputs as (name, dtype, shape), in order: what a ``tf.function``'s input signature is built from.

        Args:
            **sizes: the size of each dimension the model fixes (``height=28``); those a request chooses
                (:data:`REQUEST_DIMS`) are ``None``.

        Raises:
            ValueError: a dimension the model fixes without its size in ``sizes``.

        Example:
            >>> get_task("regression").signatures["serving_default"].input_specs(features=10)
            (('features', 'float32', (None, 10)),)
        """

        def size(dim: str | int) -> int | None:
            if dim in REQUEST_DIMS:
                return None
            if isinstance(dim, int):
                return dim
            if dim not in sizes:
                raise ValueError(f"The model fixes the size of {dim!r}: pass {dim}=. Received: {sizes}")
            return sizes[dim]

        return tuple((name, t.dtype, tuple(size(d) for d in t.shape)) for name, t in self.inputs.items())

    def describe(self) -> dict[str, Any]:
        """``{"method", "inputs", "outputs"}`` with each tensor as its :meth:`Tensor.describe` line."""
        return {
            "method": self.method,
            "inputs": {name: t.describe() for name, t in self.inputs.items()},
            "outputs": {name: t.describe() for name, t in self.outputs.items()},
        }


@dataclasses.dataclass(frozen=True)
class Task:
    """A task: its serving contract, its evaluation's metrics and what the layers above implement for it.

    Attributes:
        name: task name used by the registry.
        description: one line for ``zoo info``.
        signatures: signature name -> :class:`Signature`; ``serving_default`` always among them.
        metrics: the metrics ``zoo evaluate`` reports, the headline one first.
        summarize: the one line ``zoo train``, ``finetune`` and ``evaluate`` print for the evaluation's metrics.
        finetune: whether ``zoo finetune`` handles the task (pretrained weights, a new head).
    """

    name: str
    description: str
    signatures: Mapping[str, Signature]
    metrics: tuple[str, ...]
    summarize: Callable[[Mapping[str, Any]], str]
    finetune: bool = False

    def describe_signatures(self) -> dict[str, dict[str, Any]]:
        """The signatures as ``zoo info`` (and ``zoo.info``) shows them: JSON values."""
        return {name: signature.describe() for name, signature in self.signatures.items()}

    def part(self, layer: str) -> Any:
        """What ``layer`` registered for this task (see :func:`register`).

        Raises:
            ValueError: ``layer`` has nothing for this task, naming the tasks it has.
        """
        try:
            return _PARTS[layer][self.name]
        except KeyError:
            covered = ", ".join(sorted(_PARTS.get(layer, {}))) or "none"
            raise ValueError(f"The {layer} layer has nothing for task {self.name!r}; it covers: {covered}.") from None


def _accuracy_line(m: Mapping[str, Any]) -> str:
    return (
        f"accuracy {m['accuracy']:.4f} (error {100 * (1 - m['accuracy']):.2f}%), "
        f"loss {m['loss']:.4f} on {m['examples']} examples"
    )


def _likelihood_line(m: Mapping[str, Any]) -> str:
    return (
        f"-log p(x) {m['nll']:.2f} nats (importance-weighted, k={m['importance_samples']}), "
        f"negative ELBO {m['negative_elbo']:.2f} nats on {m['examples']} binarised test images"
    )


def _sample_quality_line(m: Mapping[str, Any]) -> str:
    if m["fid"] is None:
        return f"FID not measured: {m.get('note')}"
    return (
        f"FID {m['fid']:.3f} (real vs real {m['fid_real_vs_real']:.3f}), KID {m['kid']:.5f} "
        f"on {m['samples']} samples, {m['features']}"
    )


def _regression_line(m: Mapping[str, Any]) -> str:
    ls = m["least_squares"]
    return (
        f"MSE {m['mse']:.2f}, R² {m['r2']:.4f} on {m['examples']} examples "
        f"(least squares: MSE {ls['mse']:.2f}, R² {ls['r2']:.4f}; weight gap {m['weight_gap']:.3g})"
    )


def _perplexity_line(m: Mapping[str, Any]) -> str:
    return f"perplexity {m['perplexity']:.3f} ({m['bits_per_character']:.3f} bits/char) on {m['characters']} characters"


_IMAGES = Tensor("float32", ("batch", "height", "width", "channels"), "pixels in [0, 1]")
_SCORES = Tensor("float32", ("batch", "num_classes"), "class probabilities")
_NODE_SCORES = Tensor("float32", ("nodes", "classes"), "class probabilities")
_NODE_CLASSES = Tensor("int64", ("nodes",), "the most probable class")
_NODE_FEATURES = Tensor("float32", ("nodes", "features"))
_SEED = Tensor("int64", (), "same seed gives the same images")
_STEPS = Tensor("int32", (), "in [1, T]")
_RECONSTRUCTIONS = Tensor("float32", ("batch", "height", "width", "channels"), "decoded posterior means")
_SAMPLE_QUALITY = ("fid", "kid", "fid_real_vs_real")

_DEFINITIONS = (
    Task(
        name="image_classification",
        description="Images in [0, 1], shape (batch, height, width, channels); one label per image.",
        signatures={
            "serving_default": Signature(
                PREDICT,
                inputs={"images": _IMAGES},
                outputs={"scores": _SCORES, "classes": Tensor("int64", ("batch",), "the most probable class")},
            ),
            "classify": Signature(
                CLASSIFY,
                inputs={"inputs": Tensor("string", ("batch",), "serialized tf.Example with feature 'images'")},
                outputs={
                    "scores": Tensor("float32", ("batch", "num_classes")),
                    "classes": Tensor("string", ("batch", "num_classes")),
                },
            ),
        },
        metrics=("accuracy", "loss"),
        summarize=_accuracy_line,
        finetune=True,
    ),
    Task(
        name="regression",
        description="Feature vectors (batch, features) in, real-valued targets (batch, outputs) out.",
        signatures={
            "serving_default": Signature(
                PREDICT,
                inputs={"features": Tensor("float32", ("batch", "features"))},
                outputs={"predictions": Tensor("float32", ("batch", "outputs"))},
            ),
            "regress": Signature(
                REGRESS,
                inputs={"inputs": Tensor("string", ("batch",), "serialized tf.Example with feature 'features'")},
                outputs={"outputs": Tensor("float32", ("batch",), "the first target")},
            ),
        },
        metrics=("mse", "r2", "weight_gap"),
        summarize=_regression_line,
    ),
    Task(
        name="node_classification",
        description="A whole graph per request: node features (nodes, features) and the normalised adjacency "
        "(nodes, nodes) in; one label per node.",
        signatures={
            "serving_default": Signature(
                PREDICT,
                inputs={
                    "features": _NODE_FEATURES,
                    "adjacency": Tensor(
                        "float32", ("nodes", "nodes"), "D^-1/2 (A + I) D^-1/2 (spektral.utils.gcn_filter)"
                    ),
                },
                outputs={"scores": _NODE_SCORES, "classes": _NODE_CLASSES},
            ),
            "sparse": Signature(
                PREDICT,
                inputs={
                    "features": _NODE_FEATURES,
                    "adjacency_indices": Tensor(
                        "int64", ("edges", 2), "(row, column) of each non-zero of the normalised adjacency"
                    ),
                    "adjacency_values": Tensor("float32", ("edges",), "its values"),
                },
                outputs={"scores": _NODE_SCORES, "classes": _NODE_CLASSES},
            ),
        },
        metrics=("accuracy", "loss"),
        summarize=_accuracy_line,
        finetune=True,
    ),
    Task(
        name="language_model",
        description="Character sequences: token ids (batch, time) in, next-token logits (batch, time, vocabulary) out.",
        signatures={
            "serving_default": Signature(
                PREDICT,
                inputs={"text": Tensor("string", ("batch",), "UTF-8 prompts")},
                outputs={
                    "log_prob": Tensor("float32", ("batch",), "log-likelihood of each text in nats"),
                    "characters": Tensor("int32", ("batch",), "characters scored (all but the first)"),
                },
            ),
            "generate": Signature(
                PREDICT,
                inputs={
                    "prompt": Tensor("string", ("batch",), "non-empty UTF-8 prompts"),
                    "length": Tensor("int32", (), "characters to generate"),
                    "temperature": Tensor("float32", (), "sampling temperature; 0 decodes greedily"),
                    "seed": Tensor("int64", (), "same seed and prompt give the same text"),
                },
                outputs={"text": Tensor("string", ("batch",), "the prompt followed by the generated characters")},
            ),
        },
        metrics=("perplexity", "bits_per_character", "loss"),
        summarize=_perplexity_line,
    ),
    Task(
        name="image_generation",
        description="A generator: latent vectors (batch, latent_dim) in, images (batch, height, width, channels) out.",
        signatures={
            "serving_default": Signature(
                PREDICT,
                inputs={"latents": Tensor("float32", ("batch", "latent_dim"), "e.g. standard normal")},
                outputs={"images": _IMAGES},
            ),
            "generate": Signature(
                PREDICT,
                inputs={"num_images": Tensor("int32", ()), "seed": _SEED},
                outputs={
                    "images": Tensor("float32", ("num_images", "height", "width", "channels"), "pixels in [0, 1]"),
                    "latents": Tensor("float32", ("num_images", "latent_dim"), "the standard normal latents drawn"),
                },
            ),
        },
        metrics=_SAMPLE_QUALITY,
        summarize=_sample_quality_line,
    ),
    Task(
        name="autoencoding",
        description="A variational autoencoder: images to a latent Gaussian and back.",
        signatures={
            "serving_default": Signature(
                PREDICT, inputs={"images": _IMAGES}, outputs={"reconstructions": _RECONSTRUCTIONS}
            ),
            "encode": Signature(
                PREDICT,
                inputs={"images": _IMAGES},
                outputs={
                    "mean": Tensor("float32", ("batch", "latent_dim")),
                    "log_var": Tensor("float32", ("batch", "latent_dim")),
                },
            ),
            "decode": Signature(
                PREDICT, inputs={"latents": Tensor("float32", ("batch", "latent_dim"))}, outputs={"images": _IMAGES}
            ),
            "reconstruct": Signature(
                PREDICT, inputs={"images": _IMAGES}, outputs={"reconstructions": _RECONSTRUCTIONS}
            ),
        },
        metrics=("nll", "negative_elbo"),
        summarize=_likelihood_line,
    ),
    Task(
        name="diffusion",
        description="A denoising diffusion model: Gaussian noise to images in a given number of DDIM/DDPM steps.",
        signatures={
            "serving_default": Signature(
                PREDICT,
                inputs={
                    "num_images": Tensor("int32", ()),
                    "steps": _STEPS,
                    "eta": Tensor("float32", (), "0: deterministic DDIM, 1 with T steps: DDPM"),
                    "seed": _SEED,
                },
                outputs={
                    "images": Tensor("float32", ("num_images", "height", "width", "channels"), "pixels in [0, 1]")
                },
            ),
            "sample": Signature(
                PREDICT,
                inputs={
                    "noise": Tensor("float32", ("batch", "height", "width", "channels"), "the initial x_T ~ N(0, I)"),
                    "steps": _STEPS,
                    "eta": Tensor("float32", ()),
                    "seed": Tensor("int64", (), "the noise of the stochastic steps when eta > 0"),
                },
                outputs={"images": _IMAGES},
            ),
        },
        metrics=_SAMPLE_QUALITY,
        summarize=_sample_quality_line,
    ),
)

#: Every task, by name: the one definition the layers register into.
TASKS: Mapping[str, Task] = {task.name: task for task in _DEFINITIONS}

_PARTS: dict[str, dict[str, Any]] = {}


def get_task(name: str) -> Task:
    """Returns the task called ``name``.

    Raises:
        ValueError: for an unknown task, with the closest names and the known ones.

    Example:
        >>> get_task("regression").signatures["regress"].method
        'tensorflow/serving/regress'
    """
    try:
        return TASKS[name]
    except KeyError:
        raise unknown_name("task", name, list(TASKS)) from None


def register(layer: str, task: str, part: Any) -> Any:
    """Records ``layer``'s part of ``task`` (a trainer, a signature builder): the layers above call this.

    Registering the same part again (a module imported twice) replaces it; another part for the same task is an error.

    Returns:
        ``part``, so that it can decorate a function.

    Raises:
        ValueError: an unknown task, or a second, different part of ``layer`` for it.
    """
    get_task(task)
    parts = _PARTS.setdefault(layer, {})
    if task in parts and _identity(parts[task]) != _identity(part):
        raise ValueError(f"The {layer} layer already registered {parts[task]!r} for task {task!r}; received {part!r}.")
    parts[task] = part
    return part


def registered(layer: str) -> dict[str, Any]:
    """Task name -> the part ``layer`` registered for it (empty until that layer is imported)."""
    return dict(_PARTS.get(layer, {}))


def _identity(part: Any) -> Any:
    """What makes two registrations the same part: the same function (by module file and name) or an equal repr.

    A module imported a second time (reloaded, or by path under another name, as doctests are) makes new objects.
    """
    if callable(part) and hasattr(part, "__qualname__"):
        return part.__module__.rpartition(".")[2], part.__qualname__
    return repr(part)
