"""FGSM, PGD and the targeted closeness attack against the trained LeNet-5 on real MNIST test digits."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from zoo.analysis import attacks
from zoo.cli.robustness import add_parsers

LENET5 = "mnist"  # the packaged lenet5:mnist preset


@pytest.fixture(scope="module")
def lenet():
    from zoo.weights import create_trained

    model, _ = create_trained("lenet5", LENET5)
    return model


@pytest.fixture(scope="module")
def digits(lenet, mnist_test):
    images, labels, _ = attacks.load_examples(lenet, mnist_test[1], max_examples=300)
    return images, labels


def accuracy(model, images, labels) -> float:
    return float((attacks.predict_logits(model, images).argmax(-1) == labels).mean())


def check_budget(adversarial, images, epsilon):
    assert adversarial.shape == images.shape and adversarial.dtype == np.float32
    assert np.abs(adversarial - images).max() <= epsilon + 1e-6
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0


@pytest.mark.parametrize("epsilon, at_most", [(0.1, 0.7), (0.3, 0.3)])
def test_fgsm_lowers_accuracy_and_respects_epsilon(lenet, digits, epsilon, at_most):
    images, labels = digits
    clean = accuracy(lenet, images, labels)
    adversarial = attacks.fgsm(lenet, images, labels, epsilon)
    check_budget(adversarial, images, epsilon)
    assert clean > 0.97
    assert accuracy(lenet, adversarial, labels) < at_most  # measured: 0.39 at 0.1, 0.08 at 0.3 on 1,000 digits
    assert np.array_equal(attacks.fgsm(lenet, images[:5], labels[:5], 0.0), images[:5])


def test_pgd_is_stronger_than_fgsm_and_reproducible(lenet, digits):
    images, labels = digits[0][:150], digits[1][:150]
    adversarial = attacks.pgd(lenet, images, labels, 0.1, steps=10, seed=3)
    check_budget(adversarial, images, 0.1)
    fgsm_accuracy = accuracy(lenet, attacks.fgsm(lenet, images, labels, 0.1), labels)
    assert accuracy(lenet, adversarial, labels) < min(fgsm_accuracy, 0.2)
    again = attacks.pgd(lenet, images[:20], labels[:20], 0.1, steps=10, seed=3, batch_size=7)
    np.testing.assert_allclose(again, adversarial[:20], atol=1e-6)


def test_targeted_pgd_moves_predictions_to_the_target(lenet, digits):
    images = digits[0][:100]
    target = np.full(len(images), 9)
    adversarial = attacks.pgd(lenet, images, target, 0.2, steps=10, targeted=True)
    check_budget(adversarial, images, 0.2)
    assert (attacks.predict_logits(lenet, adversarial).argmax(-1) == 9).mean() > 0.8  # clean: ~0.1


def test_targeted_optimize_turns_a_4_into_a_9(lenet, digits):
    images, labels = digits
    fours = images[labels == 4][:5]
    assert (attacks.predict_logits(lenet, fours).argmax(-1) == 4).all()
    result = attacks.targeted_optimize(lenet, fours, 9, closeness=0.05, steps=100, lr=0.01)
    assert result.reached.mean() >= 0.8
    assert (result.predictions[result.reached] == 9).all()
    assert result.images.min() >= 0.0 and result.images.max() <= 1.0
    np.testing.assert_allclose(result.l2, np.linalg.norm((result.images - fours).reshape(5, -1), axis=1), rtol=1e-5)
    # The closeness penalty keeps the change small: a few pixels' worth, not a redrawn digit.
    assert result.l2.mean() < 3.0 and result.linf.max() < 0.6
    closer = attacks.targeted_optimize(lenet, fours[:2], 9, closeness=2.0, steps=100, lr=0.01)
    assert closer.l2.mean() < result.l2[:2].mean()
    summary = result.summary()
    assert summary["examples"] == 5 and summary["reached"] == int(result.reached.sum())
    json.dumps(summary)


def test_robustness_curve(lenet, mnist_test):
    curve = attacks.robustness_curve(lenet, mnist_test[1], [0.0, 0.1, 0.3], method="fgsm", max_examples=200, samples=4)
    assert curve.examples == 200 and curve.epsilons == [0.0, 0.1, 0.3]
    images, labels, _ = attacks.load_examples(lenet, mnist_test[1], 200)
    assert curve.accuracy[0] == pytest.approx(accuracy(lenet, images, labels))
    assert curve.accuracy[0] > curve.accuracy[1] > curve.accuracy[2]
    assert curve.sample_images[0.3].shape == (4, 28, 28, 1) and curve.sample_labels.tolist() == labels[:4].tolist()
    payload = json.loads(json.dumps(curve.to_dict()))
    assert payload["error_percent"][0] == pytest.approx(100 * (1 - curve.accuracy[0]), abs=1e-3)


def test_bad_arguments_raise_clear_errors(lenet, digits):
    images, labels = digits[0][:4], digits[1][:4]
    for epsilon in (-0.1, 1.5, float("nan"), "0.1"):
        with pytest.raises(ValueError, match="expected epsilon"):
            attacks.fgsm(lenet, images, labels, epsilon)
    with pytest.raises(ValueError, match=r"expected labels of shape \(4,\)"):
        attacks.fgsm(lenet, images, labels[:3], 0.1)
    with pytest.raises(ValueError, match=r"expected images of shape \(28, 28, 1\)"):
        attacks.pgd(lenet, images[:, :20], labels, 0.1)
    with pytest.raises(ValueError, match=r"expected a batch of images"):
        attacks.fgsm(lenet, images[0], labels, 0.1)
    with pytest.raises(ValueError, match=r"expected pixels in \[0, 1\]"):
        attacks.fgsm(lenet, images * 255.0, labels, 0.1)
    with pytest.raises(ValueError, match=r"expected labels in \[0, 10\)"):
        attacks.fgsm(lenet, images, labels + 10, 0.1)
    with pytest.raises(ValueError, match="expected steps"):
        attacks.pgd(lenet, images, labels, 0.1, steps=0)
    with pytest.raises(ValueError, match="expected method"):
        attacks.robustness_curve(lenet, "mnist", [0.1], method="cw")
    with pytest.raises(ValueError, match="expected closeness"):
        attacks.targeted_optimize(lenet, images, 9, closeness=-1.0)
    with pytest.raises(ValueError, match="expected target classes"):
        attacks.targeted_optimize(lenet, images, 10)


def _parser():
    parser = argparse.ArgumentParser(prog="zoo")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser


def test_attack_command(tmp_path, capsys):
    parser = _parser()
    args = parser.parse_args(["attack", "lenet5", "--weights", str(LENET5), "--dataset", "mnist"])
    assert args.method == "fgsm" and args.epsilons == [0.0, 0.05, 0.1, 0.2, 0.3] and args.target is None
    with pytest.raises(SystemExit):
        parser.parse_args(["attack", "lenet5", "--weights", "w", "--dataset", "mnist", "--epsilons", "0,x"])
    args = parser.parse_args(
        [
            "attack",
            "lenet5",
            "--weights",
            str(LENET5),
            "--dataset",
            "mnist",
            "--method",
            "pgd",
            "--epsilons",
            "0,0.2",
            "--steps",
            "5",
            "--max-examples",
            "60",
            "--source",
            "4",
            "--target",
            "9",
            "--count",
            "2",
            "--targeted-steps",
            "60",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert args.fn(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "pgd" and report["examples"] == 60 and report["accuracy"][0] > report["accuracy"][1]
    assert report["targeted"]["source"] == 4 and report["targeted"]["examples"] == 2
    assert json.loads((tmp_path / "attack_pgd.json").read_text())["accuracy"] == report["accuracy"]
    for name in ("adversarial_pgd.png", "targeted_4_to_9.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    args = parser.parse_args(["attack", "lenet5", "--weights", str(LENET5), "--dataset", "mnist", "--source", "4"])
    with pytest.raises(ValueError, match="--source and --target together"):
        args.fn(args)
