"""Training, fine-tuning and evaluation for zoo models.

``train`` and ``evaluate`` pick the trainer of the model's task
(``zoo.training.dispatch``). The tf.data trainers need TensorFlow; imports are
lazy so backend-agnostic helpers (``zoo.training.optim``, ``zoo.training.run_dir``) also
work under ``KERAS_BACKEND=jax`` on machines without TensorFlow.
"""

_EXPORTS = {"TrainConfig", "TrainResult", "evaluate", "evaluate_model", "train"}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in ("train", "evaluate"):
        from zoo.training import dispatch

        return getattr(dispatch, name)
    if name == "TrainConfig":
        from zoo.training.config import TrainConfig

        return TrainConfig
    if name == "TrainResult":
        from zoo.training.engine import TrainResult

        return TrainResult
    if name in _EXPORTS:
        from zoo.training import classification

        return getattr(classification, name)
    raise AttributeError(f"module 'zoo.training' has no attribute {name!r}")
