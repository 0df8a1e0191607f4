"""Training any zoo model under the soft weight-sharing prior, without editing its code.

:func:`apply_soft_weight_sharing` wraps a built model in a
:class:`SoftWeightSharingModel`: the same predictions, plus the loss term
``tau / num_examples * Omega(w)`` over the chosen layers' kernels (and biases),
where ``Omega`` is :class:`~zoo.regularizers.SoftWeightSharing`. With the data
term a mean over examples, ``tau / num_examples`` is Ullrich et al.'s
``tau`` in ``L = -log p(T|X, w) - tau log p(w)``. The prior's variables train
with the model under whatever optimizer ``compile`` gets, at
``prior_lr_multiplier`` times its learning rate, and are saved with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
from keras import ops

from zoo.regularizers.learning_rates import set_learning_rate_multipliers
from zoo.regularizers.soft_weight_sharing import SoftWeightSharing


def shareable_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Layers with a ``kernel`` variable (Dense, Conv*, EinsumDense, ...), in model order, nested models included."""
    found = []
    for layer in getattr(model, "layers", []):
        if isinstance(getattr(layer, "kernel", None), keras.Variable):
            found.append(layer)
        found.extend(shareable_layers(layer))
    return found


def _select_layers(model: keras.Model, layers) -> list[str]:
    candidates = {layer.name: layer for layer in shareable_layers(model)}
    if layers is None:
        names = list(candidates)
    elif callable(layers):
        names = [name for name, layer in candidates.items() if layers(layer)]
    else:
        names = list(layers)
        unknown = [name for name in names if name not in candidates]
        if unknown:
            raise ValueError(
                f"{model.name} has no layer with a kernel named {', '.join(map(repr, unknown))}. "
                f"Layers with kernels: {', '.join(candidates) or '(none)'}."
            )
    if not names:
        raise ValueError(f"No layer of {model.name} was chosen for soft weight sharing.")
    return names


def _prior_multipliers(multiplier) -> dict[str, float]:
    names = ("means", "log_var", "mixing_logits")
    table = dict.fromkeys(names, multiplier) if isinstance(multiplier, (int, float)) else dict(multiplier)
    unknown = sorted(set(table) - set(names))
    if unknown or any(v < 0 for v in table.values()):
        raise ValueError(f"prior_lr_multiplier takes a number >= 0 or a dict over {names}. Received: {multiplier!r}")
    return {name: float(table.get(name, 1.0)) for name in names}


@keras.saving.register_keras_serializable(package="kzoo")
class SoftWeightSharingModel(keras.Model):
    """``model`` trained with a Gaussian-mixture prior on the weights of ``shared_layers``.

    Args:
        model: the built ``keras.Model`` whose weights get the prior.
        prior: a :class:`SoftWeightSharing` layer.
        shared_layers: names of ``model``'s layers whose kernels get the prior.
        include_bias: bool. The biases of those layers too. Defaults to True.
        tau: float. Weight of the prior relative to the whole data set's log-likelihood.
        num_examples: int. Training-set size N; the loss adds ``tau / N * Omega``.
        prior_lr_multiplier: float, or ``{"means": ..., "log_var": ..., "mixing_logits": ...}``.
            The prior's variables learn at this multiple of the optimizer's learning
            rate (see :meth:`compile`); a missing name means 1.
        pull_weights: bool. False fits the mixture to the weights without pulling the weights
            toward it (a baseline: what quantising with the same mixture gives without the prior).
    """

    def __init__(
        self,
        model: keras.Model,
        prior: SoftWeightSharing,
        shared_layers: Sequence[str],
        *,
        include_bias: bool = True,
        tau: float = 5e-3,
        num_examples: int = 1,
        prior_lr_multiplier: float | dict[str, float] = 1.0,
        pull_weights: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if tau < 0 or num_examples < 1:
            raise ValueError(
                f"tau must be >= 0 and num_examples >= 1. Received: tau={tau}, num_examples={num_examples}"
            )
        self.model, self.prior = model, prior
        self.shared_layers = _select_layers(model, list(shared_layers))
        self.include_bias, self.tau, self.num_examples = include_bias, float(tau), int(num_examples)
        self.prior_lr_multiplier = _prior_multipliers(prior_lr_multiplier)
        self.pull_weights = bool(pull_weights)

    def shared_variables(self) -> list[tuple[keras.layers.Layer, keras.Variable]]:
        """``(layer, variable)`` for each variable the prior covers, in layer order (kernel, then bias)."""
        found = []
        for layer in shareable_layers(self.model):
            if layer.name in self.shared_layers:
                found.append((layer, layer.kernel))
                if self.include_bias and getattr(layer, "bias", None) is not None:
                    found.append((layer, layer.bias))
        return found

    def flat_weights(self):
        """The shared weights as one flat tensor."""
        return ops.concatenate([ops.reshape(v, (-1,)) for _, v in self.shared_variables()])

    def complexity_loss(self):
        """``tau / num_examples * Omega(w)``, the term added to the training loss."""
        weights = self.flat_weights()
        if not self.pull_weights:
            weights = ops.stop_gradient(weights)
        return (self.tau / self.num_examples) * self.prior(weights)

    def call(self, inputs, training=None):
        self.add_loss(self.complexity_loss())
        return self.model(inputs, training=training)

    def compile(self, *args, **kwargs):
        """``keras.Model.compile``, then the prior's variables get ``prior_lr_multiplier``."""
        super().compile(*args, **kwargs)
        by_name = {v.name: v.path for v in self.prior.trainable_variables}
        set_learning_rate_multipliers(
            self.optimizer,
            {by_name[name]: value for name, value in self.prior_lr_multiplier.items() if name in by_name},
        )

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self):
        return {
            **super().get_config(),
            "model": keras.saving.serialize_keras_object(self.model),
            "prior": keras.saving.serialize_keras_object(self.prior),
            "shared_layers": list(self.shared_layers),
            "include_bias": self.include_bias,
            "tau": self.tau,
            "num_examples": self.num_examples,
            "prior_lr_multiplier": dict(self.prior_lr_multiplier),
            "pull_weights": self.pull_weights,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        config["prior"] = keras.saving.deserialize_keras_object(config["prior"])
        return cls(**config)


def apply_soft_weight_sharing(
    model: keras.Model,
    *,
    components: int = 17,
    tau: float = 5e-3,
    num_examples: int = 1,
    layers: Sequence[str] | Callable[[keras.layers.Layer], bool] | None = None,
    include_bias: bool = True,
    prior_lr_multiplier: float | dict[str, float] = 1.0,
    pull_weights: bool = True,
    **prior_options,
) -> SoftWeightSharingModel:
    """Wraps ``model`` so that training it also fits a soft weight-sharing prior to its weights.

    Args:
        model: a built Keras model (any zoo model); its variables are shared, not copied.
        components: number of mixture components, the zero component included.
        tau: prior weight against the data set's log-likelihood (Ullrich et al.: 5e-3).
        num_examples: training-set size N; the loss gains ``tau / N * Omega(w)``.
        layers: layer names, a predicate on layers, or None for every layer with a kernel.
        include_bias: the biases of those layers get the prior too.
        prior_lr_multiplier: the prior's learning rate relative to the weights' (a number, or
            one per prior variable: ``{"means": 0.2, "log_var": 6, "mixing_logits": 6}``).
        pull_weights: False only fits the mixture to the weights (a baseline without the prior's pull).
        **prior_options: :class:`SoftWeightSharing` arguments (``zero_mixing``,
            ``gamma_prior``, ``init_std``, ...). ``init_range`` defaults to the
            range of the current weights, so the means start where the weights are.

    Returns:
        A :class:`SoftWeightSharingModel`; compile and fit it like ``model``.

    Example:
        >>> import zoo
        >>> wrapped = apply_soft_weight_sharing(zoo.create("lenet_300_100"), components=5, num_examples=60000)
        >>> wrapped.shared_layers
        ['dense1', 'dense2', 'predictions']
    """
    if not model.built:
        raise ValueError(f"{model.name} is not built yet; build it (or call it on data) before adding the prior.")
    names = _select_layers(model, layers)
    if "init_range" not in prior_options:
        chosen = [layer.kernel for layer in shareable_layers(model) if layer.name in names]
        values = np.concatenate([np.ravel(keras.ops.convert_to_numpy(v)) for v in chosen])
        low, high = float(values.min()), float(values.max())
        prior_options["init_range"] = (low, high) if high > low else (-1.0, 1.0)
    prior = SoftWeightSharing(components, name="soft_weight_sharing", **prior_options)
    return SoftWeightSharingModel(
        model,
        prior,
        names,
        include_bias=include_bias,
        tau=tau,
        num_examples=num_examples,
        prior_lr_multiplier=prior_lr_multiplier,
        pull_weights=pull_weights,
        name=f"{model.name}_sws",
    )
