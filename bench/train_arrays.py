"""Backend-agnostic training from in-memory arrays, for the GPU machine (KERAS_BACKEND=jax, no TensorFlow).

Augmentation (random crop + flip, or shift) runs in NumPy on the host between
epochs, outside the compiled step (docs/DESIGN.md, Training). The output is a run
directory like ``zoo train``'s, so on the TF backend
``zoo evaluate NAME --weights OUT --dataset D`` evaluates it.

Usage:
    KERAS_BACKEND=jax python bench/train_arrays.py resnet20 cifar10 --out runs/r20 \
        --epochs 180 --batch-size 128 --optimizer sgd --lr 0.1 --weight-decay 5e-4 --schedule cosine
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np

import zoo
from zoo import data
from zoo.registry import constructor_config
from zoo.training.optim import make_optimizer, make_schedule
from zoo.training.run_dir import RunLogger, environment, write_json
from zoo.weights import BEST_WEIGHTS, LAST_WEIGHTS, RUN_CONFIG


def augment(images: np.ndarray, kind: str | None, rng: np.random.Generator, pad: int) -> np.ndarray:
    """Random crops after zero padding (and horizontal flips for ``crop_flip``), vectorised."""
    if not kind:
        return images
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    if kind == "crop_flip":
        flip = rng.random(n) < 0.5
        out[flip] = out[flip, :, ::-1]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=180)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--validation-split", type=float, default=0.1)
    p.add_argument("--max-train-examples", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jit", action="store_true", help="jit_compile=True")
    args = p.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    spec, train = data.load(args.dataset, "train")
    order = np.random.default_rng(args.seed).permutation(len(train))
    n_val = int(round(len(train) * args.validation_split))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if args.max_train_examples:
        train_idx = train_idx[: args.max_train_examples]
    x_train, y_train = train.images[train_idx], train.labels[train_idx]
    x_val = train.images[val_idx].astype("float32") / 255.0
    y_val = train.labels[val_idx]

    model = zoo.create(args.model, **spec.model_overrides())
    steps = -(-len(x_train) // args.batch_size)
    model.compile(
        optimizer=make_optimizer(
            args.optimizer, make_schedule(args.schedule, args.lr, steps * args.epochs), args.weight_decay
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=args.jit,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(
        out / RUN_CONFIG,
        {
            "model": args.model,
            "model_config": constructor_config(model),
            "dataset": args.dataset,
            "data_source": train.source,
            "examples": {"train": len(x_train), "validation": n_val},
            "training": vars(args),
            "environment": environment(),
        },
    )
    rng = np.random.default_rng(args.seed + 1)
    run_logger = RunLogger(out)
    best, started = -1.0, time.perf_counter()
    for epoch in range(args.epochs):
        x_epoch = augment(x_train, spec.augment, rng, pad=4).astype("float32") / 255.0
        history = model.fit(
            x_epoch,
            y_train,
            batch_size=args.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=(x_val, y_val) if n_val else None,
            verbose=2,
            callbacks=[run_logger],
        )
        score = history.history.get("val_accuracy", history.history["accuracy"])[-1]
        model.save_weights(out / LAST_WEIGHTS)
        if score > best:
            best = score
            model.save_weights(out / BEST_WEIGHTS)
    seconds = time.perf_counter() - started
    write_json(
        out / "train_summary.json",
        {
            "best_validation_accuracy": best,
            "seconds": round(seconds, 1),
            "examples_per_second": round(len(x_train) * args.epochs / seconds, 1),
        },
    )
    print(json.dumps({"out": str(out), "best_validation_accuracy": best, "seconds": round(seconds, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
