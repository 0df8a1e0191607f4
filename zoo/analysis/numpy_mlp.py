"""A from-scratch multilayer perceptron in NumPy: the teaching baseline the zoo's models are compared to.

Everything is written out by hand in float64: Glorot-uniform initialisation,
the forward pass, softmax cross-entropy, backpropagation and minibatch SGD
with classical momentum, in the notation of the course notes
(``v <- g + momentum * v``, ``W <- W - lr * v``). The same function as the
zoo's Keras ``MLP`` (``Flatten -> dense1 .. denseK -> predictions``):
:func:`to_keras` and :func:`from_keras` copy weights between the two, and the
tests check that outputs and gradients agree.

Parameters are ordered like a Keras model's ``trainable_variables``:
``[dense1/kernel, dense1/bias, ..., predictions/kernel, predictions/bias]``,
kernels shaped ``(fan_in, fan_out)``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)

ACTIVATIONS = ("relu", "sigmoid")


def _activate(name: str, z: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(z, 0.0)
    # 1 / (1 + exp(-z)) without overflow warnings for large |z|.
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _activation_derivative(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    if name == "relu":
        return (z > 0.0).astype(z.dtype)  # 0 at the kink, as TensorFlow's ReLU gradient
    return a * (1.0 - a)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax, stable for large logits (subtracts each row's maximum)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def as_features(x: np.ndarray) -> np.ndarray:
    """Flattens a batch to float64 ``(N, features)``; uint8 pixels are scaled to [0, 1] like the zoo's pipelines."""
    x = np.asarray(x)
    if x.ndim < 1:
        raise ValueError(f"expected a batch of examples, received an array of shape {x.shape}")
    scale = 1.0 / 255.0 if x.dtype == np.uint8 else 1.0
    return x.reshape(len(x), -1).astype(np.float64) * scale


class NumpyMLP:
    """Fully connected classifier with hand-written backpropagation.

    Args:
        layer_sizes: widths from input to output, e.g. ``[784, 100, 10]``:
            784 inputs, one hidden layer of 100 units, 10 classes.
        activation: hidden activation, ``"relu"`` or ``"sigmoid"``. The output
            layer is linear (logits); the loss applies the softmax.
        seed: seed of the Glorot-uniform initialisation.

    Raises:
        ValueError: fewer than two layer sizes, a non-positive size, or an unknown activation.

    Example:
        >>> mlp = NumpyMLP([4, 3, 2], seed=0)
        >>> [p.shape for p in mlp.params]
        [(4, 3), (3,), (3, 2), (2,)]
        >>> mlp.forward(np.zeros((5, 4))).shape
        (5, 2)
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "relu", seed: int | None = 0):
        sizes = list(layer_sizes)
        if len(sizes) < 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
            raise ValueError(
                f"expected at least two positive layer sizes (inputs ... classes), received {layer_sizes!r}"
            )
        if activation not in ACTIVATIONS:
            raise ValueError(f"expected activation in {ACTIVATIONS}, received {activation!r}")
        self.layer_sizes = [int(s) for s in sizes]
        self.activation = activation
        rng = np.random.default_rng(seed)
        self.params: list[np.ndarray] = []
        for fan_in, fan_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            limit = np.sqrt(6.0 / (fan_in + fan_out))  # Glorot & Bengio 2010; Keras' default for Dense
            self.params.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)))
            self.params.append(np.zeros(fan_out))

    @property
    def num_layers(self) -> int:
        """Number of weight layers (hidden layers plus the output layer)."""
        return len(self.layer_sizes) - 1

    @property
    def param_names(self) -> list[str]:
        """Names matching the zoo MLP's variables: ``dense1/kernel`` ... ``predictions/bias``."""
        names = []
        for i in range(1, self.num_layers + 1):
            layer = "predictions" if i == self.num_layers else f"dense{i}"
            names += [f"{layer}/kernel", f"{layer}/bias"]
        return names

    def get_params(self) -> list[np.ndarray]:
        """Copies of the parameters, in :attr:`param_names` order."""
        return [p.copy() for p in self.params]

    def set_params(self, params: Sequence[np.ndarray]) -> None:
        """Replaces the parameters (cast to float64); shapes must match :attr:`params`.

        Raises:
            ValueError: wrong number or shapes of arrays.
        """
        if len(params) != len(self.params):
            raise ValueError(f"expected {len(self.params)} arrays ({self.param_names}), received {len(params)}")
        for name, old, new in zip(self.param_names, self.params, params):
            if np.shape(new) != old.shape:
                raise ValueError(f"expected {name} of shape {old.shape}, received {np.shape(new)}")
        self.params = [np.array(p, dtype=np.float64) for p in params]

    def _check_inputs(self, x: np.ndarray) -> np.ndarray:
        x = as_features(x)
        if x.shape[1] != self.layer_sizes[0]:
            raise ValueError(f"expected {self.layer_sizes[0]} input features per example, received {x.shape[1]}")
        return x

    def _forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Returns ``(activations, pre_activations)``: activations[0] is the input, pre[-1] the logits."""
        activations, pre = [x], []
        for i in range(self.num_layers):
            z = activations[-1] @ self.params[2 * i] + self.params[2 * i + 1]
            pre.append(z)
            if i < self.num_layers - 1:
                activations.append(_activate(self.activation, z))
        return activations, pre

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(N, classes)`` of a batch shaped ``(N, ...)`` with ``layer_sizes[0]`` values per example."""
        return self._forward(self._check_inputs(x))[1][-1]

    def _check_labels(self, y: np.ndarray, count: int) -> np.ndarray:
        y = np.asarray(y)
        if y.shape != (count,) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"expected {count} integer labels, received an array of shape {y.shape} and dtype {y.dtype}"
            )
        if count and (y.min() < 0 or y.max() >= self.layer_sizes[-1]):
            raise ValueError(
                f"expected labels in [0, {self.layer_sizes[-1]}), received values in [{y.min()}, {y.max()}]"
            )
        return y

    def loss(self, x: np.ndarray, y: np.ndarray) -> float:
        """Mean softmax cross-entropy of a batch."""
        x = self._check_inputs(x)
        y = self._check_labels(y, len(x))
        return float(-log_softmax(self.forward(x))[np.arange(len(y)), y].mean())

    def loss_and_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """Mean softmax cross-entropy and its gradient by backpropagation.

        With ``p = softmax(z_L)`` and one-hot targets ``t``, the error at the
        logits is ``delta_L = (p - t) / N``; each layer passes back
        ``delta_{l-1} = (delta_l @ W_l.T) * f'(z_{l-1})`` and contributes
        ``dW_l = a_{l-1}.T @ delta_l`` and ``db_l = sum(delta_l)``.

        Args:
            x: inputs ``(N, ...)``. y: integer labels ``(N,)``.

        Returns:
            ``(loss, gradients)``, gradients in :attr:`params` order.

        Example:
            >>> mlp = NumpyMLP([3, 2], seed=0)
            >>> loss, grads = mlp.loss_and_gradients(np.ones((2, 3)), np.array([0, 1]))
            >>> [g.shape for g in grads]
            [(3, 2), (2,)]
        """
        x = self._check_inputs(x)
        loss, grads, _ = self._backprop(x, self._check_labels(y, len(x)))
        return loss, grads

    def _backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray], np.ndarray]:
        """``(loss, gradients, logits)`` of checked float64 features and labels."""
        activations, pre = self._forward(x)
        log_p = log_softmax(pre[-1])
        loss = float(-log_p[np.arange(len(y)), y].mean())
        delta = np.exp(log_p)
        delta[np.arange(len(y)), y] -= 1.0
        delta /= len(y)
        grads: list[np.ndarray] = [None] * len(self.params)  # type: ignore[list-item]
        for i in reversed(range(self.num_layers)):
            grads[2 * i] = activations[i].T @ delta
            grads[2 * i + 1] = delta.sum(axis=0)
            if i > 0:
                derivative = _activation_derivative(self.activation, pre[i - 1], activations[i])
                delta = (delta @ self.params[2 * i].T) * derivative
        return loss, grads, pre[-1]

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Predicted class of each example."""
        x = self._check_inputs(x)
        return np.concatenate(
            [self.forward(x[i : i + batch_size]).argmax(axis=1) for i in range(0, len(x), batch_size)]
            or [np.zeros(0, dtype=np.int64)]
        )

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Fraction of examples classified correctly."""
        x = self._check_inputs(x)
        y = self._check_labels(y, len(x))
        return float((self.predict(x) == y).mean())

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        epochs: int = 5,
        batch_size: int = 32,
        lr: float = 0.05,
        momentum: float = 0.9,
        seed: int | None = 0,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        callback=None,
    ) -> dict[str, list[float]]:
        """Minibatch SGD with classical momentum on shuffled batches.

        Each step: ``v <- g + momentum * v`` and ``W <- W - lr * v``, which is
        Keras' ``SGD(lr, momentum=momentum, nesterov=False)`` written the
        course notes' way.

        Args:
            x, y: training inputs ``(N, ...)`` and integer labels.
            epochs, batch_size: number of passes and examples per step.
            lr: learning rate. momentum: in [0, 1); 0 is plain SGD.
            seed: seed of the per-epoch shuffles.
            validation_data: optional ``(x_val, y_val)`` scored after every epoch.
            callback: optional ``callback(epoch, logs)`` called after every epoch.

        Returns:
            History: ``loss`` and ``accuracy``, means over the epoch's batches
            (as Keras reports them), and, with ``validation_data``,
            ``val_loss`` and ``val_accuracy`` after each epoch.

        Raises:
            ValueError: bad hyper-parameters, inputs or labels.
        """
        if not isinstance(epochs, int) or epochs < 1 or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f"expected positive integer epochs and batch_size, received epochs={epochs!r}, "
                f"batch_size={batch_size!r}"
            )
        if not lr > 0 or not 0.0 <= momentum < 1.0:
            raise ValueError(f"expected lr > 0 and momentum in [0, 1), received lr={lr!r}, momentum={momentum!r}")
        x = self._check_inputs(x)
        y = self._check_labels(y, len(x))
        rng = np.random.default_rng(seed)
        velocity = [np.zeros_like(p) for p in self.params]
        history: dict[str, list[float]] = {"loss": [], "accuracy": []}
        if validation_data is not None:
            x_val = self._check_inputs(validation_data[0])
            y_val = self._check_labels(validation_data[1], len(x_val))
            history.update(val_loss=[], val_accuracy=[])
        for epoch in range(epochs):
            order = rng.permutation(len(x))
            loss_sum = correct = 0.0
            for start in range(0, len(x), batch_size):
                batch = order[start : start + batch_size]
                loss, grads, logits = self._backprop(x[batch], y[batch])
                loss_sum += loss * len(batch)
                correct += float((logits.argmax(axis=1) == y[batch]).sum())
                for p, v, g in zip(self.params, velocity, grads):
                    v *= momentum
                    v += g
                    p -= lr * v
            history["loss"].append(loss_sum / len(x))
            history["accuracy"].append(correct / len(x))
            if validation_data is not None:
                logits = self.forward(x_val)
                history["val_loss"].append(float(-log_softmax(logits)[np.arange(len(y_val)), y_val].mean()))
                history["val_accuracy"].append(float((logits.argmax(axis=1) == y_val).mean()))
            if not np.isfinite(history["loss"][-1]):
                raise FloatingPointError(
                    f"training diverged at epoch {epoch + 1} (loss {history['loss'][-1]}); lower lr"
                )
            logger.info("epoch %d: %s", epoch + 1, {k: v[-1] for k, v in history.items()})
            if callback is not None:
                callback(epoch, {k: v[-1] for k, v in history.items()})
        return history


def to_keras(model: NumpyMLP, *, input_shape: Sequence[int] | None = None):
    """Builds the zoo's Keras ``MLP`` computing the same function as ``model`` (weights copied, cast to float32).

    Args:
        model: the NumPy MLP.
        input_shape: image shape whose size is ``layer_sizes[0]``; defaults to
            ``(28, 28, 1)`` for 784 inputs, otherwise ``(1, 1, layer_sizes[0])``.

    Returns:
        ``zoo.create("mlp", hidden_units=..., dropout=0.0, input_mean=None, input_std=None, ...)`` with the weights.

    Raises:
        ValueError: ``input_shape`` does not hold ``layer_sizes[0]`` values.

    Example:
        >>> to_keras(NumpyMLP([784, 16, 10])).output_shape
        (None, 10)
    """
    import zoo

    sizes = model.layer_sizes
    if input_shape is None:
        input_shape = (28, 28, 1) if sizes[0] == 784 else (1, 1, sizes[0])
    if int(np.prod(input_shape)) != sizes[0]:
        raise ValueError(f"expected an input_shape of {sizes[0]} values, received {tuple(input_shape)}")
    keras_model = zoo.create(
        "mlp",
        hidden_units=sizes[1:-1],
        num_classes=sizes[-1],
        input_shape=list(input_shape),
        activation=model.activation,
        dropout=0.0,
        input_mean=None,
        input_std=None,
    )
    keras_model.set_weights([p.astype(np.float32) for p in model.params])
    return keras_model


def from_keras(keras_model) -> NumpyMLP:
    """Copies a zoo Keras ``MLP`` (``mlp``, ``lenet_300_100``) into a :class:`NumpyMLP` computing the same function.

    The model's input standardisation ``(x - mean) / std`` is folded into the
    first layer (``W / std`` and ``b - (mean / std) @ W``), so the NumPy MLP
    takes the same [0, 1] pixels. Dropout layers are ignored (they only act in
    training).

    Args:
        keras_model: a built model whose layers are an input, an optional
            ``Normalization``, ``Flatten``, ``Dense`` layers (one hidden
            activation, ``relu`` or ``sigmoid``; a linear last layer) and ``Dropout``.

    Returns:
        A float64 :class:`NumpyMLP`.

    Raises:
        ValueError: other layers, mixed or unsupported activations, or a non-linear output layer.

    Example:
        >>> import zoo
        >>> from_keras(zoo.create("lenet_300_100")).layer_sizes
        [784, 300, 100, 10]
    """
    import keras

    dense, normalization = [], None
    for layer in keras_model.layers:
        if isinstance(layer, keras.layers.Dense):
            dense.append(layer)
        elif isinstance(layer, keras.layers.Normalization) and not dense and normalization is None:
            normalization = layer
        elif not isinstance(layer, (keras.layers.InputLayer, keras.layers.Flatten, keras.layers.Dropout)):
            raise ValueError(
                f"expected a zoo MLP (Normalization, Flatten, Dense, Dropout layers), received layer "
                f"{layer.name!r} of type {type(layer).__name__}"
            )
    if not dense:
        raise ValueError(f"expected at least one Dense layer, received none in {keras_model.name!r}")
    names = [keras.activations.serialize(layer.activation) for layer in dense]
    hidden = set(names[:-1])
    if names[-1] != "linear" or len(hidden) > 1 or not hidden <= set(ACTIVATIONS):
        raise ValueError(
            f"expected hidden activations all 'relu' or all 'sigmoid' and a linear output, received {names}"
        )
    sizes = [int(np.prod(keras_model.input_shape[1:]))] + [int(layer.units) for layer in dense]
    mlp = NumpyMLP(sizes, activation=hidden.pop() if hidden else "relu")
    params = []
    for layer in dense:
        kernel, bias = (keras.ops.convert_to_numpy(w).astype(np.float64) for w in (layer.kernel, layer.bias))
        params += [kernel, bias]
    if normalization is not None:
        shape = tuple(keras_model.input_shape[1:])
        mean = np.broadcast_to(keras.ops.convert_to_numpy(normalization.mean).astype(np.float64), (1, *shape)).ravel()
        variance = keras.ops.convert_to_numpy(normalization.variance).astype(np.float64)
        std = np.maximum(np.sqrt(np.broadcast_to(variance, (1, *shape)).ravel()), keras.config.epsilon())
        params[0], params[1] = params[0] / std[:, None], params[1] - (mean / std) @ params[0]
    mlp.set_params(params)
    return mlp
