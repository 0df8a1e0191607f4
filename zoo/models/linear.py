"""Linear models, the classic systems the zoo's deeper models are measured against.

- ``perceptron``: Rosenblatt's mistake-driven rule for linearly separable data
  (Bishop, PRML 4.1.7), one linear unit trained with the perceptron criterion.
- ``logistic``: one linear unit with a logistic output, trained by gradient
  descent on the cross-entropy (PRML 4.3.2).
- ``softmax_regression``: K linear units with a softmax (PRML 4.3.4).
- ``linear_regression``: least squares by gradient descent; see
  :func:`least_squares` for the closed form it is checked against (PRML 3.1.1).

The classifiers read images like every zoo classifier (pixels in [0, 1],
standardised inside the model, flattened); two-class ones output the logits
(0, z) of :class:`zoo.layers.BinaryLogits`, so they train, evaluate and serve
through the same code as the other families. Pick two classes of a data set
with a class subset: ``zoo train logistic --dataset mnist:2,5``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from zoo.data.stats import MNIST_MEAN, MNIST_STD
from zoo.layers import binary_head, classification_head
from zoo.losses import PerceptronCriterion, RelativeSquaredError
from zoo.models.base import ZooModel, check_input_shape, check_positive_ints, image_input
from zoo.registry import register_model

OUTPUTS = ("softmax", "logistic", "perceptron")


@keras.saving.register_keras_serializable(package="kzoo")
class LinearClassifier(ZooModel):
    """A linear map from the (standardised, flattened) pixels to class scores.

    Args:
        num_classes: int. Number of classes; 2 for ``logistic`` and ``perceptron``. Defaults to 10.
        input_shape: (height, width, channels). Defaults to (28, 28, 1).
        output: str. ``"softmax"`` (one unit per class), ``"logistic"`` (one unit z,
            P(class 1) = sigmoid(z)) or ``"perceptron"`` (one unit, zero-initialised,
            predicts class 1 when z > 0; trained with :class:`PerceptronCriterion`).
            Defaults to ``"softmax"``.
        input_mean, input_std: float, list or None. Standardisation inside the model.

    Example:
        >>> LinearClassifier(num_classes=2, output="logistic").output_shape
        (None, 2)
    """

    def __init__(
        self,
        num_classes: int = 10,
        input_shape: Sequence[int] = (28, 28, 1),
        output: str = "softmax",
        input_mean: float | Sequence[float] | None = MNIST_MEAN,
        input_std: float | Sequence[float] | None = MNIST_STD,
        **kwargs,
    ):
        check_positive_ints("LinearClassifier", num_classes=num_classes)
        input_shape = check_input_shape("LinearClassifier", input_shape)
        if output not in OUTPUTS:
            raise ValueError(f"LinearClassifier: `output` must be one of {OUTPUTS}. Received: output={output!r}")
        if output != "softmax" and num_classes != 2:
            raise ValueError(
                f"A {output} unit separates two classes, but num_classes={num_classes}. Train it on a class "
                f"subset such as --dataset mnist:2,5, or use softmax_regression for {num_classes} classes."
            )

        # === Functional Model ===
        inputs, x = image_input(input_shape, input_mean, input_std)
        x = keras.layers.Flatten(name="flatten")(x)
        if output == "softmax":
            outputs = classification_head(x, num_classes, pooling=None)
        else:
            outputs = binary_head(x, kernel_initializer="zeros" if output == "perceptron" else "glorot_uniform")

        # === Config ===
        super().__init__(
            inputs,
            outputs,
            config={
                "num_classes": num_classes,
                "input_shape": list(input_shape),
                "output": output,
                "input_mean": input_mean,
                "input_std": input_std,
            },
            **kwargs,
        )

    def training_loss(self) -> keras.losses.Loss:
        """The loss the trainer compiles this model with."""
        if self._zoo_config["output"] == "perceptron":
            return PerceptronCriterion()
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@keras.saving.register_keras_serializable(package="kzoo")
class LinearRegression(ZooModel):
    """y = W x + b on feature vectors, trained by gradient descent on the (relative) squared error.

    Args:
        num_features: int. Length of each input vector. Defaults to 10 (the diabetes data set).
        num_outputs: int. Number of regression targets. Defaults to 1.
        input_mean, input_std: list of float or None. Per-feature standardisation inside the model.
        output_mean, output_std: float or None. The model predicts standardised targets and
            rescales them, ``y = output_std * (W x + b) + output_mean``, so gradient descent
            starts near the data's scale whatever its units.

    Example:
        >>> LinearRegression(num_features=3).output_shape
        (None, 1)
    """

    def __init__(
        self,
        num_features: int = 10,
        num_outputs: int = 1,
        input_mean: Sequence[float] | None = None,
        input_std: Sequence[float] | None = None,
        output_mean: float | None = None,
        output_std: float | None = None,
        **kwargs,
    ):
        check_positive_ints("LinearRegression", num_features=num_features, num_outputs=num_outputs)
        for label, values in (("input_mean", input_mean), ("input_std", input_std)):
            if values is not None and len(values) != num_features:
                raise ValueError(f"LinearRegression: `{label}` needs {num_features} values. Received: {values!r}")

        # === Functional Model ===
        inputs = keras.Input(shape=(num_features,), name="features")
        x = inputs
        if input_mean is not None or input_std is not None:
            x = keras.layers.Normalization(
                mean=input_mean or [0.0] * num_features,
                variance=[s * s for s in (input_std or [1.0] * num_features)],
                name="standardize",
            )(x)
        outputs = keras.layers.Dense(num_outputs, name="predictions")(x)
        if output_mean is not None or output_std is not None:
            if output_std is not None and output_std <= 0:
                raise ValueError(f"LinearRegression: `output_std` must be positive. Received: output_std={output_std}")
            outputs = keras.layers.Rescaling(output_std or 1.0, offset=output_mean or 0.0, name="unstandardize")(
                outputs
            )

        # === Config ===
        super().__init__(
            inputs,
            outputs,
            config={
                "num_features": num_features,
                "num_outputs": num_outputs,
                "input_mean": input_mean,
                "input_std": input_std,
                "output_mean": output_mean,
                "output_std": output_std,
            },
            **kwargs,
        )

    def training_loss(self) -> keras.losses.Loss:
        """The squared error relative to the targets' variance (see :class:`RelativeSquaredError`)."""
        return RelativeSquaredError((self._zoo_config["output_std"] or 1.0) ** 2)


def least_squares(features: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The closed-form least-squares fit (PRML eq. 3.15, through a QR/SVD solver), with a bias.

    Args:
        features: (N, D). targets: (N,) or (N, K).

    Returns:
        ``(weights (D, K), bias (K,))`` minimising the summed squared error.

    Example:
        >>> w, b = least_squares(np.array([[0.0], [1.0], [2.0]]), np.array([1.0, 3.0, 5.0]))
        >>> np.round(w.ravel(), 6).tolist(), np.round(b, 6).tolist()
        ([2.0], [1.0])
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64).reshape(len(x), -1)
    design = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    return solution[:-1], solution[-1]


@register_model("perceptron", task="image_classification", dataset="mnist:0,1")
def perceptron(**overrides):
    """Rosenblatt's perceptron: one zero-initialised linear unit, mistake-driven updates (two classes)."""
    return LinearClassifier(**{"num_classes": 2, "output": "perceptron", "name": "perceptron", **overrides})


@register_model("logistic", task="image_classification", dataset="mnist:2,5")
def logistic(**overrides):
    """Logistic regression: one linear unit with a sigmoid, cross-entropy by gradient descent (two classes)."""
    return LinearClassifier(**{"num_classes": 2, "output": "logistic", "name": "logistic", **overrides})


@register_model("softmax_regression", task="image_classification", dataset="fashion_mnist")
def softmax_regression(**overrides):
    """Softmax (multinomial logistic) regression: one linear unit per class on the raw pixels."""
    return LinearClassifier(**{"output": "softmax", "name": "softmax_regression", **overrides})


@register_model("linear_regression", task="regression", dataset="diabetes")
def linear_regression(**overrides):
    """Linear regression by gradient descent on the squared error; checked against least squares."""
    return LinearRegression(**{"name": "linear_regression", **overrides})
