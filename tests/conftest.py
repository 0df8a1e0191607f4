"""Shared fixtures: tiny slices of the real data sets from KZOO_DATA_DIR (no network, no random stand-ins)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if "KZOO_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["KZOO_DATA_DIR"] = str(SHARED_DATA)
os.environ.setdefault("KZOO_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session")
def mnist_test():
    from zoo import data

    return data.load("mnist", "test")


@pytest.fixture(scope="session")
def cifar10_test():
    from zoo import data

    return data.load("cifar10", "test")


@pytest.fixture(scope="session")
def real_images(mnist_test, cifar10_test):
    """Returns ``images(shape, n)``: n real images in [0, 1] resized to (h, w, c)."""
    import tensorflow as tf

    def images(shape, n=2):
        height, width, channels = shape
        source = mnist_test[1] if channels == 1 else cifar10_test[1]
        picked = source.images[:: len(source) // n][:n].astype("float32") / 255.0
        if picked.shape[1:3] != (height, width):
            picked = tf.image.resize(picked, (height, width)).numpy()
        return np.clip(picked, 0.0, 1.0)

    return images
