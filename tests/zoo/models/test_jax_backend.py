"""Model code is backend-agnostic: every family (images, tabular, text, generative) builds and runs under
KERAS_BACKEND=jax without TensorFlow (one variant of each family and task: they share one class)."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys
import numpy as np
import keras, zoo
from zoo import data

_, mnist = data.load("mnist", "test")
_, cifar = data.load("cifar10", "test")
out = {"backend": keras.config.backend(), "outputs": {}}
from zoo.data.tabular import load_tabular
from zoo.data.text import encode
from zoo.registry import get_entry

chosen = {}
for name in zoo.list_models():  # one variant per family and task (they share one class), not an ImageNet-sized one
    entry = get_entry(name)
    if entry.dataset != "imagenet":
        chosen.setdefault((entry.family, entry.task), name)
chosen["bottleneck"] = "resnet50"  # the other residual block, at 64x64
for name in chosen.values():
    task = get_entry(name).task
    if task == "node_classification":  # the Spektral GCN is TensorFlow-only (docs/DESIGN.md, Stack)
        continue
    overrides = {"input_shape": [64, 64, 3]} if zoo.info(name)["input_shape"][0] == 224 else {}
    model = zoo.create(name, **overrides)
    if task == "language_model":
        x = np.stack([encode("To be, or not to be", model.vocabulary), encode("that is the question", model.vocabulary)[:19]])
    elif task == "regression":
        x = load_tabular("diabetes", "test").features[:2]
    elif task == "image_generation":
        x = np.random.default_rng(0).normal(size=(2, model.latent_dim)).astype("float32")
    elif task == "diffusion":
        images = mnist.images[:2].astype("float32") / 255.0
        x = {"images": images, "noise": np.zeros_like(images), "timesteps": np.array([0, 500])}
    else:
        h, w, c = model.input_shape[1:]
        x = (mnist if c == 1 else cifar).images[:2].astype("float32") / 255.0
        if x.shape[1:3] != (h, w):
            x = np.repeat(np.repeat(x, h // x.shape[1], axis=1), w // x.shape[2], axis=2)
    y = np.asarray(model(x, training=False))
    out["outputs"][name] = [list(y.shape), bool(np.isfinite(y).all())]
out["tensorflow_imported"] = "tensorflow" in sys.modules
print(json.dumps(out))
"""


@pytest.mark.slow
def test_every_family_runs_on_jax_without_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax"
    assert result["tensorflow_imported"] is False
    assert len(result["outputs"]) >= 10  # every family but the GCN
    for name, (shape, finite) in result["outputs"].items():
        assert shape[0] == 2 and finite, name
