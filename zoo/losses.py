"""Training losses that models name as their own (``model.training_loss()``)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kzoo")
class PerceptronCriterion(keras.losses.Loss):
    """Rosenblatt's perceptron criterion on two-class logits (Bishop, PRML eq. 4.54).

    With targets t = +1 (class 1) or -1 (class 0) and the score z = logit_1 - logit_0,
    the loss is -t z for a misclassified example (t z <= 0) and 0 otherwise. Its
    gradient with respect to the weights is -t x on mistakes only, so SGD with
    learning rate 1 and batch size 1 is exactly the perceptron learning rule
    w <- w + t x. A score of exactly 0 counts as a mistake, so zero-initialised
    weights start learning.

    Example:
        >>> import numpy as np
        >>> loss = PerceptronCriterion(reduction=None)
        >>> np.asarray(loss(np.array([1, 0, 1]), np.array([[0.0, 2.0], [0.0, 2.0], [0.0, -1.0]])))
        array([0., 2., 1.], dtype=float32)
    """

    def __init__(self, name: str = "perceptron_criterion", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        if y_pred.shape[-1] != 2:
            raise ValueError(
                f"The perceptron criterion takes two-class logits (batch, 2). Received shape {y_pred.shape}"
            )
        targets = 2.0 * ops.cast(ops.reshape(y_true, (-1,)), y_pred.dtype) - 1.0
        margin = targets * (y_pred[:, 1] - y_pred[:, 0])
        return ops.where(margin <= 0.0, -margin, ops.zeros_like(margin))


@keras.saving.register_keras_serializable(package="kzoo")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy on logits against integer labels smoothed towards uniform (Szegedy et al. 2016).

    The target of class k is ``1 - s + s / K`` and ``s / K`` elsewhere (K classes), as Keras'
    ``CategoricalCrossentropy(label_smoothing=s)`` does for one-hot labels; ``s = 0`` is the plain
    sparse cross-entropy.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[2.0, 0.0], [0.0, 2.0]])
        >>> plain = SmoothedSparseCrossentropy(0.0)(np.array([0, 1]), logits)
        >>> smooth = SmoothedSparseCrossentropy(0.2)(np.array([0, 1]), logits)
        >>> round(float(plain), 4), round(float(smooth), 4)
        (0.1269, 0.3269)
    """

    def __init__(self, label_smoothing: float = 0.1, name: str = "smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1). Received: {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            labels, y_pred, from_logits=True, label_smoothing=self.label_smoothing
        )

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def is_distribution(y_true, y_pred) -> bool:
    """Whether ``y_true`` holds class distributions (one row per example, like the logits), not class indices."""
    return len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == y_pred.shape[-1]


@keras.saving.register_keras_serializable(package="kzoo")
class SoftTargetCrossentropy(SmoothedSparseCrossentropy):
    """:class:`SmoothedSparseCrossentropy` that also takes class distributions as targets (mixup, CutMix).

    Training batches mixed by ``zoo.data.mixing`` carry one-hot rows mixed in proportion; validation
    batches keep their integer labels. Both are smoothed by ``label_smoothing`` alike.

    Example:
        >>> import numpy as np
        >>> logits = np.array([[2.0, 0.0], [0.0, 2.0]])
        >>> loss = SoftTargetCrossentropy(0.0)
        >>> round(float(loss(np.array([0, 1]), logits)), 4), round(float(loss(np.eye(2), logits)), 4)
        (0.1269, 0.1269)
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "soft_target_crossentropy", **kwargs):
        super().__init__(label_smoothing, name=name, **kwargs)

    def call(self, y_true, y_pred):
        if not is_distribution(y_true, y_pred):
            return super().call(y_true, y_pred)
        return keras.losses.categorical_crossentropy(
            ops.cast(y_true, y_pred.dtype), y_pred, from_logits=True, label_smoothing=self.label_smoothing
        )


@keras.saving.register_keras_serializable(package="kzoo")
class RelativeSquaredError(keras.losses.Loss):
    """The squared error divided by the targets' variance: on average, 1 - R².

    Scale-free, so one learning rate suits targets in any unit (plain gradient
    descent on the raw squared error of targets in the hundreds diverges).

    Args:
        variance: float. The training targets' variance. Defaults to 1.
    """

    def __init__(self, variance: float = 1.0, name: str = "relative_squared_error", **kwargs):
        super().__init__(name=name, **kwargs)
        if not variance > 0:
            raise ValueError(f"RelativeSquaredError: `variance` must be positive. Received: variance={variance}")
        self.variance = float(variance)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        return ops.mean(ops.square(y_true - y_pred), axis=-1) / self.variance

    def get_config(self):
        return {**super().get_config(), "variance": self.variance}
