"""Regularizers with state: the soft weight-sharing mixture prior."""

from zoo.regularizers.soft_weight_sharing import SoftWeightSharing

__all__ = ["SoftWeightSharing"]
