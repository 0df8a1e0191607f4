"""zoo train for the classic models: linear regression vs least squares, logistic on MNIST 2 vs 5."""

import json

import pytest

from zoo.cli import main
from zoo.training import TrainConfig, evaluate, train


def test_linear_regression_run_reaches_least_squares(tmp_path):
    config = TrainConfig(epochs=15, batch_size=32, lr=0.1, validation_split=0.0, verbose=0)
    result = train("linear_regression", "diabetes", config=config, out=tmp_path / "run")
    test = result.test
    assert test["examples"] == 88
    assert test["r2"] > 0.45 and test["least_squares"]["r2"] > 0.45
    assert test["mse"] == pytest.approx(test["least_squares"]["mse"], rel=0.05)
    assert 0.0 <= test["weight_gap"] < 1.0  # collinear features (s1..s6) leave some weights loosely determined
    assert evaluate("linear_regression", result.run_dir, "diabetes")["mse"] == pytest.approx(test["mse"], rel=1e-5)


def test_logistic_on_two_digits_from_the_cli(tmp_path, capsys):
    out = tmp_path / "logistic"
    code = main(
        [
            "train",
            "logistic",
            "--dataset",
            "mnist:2,5",
            "--epochs",
            "2",
            "--lr",
            "0.01",
            "--max-train-examples",
            "3000",
            "--quiet",
            "--json",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["test"]["accuracy"] > 0.95 and summary["test"]["examples"] == 1924
    assert main(["evaluate", "logistic", "--weights", str(out), "--dataset", "mnist:2,5"]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["train", "logistic", "--dataset", "mnist", "--epochs", "1", "--out", str(tmp_path / "x")]) == 2
    assert "mnist:2,5" in capsys.readouterr().err
