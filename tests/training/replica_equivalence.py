"""Run by test_distribute.py in a fresh process: the same training on one device and on MirroredStrategy over
two virtual CPU devices (configured before TensorFlow starts), printing the final weights of each as JSON.

Usage: python replica_equivalence.py classifier|gan|sws OUT_DIR

One experiment per process: two MirroredStrategy instances in one process share collective
instance keys, and the second one's all-reduce then meets the first one's tensors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import zoo  # noqa: E402
from zoo import data  # noqa: E402
from zoo.data.pipeline import make_pipeline  # noqa: E402
from zoo.regularizers import apply_soft_weight_sharing  # noqa: E402
from zoo.training import TrainConfig, train  # noqa: E402
from zoo.training.distribute import make_strategy  # noqa: E402


def classifier(strategy: str, out: Path) -> list[np.ndarray]:
    config = TrainConfig(
        epochs=2,
        batch_size=64,
        lr=1e-3,
        max_train_examples=1024,
        validation_split=0.1,
        strategy=strategy,
        seed=3,
        verbose=0,
    )
    result = train("lenet5", "mnist", config=config, out=out / f"lenet5-{strategy}")
    replicas = json.loads((out / f"lenet5-{strategy}" / "config.json").read_text())["distribution"]["replicas"]
    return replicas, [w.tolist() for w in result.model.get_weights()]


def gan(strategy_name: str) -> list[np.ndarray]:
    """DCGAN's own train_step (two optimizers, synchronised BatchNorm), fed by the generative pipeline, whose latents
    come with the batch; two steps of plain SGD. Adversarial training amplifies float rounding about tenfold per
    step (measured: 5e-7 after one step, 7e-5 after four at lr 0.05), and Adam's first steps, about
    lr * sign(gradient), turn rounding in near-zero gradients into differences of 2 lr."""
    from zoo.training.generative import GenerativeData

    config = TrainConfig(epochs=1, batch_size=64, max_train_examples=128, seed=3)
    strategy = make_strategy(strategy_name)
    prepared = GenerativeData.loader("dcgan")("mnist", config)
    keras.utils.set_random_seed(3)
    with strategy.scope():
        model = zoo.create("dcgan", latent_dim=16)
        model.compile(keras.optimizers.SGD(0.01), keras.optimizers.SGD(0.01))
    prepared.fit(model, epochs=1, verbose=0)
    return strategy.num_replicas_in_sync, [np.asarray(w).tolist() for w in model.get_weights()]


def soft_weight_sharing(strategy_name: str) -> list[np.ndarray]:
    spec, split = data.load("mnist", "train")
    keras.utils.set_random_seed(5)
    strategy = make_strategy(strategy_name)
    with strategy.scope():
        model = zoo.create("lenet_300_100", weights="mnist")
        wrapped = apply_soft_weight_sharing(
            model,
            components=5,
            tau=5e-3,
            num_examples=512,
            prior_lr_multiplier={"means": 0.2, "log_var": 6, "mixing_logits": 6},
        )
        wrapped.compile(
            optimizer=keras.optimizers.Adam(5e-4), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
    batches = make_pipeline(
        spec, split.images[:512], split.labels[:512], batch_size=64, training=True, seed=5, epochs=2
    )
    wrapped.fit(batches, epochs=2, steps_per_epoch=8, verbose=0)
    return strategy.num_replicas_in_sync, [np.asarray(v).tolist() for v in wrapped.trainable_variables]


if __name__ == "__main__":
    kind, out = sys.argv[1], Path(sys.argv[2])
    run = {"classifier": lambda s: classifier(s, out), "gan": gan, "sws": soft_weight_sharing}[kind]
    print("RESULT " + json.dumps({s: run(s) for s in ("one_device", "mirrored")}))
