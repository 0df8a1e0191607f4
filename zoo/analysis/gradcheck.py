"""Gradient checking: a model's analytic gradients against central finite differences.

For a Keras classifier the analytic gradients come from the backend's
automatic differentiation (``tf.GradientTape``, or ``jax.grad`` for float32
checks under JAX); for a :class:`~zoo.analysis.numpy_mlp.NumpyMLP` from its
hand-written backpropagation. Either way they are compared, on a random
sample of entries of every parameter, with

    (L(w + eps) - L(w - eps)) / (2 eps)

where ``L`` is the mean sparse categorical cross-entropy of the logits on a
fixed batch, computed in inference mode (dropout off, batch normalisation on
its moving statistics).

Precision and tolerances, measured on random-init models with three batches of
8 MNIST test digits and 10 entries per variable (``bench/reports/numpy_mlp.md``):

* A Keras model is checked on a float64 clone by default (every layer and
  input rebuilt with ``dtype="float64"``, weights copied; :func:`float64_clone`).
  This needs the TensorFlow backend: on JAX, Keras 3's type promotion turns
  float64 into float32 inside ops such as ``tanh``, so there only
  ``float64=False`` is offered. With ``epsilon = 1e-5`` the largest relative
  errors were 5e-8 to 1e-6 (mlp, lenet_300_100, lenet5, lenet5_caffe) and
  3e-5 on resnet20 (CIFAR-10, random init, loss 54, so more round-off);
  hence the tolerance ``1e-3``, which still catches a wrong gradient (errors
  of 0.1 to 1).
* The textbook ``epsilon = 1e-3`` passes lenet5 (tanh, 2e-4) and the MLPs, but
  fails lenet5_caffe (ReLU and max pooling, error 1.4): the differences
  straddle several kinks.
* In float32 (``float64=False``) central differences are dominated by
  round-off (about ``1e-7 * |L| / epsilon``). With ``epsilon = 1e-2``,
  ``floor = 1e-2`` and tolerance ``5e-2``, lenet5 and the MLPs pass (errors
  2e-3 to 5e-3) and lenet5_caffe fails (0.75): a coarse mode only.

The per-entry relative error is ``|a - n| / max(|a|, |n|, floor)``; the
absolute ``floor`` (``1e-6`` in float64) keeps entries whose true gradient is
about zero from dividing round-off by round-off. Where the loss is not
differentiable within ``+-epsilon`` (ReLU at 0, ties in max pooling, which
MNIST's constant background makes common), the one-sided differences
``(L(w + eps) - L(w)) / eps`` and ``(L(w) - L(w - eps)) / eps`` disagree and
autodiff returns one of them (a subgradient) rather than their mean, the
central difference. Entries whose analytic value lies between the one-sided
differences and nearer one of them than the central one are counted as
``kinks`` and left out of the error instead of failing the check. Where the
loss is smooth the one-sided differences are within ``eps * |L''|`` of each
other, so a wrong gradient lies outside them and is not excused; a gap
smaller than ten times the round-off (``u |L| / eps``) is not taken for a kink.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DEFAULTS = {
    # dtype: (epsilon, tolerance, floor)
    "float64": (1e-5, 1e-3, 1e-6),
    "float32": (1e-2, 5e-2, 1e-2),
}


@dataclasses.dataclass
class VariableCheck:
    """The check of one parameter tensor.

    Attributes:
        name: the variable's path (``dense1/kernel``).
        shape: its shape.
        checked: number of entries compared.
        kinks: entries where the loss is not differentiable within ``+-epsilon``:
            the analytic value lies between the one-sided differences and
            nearer one of them than the central difference. They are left out
            of the errors below.
        max_relative_error: largest per-entry relative error (kinks left out).
        max_abs_error: largest ``|analytic - numeric|`` (kinks left out).
        max_abs_gradient: largest ``|analytic|`` among the checked entries.
        passed: ``max_relative_error <= tolerance``.
    """

    name: str
    shape: tuple[int, ...]
    checked: int
    kinks: int
    max_relative_error: float
    max_abs_error: float
    max_abs_gradient: float
    passed: bool


@dataclasses.dataclass
class GradientCheckResult:
    """What :func:`gradient_check` found.

    Attributes:
        passed: every variable within ``tolerance``.
        max_relative_error: the largest relative error over all variables.
        kinks: entries at non-differentiable points, over all variables.
        tolerance, epsilon, floor: the settings used.
        dtype: the precision of the check (``float64`` or ``float32``).
        loss: the loss at the unperturbed parameters.
        examples: batch size.
        variables: one :class:`VariableCheck` per parameter tensor.
    """

    passed: bool
    max_relative_error: float
    kinks: int
    tolerance: float
    epsilon: float
    floor: float
    dtype: str
    loss: float
    examples: int
    variables: list[VariableCheck]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    @property
    def failed(self) -> list[str]:
        """Names of the variables beyond the tolerance."""
        return [v.name for v in self.variables if not v.passed]


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: float) -> np.ndarray:
    """Per-entry ``|a - n| / max(|a|, |n|, floor)``.

    Example:
        >>> relative_error(np.array([1.0, 0.0]), np.array([1.1, 1e-12]), floor=1e-8).round(4).tolist()
        [0.0909, 0.0001]
    """
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return np.abs(analytic - numeric) / np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)


def _as_pixels(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x


# --- Keras models --------------------------------------------------------------
def float64_clone(model):
    """A float64 copy of a Functional or Sequential Keras model, weights included.

    Every layer, inputs included, is rebuilt from its config with
    ``dtype="float64"``; the original model is untouched.

    Raises:
        ValueError: the model cannot be cloned layer by layer (a subclassed model), or the Keras
            backend is not TensorFlow (Keras 3 computes some float64 ops in float32 on JAX and torch).
    """
    import keras

    if keras.config.backend() != "tensorflow":
        # Keras 3's type promotion maps float64 to float32 on other backends (ops such as tanh
        # return float32 for float64 inputs), which would silently round the check.
        raise ValueError(
            f"expected the tensorflow Keras backend for a float64 check, received "
            f"{keras.config.backend()!r}; pass float64=False for a float32 check"
        )

    def to_float64(layer):
        config = layer.get_config()
        config["dtype"] = "float64"
        return layer.__class__.from_config(config)

    try:
        inputs = [keras.Input(batch_shape=t.shape, dtype="float64", name=t.name) for t in model.inputs]
        clone = keras.models.clone_model(
            model, input_tensors=inputs[0] if len(inputs) == 1 else inputs, clone_function=to_float64
        )
    except Exception as err:  # Keras raises several types for models it cannot clone
        raise ValueError(
            f"expected a Functional or Sequential model to clone in float64, received {type(model).__name__} "
            f"({err}); pass float64=False"
        ) from err
    narrow = sorted({keras.backend.standardize_dtype(v.value.dtype) for v in clone.weights} - {"float64"})
    if narrow:
        raise ValueError(f"expected float64 variables in the clone, received {narrow}; pass float64=False")
    clone.set_weights(
        [
            np.asarray(w, np.float64) if np.issubdtype(np.asarray(w).dtype, np.floating) else w
            for w in model.get_weights()
        ]
    )
    return clone


def _keras_loss(model, trainable, non_trainable, x, y):
    import keras

    logits, _ = model.stateless_call(trainable, non_trainable, x, training=False)
    return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))


def _keras_gradients(model, trainable, non_trainable, x, y) -> tuple[float, list[np.ndarray]]:
    """Loss and autodiff gradients of ``_keras_loss`` with the backend's own differentiation."""
    import keras

    backend = keras.config.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        values = [tf.convert_to_tensor(v) for v in trainable]
        with tf.GradientTape() as tape:
            tape.watch(values)
            loss = _keras_loss(model, values, non_trainable, x, y)
        grads = tape.gradient(loss, values, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    elif backend == "jax":
        import jax

        loss, grads = jax.value_and_grad(lambda v: _keras_loss(model, v, non_trainable, x, y))(list(trainable))
    else:
        raise ValueError(f"expected the tensorflow or jax Keras backend, received {backend!r}")
    grads = [np.asarray(keras.ops.convert_to_numpy(g), np.float64) for g in grads]
    return float(keras.ops.convert_to_numpy(loss)), grads


class _KerasTarget:
    """Adapter: loss and gradients of a Keras classifier at given parameter values."""

    def __init__(self, model, x, y, dtype: str):
        import keras

        self.model = model
        self.names = [v.path for v in model.trainable_variables]
        self.params = [np.asarray(keras.ops.convert_to_numpy(v), dtype) for v in model.trainable_variables]
        self.non_trainable = [v.value for v in model.non_trainable_variables]
        self.dtype = dtype
        self.examples = len(x)
        self.x = keras.ops.convert_to_tensor(np.asarray(x, dtype))
        self.y = keras.ops.convert_to_tensor(np.asarray(y, np.int64))

    def loss(self, params: list[np.ndarray]) -> float:
        import keras

        return float(keras.ops.convert_to_numpy(_keras_loss(self.model, params, self.non_trainable, self.x, self.y)))

    def gradients(self) -> tuple[float, list[np.ndarray]]:
        return _keras_gradients(self.model, self.params, self.non_trainable, self.x, self.y)


class _NumpyTarget:
    """Adapter: loss and hand-written gradients of a NumpyMLP at given parameter values."""

    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y
        self.names = model.param_names
        self.params = model.get_params()
        self.dtype = "float64"
        self.examples = len(x)

    def loss(self, params: list[np.ndarray]) -> float:
        saved = self.model.params
        self.model.params = params
        try:
            return self.model.loss(self.x, self.y)
        finally:
            self.model.params = saved

    def gradients(self) -> tuple[float, list[np.ndarray]]:
        return self.model.loss_and_gradients(self.x, self.y)


def gradient_check(
    model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epsilon: float | None = None,
    tolerance: float | None = None,
    floor: float | None = None,
    max_params_per_variable: int = 10,
    float64: bool = True,
    seed: int = 0,
) -> GradientCheckResult:
    """Compares analytic gradients of the cross-entropy loss with central finite differences.

    Args:
        model: a Keras classifier returning logits (Functional or Sequential
            for the float64 clone), or a :class:`~zoo.analysis.numpy_mlp.NumpyMLP`
            (checked against its hand-written backpropagation).
        x: a batch of inputs; uint8 images are scaled to [0, 1] like the zoo's pipelines.
        y: integer labels ``(N,)``.
        epsilon: finite-difference step; default ``1e-5`` in float64, ``1e-2`` in float32.
        tolerance: largest relative error that passes; default ``1e-3`` in float64, ``5e-2`` in float32.
        floor: absolute floor of the relative error's denominator; default ``1e-6`` / ``1e-2``.
        max_params_per_variable: entries sampled (without replacement) from each parameter tensor.
        float64: check a Keras model on a float64 clone (recommended); False
            checks the model as it is, in float32.
        seed: seed of the sampled entries.

    Returns:
        A :class:`GradientCheckResult`. Trained weights on correctly classified
        examples give gradients near or below ``floor``, which every value
        matches; a random initialisation (or misclassified examples) tests more.

    Raises:
        ValueError: empty batch, mismatched labels, bad settings, or a model that cannot be cloned in float64.

    Example:
        >>> from zoo.analysis.numpy_mlp import NumpyMLP
        >>> rng = np.random.default_rng(0)
        >>> result = gradient_check(NumpyMLP([5, 4, 3], seed=0), rng.normal(size=(6, 5)), np.array([0, 1, 2, 0, 1, 2]))
        >>> result.passed, result.max_relative_error < 1e-6
        (True, True)
    """
    from zoo.analysis.numpy_mlp import NumpyMLP

    x, y = _as_pixels(x), np.asarray(y)
    if len(x) == 0 or y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"expected a non-empty batch with one integer label per example, received x of shape "
            f"{np.shape(x)} and y of shape {y.shape} ({y.dtype})"
        )
    if not isinstance(max_params_per_variable, int) or max_params_per_variable < 1:
        raise ValueError(f"expected a positive integer max_params_per_variable, received {max_params_per_variable!r}")
    if isinstance(model, NumpyMLP):
        return _run_check(_NumpyTarget(model, x, y), epsilon, tolerance, floor, max_params_per_variable, seed)
    dtype = "float64" if float64 else "float32"
    target = _KerasTarget(float64_clone(model) if float64 else model, x, y, dtype)
    return _run_check(target, epsilon, tolerance, floor, max_params_per_variable, seed)


def _run_check(target, epsilon, tolerance, floor, max_params_per_variable, seed) -> GradientCheckResult:
    """Central differences on sampled entries of every parameter of ``target``, scored against its gradients."""
    default_eps, default_tol, default_floor = DEFAULTS[target.dtype]
    epsilon = default_eps if epsilon is None else epsilon
    tolerance = default_tol if tolerance is None else tolerance
    floor = default_floor if floor is None else floor
    if not (epsilon > 0 and tolerance > 0 and floor > 0):
        raise ValueError(f"expected positive epsilon, tolerance and floor, received {epsilon}, {tolerance}, {floor}")

    loss, analytic = target.gradients()
    base = target.loss(target.params)
    rng = np.random.default_rng(seed)
    params = [p.copy() for p in target.params]
    checks = []
    for name, value, grad in zip(target.names, params, analytic):
        picks = rng.choice(value.size, size=min(value.size, max_params_per_variable), replace=False)
        plus, minus = np.empty(len(picks)), np.empty(len(picks))
        flat = value.reshape(-1)  # a view: perturbs the entry of ``params`` in place
        for j, flat_index in enumerate(picks):
            original = flat[flat_index]
            flat[flat_index] = original + epsilon
            plus[j] = target.loss(params)
            flat[flat_index] = original - epsilon
            minus[j] = target.loss(params)
            flat[flat_index] = original
        checks.append(
            _compare(
                name,
                value.shape,
                np.asarray(grad, np.float64).reshape(-1)[picks],
                plus,
                minus,
                base,
                epsilon,
                tolerance,
                floor,
                target.dtype,
            )
        )
        logger.info("%s: %s", name, checks[-1])
    worst = max(c.max_relative_error for c in checks) if checks else 0.0
    return GradientCheckResult(
        passed=all(c.passed for c in checks),
        max_relative_error=worst,
        kinks=sum(c.kinks for c in checks),
        tolerance=tolerance,
        epsilon=epsilon,
        floor=floor,
        dtype=target.dtype,
        loss=float(loss),
        examples=target.examples,
        variables=checks,
    )


def _compare(name, shape, analytic, plus, minus, base, epsilon, tolerance, floor, dtype="float64") -> VariableCheck:
    """Scores one variable's sampled entries; entries at a kink are judged against the one-sided slopes."""
    central = (plus - minus) / (2.0 * epsilon)
    errors = relative_error(analytic, central, floor)
    forward, backward = (plus - base) / epsilon, (base - minus) / epsilon
    low, high = np.minimum(forward, backward), np.maximum(forward, backward)
    slack = tolerance * np.maximum(np.maximum(np.abs(low), np.abs(high)), floor)
    # Non-differentiable within +-epsilon (ReLU, max pooling ties): autodiff returns a one-sided
    # derivative (a subgradient), so it lies between the one-sided differences and nearer one of
    # them than the central one. Where the loss is smooth, the central difference is the nearest
    # (its error is O(eps^2), the one-sided ones' O(eps)), and a wrong value lies outside.
    # Round-off alone makes the one-sided differences disagree by about u |L| / eps; a kink does more.
    noise = np.finfo(dtype).eps * np.maximum(np.abs(base), 1.0) / epsilon
    one_sided = np.minimum(np.abs(analytic - forward), np.abs(analytic - backward))
    kink = (
        (analytic >= low - slack)
        & (analytic <= high + slack)
        & (one_sided < np.abs(analytic - central))
        & (high - low > 10 * noise)
    )
    smooth = ~kink
    worst = float(errors[smooth].max()) if smooth.any() else 0.0
    worst_abs = float(np.abs(analytic - central)[smooth].max()) if smooth.any() else 0.0
    return VariableCheck(
        name=name,
        shape=tuple(int(d) for d in shape),
        checked=len(analytic),
        kinks=int(kink.sum()),
        max_relative_error=worst,
        max_abs_error=worst_abs,
        max_abs_gradient=float(np.abs(analytic).max()),
        passed=worst <= tolerance,
    )


def backprop_vs_autodiff(
    mlp, x: np.ndarray, y: np.ndarray, *, float64: bool = True, floor: float | None = None
) -> dict[str, float]:
    """Largest relative difference, per parameter, between a NumpyMLP's backprop and Keras autodiff.

    The NumPy MLP is copied into the zoo's Keras ``MLP`` (:func:`~zoo.analysis.numpy_mlp.to_keras`),
    in float64 unless ``float64=False``, and both differentiate the same loss on the same batch.

    Args:
        mlp: a :class:`~zoo.analysis.numpy_mlp.NumpyMLP`.
        x, y: a batch and its integer labels (uint8 images are scaled to [0, 1]).
        float64: differentiate the Keras copy in float64 (else float32).
        floor: relative error floor; defaults as in :func:`gradient_check`.

    Returns:
        ``{variable name: max relative error}``, plus ``"loss"``: the absolute loss difference.

    Example:
        >>> from zoo.analysis.numpy_mlp import NumpyMLP
        >>> rng = np.random.default_rng(0)
        >>> errors = backprop_vs_autodiff(NumpyMLP([6, 5, 3], seed=0), rng.random((4, 6)), np.array([0, 1, 2, 1]))
        >>> max(errors.values()) < 1e-9
        True
    """
    from zoo.analysis.numpy_mlp import to_keras

    x = _as_pixels(x)
    loss, grads = mlp.loss_and_gradients(x, y)
    keras_model = to_keras(mlp)
    dtype = "float64" if float64 else "float32"
    if float64:
        keras_model = float64_clone(keras_model)
        keras_model.set_weights(mlp.get_params())  # the exact float64 values, not their float32 copy
    target = _KerasTarget(keras_model, x.reshape(len(x), *keras_model.input_shape[1:]), y, dtype)
    keras_loss, keras_grads = target.gradients()
    floor = DEFAULTS[dtype][2] if floor is None else floor
    errors = {name: float(relative_error(g, k, floor).max()) for name, g, k in zip(mlp.param_names, grads, keras_grads)}
    return errors | {"loss": abs(loss - keras_loss)}
