"""Fine-tuning's new head fitted as a linear probe (LP-FT): the regression, the head it sets, the run's record."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import zoo
from zoo import data
from zoo.training import head_probe
from zoo.training.config import FinetuneConfig
from zoo.training.finetune import finetune, with_new_head


@pytest.fixture(scope="module")
def threes_and_eights():
    """300 real MNIST 3s and 8s as 49 features (7x7 means of the pixels), labels 0 (three) and 1 (eight)."""
    _, split = data.load("mnist", "test")
    keep = np.flatnonzero(np.isin(split.labels, [3, 8]))[:300]
    images = split.images[keep].reshape(-1, 7, 4, 7, 4).mean(axis=(2, 4)) / 255.0
    return images.reshape(len(keep), 49), (split.labels[keep] == 8).astype(np.int64)


def test_the_one_output_regression_is_the_two_class_one(threes_and_eights):
    """Softmax over two logits with L2 l on both columns has the optimum w1 = -w0, so it is the one-output
    regression z = w1 - w0 with L2 l / 2: both solvers (and their gradients) must agree."""
    features, labels = threes_and_eights
    two_kernel, two_bias, two = head_probe.logistic_regression(features, labels, 2, binary=False, l2=0.02)
    one_kernel, one_bias, one = head_probe.logistic_regression(features, labels, 2, binary=True, l2=0.01)
    np.testing.assert_allclose(one_kernel[:, 0], two_kernel[:, 1] - two_kernel[:, 0], atol=2e-3)
    np.testing.assert_allclose(one_bias[0], two_bias[1] - two_bias[0], atol=2e-3)
    assert one["train_accuracy"] == two["train_accuracy"] > 0.9, (one, two)
    assert one["loss"] == pytest.approx(two["loss"], abs=1e-5)


def test_a_stronger_penalty_gives_a_smaller_kernel(threes_and_eights):
    features, labels = threes_and_eights
    norms = [
        np.linalg.norm(head_probe.logistic_regression(features, labels, 2, binary=False, l2=l2)[0])
        for l2 in (1e-3, 1e-1)
    ]
    assert norms[0] > 2 * norms[1], norms


def test_a_fitted_head_predicts_as_the_regression_did_and_the_backbone_is_untouched():
    """lenet5:mnist with a new 10-class head on 512 Fashion-MNIST photos: random head near chance, fitted head far
    above it, with the training accuracy the regression reported."""
    _, split = data.load("fashion_mnist", "train")
    images, labels = split.images[:512].astype("float32") / 255.0, split.labels[:512]
    pretrained = zoo.create("lenet5", weights="mnist")
    model, _ = with_new_head(pretrained, "lenet5", {"num_classes": 10})

    def accuracy():
        return float(np.mean(np.argmax(model.predict(images, verbose=0), axis=-1) == labels))

    before = accuracy()
    report = head_probe.fit_head(model, [(images[i : i + 128], labels[i : i + 128]) for i in range(0, 512, 128)])
    assert report["method"] == "probe" and report["examples"] == 512 and report["features"] == 84
    assert report["l2"] == pytest.approx(1 / 512)
    assert before < 0.3 and report["train_accuracy"] > 0.7, (before, report)
    assert accuracy() == pytest.approx(report["train_accuracy"], abs=2 / 512)  # float32 logits vs float64
    for name in ("conv1", "fc2"):
        np.testing.assert_array_equal(
            model.get_layer(name).get_weights()[0], pretrained.get_layer(name).get_weights()[0]
        )


def test_a_head_with_weights_after_predictions_is_left_random():
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, name="after")(keras.layers.Dense(3, name="predictions")(inputs))
    model = keras.Model(inputs, outputs)
    kernel = model.get_layer("predictions").get_weights()[0]
    assert not head_probe.fittable(model)
    assert head_probe.fit_head(model, [(np.ones((2, 4)), np.array([0, 1]))]) is None
    np.testing.assert_array_equal(model.get_layer("predictions").get_weights()[0], kernel)
    assert head_probe.fittable(zoo.create("logistic")) and head_probe.fittable(zoo.create("resnet20"))


def test_a_fine_tuning_run_records_how_its_head_started(tmp_path):
    budget = dict(epochs=2, max_train_examples=128, batch_size=64, validation_split=0.1, verbose=0)
    finetune("lenet5", "mnist", "mnist:3,8", config=FinetuneConfig(**budget), out=tmp_path / "probe")
    record = json.loads((tmp_path / "probe" / "config.json").read_text())["pretrained"]["head_init"]
    assert record["method"] == "probe" and record["examples"] == 128 and record["train_accuracy"] > 0.9, record
    assert zoo.create("lenet5", weights=str(tmp_path / "probe")).output_shape == (None, 2)  # the run's own head
    finetune("lenet5", "mnist", "mnist:3,8", config=FinetuneConfig(**budget, head_init="random"), out=tmp_path / "rnd")
    assert json.loads((tmp_path / "rnd" / "config.json").read_text())["pretrained"]["head_init"] == {"method": "random"}


def test_head_init_is_checked():
    with pytest.raises(ValueError, match="head_init"):
        FinetuneConfig(head_init="zeros").validate()
    with pytest.raises(ValueError, match="head_init='random': settings of image classifiers; gcn is a node"):
        finetune("gcn", "cora", "cora:0,1,2,3", config=FinetuneConfig(epochs=2, head_init="random"))
