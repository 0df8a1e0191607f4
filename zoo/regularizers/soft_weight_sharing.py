"""Soft weight sharing: a learnable Gaussian-mixture prior over weights.

Nowlan & Hinton (1992); Bishop, PRML section 5.5.7; used for compression by
Ullrich, Meeds & Welling (2017). The prior is
``p(w) = prod_i sum_j pi_j N(w_i | mu_j, sigma_j^2)`` and the regularizer is its
negative log, ``Omega(w) = -sum_i log sum_j pi_j N(w_i | mu_j, sigma_j^2)``,
computed with a log-sum-exp so it stays finite for any weights. Means,
log-variances and mixing logits are variables of this layer, so they train with
the model (any optimizer), serialize with it and follow ``tf.distribute``.
"""

from __future__ import annotations

import math

import keras
from keras import ops

_LOG_2PI = math.log(2.0 * math.pi)


def gamma_prior_for_std(std: float, shape: float = 250.0) -> tuple[float, float]:
    """``(shape, rate)`` of a Gamma hyperprior on a precision whose mode, ``(shape - 1) / rate``, is ``1 / std**2``.

    Ullrich et al.'s Gamma(250, 0.1) holds each component near a standard deviation of 0.02.

    Example:
        >>> a, b = gamma_prior_for_std(0.02)
        >>> a, round(b, 4)
        (250.0, 0.0996)
    """
    if std <= 0 or shape <= 1:
        raise ValueError(f"gamma_prior_for_std needs std > 0 and shape > 1. Received: std={std}, shape={shape}")
    return float(shape), (shape - 1.0) * std * std


@keras.saving.register_keras_serializable(package="kzoo")
class SoftWeightSharing(keras.layers.Layer):
    """A J-component Gaussian mixture prior; ``layer(weights)`` returns its negative log.

    Parameterisation: ``sigma_j^2 = exp(log_var_j)`` (always positive) and
    ``pi = softmax(mixing_logits)`` (always on the simplex).

    Args:
        components: int. Number of mixture components J, the zero component included.
        zero_component: bool. Component 0 has a mean fixed at exactly 0 (pruning).
            Defaults to True.
        zero_mixing: float or None. Fixes the zero component's mixing weight pi_0
            (e.g. 0.99); None learns it with the others. Defaults to None.
        init_range: (low, high). The learnable means start evenly spaced over it.
        init_std: float. Initial standard deviation of every component.
        gamma_prior: (a, b) or None. Gamma(a, b) hyperprior on each precision
            1/sigma_j^2, which keeps components from collapsing. Defaults to None.
        beta_prior: (alpha, beta) or None. Beta hyperprior on a learned pi_0. Defaults to None.

    Example:
        >>> prior = SoftWeightSharing(components=3, init_range=(-0.5, 0.5), init_std=0.1)
        >>> float(prior(ops.zeros((4,)))) < float(prior(ops.ones((4,))))
        True
    """

    def __init__(
        self,
        components: int = 16,
        *,
        zero_component: bool = True,
        zero_mixing: float | None = None,
        init_range: tuple[float, float] = (-0.6, 0.6),
        init_std: float = 0.05,
        gamma_prior: tuple[float, float] | None = None,
        beta_prior: tuple[float, float] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(components, int) or components < (2 if zero_component else 1):
            raise ValueError(
                f"SoftWeightSharing needs at least {2 if zero_component else 1} components. "
                f"Received: components={components!r}"
            )
        if zero_mixing is not None and not (0.0 < zero_mixing < 1.0):
            raise ValueError(f"zero_mixing must be in (0, 1). Received: zero_mixing={zero_mixing!r}")
        if zero_mixing is not None and not zero_component:
            raise ValueError("zero_mixing needs zero_component=True.")
        if init_std <= 0 or init_range[0] >= init_range[1]:
            raise ValueError(f"init_std must be positive and init_range increasing. Received: {init_std}, {init_range}")
        for name, pair in (("gamma_prior", gamma_prior), ("beta_prior", beta_prior)):
            if pair is not None and (len(pair) != 2 or min(pair) <= 0):
                raise ValueError(f"{name} takes two positive numbers. Received: {name}={pair!r}")
        self.components, self.zero_component, self.zero_mixing = components, zero_component, zero_mixing
        self.init_range, self.init_std = tuple(init_range), float(init_std)
        self.gamma_prior = tuple(gamma_prior) if gamma_prior else None
        self.beta_prior = tuple(beta_prior) if beta_prior else None
        learned_means = components - 1 if zero_component else components
        low, high = self.init_range
        step = (high - low) / max(learned_means - 1, 1)
        start = [low + i * step for i in range(learned_means)]
        self.means = self.add_weight(
            shape=(learned_means,), name="means", initializer=keras.initializers.Constant(start)
        )
        self.log_var = self.add_weight(
            shape=(components,), name="log_var", initializer=keras.initializers.Constant(2.0 * math.log(init_std))
        )
        learned_logits = components - 1 if zero_mixing is not None else components
        self.mixing_logits = self.add_weight(shape=(learned_logits,), name="mixing_logits", initializer="zeros")

    # --- the mixture -------------------------------------------------------
    def all_means(self):
        """(J,) component means, the fixed zero first when there is one."""
        if self.zero_component:
            return ops.concatenate([ops.zeros((1,), self.means.dtype), self.means])
        return ops.convert_to_tensor(self.means)

    def log_mixing(self):
        """(J,) log pi_j."""
        if self.zero_mixing is None:
            return ops.log_softmax(self.mixing_logits)
        rest = math.log1p(-self.zero_mixing) + ops.log_softmax(self.mixing_logits)
        return ops.concatenate([ops.full((1,), math.log(self.zero_mixing), rest.dtype), rest])

    def log_joint(self, weights):
        """(N, J) log pi_j + log N(w_i | mu_j, sigma_j^2) for flat weights (N,)."""
        w = ops.reshape(ops.cast(weights, self.log_var.dtype), (-1, 1))
        diff = w - self.all_means()[None, :]
        log_normal = -0.5 * (_LOG_2PI + self.log_var + ops.square(diff) * ops.exp(-self.log_var))
        return self.log_mixing()[None, :] + log_normal

    def responsibilities(self, weights):
        """(N, J) gamma_j(w_i): the posterior probability of each component for each weight."""
        return ops.softmax(self.log_joint(weights), axis=-1)

    def hyperprior(self):
        """Negative log of the Gamma / Beta hyperpriors (0 when none are set)."""
        total = ops.zeros((), self.log_var.dtype)
        if self.gamma_prior is not None:  # Gamma(a, b) on the precision exp(-log_var)
            a, b = self.gamma_prior
            total = total + ops.sum((a - 1.0) * self.log_var + b * ops.exp(-self.log_var))
        if self.beta_prior is not None and self.zero_component and self.zero_mixing is None:
            alpha, beta = self.beta_prior
            log_pi = self.log_mixing()
            log_pi0, log_rest = log_pi[0], ops.log(-ops.expm1(log_pi[0]))
            total = total - ((alpha - 1.0) * log_pi0 + (beta - 1.0) * log_rest)
        return total

    def call(self, weights):
        """Omega(w) = -sum_i log sum_j pi_j N(w_i | mu_j, sigma_j^2), plus the hyperpriors."""
        return -ops.sum(ops.logsumexp(self.log_joint(weights), axis=-1)) + self.hyperprior()

    def compute_output_shape(self, input_shape):
        return ()

    def get_config(self):
        return {
            **super().get_config(),
            "components": self.components,
            "zero_component": self.zero_component,
            "zero_mixing": self.zero_mixing,
            "init_range": list(self.init_range),
            "init_std": self.init_std,
            "gamma_prior": list(self.gamma_prior) if self.gamma_prior else None,
            "beta_prior": list(self.beta_prior) if self.beta_prior else None,
        }
