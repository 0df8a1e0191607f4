"""Per-channel statistics of the data sets, the fixed standardisation inside the models.

Measured on the training split of pixels scaled to [0, 1]. The data sets' specs
(:mod:`zoo.data.datasets`) and every model's default ``input_mean`` / ``input_std``
take them from here. Single-channel data sets give plain floats, colour ones one value
per channel (R, G, B).

Example:
    >>> from zoo.data.stats import CIFAR10_MEAN, MNIST_MEAN
    >>> MNIST_MEAN, len(CIFAR10_MEAN)
    (0.1307, 3)
"""

from __future__ import annotations

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
#: ImageNet (ILSVRC-2012), the statistics torchvision and timm models are trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
