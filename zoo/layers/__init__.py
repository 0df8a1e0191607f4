"""Custom layers shared by the model families; each is Keras-serializable (package ``kzoo``)."""

from zoo.layers.activations import gelu
from zoo.layers.conv import ConvNormAct
from zoo.layers.heads import BinaryLogits, binary_head, classification_head
from zoo.layers.normalization import FastLayerNormalization, FusedBatchNormalization
from zoo.layers.residual import BasicBlock, BottleneckBlock, PadShortcut

__all__ = [
    "BasicBlock",
    "BinaryLogits",
    "binary_head",
    "BottleneckBlock",
    "ConvNormAct",
    "FastLayerNormalization",
    "FusedBatchNormalization",
    "PadShortcut",
    "classification_head",
    "gelu",
]
