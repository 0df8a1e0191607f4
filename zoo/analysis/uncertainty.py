"""Predictive uncertainty of zoo classifiers: Monte Carlo dropout and calibration.

Monte Carlo dropout (Gal and Ghahramani 2016, https://arxiv.org/abs/1506.02142)
keeps dropout on at test time and averages the softmax of ``T`` stochastic
forward passes. Calibration is measured with the expected calibration error
over equal-width confidence bins and shown as a reliability diagram (Guo et al.
2017, https://arxiv.org/abs/1706.04599).

How dropout is kept on: calling the model with ``training=True`` would also
switch BatchNormalization to batch statistics (and turn on any other
training-only layer: noise, augmentation), which changes the model rather than
sampling from it. :func:`dropout_always_on` instead shadows the ``call`` of
each dropout layer (``Dropout`` and its spatial variants, ``GaussianDropout``,
``AlphaDropout``, nested models included) with one that always drops, and
restores it afterwards; the model itself is called with ``training=False``, so
every other layer stays in inference mode. Nothing is cloned and no weight is
copied. While the context is open the model must not be used elsewhere (it is
patched in place).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import keras
import numpy as np

from zoo import data
from zoo.analysis.attacks import load_examples, predict_logits, softmax, to_pixels
from zoo.analysis.plots import pyplot

logger = logging.getLogger(__name__)

DROPOUT_TYPES = (keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.AlphaDropout)


def dropout_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The dropout layers of ``model`` with a rate above 0, nested models included.

    Example:
        >>> import zoo
        >>> [layer.name for layer in dropout_layers(zoo.create("mlp", hidden_units=[4], dropout=0.5))]
        ['dropout1']
    """
    # _flatten_layers also finds layers held by custom layers, which ``model.layers`` does not list.
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, DROPOUT_TYPES) and layer.rate > 0
    ]


def _require_dropout(model: keras.Model) -> list[keras.layers.Layer]:
    layers = dropout_layers(model)
    if not layers:
        raise ValueError(
            f"expected a model with Dropout layers (rate > 0) for MC dropout, received {model.name} "
            f"without any; MC dropout would repeat the deterministic prediction"
        )
    return layers


@contextlib.contextmanager
def dropout_always_on(model: keras.Model, seed: int | None = None) -> Iterator[list[keras.layers.Layer]]:
    """Within the context, the model's dropout layers drop even when called with ``training=False``.

    Args:
        model: a Keras model with dropout layers.
        seed: when given, each dropout layer draws its masks from a fresh
            ``keras.random.SeedGenerator(seed + i)``, so the samples repeat.

    Yields:
        The patched dropout layers.

    Raises:
        ValueError: the model has no dropout layer with a rate above 0.
    """
    layers = _require_dropout(model)
    saved = []
    try:
        for i, layer in enumerate(layers):
            saved.append((layer, layer.seed_generator))
            if seed is not None:
                object.__setattr__(layer, "seed_generator", keras.random.SeedGenerator(seed + i))
            call = type(layer).call.__get__(layer)
            # An instance attribute shadows the class's ``call``; Layer.__call__ looks ``self.call`` up each time.
            object.__setattr__(layer, "call", lambda inputs, training=None, _call=call: _call(inputs, training=True))
        yield layers
    finally:
        for layer, generator in saved:
            layer.__dict__.pop("call", None)
            object.__setattr__(layer, "seed_generator", generator)


def _entropy(probabilities: np.ndarray) -> np.ndarray:
    return -np.sum(probabilities * np.log(np.clip(probabilities, 1e-12, 1.0)), axis=-1)


@dataclasses.dataclass
class MCDropoutPrediction:
    """The result of :func:`mc_dropout_predict`.

    Attributes:
        samples: (T, N, K) softmax probabilities of each stochastic pass.
        mean: (N, K) predictive mean, the average of ``samples``.
        entropy: (N,) entropy of ``mean`` in nats (total uncertainty).
        mutual_information: (N,) ``entropy`` minus the mean entropy of the
            samples (the part due to the weights, "epistemic"); 0 when all
            samples agree.
    """

    samples: np.ndarray
    mean: np.ndarray
    entropy: np.ndarray
    mutual_information: np.ndarray


def mc_dropout_predict(
    model: keras.Model, images: np.ndarray, *, samples: int = 50, seed: int | None = 0, batch_size: int = 500
) -> MCDropoutPrediction:
    """Monte Carlo dropout: ``samples`` forward passes with dropout on and everything else in inference mode.

    Args:
        model: a classifier with dropout layers, taking pixels in [0, 1] and returning logits.
        images: (N, H, W, C) pixels in [0, 1] (or uint8).
        samples: number of stochastic passes T.
        seed: seed of the dropout masks (None: the layers' own generators).
        batch_size: images per forward pass.

    Returns:
        A :class:`MCDropoutPrediction`.

    Raises:
        ValueError: the model has no dropout layer, ``samples`` is not a
            positive int, or the images do not fit the model.

    Example:
        >>> import zoo
        >>> model = zoo.create("mlp", hidden_units=[8], dropout=0.5)
        >>> prediction = mc_dropout_predict(model, np.full((2, 28, 28, 1), 0.5), samples=4)
        >>> prediction.samples.shape, prediction.mean.shape
        ((4, 2, 10), (2, 10))
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"expected samples to be a positive int, received {samples!r}")
    images = to_pixels(images, model)
    with dropout_always_on(model, seed):
        stacked = np.stack([softmax(predict_logits(model, images, batch_size=batch_size)) for _ in range(samples)])
    mean = stacked.mean(axis=0)
    entropy = _entropy(mean)
    return MCDropoutPrediction(stacked, mean, entropy, np.maximum(entropy - _entropy(stacked).mean(axis=0), 0.0))


@dataclasses.dataclass
class ReliabilityBins:
    """Per-bin data of a reliability diagram over equal-width confidence bins.

    The confidence of a prediction is its largest probability; bin ``b``
    holds the confidences in ``(edges[b], edges[b + 1]]`` (the first bin also
    holds 0).

    Attributes:
        edges: (bins + 1,) bin edges from 0 to 1.
        confidence: (bins,) mean confidence per bin (NaN where empty).
        accuracy: (bins,) accuracy per bin (NaN where empty).
        counts: (bins,) predictions per bin.
        ece: expected calibration error, ``sum_b counts_b / N * |accuracy_b - confidence_b|``.
    """

    edges: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray
    counts: np.ndarray
    ece: float

    def to_dict(self) -> dict:
        """The bins as JSON values (None for empty bins)."""

        def clean(values):
            return [None if np.isnan(v) else round(float(v), 6) for v in values]

        return {
            "ece": self.ece,
            "edges": [round(float(e), 6) for e in self.edges],
            "confidence": clean(self.confidence),
            "accuracy": clean(self.accuracy),
            "counts": [int(c) for c in self.counts],
        }


def _check_probabilities(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    probs, labels = np.asarray(probs, "float64"), np.asarray(labels)
    if probs.ndim != 2:
        raise ValueError(f"expected probabilities of shape (N, classes), received shape {probs.shape}")
    if labels.shape != (len(probs),):
        raise ValueError(
            f"expected labels of shape ({len(probs)},), one per row of probabilities, received shape {labels.shape}"
        )
    out_of_range = labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1])
    if not np.issubdtype(labels.dtype, np.integer) or out_of_range:
        raise ValueError(f"expected integer labels in [0, {probs.shape[1]}), received {labels.dtype} labels")
    if probs.size and (probs.min() < 0 or not np.allclose(probs.sum(-1), 1.0, atol=1e-3)):
        raise ValueError(
            "expected rows of probabilities (non-negative, summing to 1), received something else; "
            "apply a softmax to logits first"
        )
    return probs, labels


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> ReliabilityBins:
    """Bins predictions by confidence and compares each bin's accuracy with its mean confidence.

    Args:
        probs: (N, K) class probabilities.
        labels: (N,) true classes.
        bins: number of equal-width bins over [0, 1].

    Returns:
        A :class:`ReliabilityBins`, its ``ece`` included.

    Raises:
        ValueError: shapes that do not match, rows that are not probabilities, ``bins`` < 1.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"expected bins to be a positive int, received {bins!r}")
    probs, labels = _check_probabilities(probs, labels)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype("float64")
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, minlength=bins) / counts
        accuracy = np.bincount(index, correct, minlength=bins) / counts
    filled = counts > 0
    gaps = np.abs(accuracy[filled] - mean_confidence[filled])
    ece = float(np.sum(counts[filled] / len(labels) * gaps)) if len(labels) else 0.0
    return ReliabilityBins(np.linspace(0.0, 1.0, bins + 1), mean_confidence, accuracy, counts, ece)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error over ``bins`` equal-width confidence bins (see :func:`reliability_bins`).

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.8, 0.2], [0.8, 0.2]])
        >>> round(expected_calibration_error(probs, np.array([0, 1, 0, 0]), bins=10), 3)
        0.3
    """
    return reliability_bins(probs, labels, bins).ece


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean ``-log p(label)`` in nats (probabilities clipped at 1e-12).

    Example:
        >>> round(negative_log_likelihood(np.array([[0.5, 0.5]]), np.array([1])), 4)
        0.6931
    """
    probs, labels = _check_probabilities(probs, labels)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))))


def plot_reliability(diagrams: Mapping[str, ReliabilityBins], path: str | Path) -> Path:
    """Saves reliability diagrams side by side: accuracy per confidence bin against the diagonal.

    Each panel shows the accuracy of every bin (bars), its mean confidence
    (red marks; below the bar top means underconfident, above it
    overconfident) and, underneath, the number of predictions per bin.

    Args:
        diagrams: title -> :class:`ReliabilityBins`, one panel each.
        path: the PNG to write.

    Returns:
        ``path``.
    """
    plt = pyplot()
    fig, axes = plt.subplots(
        2,
        len(diagrams),
        figsize=(4.2 * len(diagrams), 5.6),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1]},
        sharex=True,
    )
    for column, (title, bins) in enumerate(diagrams.items()):
        top, bottom = axes[0][column], axes[1][column]
        width, filled = np.diff(bins.edges), bins.counts > 0
        left, centre = bins.edges[:-1][filled], (bins.edges[:-1] + width / 2)[filled]
        top.bar(
            left,
            bins.accuracy[filled],
            width=width[filled],
            align="edge",
            edgecolor="black",
            color="tab:blue",
            alpha=0.8,
            label="accuracy",
        )
        top.plot(centre, bins.confidence[filled], "_", color="tab:red", markersize=14, mew=2.5, label="mean confidence")
        top.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.set_ylabel("accuracy")
        top.set_title(f"{title}\nECE {100 * bins.ece:.2f}% ({int(bins.counts.sum())} predictions)", fontsize=10)
        top.legend(loc="upper left", fontsize=7)
        top.grid(alpha=0.3)
        bottom.bar(left, bins.counts[filled], width=width[filled], align="edge", color="gray", edgecolor="black")
        bottom.set_yscale("log")
        bottom.set_ylabel("count")
        bottom.set_xlabel("confidence (largest probability)")
        bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_entropy(entropies: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> Path:
    """Saves histograms of predictive entropy for correct and wrong predictions, one panel per title.

    Args:
        entropies: title -> ``(entropy, correct)`` arrays of shape (N,).
        path: the PNG to write.

    Returns:
        ``path``.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, len(entropies), figsize=(4.2 * len(entropies), 3.6), squeeze=False)
    top = max(float(np.max(e)) if len(e) else 0.0 for e, _ in entropies.values()) or 1.0
    edges = np.linspace(0.0, top, 31)
    for ax, (title, (entropy, correct)) in zip(axes[0], entropies.items()):
        for mask, label, color in ((correct, "correct", "tab:blue"), (~correct, "wrong", "tab:red")):
            ax.hist(entropy[mask], bins=edges, density=True, alpha=0.55, color=color, label=f"{label} ({mask.sum()})")
        ax.set_yscale("log")
        ax.set_xlabel("predictive entropy (nats)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


@dataclasses.dataclass
class CalibrationReport:
    """Deterministic predictions against MC dropout on the same examples.

    Attributes:
        examples: number of test examples.
        samples: MC dropout passes T.
        source: where the data came from.
        metrics: ``{"deterministic": {...}, "mc_dropout": {...}}`` with
            accuracy, nll, ece, mean entropy (all, correct, wrong) and, for MC
            dropout, mean mutual information.
        reliability: the same keys -> :class:`ReliabilityBins`.
        entropy: the same keys -> ``(entropy, correct)`` per example.
    """

    examples: int
    samples: int
    source: str
    metrics: dict[str, dict[str, float]]
    reliability: dict[str, ReliabilityBins]
    entropy: dict[str, tuple[np.ndarray, np.ndarray]]

    def to_dict(self) -> dict:
        """The figures and the bins as JSON values."""
        return {
            "examples": self.examples,
            "samples": self.samples,
            "source": self.source,
            **self.metrics,
            "reliability": {k: v.to_dict() for k, v in self.reliability.items()},
        }


def _metrics(
    probs: np.ndarray, labels: np.ndarray, bins: ReliabilityBins
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    correct = probs.argmax(-1) == labels
    entropy = _entropy(probs)

    def mean(v):
        return float(v.mean()) if len(v) else float("nan")

    return (
        {
            "accuracy": float(correct.mean()),
            "nll": negative_log_likelihood(probs, labels),
            "ece": bins.ece,
            "mean_entropy": mean(entropy),
            "mean_entropy_correct": mean(entropy[correct]),
            "mean_entropy_wrong": mean(entropy[~correct]),
        },
        entropy,
        correct,
    )


def calibration_report(
    model: keras.Model,
    dataset: str | data.Split,
    *,
    samples: int = 50,
    max_examples: int | None = None,
    bins: int = 15,
    seed: int | None = 0,
    batch_size: int = 500,
) -> CalibrationReport:
    """Compares the deterministic model (dropout off) with MC dropout: accuracy, NLL, ECE and entropy.

    Args:
        model: a classifier with dropout layers.
        dataset: a data set name (its test split) or a :class:`zoo.data.Split`.
        samples: MC dropout passes T.
        max_examples: use only the first examples of the split.
        bins: confidence bins of the ECE and the reliability diagrams.
        seed: seed of the dropout masks.
        batch_size: images per forward pass.

    Returns:
        A :class:`CalibrationReport` with the keys ``deterministic`` and ``mc_dropout``.

    Raises:
        ValueError: a model without dropout, data that does not fit it, bad settings.
    """
    _require_dropout(model)  # fail before loading data
    images, labels, source = load_examples(model, dataset, max_examples)
    deterministic = softmax(predict_logits(model, images, batch_size=batch_size))
    mc = mc_dropout_predict(model, images, samples=samples, seed=seed, batch_size=batch_size)
    metrics, reliability, entropy = {}, {}, {}
    for key, probs in (("deterministic", deterministic), ("mc_dropout", mc.mean)):
        reliability[key] = reliability_bins(probs, labels, bins)
        metrics[key], values, correct = _metrics(probs, labels, reliability[key])
        entropy[key] = (values, correct)
    metrics["mc_dropout"]["mean_mutual_information"] = float(mc.mutual_information.mean()) if len(labels) else 0.0
    logger.info(
        "calibration on %d examples: deterministic ECE %.4f, MC dropout (T=%d) ECE %.4f",
        len(labels),
        metrics["deterministic"]["ece"],
        samples,
        metrics["mc_dropout"]["ece"],
    )
    return CalibrationReport(len(labels), samples, source, metrics, reliability, entropy)
