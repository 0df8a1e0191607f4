"""Custom layers shared by the model families; each is Keras-serializable (package ``kzoo``)."""

from zoo.layers.conv import ConvNormAct
from zoo.layers.heads import classification_head
from zoo.layers.residual import BasicBlock, BottleneckBlock, PadShortcut

__all__ = ["BasicBlock", "BottleneckBlock", "ConvNormAct", "PadShortcut", "classification_head"]
