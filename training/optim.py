"""Optimizers and learning-rate schedules by name."""

from __future__ import annotations

import math

import keras
from keras import ops

from zoo.training.config import OPTIMIZERS, SCHEDULES  # noqa: F401  (re-exported)

NO_DECAY = ["bias", "gamma", "beta", "mean", "variance"]
#: Default warm-up, as a fraction of the run: ``warmup_cosine`` (5%) and ``one_cycle`` (30%, Smith's pct_start).
WARMUP_FRACTION = {"warmup_cosine": 0.05, "one_cycle": 0.3}


@keras.saving.register_keras_serializable(package="kzoo")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith & Topin's one-cycle learning rate (2019): linear from ``peak / div`` up to ``peak`` over
    ``warmup_steps``, then cosine down to ``peak / (div * final_div)`` at ``total_steps``.

    Example:
        >>> s = OneCycle(0.4, total_steps=100, warmup_steps=30)
        >>> [round(float(s(t)), 4) for t in (0, 30, 65, 100)]
        [0.016, 0.4, 0.2, 0.0]
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int, div: float = 25.0, final_div: float = 1e4):
        self.peak, self.total_steps, self.warmup_steps = float(peak), int(total_steps), int(warmup_steps)
        self.div, self.final_div = float(div), float(final_div)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        start, end = self.peak / self.div, self.peak / (self.div * self.final_div)
        up = start + (self.peak - start) * step / max(1, self.warmup_steps)
        progress = ops.clip((step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps), 0.0, 1.0)
        down = end + 0.5 * (self.peak - end) * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, up, down)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "div": self.div,
            "final_div": self.final_div,
        }


def make_schedule(
    name: str,
    lr: float,
    total_steps: int,
    *,
    steps_per_epoch: int | None = None,
    inverse_time_decay: float = 1.0,
    warmup_steps: int | None = None,
):
    """A learning-rate schedule by name.

    ``cosine`` (to 0 over the run), ``warmup_cosine`` (linear from 0 to ``lr`` over ``warmup_steps``,
    default 5% of the run, then cosine to 0), ``one_cycle`` (:class:`OneCycle`, warm-up default 30%),
    ``constant``, ``step`` (x0.1 at 50% and 75%, as He et al. 2016), or ``inverse_time``:
    ``lr / (1 + inverse_time_decay * epoch)``, with the fractional epoch of every step.

    Example:
        >>> round(float(make_schedule("inverse_time", 0.1, 50, steps_per_epoch=10)(20)), 4)
        0.0333
        >>> [round(float(make_schedule("warmup_cosine", 0.1, 100, warmup_steps=10)(t)), 3) for t in (5, 10, 100)]
        [0.05, 0.1, 0.0]
    """
    if lr <= 0:
        raise ValueError(f"lr must be positive. Received: lr={lr}")
    if name in WARMUP_FRACTION:  # the other schedules have no warm-up
        if warmup_steps is None:
            warmup_steps = int(round(WARMUP_FRACTION[name] * total_steps))
        if not 0 <= warmup_steps < max(1, total_steps):
            raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}). Received: {warmup_steps}")
    if name == "constant":
        return lr
    if name == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, total_steps))
    if name == "warmup_cosine":
        if not warmup_steps:
            return keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, total_steps))
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(1, total_steps - warmup_steps), warmup_target=lr, warmup_steps=warmup_steps
        )
    if name == "one_cycle":
        return OneCycle(lr, total_steps=max(1, total_steps), warmup_steps=warmup_steps)
    if name == "step":
        bounds = [max(1, total_steps // 2), max(2, (3 * total_steps) // 4)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, [lr, lr * 0.1, lr * 0.01])
    if name == "inverse_time":
        if not steps_per_epoch or steps_per_epoch < 1 or inverse_time_decay <= 0:
            raise ValueError(
                f"inverse_time needs steps_per_epoch >= 1 and inverse_time_decay > 0. Received: "
                f"steps_per_epoch={steps_per_epoch}, inverse_time_decay={inverse_time_decay}"
            )
        return keras.optimizers.schedules.InverseTimeDecay(
            lr, decay_steps=steps_per_epoch, decay_rate=inverse_time_decay
        )
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
