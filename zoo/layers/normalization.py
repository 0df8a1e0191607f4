"""Normalisation layers with faster TensorFlow paths: fused batch normalisation, layer normalisation
with a hand-written gradient.

Keras 3's ``BatchNormalization`` computes the moments and the normalisation from separate ops,
upcast to float32. On the TensorFlow backend that costs most of a small CNN's training step on a
CPU (ResNet-20 on this project's 2-core machine: 346 examples/s, 939 with the normalisation
removed; see ``bench/reports/cpu-training.md``). TensorFlow's ``FusedBatchNormV3`` does the same
arithmetic in one kernel (oneDNN on CPUs, cuDNN on GPUs) and takes bfloat16/float16 inputs with
float32 statistics, so mixed precision needs no casts.

``FusedBatchNormalization`` is a drop-in subclass: same arguments, same variables in the same order (checkpoints and
presets load either way), same moving-average rule (Keras' biased batch variance, not the
kernel's Bessel-corrected one). It falls back to Keras' path for what the kernel does not cover
(other backends, masks, synchronised or renormalised statistics, inputs other than 4-D
channels-last, float64).

Both layers keep Keras' variables, so weights load either way inside a block, where the weight file
names them by attribute (``ConvNormAct.bn``, ``TransformerBlock.norm1``). A functional model's own
layer list is named by class in Keras' ``.weights.h5`` files, so swapping a top-level Keras layer for
one of these would orphan existing weight files: ViT/CCT keep Keras' class for their final norm.
"""

from __future__ import annotations

import functools

import keras

FUSED_DTYPES = ("float32", "bfloat16", "float16")


@keras.saving.register_keras_serializable(package="kzoo")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with TensorFlow's fused kernel on 4-D channels-last inputs.

    Takes exactly ``keras.layers.BatchNormalization``'s arguments.

    Example:
        >>> import numpy as np
        >>> bn = FusedBatchNormalization()
        >>> x = np.random.default_rng(0).normal(3.0, 2.0, (8, 4, 4, 2)).astype("float32")
        >>> y = keras.ops.convert_to_numpy(bn(x, training=True))
        >>> bool(abs(y.mean()) < 1e-5 and abs(y.std() - 1.0) < 1e-3)
        True
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: False takes Keras' own path (for side-by-side measurements); set before the first call, not saved.
        self.use_fused_kernel = True

    def fused(self, inputs, mask=None) -> bool:
        """Whether ``call`` can use the fused kernel for these inputs."""
        return (
            self.use_fused_kernel
            and keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.synchronized
            and not self.renorm
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and keras.backend.standardize_dtype(inputs.dtype) in FUSED_DTYPES
        )

    def call(self, inputs, training=None, mask=None):
        if not self.fused(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        scale = self.gamma if self.scale else tf.ones([channels], "float32")
        offset = self.beta if self.center else tf.zeros([channels], "float32")
        training = bool(training and self.trainable)
        # training: the kernel computes the batch statistics (empty inputs); inference: it uses the moving ones
        outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs,
            scale=scale,
            offset=offset,
            mean=tf.zeros([0], "float32") if training else self.moving_mean,
            variance=tf.zeros([0], "float32") if training else self.moving_variance,
            epsilon=self.epsilon,
            data_format="NHWC",
            is_training=training,
        )
        if training:
            # The kernel returns the unbiased (n - 1) batch variance; Keras' moving average uses the
            # biased one.
            count = tf.cast(tf.size(inputs) // channels, "float32")
            variance = variance * tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.cast(outputs, self.compute_dtype)


@functools.lru_cache(maxsize=None)
def _layer_norm_last_axis(epsilon: float):
    """Layer normalisation over the last axis, statistics in float32, with a hand-written gradient."""
    import tensorflow as tf

    @tf.custom_gradient
    def layer_norm(x, gamma, beta):
        x32 = tf.cast(x, "float32")
        mean, variance = tf.nn.moments(x32, axes=[-1], keepdims=True)
        inv = tf.math.rsqrt(variance + epsilon)
        normalised = (x32 - mean) * inv

        def grad(upstream):
            upstream = tf.cast(upstream, "float32")
            batch_axes = list(range(len(upstream.shape) - 1))
            scaled = upstream * gamma
            dx = inv * (
                scaled
                - tf.reduce_mean(scaled, -1, keepdims=True)
                - normalised * tf.reduce_mean(scaled * normalised, -1, keepdims=True)
            )
            return (
                tf.cast(dx, x.dtype),
                tf.reduce_sum(upstream * normalised, batch_axes),
                tf.reduce_sum(upstream, batch_axes),
            )

        return tf.cast(normalised * gamma + beta, x.dtype), grad

    return layer_norm


@keras.saving.register_keras_serializable(package="kzoo")
class FastLayerNormalization(keras.layers.LayerNormalization):
    """``keras.layers.LayerNormalization`` with a hand-written gradient on TensorFlow (last axis).

    Keras' layer leaves the backward pass to automatic differentiation of its moments and
    normalisation, a long chain of small ops; this one computes the same forward pass (float32
    statistics) and the closed-form gradient in a few. Same arguments and variables; Keras' path
    on other backends, for other axes, without ``center``/``scale``, or with ``rms_scaling``.

    Example:
        >>> import numpy as np
        >>> norm = FastLayerNormalization()
        >>> y = keras.ops.convert_to_numpy(norm(np.arange(12.0, dtype="float32").reshape(3, 4)))
        >>> bool(np.allclose(y.mean(-1), 0.0, atol=1e-6) and np.allclose(y.std(-1), 1.0, atol=1e-3))
        True
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: False takes Keras' own path (for side-by-side measurements); set before the first call, not saved.
        self.use_fast_path = True

    def fast(self, inputs) -> bool:
        """Whether ``call`` can use the hand-written gradient for these inputs."""
        rank = len(inputs.shape)
        axes = self.axis if isinstance(self.axis, (list, tuple)) else [self.axis]  # a list once built
        return (
            self.use_fast_path
            and keras.backend.backend() == "tensorflow"
            and self.scale
            and self.center
            and not self.rms_scaling
            and [a % rank for a in axes] == [rank - 1]
            and keras.backend.standardize_dtype(inputs.dtype) in FUSED_DTYPES
        )

    def call(self, inputs):
        if not self.fast(inputs):
            return super().call(inputs)
        import tensorflow as tf

        # read the variables outside the custom gradient: it differentiates through its tensor arguments
        gamma, beta = tf.convert_to_tensor(self.gamma.value), tf.convert_to_tensor(self.beta.value)
        outputs = _layer_norm_last_axis(float(self.epsilon))(inputs, gamma, beta)
        return keras.ops.cast(outputs, self.compute_dtype)
