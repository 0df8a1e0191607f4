"""Tasks: what a family's models do, and the serving signatures they export.

Export, serving and evaluation read these declarations instead of special-casing
models. Signature specs name the inputs and outputs users see on the wire.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Task:
    """A task and its serving contract.

    Attributes:
        name: task name used by the registry.
        description: one line for ``zoo info``.
        signatures: signature name -> {"inputs": {...}, "outputs": {...},
            "method": TF Serving method name}; tensor descriptions are prose.
    """

    name: str
    description: str
    signatures: dict[str, Any]


_TASKS = {
    "image_classification": Task(
        name="image_classification",
        description="Images in [0, 1], shape (batch, height, width, channels); one label per image.",
        signatures={
            "serving_default": {
                "method": "tensorflow/serving/predict",
                "inputs": {"images": "float32 (batch, height, width, channels), pixels in [0, 1]"},
                "outputs": {
                    "scores": "float32 (batch, num_classes), class probabilities",
                    "classes": "int64 (batch,), the most probable class",
                },
            },
            "classify": {
                "method": "tensorflow/serving/classify",
                "inputs": {"inputs": "serialized tf.Example with feature 'images'"},
                "outputs": {"scores": "float32 (batch, num_classes)", "classes": "string (batch, num_classes)"},
            },
        },
    ),
    "regression": Task(
        name="regression",
        description="Feature vectors (batch, features) in, real-valued targets (batch, outputs) out.",
        signatures={
            "serving_default": {
                "method": "tensorflow/serving/predict",
                "inputs": {"features": "float32 (batch, features)"},
                "outputs": {"predictions": "float32 (batch, outputs)"},
            },
            "regress": {
                "method": "tensorflow/serving/regress",
                "inputs": {"inputs": "serialized tf.Example with feature 'features'"},
                "outputs": {"outputs": "float32 (batch,), the first target"},
            },
        },
    ),
    "node_classification": Task(
        name="node_classification",
        description="A whole graph per request: node features (nodes, features) and the normalised adjacency "
        "(nodes, nodes) in; one label per node.",
        signatures={
            "serving_default": {
                "method": "tensorflow/serving/predict",
                "inputs": {
                    "features": "float32 (nodes, features)",
                    "adjacency": "float32 (nodes, nodes), D^-1/2 (A + I) D^-1/2 (spektral.utils.gcn_filter)",
                },
                "outputs": {
                    "scores": "float32 (nodes, classes), class probabilities",
                    "classes": "int64 (nodes,), the most probable class",
                },
            },
            "sparse": {
                "method": "tensorflow/serving/predict",
                "inputs": {
                    "features": "float32 (nodes, features)",
                    "adjacency_indices": "int64 (edges, 2), (row, column) of each non-zero of the normalised adjacency",
                    "adjacency_values": "float32 (edges,), its values",
                },
                "outputs": {"scores": "float32 (nodes, classes)", "classes": "int64 (nodes,)"},
            },
        },
    ),
    "language_model": Task(
        name="language_model",
        description="Character sequences: token ids (batch, time) in, next-token logits (batch, time, vocabulary) out.",
        signatures={
            "serving_default": {
                "method": "tensorflow/serving/predict",
                "inputs": {"text": "string (batch,), UTF-8 prompts"},
                "outputs": {
                    "log_prob": "float32 (batch,), log-likelihood of each text in nats",
                    "characters": "int32 (batch,), characters scored (all but the first)",
                },
            },
            "generate": {
                "method": "tensorflow/serving/predict",
                "inputs": {
                    "prompt": "string (batch,), non-empty UTF-8 prompts",
                    "length": "int32 scalar, characters to generate",
                    "temperature": "float32 scalar > 0 (small: greedy-like)",
                    "seed": "int64 scalar, same seed and prompt give the same text",
                },
                "outputs": {"text": "string (batch,), the prompt followed by the generated characters"},
            },
        },
    ),
    "image_generation": Task(
        name="image_generation",
        description="A generator: latent vectors (batch, latent_dim) in, images (batch, height, width, channels) out.",
        signatures={
            "serving_default": {
                "method": "tensorflow/serving/predict",
                "inputs": {"latents": "float32 (batch, latent_dim), e.g. standard normal"},
                "outputs": {"images": "float32 (batch, height, width, channels), pixels in [0, 1]"},
            },
            "generate": {
                "method": "tensorflow/serving/predict",
                "inputs": {"num_images": "int32 scalar", "seed": "int64 scalar, same seed gives the same images"},
                "outputs": {
                    "images": "float32 (num_images, height, width, channels), pixels in [0, 1]",
                    "latents": "float32 (num_images, latent_dim), the standard normal latents drawn",
                },
            },
        },
    ),
    "autoencoding": Task(
        name="autoencoding",
        description="A variational autoencoder: images to a latent Gaussian and back.",
        signatures={
            "serving_default": {
                "method": "tensorflow/serving/predict",
                "inputs": {"images": "float32 (batch, height, width, channels), pixels in [0, 1]"},
                "outputs": {"reconstructions": "float32 (batch, height, width, channels), decoded posterior means"},
            },
            "encode": {
                "method": "tensorflow/serving/predict",
                "inputs": {"images": "float32 (batch, height, width, channels), pixels in [0, 1]"},
                "outputs": {"mean": "float32 (batch, latent_dim)", "log_var": "float32 (batch, latent_dim)"},
            },
            "decode": {
                "method": "tensorflow/serving/predict",
                "inputs": {"latents": "float32 (batch, latent_dim)"},
                "outputs": {"images": "float32 (batch, height, width, channels), pixels in [0, 1]"},
            },
            "reconstruct": {
                "method": "tensorflow/serving/predict",
                "inputs": {"images": "float32 (batch, height, width, channels), pixels in [0, 1]"},
                "outputs": {"reconstructions": "float32 (batch, height, width, channels), decoded posterior means"},
            },
        },
    ),
    "diffusion": Task(
        name="diffusion",
        description="A denoising diffusion model: Gaussian noise to images in a given number of DDIM/DDPM steps.",
        signatures={
            "serving_default": {
                "method": "tensorflow/serving/predict",
                "inputs": {
                    "num_images": "int32 scalar",
                    "steps": "int32 scalar in [1, T]",
                    "eta": "float32 scalar, 0: deterministic DDIM, 1 with T steps: DDPM",
                    "seed": "int64 scalar, same seed gives the same images",
                },
                "outputs": {"images": "float32 (num_images, height, width, channels), pixels in [0, 1]"},
            },
            "sample": {
                "method": "tensorflow/serving/predict",
                "inputs": {
                    "noise": "float32 (batch, height, width, channels), the initial x_T ~ N(0, I)",
                    "steps": "int32 scalar in [1, T]",
                    "eta": "float32 scalar",
                    "seed": "int64 scalar (the noise of the stochastic steps when eta > 0)",
                },
                "outputs": {"images": "float32 (batch, height, width, channels), pixels in [0, 1]"},
            },
        },
    ),
}


def get_task(name: str) -> Task:
    """Returns the task called ``name``.

    Raises:
        ValueError: for an unknown task, listing the known ones.
    """
    try:
        return _TASKS[name]
    except KeyError:
        raise ValueError(f"Unknown task {name!r}. Known tasks: {', '.join(sorted(_TASKS))}.") from None
