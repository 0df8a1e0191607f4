"""Issue 26: stratified splits, warnings about poor validation sets, --select last|best, class names kept
with a run, and `zoo evaluate` on the data set a run records."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from zoo.data import datasets
from zoo.data.datasets import Split
from zoo.data.pipeline import split_validation

CLASSES = {"circle": 20, "square": 10, "triangle": 5}  # an unbalanced little folder, as users have


@pytest.fixture
def small_folder(tmp_path, mnist_test):
    """35 real MNIST digits (digits 0, 1, 2 under made-up class names) saved as PNG files, one folder per class."""
    _, split = mnist_test
    root = tmp_path / "shapes"
    for digit, (name, count) in enumerate(CLASSES.items()):
        (root / name).mkdir(parents=True)
        for i, index in enumerate(np.flatnonzero(split.labels == digit)[:count]):
            Image.fromarray(split.images[index, ..., 0]).save(root / name / f"{i:03d}.png")
    return root


def test_a_folder_without_a_test_subfolder_is_split_80_20_within_every_class(small_folder):
    spec, train = datasets.load_folder(str(small_folder), "train")
    _, test = datasets.load_folder(str(small_folder), "test")
    assert spec.class_names == tuple(CLASSES)
    assert np.bincount(test.labels, minlength=3).tolist() == [4, 2, 1]
    assert np.bincount(train.labels, minlength=3).tolist() == [16, 8, 4]
    assert len(set(train.labels[:6].tolist())) > 1  # mixed, not one class after another


def test_the_validation_split_is_stratified(mnist_test):
    _, split = mnist_test
    labels = np.concatenate([np.full(90, 0), np.full(9, 1), np.full(1, 2)])
    unbalanced = Split(split.images[:100], labels, "test slice")
    train, validation = split_validation(unbalanced, 0.1, seed=0)
    assert np.bincount(validation.labels, minlength=3).tolist() == [9, 1, 0]
    assert len(train) + len(validation) == 100
    problems = datasets.validation_problems(train.labels, validation.labels, ("a", "b", "c"))
    assert any("only 10 examples" in p for p in problems) and any("class(es) c" in p for p in problems)
    assert datasets.validation_problems(np.arange(1000) % 10, np.arange(200) % 10) == []


def test_a_tiny_validation_set_is_warned_about_unless_the_last_epoch_is_kept(small_folder, caplog):
    from zoo.training import TrainConfig
    from zoo.training.classification import ImageData

    with caplog.at_level(logging.WARNING, logger="zoo.training.classification"):
        prepared = ImageData.load(str(small_folder), TrainConfig(validation_split=0.2))
    assert np.bincount(prepared.validation.labels, minlength=3).tolist() == [3, 2, 1]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "only 6 examples" in warned[0] and "--select last" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zoo.training.classification"):
        ImageData.load(str(small_folder), TrainConfig(validation_split=0.2, select="last"))
    assert not caplog.records
    with pytest.raises(ValueError, match="select must be one of"):
        TrainConfig(select="median").validate()


def test_select_last_keeps_the_last_weights(small_folder, tmp_path):
    import zoo
    from zoo.training import TrainConfig, train

    run = tmp_path / "run"
    result = train(
        "lenet5",
        str(small_folder),
        config=TrainConfig(epochs=2, batch_size=8, select="last", validation_split=0.2, verbose=0),
        out=run,
    )
    assert not (run / "best.weights.h5").exists() and (run / "last.weights.h5").is_file()
    results = json.loads((run / "results.json").read_text())
    assert results["weights"] == "last" and results["select"] == "last"
    config = json.loads((run / "config.json").read_text())
    assert config["training"]["select"] == "last"
    last = zoo.create("lenet5", **config["model_config"])
    last.load_weights(run / "last.weights.h5")
    for kept, returned in zip(last.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(kept, returned)


def test_class_names_are_kept_with_the_run_and_label_classify_after_the_folder_is_gone(small_folder, tmp_path):
    import tensorflow as tf

    from zoo.serving.client import to_example
    from zoo.serving.exporter import export_weights
    from zoo.training import TrainConfig, train

    run = tmp_path / "run"
    train("lenet5", str(small_folder), config=TrainConfig(epochs=1, batch_size=8, verbose=0), out=run)
    assert json.loads((run / "config.json").read_text())["class_names"] == list(CLASSES)
    shutil.rmtree(small_folder)  # the data is gone; the run still names its classes
    path = export_weights("lenet5", run, tmp_path / "export", 1)
    loaded = tf.saved_model.load(str(path))
    image = np.zeros((28, 28, 1), np.float32)  # grey PNGs: a one-channel model (issue 21)
    classified = loaded.signatures["classify"](
        inputs=tf.constant([to_example({"images": image.reshape(-1)}).SerializeToString()])
    )
    assert [c.decode() for c in classified["classes"].numpy()[0]] == list(CLASSES)


def test_a_missing_data_set_path_says_so(tmp_path):
    from zoo import data

    with pytest.raises(ValueError, match=r"No such folder: .*photos.*named data set: cifar10"):
        data.get_spec(str(tmp_path / "photos"))
    with pytest.raises(ValueError, match="No such folder"):
        data.load("~/kzoo-no-such-folder", "train")
    (tmp_path / "labels.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="is a file"):
        data.get_spec(str(tmp_path / "labels.csv"))
    with pytest.raises(ValueError, match="Unknown dataset 'mnsit'"):
        data.get_spec("mnsit")


def test_zoo_evaluate_uses_the_data_set_the_weights_record():
    from zoo.weights import recorded_dataset

    assert recorded_dataset("perceptron", "mnist-0-1") == "mnist:0,1"
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "evaluate", "perceptron", "--weights", "mnist-0-1", "--json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    measured = json.loads(done.stdout)
    metadata = json.loads(
        (
            datasets.Path(__file__).resolve().parents[2]
            / "zoo"
            / "pretrained"
            / "perceptron"
            / "mnist-0-1"
            / "metadata.json"
        ).read_text()
    )
    assert measured["accuracy"] == pytest.approx(metadata["metrics"]["accuracy"]["value"], abs=1e-6)


def test_a_bare_weights_file_needs_the_data_set_named(tmp_path):
    import zoo
    from zoo.weights import recorded_dataset

    path = tmp_path / "lenet5.weights.h5"
    zoo.create("lenet5").save_weights(path)
    with pytest.raises(ValueError, match="records no data set.*--dataset"):
        recorded_dataset("lenet5", path)
