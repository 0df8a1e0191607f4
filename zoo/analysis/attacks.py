"""Adversarial attacks on zoo classifiers: FGSM, PGD and a targeted attack with a closeness penalty.

Zoo classifiers take pixels in [0, 1] and return logits, so every attack works
in pixel space: an L-inf budget ``epsilon`` of 0.1 lets each pixel move by a
tenth of its range, and adversarial images are clipped back to [0, 1].

* :func:`fgsm`: one signed-gradient step, ``x + epsilon * sign(grad CE)``
  (Goodfellow et al. 2015, https://arxiv.org/abs/1412.6572).
* :func:`pgd`: projected gradient descent in the L-inf ball from a random start
  (Madry et al. 2018, https://arxiv.org/abs/1706.06083).
* :func:`targeted_optimize`: "turn this 4 into a 9": Adam on the input itself,
  minimising ``CE(f(x), target) + closeness * ||x - x0||^2``.
* :func:`robustness_curve`: accuracy under attack against epsilon on a test split.

Input gradients come from a small helper that dispatches on
``keras.config.backend()`` (TensorFlow's ``GradientTape`` or ``jax.grad`` over
``stateless_call``); the rest is NumPy. Models are always called with
``training=False``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from zoo import data
from zoo.analysis.plots import pyplot

logger = logging.getLogger(__name__)

METHODS = ("fgsm", "pgd")


# --- inputs --------------------------------------------------------------------
def to_pixels(images: np.ndarray, model: keras.Model | None = None) -> np.ndarray:
    """Returns ``images`` as float32 pixels in [0, 1], checked against the model's input shape.

    Args:
        images: (N, H, W, C) uint8 (divided by 255) or floats already in [0, 1].
        model: when given, the images must match its input shape.

    Returns:
        A float32 array of the same shape.

    Raises:
        ValueError: wrong rank or shape, or float pixels outside [0, 1].

    Example:
        >>> to_pixels(np.array([[[[0], [255]]]], dtype="uint8")).ravel().tolist()
        [0.0, 1.0]
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"expected a batch of images (N, H, W, C), received an array of shape {images.shape}")
    if model is not None and tuple(images.shape[1:]) != tuple(model.input_shape[1:]):
        raise ValueError(
            f"expected images of shape {tuple(model.input_shape[1:])} for {model.name}, "
            f"received {tuple(images.shape[1:])}"
        )
    if images.dtype == np.uint8:
        return images.astype("float32") / 255.0
    images = images.astype("float32")
    if images.size and (not np.isfinite(images).all() or images.min() < 0.0 or images.max() > 1.0):
        raise ValueError(f"expected pixels in [0, 1], received values in [{images.min()}, {images.max()}]")
    return images


def _check_labels(labels, count: int, num_classes: int, what: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 0:
        labels = np.full(count, labels)
    if labels.shape != (count,):
        raise ValueError(f"expected {what} of shape ({count},), one per image, received shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"expected integer class {what}, received dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"expected {what} in [0, {num_classes}), received values in [{labels.min()}, {labels.max()}]")
    return labels.astype("int64")


def _check_epsilon(epsilon) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float, np.floating, np.integer)):
        raise ValueError(f"expected epsilon to be a number in [0, 1], received {epsilon!r}")
    if not 0.0 <= float(epsilon) <= 1.0:  # also rejects NaN
        raise ValueError(f"expected epsilon in [0, 1] (pixels lie in [0, 1]), received {epsilon}")
    return float(epsilon)


def _check_positive(name: str, value, kind=int) -> None:
    ok = isinstance(value, (int, np.integer) if kind is int else (int, float, np.floating, np.integer))
    if isinstance(value, bool) or not ok or not value > 0:
        raise ValueError(f"expected {name} to be a positive {kind.__name__}, received {value!r}")


def load_examples(
    model: keras.Model, dataset: str | data.Split, max_examples: int | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """The first ``max_examples`` test examples of ``dataset`` as pixels in [0, 1], checked against ``model``.

    Args:
        model: a built zoo classifier.
        dataset: a data set name (its test split, via :func:`zoo.data.load`) or a :class:`zoo.data.Split`.
        max_examples: keep only the first examples (all when None).

    Returns:
        ``(images, labels, source)``.

    Raises:
        ValueError: the data does not fit the model, or ``max_examples`` is not positive.
    """
    if max_examples is not None:
        _check_positive("max_examples", max_examples)
    if isinstance(dataset, data.Split):
        split = dataset
    else:
        spec, split = data.load(dataset, "test")
        if model.output_shape[-1] != spec.num_classes:
            raise ValueError(
                f"expected a model with {spec.num_classes} classes for {dataset}, "
                f"received {model.name} with {model.output_shape[-1]}"
            )
    split = split.head(max_examples)
    images = to_pixels(split.images, model)
    return images, _check_labels(split.labels, len(images), model.output_shape[-1]), split.source


def predict_logits(model: keras.Model, images: np.ndarray, *, batch_size: int = 500) -> np.ndarray:
    """Logits of ``images`` (pixels in [0, 1]) in inference mode, batch by batch, as a NumPy array.

    Example:
        >>> import zoo
        >>> predict_logits(zoo.create("mlp", hidden_units=[4]), np.zeros((3, 28, 28, 1))).shape
        (3, 10)
    """
    _check_positive("batch_size", batch_size)
    outputs = [
        keras.ops.convert_to_numpy(model(images[i : i + batch_size], training=False))
        for i in range(0, len(images), batch_size)
    ]
    if not outputs:
        return np.zeros((0, model.output_shape[-1]), "float32")
    return np.concatenate(outputs).astype("float32")


# --- input gradients -------------------------------------------------------------
GradientFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def input_gradient_fn(model: keras.Model) -> GradientFn:
    """Returns ``fn(images, labels) -> (losses, logits, gradients)`` for one batch.

    ``losses`` is the per-example cross entropy of the logits against
    ``labels`` and ``gradients`` its gradient with respect to each input image
    (the gradient of the summed loss, so examples do not interact). The model
    runs with ``training=False``. TensorFlow uses a ``tf.function`` around a
    ``GradientTape``; JAX uses ``jax.grad`` of ``model.stateless_call``.

    Raises:
        ValueError: a Keras backend other than TensorFlow or JAX.
    """
    backend = keras.config.backend()

    def per_example_loss(labels, logits):
        return keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)

    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def step(x, y):
            with tf.GradientTape() as tape:
                tape.watch(x)
                logits = model(x, training=False)
                losses = per_example_loss(y, logits)
            return losses, logits, tape.gradient(losses, x)

        def run(x, y):
            return tuple(t.numpy() for t in step(tf.constant(x, "float32"), tf.constant(y, "int64")))

        return run
    if backend == "jax":
        import jax

        def loss(x, y, trainable, non_trainable):
            logits, _ = model.stateless_call(trainable, non_trainable, x, training=False)
            losses = per_example_loss(y, logits)
            return losses.sum(), (losses, logits)

        grad = jax.jit(jax.grad(loss, has_aux=True))

        def run(x, y):
            trainable = [v.value for v in model.trainable_variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            gradients, (losses, logits) = grad(x, y, trainable, non_trainable)
            return np.asarray(losses), np.asarray(logits), np.asarray(gradients)

        return run
    raise ValueError(f"expected the tensorflow or jax Keras backend for input gradients, received {backend!r}")


def _batches(count: int, batch_size: int):
    _check_positive("batch_size", batch_size)
    for start in range(0, count, batch_size):
        yield slice(start, min(start + batch_size, count))


def _prepare(model, images, labels, epsilon):
    epsilon = _check_epsilon(epsilon)
    images = to_pixels(images, model)
    return images, _check_labels(labels, len(images), model.output_shape[-1]), epsilon


# --- attacks ---------------------------------------------------------------------
def fgsm(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    epsilon: float,
    *,
    targeted: bool = False,
    batch_size: int = 500,
) -> np.ndarray:
    """Fast gradient sign method: one step of size ``epsilon`` along the sign of the input gradient.

    Untargeted: ``x + epsilon * sign(grad CE(f(x), label))`` (away from the
    true label). Targeted: ``x - epsilon * sign(grad CE(f(x), target))``
    (towards ``labels``, read as target classes). Clipped to [0, 1].

    Args:
        model: a classifier taking pixels in [0, 1] and returning logits.
        images: (N, H, W, C) pixels in [0, 1] (or uint8).
        labels: (N,) true classes, or target classes when ``targeted``.
        epsilon: L-inf budget in [0, 1].
        targeted: step towards ``labels`` instead of away from them.
        batch_size: images per gradient computation.

    Returns:
        Adversarial images, float32, ``|x_adv - x| <= epsilon`` and in [0, 1].

    Raises:
        ValueError: epsilon outside [0, 1], images that do not fit the model,
            labels of the wrong shape or range.

    Example:
        >>> import zoo
        >>> model = zoo.create("mlp", hidden_units=[4])
        >>> x = np.full((2, 28, 28, 1), 0.5, "float32")
        >>> x_adv = fgsm(model, x, np.array([3, 7]), 0.1)
        >>> bool(np.abs(x_adv - x).max() <= 0.1 + 1e-6)
        True
    """
    images, labels, epsilon = _prepare(model, images, labels, epsilon)
    if epsilon == 0.0:
        return images.copy()
    gradient = input_gradient_fn(model)
    direction = -1.0 if targeted else 1.0
    adversarial = np.empty_like(images)
    for batch in _batches(len(images), batch_size):
        _, _, grad = gradient(images[batch], labels[batch])
        adversarial[batch] = np.clip(images[batch] + direction * epsilon * np.sign(grad), 0.0, 1.0)
    return adversarial


def pgd(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    epsilon: float,
    *,
    steps: int = 40,
    step_size: float | None = None,
    targeted: bool = False,
    random_start: bool = True,
    seed: int | None = 0,
    batch_size: int = 500,
) -> np.ndarray:
    """Projected gradient descent in the L-inf ball of radius ``epsilon`` (Madry et al. 2018).

    Starts from a uniform random point of the ball (``random_start``), then
    takes ``steps`` signed-gradient steps of ``step_size``, projecting back
    into the ball and into [0, 1] after each.

    Args:
        model: a classifier taking pixels in [0, 1] and returning logits.
        images: (N, H, W, C) pixels in [0, 1] (or uint8).
        labels: (N,) true classes, or target classes when ``targeted``.
        epsilon: L-inf budget in [0, 1].
        steps: gradient steps.
        step_size: size of each step; defaults to ``2.5 * epsilon / steps``.
        targeted: descend the loss of ``labels`` (as targets) instead of ascending it.
        random_start: start from a random point of the ball instead of ``images``.
        seed: seed of the random start.
        batch_size: images per gradient computation.

    Returns:
        Adversarial images, float32, ``|x_adv - x| <= epsilon`` and in [0, 1].

    Raises:
        ValueError: bad epsilon, steps or step size, or images/labels that do not fit.

    Example:
        >>> import zoo
        >>> model = zoo.create("mlp", hidden_units=[4])
        >>> x = np.full((2, 28, 28, 1), 0.5, "float32")
        >>> x_adv = pgd(model, x, np.array([3, 7]), 0.1, steps=3)
        >>> bool(np.abs(x_adv - x).max() <= 0.1 + 1e-6)
        True
    """
    images, labels, epsilon = _prepare(model, images, labels, epsilon)
    _check_positive("steps", steps)
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    if epsilon == 0.0:
        return images.copy()
    _check_positive("step_size", step_size, float)
    gradient = input_gradient_fn(model)
    direction = -1.0 if targeted else 1.0
    rng = np.random.default_rng(seed)
    adversarial = np.empty_like(images)
    for batch in _batches(len(images), batch_size):
        x0 = images[batch]
        lower, upper = np.maximum(x0 - epsilon, 0.0), np.minimum(x0 + epsilon, 1.0)
        x = x0 + rng.uniform(-epsilon, epsilon, x0.shape).astype("float32") if random_start else x0.copy()
        x = np.clip(x, lower, upper)
        for _ in range(steps):
            _, _, grad = gradient(x, labels[batch])
            x = np.clip(x + direction * step_size * np.sign(grad), lower, upper)
        adversarial[batch] = x
    return adversarial


@dataclasses.dataclass
class TargetedResult:
    """The outcome of :func:`targeted_optimize`.

    Attributes:
        images: (N, H, W, C) adversarial images in [0, 1].
        target: (N,) target classes.
        predictions: (N,) the model's classes for ``images``.
        reached: (N,) bool, ``predictions == target``.
        target_probability: (N,) softmax probability of the target.
        l2: (N,) Euclidean distance to the original images.
        linf: (N,) largest pixel change.
    """

    images: np.ndarray
    target: np.ndarray
    predictions: np.ndarray
    reached: np.ndarray
    target_probability: np.ndarray
    l2: np.ndarray
    linf: np.ndarray

    def summary(self) -> dict[str, float | int]:
        """Counts and mean distances, as JSON values."""
        return {
            "examples": int(len(self.reached)),
            "reached": int(self.reached.sum()),
            "success_rate": float(self.reached.mean()) if len(self.reached) else 0.0,
            "mean_target_probability": float(self.target_probability.mean()) if len(self.reached) else 0.0,
            "mean_l2": float(self.l2.mean()) if len(self.l2) else 0.0,
            "max_linf": float(self.linf.max()) if len(self.linf) else 0.0,
        }


def targeted_optimize(
    model: keras.Model,
    images: np.ndarray,
    target_class: int | np.ndarray,
    *,
    closeness: float = 0.05,
    steps: int = 100,
    lr: float = 0.01,
    batch_size: int = 500,
) -> TargetedResult:
    """Optimises the input towards ``target_class`` while staying close to the original.

    Minimises ``CE(f(x), target) + closeness * ||x - x0||_2^2`` per image with
    Adam on the pixels, clipping to [0, 1] after every step. There is no hard
    budget: ``closeness`` trades the size of the change against reaching the
    target (0 ignores the distance).

    Args:
        model: a classifier taking pixels in [0, 1] and returning logits.
        images: (N, H, W, C) or one (H, W, C) image, pixels in [0, 1] (or uint8).
        target_class: one class for every image, or (N,) classes.
        closeness: weight of the squared L2 distance to the original.
        steps: Adam steps.
        lr: Adam learning rate (in pixel units).
        batch_size: images optimised together.

    Returns:
        A :class:`TargetedResult` (always batched).

    Raises:
        ValueError: bad images, targets, closeness, steps or lr.

    Example:
        >>> import zoo
        >>> model = zoo.create("mlp", hidden_units=[4])
        >>> result = targeted_optimize(model, np.full((28, 28, 1), 0.5), 9, steps=2)
        >>> result.images.shape, result.target.tolist()
        ((1, 28, 28, 1), [9])
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    images = to_pixels(images, model)
    target = _check_labels(target_class, len(images), model.output_shape[-1], "target classes")
    if isinstance(closeness, bool) or not isinstance(closeness, (int, float, np.number)) or not closeness >= 0:
        raise ValueError(f"expected closeness >= 0, received {closeness!r}")
    _check_positive("steps", steps)
    _check_positive("lr", lr, float)
    gradient = input_gradient_fn(model)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    adversarial = np.empty_like(images)
    for batch in _batches(len(images), batch_size):
        x0 = images[batch]
        x, m, v = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
        for t in range(1, steps + 1):
            _, _, grad = gradient(x, target[batch])
            grad = grad + 2.0 * closeness * (x - x0)
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad**2
            x = np.clip(x - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), 0.0, 1.0)
        adversarial[batch] = x
    probabilities = softmax(predict_logits(model, adversarial, batch_size=batch_size))
    predictions = probabilities.argmax(-1)
    delta = (adversarial - images).reshape(len(images), -1)
    return TargetedResult(
        adversarial,
        target,
        predictions,
        predictions == target,
        probabilities[np.arange(len(target)), target],
        np.linalg.norm(delta, axis=1),
        np.abs(delta).max(axis=1) if delta.size else np.zeros(len(images), "float32"),
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis (NumPy).

    Example:
        >>> softmax(np.array([0.0, np.log(3.0)])).round(3).tolist()
        [0.25, 0.75]
    """
    shifted = np.asarray(logits, "float64") - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


# --- accuracy under attack ---------------------------------------------------------
@dataclasses.dataclass
class RobustnessCurve:
    """Accuracy under attack against epsilon, with a few example images per epsilon.

    Attributes:
        method: ``"fgsm"`` or ``"pgd"``.
        epsilons: the budgets, in the order given.
        accuracy: accuracy under attack at each epsilon (epsilon 0 is clean accuracy).
        examples: number of test examples attacked.
        source: where the data came from.
        settings: the attack's settings (steps, step size, seed for PGD).
        sample_labels: (k,) true labels of the example images.
        sample_images: epsilon -> (k, H, W, C) attacked images (epsilon 0: the originals).
        sample_predictions: epsilon -> (k,) the model's classes for them.
    """

    method: str
    epsilons: list[float]
    accuracy: list[float]
    examples: int
    source: str
    settings: dict
    sample_labels: np.ndarray
    sample_images: dict[float, np.ndarray]
    sample_predictions: dict[float, np.ndarray]

    def to_dict(self) -> dict:
        """The figures as JSON values (without the images)."""
        return {
            "method": self.method,
            "examples": self.examples,
            "source": self.source,
            "settings": self.settings,
            "epsilons": self.epsilons,
            "accuracy": self.accuracy,
            "error_percent": [round(100 * (1 - a), 3) for a in self.accuracy],
        }


def robustness_curve(
    model: keras.Model,
    dataset: str | data.Split,
    epsilons: Sequence[float],
    *,
    method: str = "fgsm",
    max_examples: int | None = None,
    samples: int = 8,
    steps: int = 40,
    step_size: float | None = None,
    seed: int | None = 0,
    batch_size: int = 500,
) -> RobustnessCurve:
    """Accuracy of ``model`` under an untargeted attack at each epsilon.

    Args:
        model: a classifier taking pixels in [0, 1] and returning logits.
        dataset: a data set name (its test split) or a :class:`zoo.data.Split`.
        epsilons: L-inf budgets in [0, 1]; 0 measures clean accuracy.
        method: ``"fgsm"`` or ``"pgd"``.
        max_examples: attack only the first examples of the split.
        samples: how many example images to keep per epsilon (the first ones).
        steps, step_size, seed: PGD's settings (see :func:`pgd`).
        batch_size: images per gradient computation.

    Returns:
        A :class:`RobustnessCurve`.

    Raises:
        ValueError: unknown method, bad epsilons, data that does not fit the model.

    Example:
        >>> import zoo
        >>> split = data.Split(np.zeros((4, 28, 28, 1), "uint8"), np.array([0, 1, 2, 3]), "zeros")
        >>> curve = robustness_curve(zoo.create("mlp", hidden_units=[4]), split, [0.0, 0.1])
        >>> curve.epsilons, len(curve.accuracy)
        ([0.0, 0.1], 2)
    """
    if method not in METHODS:
        raise ValueError(f"expected method in {METHODS}, received {method!r}")
    if isinstance(epsilons, (int, float)) or not len(epsilons):
        raise ValueError(f"expected a non-empty list of epsilons, received {epsilons!r}")
    epsilons = [_check_epsilon(e) for e in epsilons]
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise ValueError(f"expected samples to be an int >= 0, received {samples!r}")
    images, labels, source = load_examples(model, dataset, max_examples)
    settings = {"steps": steps, "step_size": step_size, "seed": seed, "random_start": True} if method == "pgd" else {}
    accuracy, sample_images, sample_predictions = [], {}, {}
    for epsilon in epsilons:
        if epsilon == 0.0:
            attacked = images
        elif method == "fgsm":
            attacked = fgsm(model, images, labels, epsilon, batch_size=batch_size)
        else:
            attacked = pgd(
                model, images, labels, epsilon, steps=steps, step_size=step_size, seed=seed, batch_size=batch_size
            )
        predictions = predict_logits(model, attacked, batch_size=batch_size).argmax(-1)
        accuracy.append(float((predictions == labels).mean()) if len(labels) else 0.0)
        sample_images[epsilon], sample_predictions[epsilon] = attacked[:samples].copy(), predictions[:samples]
        logger.info("%s epsilon=%g: accuracy %.4f on %d examples", method, epsilon, accuracy[-1], len(labels))
    return RobustnessCurve(
        method, epsilons, accuracy, len(labels), source, settings, labels[:samples], sample_images, sample_predictions
    )


# --- figures -------------------------------------------------------------------------


def _show(ax, image, title, color="black"):
    ax.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_title(title, fontsize=8, color=color)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_adversarial_examples(
    curve: RobustnessCurve, path: str | Path, class_names: Sequence[str] | None = None
) -> Path:
    """Saves a grid of the example images, one row per epsilon, titled with the model's class (red when wrong).

    Returns:
        ``path``.
    """
    plt = pyplot()
    rows, cols = len(curve.epsilons), max(len(curve.sample_labels), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols + 0.6, 1.4 * rows), squeeze=False)
    name = (lambda c: class_names[c]) if class_names else str
    for r, epsilon in enumerate(curve.epsilons):
        for c in range(cols):
            ax = axes[r][c]
            if c >= len(curve.sample_labels):
                ax.axis("off")
                continue
            predicted, label = int(curve.sample_predictions[epsilon][c]), int(curve.sample_labels[c])
            _show(
                ax, curve.sample_images[epsilon][c], f"pred {name(predicted)}", "black" if predicted == label else "red"
            )
        axes[r][0].set_ylabel(f"eps={epsilon:g}\nacc {curve.accuracy[r]:.3f}", fontsize=8)
    fig.suptitle(
        f"{curve.method.upper()} on {curve.examples} examples (true: "
        f"{' '.join(name(int(l)) for l in curve.sample_labels)})",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_targeted(
    originals: np.ndarray, result: TargetedResult, path: str | Path, class_names: Sequence[str] | None = None
) -> Path:
    """Saves originals, adversarial images and the perturbations of a targeted attack, one column per image.

    Returns:
        ``path``.
    """
    plt = pyplot()
    originals = to_pixels(originals if np.asarray(originals).ndim == 4 else np.asarray(originals)[None])
    cols = max(len(originals), 1)
    name = (lambda c: class_names[c]) if class_names else str
    fig, axes = plt.subplots(3, cols, figsize=(1.3 * cols + 0.6, 4.4), squeeze=False)
    for c in range(len(originals)):
        _show(axes[0][c], originals[c], "")
        _show(
            axes[1][c],
            result.images[c],
            f"pred {name(int(result.predictions[c]))} p={result.target_probability[c]:.2f}",
            "green" if result.reached[c] else "red",
        )
        delta = (result.images[c] - originals[c]).mean(-1)
        bound = max(float(np.abs(delta).max()), 1e-6)
        axes[2][c].imshow(delta, cmap="seismic", vmin=-bound, vmax=bound)
        axes[2][c].set_title(f"L2 {result.l2[c]:.2f}", fontsize=8)
        axes[2][c].set_xticks([])
        axes[2][c].set_yticks([])
    for c in range(len(originals), cols):
        for r in range(3):
            axes[r][c].axis("off")
    for r, label in enumerate(("original", "adversarial", "x - x0")):
        axes[r][0].set_ylabel(label, fontsize=8)
    target = sorted({name(int(t)) for t in result.target})
    fig.suptitle(
        f"targeted to {', '.join(target)}: {int(result.reached.sum())}/{len(result.reached)} reached", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
