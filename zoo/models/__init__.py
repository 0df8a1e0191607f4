"""Model families. Importing this package registers every variant."""

from zoo.models import gcn, lenet, linear, mlp, resnet, rnn  # noqa: F401
from zoo.models.base import ZooModel
from zoo.models.gcn import GCN
from zoo.models.lenet import LeNet
from zoo.models.linear import LinearClassifier, LinearRegression
from zoo.models.mlp import MLP
from zoo.models.resnet import ResNet
from zoo.models.rnn import CharRNN

__all__ = ["CharRNN", "GCN", "LeNet", "LinearClassifier", "LinearRegression", "MLP", "ResNet", "ZooModel"]
