"""Regularizers with state: the soft weight-sharing mixture prior and the compression it enables."""

from zoo.regularizers.apply import SoftWeightSharingModel, apply_soft_weight_sharing
from zoo.regularizers.compression import Mixture, merge_components, quantize, quantize_model, sparse_size
from zoo.regularizers.learning_rates import set_learning_rate_multipliers
from zoo.regularizers.soft_weight_sharing import SoftWeightSharing, gamma_prior_for_std

__all__ = [
    "Mixture",
    "SoftWeightSharing",
    "SoftWeightSharingModel",
    "apply_soft_weight_sharing",
    "gamma_prior_for_std",
    "merge_components",
    "quantize",
    "quantize_model",
    "set_learning_rate_multipliers",
    "sparse_size",
]
