"""MC dropout and calibration: real MNIST digits, trained weights, and synthetic probabilities with known ECE."""

from __future__ import annotations

import argparse
import json

import keras
import numpy as np
import pytest

import zoo
from zoo.analysis import uncertainty
from zoo.analysis.attacks import load_examples, predict_logits
from zoo.cli.robustness import add_parsers
from zoo.weights import create_trained


@pytest.fixture(scope="module")
def mlp():
    """The MLP with dropout 0.5 of the robustness report: the packaged mlp:mnist preset."""
    model, _ = create_trained("mlp", "mnist")
    return model


@pytest.fixture(scope="module")
def digits(mlp, mnist_test):
    images, labels, _ = load_examples(mlp, mnist_test[1], max_examples=300)
    return images, labels


def test_mc_dropout_varies_across_samples(mlp, digits):
    images = digits[0][:50]
    prediction = uncertainty.mc_dropout_predict(mlp, images, samples=6, seed=1)
    assert prediction.samples.shape == (6, 50, 10) and prediction.mean.shape == (50, 10)
    assert np.abs(np.diff(prediction.samples, axis=0)).max() > 1e-3  # the passes differ
    np.testing.assert_allclose(prediction.mean, prediction.samples.mean(0), rtol=1e-6)
    np.testing.assert_allclose(prediction.mean.sum(-1), 1.0, rtol=1e-6)
    assert (prediction.entropy >= 0).all() and (prediction.mutual_information >= 0).all()
    assert prediction.mutual_information.max() > 1e-3
    assert (prediction.mutual_information <= prediction.entropy + 1e-9).all()
    again = uncertainty.mc_dropout_predict(mlp, images, samples=6, seed=1)
    np.testing.assert_allclose(again.samples, prediction.samples, rtol=1e-6)  # seeded masks repeat
    # Outside MC dropout the model is deterministic again: the layers' own `call` is back.
    np.testing.assert_array_equal(predict_logits(mlp, images), predict_logits(mlp, images))
    assert all("call" not in layer.__dict__ for layer in uncertainty.dropout_layers(mlp))


def test_no_dropout_means_identical_predictions_and_an_error(mnist_test):
    lenet, _ = create_trained("lenet5", "mnist")
    images, _, _ = load_examples(lenet, mnist_test[1], max_examples=20)
    passes = [predict_logits(lenet, images) for _ in range(3)]
    assert all(np.array_equal(passes[0], p) for p in passes[1:])
    assert uncertainty.dropout_layers(lenet) == []
    with pytest.raises(ValueError, match="expected a model with Dropout layers"):
        uncertainty.mc_dropout_predict(lenet, images, samples=3)
    with pytest.raises(ValueError, match="expected a model with Dropout layers"):
        uncertainty.calibration_report(lenet, mnist_test[1], samples=3, max_examples=20)
    with pytest.raises(ValueError, match="expected samples"):
        uncertainty.mc_dropout_predict(zoo.create("mlp", hidden_units=[4], dropout=0.5), images, samples=0)


def test_batch_normalization_stays_in_inference_mode(digits):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Dropout(0.5)(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))
    bn = model.get_layer("bn")
    before = keras.ops.convert_to_numpy(bn.moving_mean).copy()
    prediction = uncertainty.mc_dropout_predict(model, digits[0][:32], samples=3)
    assert np.abs(np.diff(prediction.samples, axis=0)).max() > 1e-4
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_mean), before)
    model(digits[0][:32], training=True)  # what calling with training=True would have done
    assert not np.array_equal(keras.ops.convert_to_numpy(bn.moving_mean), before)


def test_ece_of_calibrated_probabilities_is_zero():
    # 100 predictions at each confidence 0.55, 0.65, ..., 0.95, exactly that fraction of them correct.
    probs, labels = [], []
    for confidence in (0.55, 0.65, 0.75, 0.85, 0.95):
        right = round(100 * confidence)
        probs += [[confidence, 1 - confidence]] * 100
        labels += [0] * right + [1] * (100 - right)
    bins = uncertainty.reliability_bins(np.array(probs), np.array(labels), bins=10)
    assert bins.ece == pytest.approx(0.0, abs=1e-12)
    assert bins.counts.sum() == 500 and (bins.counts[[5, 6, 7, 8, 9]] == 100).all()
    # Sampled: labels drawn with the predicted probability are calibrated in expectation.
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 200_000)
    labels = (rng.uniform(size=confidence.size) > confidence).astype(int)
    probs = np.stack([confidence, 1 - confidence], axis=1)
    assert uncertainty.expected_calibration_error(probs, labels) < 0.005


def test_ece_of_overconfident_probabilities_matches_hand_computation():
    # 50 predictions at 0.95 with 25 right, 50 at 0.75 with 30 right:
    # ECE = 0.5 * |0.5 - 0.95| + 0.5 * |0.6 - 0.75| = 0.225 + 0.075 = 0.30.
    probs = np.array([[0.95, 0.05]] * 50 + [[0.75, 0.25]] * 50)
    labels = np.array([0] * 25 + [1] * 25 + [0] * 30 + [1] * 20)
    bins = uncertainty.reliability_bins(probs, labels, bins=15)
    assert bins.ece == pytest.approx(0.30)
    assert uncertainty.expected_calibration_error(probs, labels, bins=15) == pytest.approx(0.30)
    assert bins.counts[14] == 50 and bins.counts[11] == 50 and bins.counts.sum() == 100
    assert bins.accuracy[14] == pytest.approx(0.5) and bins.confidence[11] == pytest.approx(0.75)
    payload = bins.to_dict()
    assert payload["accuracy"][0] is None and payload["counts"][14] == 50
    nll = -(25 * np.log(0.95) + 25 * np.log(0.05) + 30 * np.log(0.75) + 20 * np.log(0.25)) / 100
    assert uncertainty.negative_log_likelihood(probs, labels) == pytest.approx(nll)


def test_calibration_inputs_are_checked():
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(ValueError, match=r"expected labels of shape \(2,\)"):
        uncertainty.expected_calibration_error(probs, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="expected rows of probabilities"):
        uncertainty.expected_calibration_error(probs * 3, np.array([0, 1]))
    with pytest.raises(ValueError, match="expected bins"):
        uncertainty.expected_calibration_error(probs, np.array([0, 1]), bins=0)
    with pytest.raises(ValueError, match=r"expected integer labels in \[0, 2\)"):
        uncertainty.expected_calibration_error(probs, np.array([0, 2]))


def test_calibration_report_and_plots(mlp, mnist_test, tmp_path):
    report = uncertainty.calibration_report(mlp, mnist_test[1], samples=8, max_examples=300, bins=10)
    assert report.examples == 300 and report.samples == 8
    for key in ("deterministic", "mc_dropout"):
        metrics = report.metrics[key]
        assert metrics["accuracy"] > 0.95 and 0 <= metrics["ece"] < 0.1 and metrics["nll"] > 0
        assert metrics["mean_entropy_wrong"] > metrics["mean_entropy_correct"]
        assert report.reliability[key].counts.sum() == 300
    assert report.metrics["mc_dropout"]["mean_mutual_information"] > 0
    json.dumps(report.to_dict())
    for path in (
        uncertainty.plot_reliability(report.reliability, tmp_path / "r.png"),
        uncertainty.plot_entropy(report.entropy, tmp_path / "e.png"),
    ):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_uncertainty_command(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="zoo")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        [
            "uncertainty",
            "mlp",
            "--weights",
            "mnist",
            "--dataset",
            "mnist",
            "--samples",
            "4",
            "--max-examples",
            "200",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert args.bins == 15
    assert args.fn(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == 200 and report["samples"] == 4
    assert set(report["mc_dropout"]) >= {"accuracy", "nll", "ece", "mean_mutual_information"}
    assert json.loads((tmp_path / "uncertainty.json").read_text())["deterministic"] == report["deterministic"]
    for name in ("reliability.png", "entropy.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
