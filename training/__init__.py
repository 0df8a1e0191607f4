"""Training, fine-tuning and evaluation for zoo models (TensorFlow backend for tf.data pipelines)."""

from training.classification import TrainConfig, TrainResult, evaluate, evaluate_model, train

__all__ = ["TrainConfig", "TrainResult", "evaluate", "evaluate_model", "train"]
