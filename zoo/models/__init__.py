"""Model families. Importing this package registers every variant."""

from zoo.models import diffusion, gan, gcn, lenet, linear, mlp, resnet, rnn, vae, vit  # noqa: F401
from zoo.models.base import GenerativeModel, ZooModel
from zoo.models.diffusion import Diffusion
from zoo.models.gan import GAN
from zoo.models.gcn import GCN
from zoo.models.lenet import LeNet
from zoo.models.linear import LinearClassifier, LinearRegression
from zoo.models.mlp import MLP
from zoo.models.resnet import ResNet
from zoo.models.rnn import CharRNN
from zoo.models.vae import VAE
from zoo.models.vit import ViT

__all__ = [
    "CharRNN",
    "Diffusion",
    "GAN",
    "GCN",
    "GenerativeModel",
    "LeNet",
    "LinearClassifier",
    "LinearRegression",
    "MLP",
    "ResNet",
    "VAE",
    "ViT",
    "ZooModel",
]
