"""A new classification head fitted as a linear probe before fine-tuning starts (LP-FT).

A freshly initialised head learns slowly: a few epochs of Adam at a fine-tuning
rate move its logits little, and when the backbone is unfrozen while the head is
still near random, its gradients disturb the pretrained features (Kumar et al.
2022, "Fine-Tuning can Distort Pretrained Features and Underperform
Out-of-Distribution"). So the head starts as a logistic regression fitted to
convergence on the frozen backbone's features of the (un-augmented) training
images: one inference pass, then L-BFGS on the features, in float64 and L2-penalised
as scikit-learn's ``LogisticRegression`` is by default (``C=1``).

Heads this fits: a ``Dense`` layer named ``predictions`` with one output per class,
or one output ``z`` turned into the logits ``(0, z)`` (:func:`zoo.layers.heads.binary_head`),
with no other weighted layer after it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import keras
import numpy as np

from zoo.transfer import HEAD, head_layers

logger = logging.getLogger(__name__)


def fittable(model: keras.Model) -> bool:
    """Whether the head of ``model`` is one this module fits (see the module docstring)."""
    names = head_layers(model)
    dense = model.get_layer(HEAD)
    if (
        not isinstance(dense, keras.layers.Dense)
        or not dense.use_bias
        or any(model.get_layer(n).weights for n in names[1:])
    ):
        return False
    return dense.units in (1, model.output_shape[-1]) and model.output_shape[-1] >= 2


def backbone_features(model: keras.Model, batches) -> tuple[np.ndarray, np.ndarray]:
    """The input of the head for every example of ``batches`` (``(images, labels)``), and the labels."""
    backbone = keras.Model(model.input, model.get_layer(HEAD).input)
    features, labels = [], []
    for images, batch_labels in batches:
        features.append(np.asarray(backbone(images, training=False), dtype=np.float64))
        labels.append(np.asarray(batch_labels))
    return np.concatenate(features), np.concatenate(labels).astype(np.int64)


def logistic_regression(
    features: np.ndarray, labels: np.ndarray, num_classes: int, *, binary: bool, l2: float, max_iterations: int = 500
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Fits ``logits = features @ kernel + bias`` (``binary``: the logits ``(0, z)`` of one output ``z``) by
    L-BFGS on the mean cross-entropy plus ``l2 / 2 * |kernel|^2``.

    Returns:
        ``(kernel, bias, report)``: kernel (d, 1 if binary else num_classes), bias, and the iterations, the final
        loss and the training accuracy.
    """
    from scipy.optimize import minimize

    n, d = features.shape
    outputs = 1 if binary else num_classes
    targets = np.eye(num_classes)[labels]

    def unpack(theta):
        return theta[: d * outputs].reshape(d, outputs), theta[d * outputs :]

    def logits_of(kernel, bias):
        z = features @ kernel + bias
        return np.concatenate([np.zeros_like(z), z], axis=1) if binary else z

    def objective(theta):
        kernel, bias = unpack(theta)
        logits = logits_of(kernel, bias)
        logits = logits - logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        loss = -np.mean(np.sum(targets * log_probs, axis=1)) + 0.5 * l2 * np.sum(kernel**2)
        error = (np.exp(log_probs) - targets) / n  # d loss / d logits
        if binary:
            error = error[:, 1:]
        gradient = np.concatenate([(features.T @ error + l2 * kernel).ravel(), error.sum(axis=0)])
        return loss, gradient

    solution = minimize(
        objective, np.zeros(d * outputs + outputs), jac=True, method="L-BFGS-B", options={"maxiter": max_iterations}
    )
    kernel, bias = unpack(solution.x)
    accuracy = float(np.mean(np.argmax(logits_of(kernel, bias), axis=1) == labels))
    report = {"iterations": int(solution.nit), "loss": float(solution.fun), "train_accuracy": accuracy}
    return kernel, bias, report


def fit_head(model: keras.Model, batches, *, l2: float | None = None) -> dict[str, Any] | None:
    """Sets the ``predictions`` layer of ``model`` to the logistic regression that best fits the backbone's
    features of ``batches`` (un-augmented training images and their labels).

    Args:
        model: a classifier whose head :func:`fittable` accepts; its backbone is not changed.
        batches: iterable of ``(images, labels)``, integer labels.
        l2: the L2 penalty; default ``1 / examples``, scikit-learn's ``C=1``.

    Returns:
        What was fitted (examples, features, iterations, loss, training accuracy, seconds), or None when the
        head is not one this module fits (it keeps its random initialisation).
    """
    if not fittable(model):
        logger.info("%s: its head is not a single Dense layer; it starts from its random initialisation.", model.name)
        return None
    started = time.perf_counter()
    features, labels = backbone_features(model, batches)
    num_classes = model.output_shape[-1]
    dense = model.get_layer(HEAD)
    l2 = 1.0 / len(labels) if l2 is None else l2
    kernel, bias, report = logistic_regression(features, labels, num_classes, binary=dense.units == 1, l2=l2)
    dense.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    report = {
        "method": "probe",
        "examples": int(len(labels)),
        "features": int(features.shape[1]),
        "l2": l2,
        **report,
        "seconds": round(time.perf_counter() - started, 2),
    }
    logger.info(
        "Head fitted on the frozen backbone's features of %d training images: training accuracy %.1f%%, "
        "%d L-BFGS iterations, %.1f s",
        report["examples"],
        100 * report["train_accuracy"],
        report["iterations"],
        report["seconds"],
    )
    return report
