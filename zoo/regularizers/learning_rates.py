"""Per-variable learning-rate multipliers for any Keras 3 optimizer.

Keras optimizers use one learning rate for every variable. The soft
weight-sharing prior needs its own (Ullrich et al. 2017 train the mixture
faster or slower than the weights), so :func:`set_learning_rate_multipliers`
scales the learning rate that the optimizer hands to ``update_step`` for the
variables named by path. It works for every optimizer that implements
``update_step`` (all of Keras' own) on the TensorFlow and JAX backends, inside
``tf.distribute`` strategies too; the optimizer's config is unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

_ATTR = "_kzoo_lr_multipliers"


def set_learning_rate_multipliers(optimizer, multipliers: Mapping[str, float]):
    """Makes ``optimizer`` update the variables with these paths at ``multiplier * learning_rate``.

    Args:
        optimizer: a ``keras.optimizers.Optimizer``.
        multipliers: ``{variable.path: multiplier}``; other variables keep the
            plain learning rate. Calling again adds to (or replaces) entries.

    Returns:
        The same optimizer.

    Raises:
        ValueError: a negative multiplier.

    Example:
        >>> import keras
        >>> opt = set_learning_rate_multipliers(keras.optimizers.Adam(1e-3), {"prior/means": 0.2})
        >>> learning_rate_multipliers(opt)
        {'prior/means': 0.2}
    """
    for path, value in multipliers.items():
        if value < 0:
            raise ValueError(f"Learning-rate multipliers must be >= 0. Received: {path}={value}")
    if getattr(optimizer, _ATTR, None) is None:
        plain_update_step = optimizer.update_step

        def update_step(gradient, variable, learning_rate):
            index = optimizer._get_variable_index(variable)
            multiplier = getattr(optimizer, _ATTR).get(optimizer._trainable_variables[index].path, 1.0)
            if multiplier != 1.0:
                learning_rate = learning_rate * multiplier
            return plain_update_step(gradient, variable, learning_rate)

        optimizer.update_step = update_step
    # Keras objects copy dicts assigned to their attributes (tracking), so assign the merged dict.
    setattr(
        optimizer, _ATTR, {**(getattr(optimizer, _ATTR, None) or {}), **{p: float(v) for p, v in multipliers.items()}}
    )
    return optimizer


def learning_rate_multipliers(optimizer) -> dict[str, float]:
    """The multipliers set on ``optimizer`` (empty when none)."""
    return dict(getattr(optimizer, _ATTR, {}))
