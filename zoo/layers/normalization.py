"""Batch normalisation that runs TensorFlow's fused kernel where it can.

Keras 3's ``BatchNormalization`` computes the moments and the normalisation from separate ops,
upcast to float32. On the TensorFlow backend that costs most of a small CNN's training step on a
CPU (ResNet-20 on this project's 2-core machine: 346 examples/s, 939 with the normalisation
removed; see ``bench/reports/cpu-training.md``). TensorFlow's ``FusedBatchNormV3`` does the same
arithmetic in one kernel (oneDNN on CPUs, cuDNN on GPUs) and takes bfloat16/float16 inputs with
float32 statistics, so mixed precision needs no casts.

The layer is a drop-in subclass: same arguments, same variables in the same order (checkpoints and
presets load either way), same moving-average rule (Keras' biased batch variance, not the
kernel's Bessel-corrected one). It falls back to Keras' path for what the kernel does not cover
(other backends, masks, synchronised or renormalised statistics, inputs other than 4-D
channels-last, float64).
"""

from __future__ import annotations

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
        if training and self.trainable:
            outputs, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
                x=inputs,
                scale=scale,
                offset=offset,
                mean=tf.zeros([0], "float32"),
                variance=tf.zeros([0], "float32"),
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=True,
            )
            # The kernel returns the unbiased (n - 1) batch variance; Keras' moving average uses the
            # biased one.
            count = tf.cast(tf.size(inputs) // channels, "float32")
            variance = variance * tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            outputs, *_ = tf.raw_ops.FusedBatchNormV3(
                x=inputs,
                scale=scale,
                offset=offset,
                mean=self.moving_mean,
                variance=self.moving_variance,
                epsilon=self.epsilon,
                data_format="NHWC",
                is_training=False,
            )
        return tf.cast(outputs, self.compute_dtype)
