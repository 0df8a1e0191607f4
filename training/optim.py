"""Optimizers and learning-rate schedules by name."""

from __future__ import annotations

import keras

OPTIMIZERS = ("sgd", "gd", "momentum", "adam", "adamw", "rmsprop")
SCHEDULES = ("cosine", "constant", "step", "inverse_time")
NO_DECAY = ["bias", "gamma", "beta", "mean", "variance"]


def make_schedule(name: str, lr: float, total_steps: int, *, steps_per_epoch: int | None = None,
                  inverse_time_decay: float = 1.0):
    """``cosine`` (to 0 over the run), ``constant``, ``step`` (x0.1 at 50% and 75%, as He et al. 2016),
    or ``inverse_time``: ``lr / (1 + inverse_time_decay * epoch)``, with the fractional epoch of every step.

    Example:
        >>> round(float(make_schedule("inverse_time", 0.1, 50, steps_per_epoch=10)(20)), 4)
        0.0333
    """
    if lr <= 0:
        raise ValueError(f"lr must be positive. Received: lr={lr}")
    if name == "constant":
        return lr
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, total_steps))
    if name == "step":
        bounds = [max(1, total_steps // 2), max(2, (3 * total_steps) // 4)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, [lr, lr * 0.1, lr * 0.01])
    if name == "inverse_time":
        if not steps_per_epoch or steps_per_epoch < 1 or inverse_time_decay <= 0:
            raise ValueError(f"inverse_time needs steps_per_epoch >= 1 and inverse_time_decay > 0. Received: "
                             f"steps_per_epoch={steps_per_epoch}, inverse_time_decay={inverse_time_decay}")
        return keras.optimizers.schedules.InverseTimeDecay(lr, decay_steps=steps_per_epoch,
                                                           decay_rate=inverse_time_decay)
    raise ValueError(f"Unknown schedule {name!r}; expected one of {SCHEDULES}.")


def make_optimizer(name: str, learning_rate, weight_decay: float = 0.0) -> keras.optimizers.Optimizer:
    """Builds an optimizer; ``weight_decay`` skips biases and normalisation parameters.

    ``sgd`` uses Nesterov momentum 0.9, ``momentum`` classical momentum 0.9, and
    ``gd`` is plain gradient descent (w -= lr * grad: with batch size 1 and the
    perceptron criterion, Rosenblatt's rule). Keras applies weight decay decoupled
    (``w -= lr * wd * w``), which for SGD matches an L2 penalty of ``wd / 2``.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0. Received: weight_decay={weight_decay}")
    wd = weight_decay or None
    if name == "sgd":
        opt = keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, weight_decay=wd)
    elif name == "momentum":
        opt = keras.optimizers.SGD(learning_rate, momentum=0.9, weight_decay=wd)
    elif name == "gd":
        opt = keras.optimizers.SGD(learning_rate, weight_decay=wd)
    elif name == "adam":
        opt = keras.optimizers.Adam(learning_rate, weight_decay=wd)
    elif name == "adamw":
        opt = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay or 0.004)
    elif name == "rmsprop":
        opt = keras.optimizers.RMSprop(learning_rate, weight_decay=wd)
    else:
        raise ValueError(f"Unknown optimizer {name!r}; expected one of {OPTIMIZERS}.")
    if opt.weight_decay:
        opt.exclude_from_weight_decay(var_names=NO_DECAY)
    return opt
