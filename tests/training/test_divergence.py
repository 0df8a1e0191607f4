"""A run whose loss turns NaN stops, keeps its record, and says so (Python: FloatingPointError; CLI: status 2)."""

from __future__ import annotations

import json

import pytest

from zoo.cli import main
from zoo.training import TrainConfig, train
from zoo.training.engine import diverged_epoch
from zoo.training.finetune import FinetuneConfig, finetune

#: SGD at this rate sends LeNet-5's loss on real MNIST digits to NaN within its first epoch.
EXPLOSIVE = dict(optimizer="sgd", lr=1e38, max_train_examples=256, batch_size=64, validation_split=0, verbose=0)


def test_diverged_epoch_is_the_first_epoch_the_run_log_recorded_no_loss_for():
    assert diverged_epoch({"loss": [2.3, 1.1, 0.9]}) is None
    assert diverged_epoch({"loss": [2.3, None, None]}) == 2
    assert diverged_epoch({"d_loss": [None]}) is None  # tasks without a "loss" are not judged


def test_a_diverged_run_raises_after_writing_its_results(tmp_path):
    with pytest.raises(
        FloatingPointError,
        match=r"diverged: the loss was not finite in epoch 1, so the run stopped there. Lower the learning",
    ):
        train("lenet5", "mnist", config=TrainConfig(epochs=3, **EXPLOSIVE), out=tmp_path / "run")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["diverged_epoch"] == 1 and results["epochs_run"] == 1
    assert (tmp_path / "run" / "config.json").is_file()


def test_a_healthy_run_records_no_divergence(tmp_path):
    config = TrainConfig(epochs=1, optimizer="sgd", lr=0.01, max_train_examples=256, batch_size=64, verbose=0)
    train("lenet5", "mnist", config=config, out=tmp_path / "run")
    assert json.loads((tmp_path / "run" / "results.json").read_text())["diverged_epoch"] is None


def test_a_two_stage_finetune_stops_at_the_diverged_stage(tmp_path):
    config = FinetuneConfig(epochs=4, head_epochs=2, **EXPLOSIVE)
    with pytest.raises(FloatingPointError, match="diverged"):
        finetune("lenet5", "mnist", "fashion_mnist", config=config, out=tmp_path / "ft")
    results = json.loads((tmp_path / "ft" / "results.json").read_text())
    assert results["epochs_run"] == results["diverged_epoch"] <= 2  # the second stage never ran


def test_the_cli_says_the_run_diverged_and_exits_2(tmp_path, capsys):
    argv = ["train", "lenet5", "--dataset", "mnist", "--epochs", "2", "--optimizer", "sgd", "--lr", "1e38"]
    argv += ["--max-train-examples", "256", "--batch-size", "64", "--validation-split", "0", "--quiet", "--json"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    captured = capsys.readouterr()
    assert "zoo train: error: training diverged" in captured.err and str(tmp_path / "run") in captured.err
    assert captured.out == ""
