"""Keras 3 under MultiWorkerMirroredStrategy: the fix for keras-team/keras#20585.

Measured here (TF 2.21, Keras 3.15.1, two workers on 127.0.0.1): ``model.fit``
fails on every worker within a second, whatever the dataset or shard policy,
because of two calls in ``keras/src/backend/tensorflow/trainer.py`` that only run
in multi-worker mode (one worker, or MirroredStrategy, never reach them):

1. ``TensorFlowTrainer._maybe_symbolic_build`` peeks at one batch and calls
   ``strategy.reduce("MEAN", batch, axis=None)`` on the whole (x, y) nest, which
   ``tf.distribute`` does not accept: ``ValueError: Attempt to convert a value
   (PerReplica:{...}) with an unsupported type``. Only the batch's shapes and dtypes
   are needed there, so the fix hands it each value's first local replica.
2. ``reduce_per_replica`` then reduces the scalar loss and metrics with
   ``axis=0``: ``Invalid reduction dimension 0 for input with 0 dimensions``.
   The fix reduces scalars across replicas only (``axis=None``).

With both, two workers train in lockstep and end with the weights of a
one-process run on the same global batch (tests/training/test_distribute.py).
Still unsupported: ``steps_per_execution > 1`` in multi-worker mode. Upstream's
maintainers call the combination unsupported (no fix planned as of Keras 3.15),
so the patch is applied only in multi-worker mode and only to the Keras versions
checked here; others get a warning and Keras' own code.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

CHECKED_KERAS = ("3.15.",)
_applied = False


def apply() -> bool:
    """Patches Keras' TensorFlow trainer once; returns whether the patch is active."""
    global _applied
    if _applied:
        return True
    import keras

    if not keras.__version__.startswith(CHECKED_KERAS):
        logger.warning(
            "Keras %s is not among the versions whose multi-worker fix was checked (%s); using Keras' "
            "own code, which failed under MultiWorkerMirroredStrategy in 3.15 (keras-team/keras#20585).",
            keras.__version__,
            ", ".join(CHECKED_KERAS),
        )
        return False
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    original_build, original_reduce = trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica
    multi_worker = trainer._collective_all_reduce_multi_worker

    def first_local(strategy, value):
        return (
            strategy.experimental_local_results(value)[0]
            if isinstance(value, tf.distribute.DistributedValues)
            else value
        )

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self.distribute_strategy
        if (
            iterator is not None
            and data_batch is None
            and self._distribute_strategy is not None
            and multi_worker(strategy)
        ):
            for _, _, batches in iterator:
                data_batch = tree.map_structure(lambda v: first_local(strategy, v), next(batches))
                break
            iterator = None
        return original_build(self, iterator=iterator, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and multi_worker(strategy):

            def reduce(value):
                scalar = first_local(strategy, value).shape.rank == 0
                return strategy.reduce("MEAN", value, axis=None if scalar else 0)

            return tree.map_structure(reduce, values)
        return original_reduce(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_per_replica  # looked up when the train function is traced
    _applied = True
    logger.info("Applied the Keras multi-worker fix (keras-team/keras#20585)")
    return True
