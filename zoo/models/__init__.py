"""Model families. Importing this package registers every variant."""

from zoo.models import lenet, mlp, resnet  # noqa: F401
from zoo.models.base import ZooModel
from zoo.models.lenet import LeNet
from zoo.models.mlp import MLP
from zoo.models.resnet import ResNet

__all__ = ["LeNet", "MLP", "ResNet", "ZooModel"]
