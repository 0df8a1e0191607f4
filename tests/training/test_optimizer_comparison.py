"""Optimiser and schedule comparison: short real MNIST runs from one initialisation."""

import argparse
import json

import numpy as np
import pytest

from zoo.training.optimizer_comparison import (
    DEFAULT_RUNS,
    compare_optimizers,
    make_comparison_optimizer,
    make_comparison_schedule,
    plot_curves,
)

SMALL_MLP = {"hidden_units": [64], "dropout": 0.0}


@pytest.fixture(scope="module")
def comparison():
    """The five default runs: a 784-64-10 MLP, 1,000 MNIST digits, 2 epochs of 16 steps."""
    return compare_optimizers(
        "mlp",
        "mnist",
        epochs=2,
        batch_size=64,
        max_train_examples=1000,
        validation_split=0.02,
        evaluate_test=False,
        overrides=SMALL_MLP,
        seed=0,
    )


def test_every_run_lowers_the_loss(comparison):
    assert [(r.optimizer, r.schedule) for r in comparison.runs] == list(DEFAULT_RUNS)
    assert comparison.train_examples == 1000 and comparison.steps_per_epoch == 16
    assert comparison.initial["loss"] > 2.0  # ten classes from random weights: about ln 10 or more
    for run in comparison.runs:
        loss = run.history["loss"]
        assert len(loss) == 2 and len(run.history["val_accuracy"]) == 2, run.label
        assert loss[1] < loss[0] < comparison.initial["loss"], run.label
        assert run.history["val_accuracy"][-1] > 0.6, run.label  # chance is 0.1


def test_runs_share_initial_weights_and_batches(comparison):
    runs = {(r.optimizer, r.schedule): r for r in comparison.runs}
    constant, step = runs["sgd", "constant"], runs["sgd", "step"]
    # The step schedule first decays after half the run: epoch 1 is the same training as the constant rate ...
    assert step.history["loss"][0] == pytest.approx(constant.history["loss"][0], rel=1e-5)
    # ... and then differs.
    assert step.history["loss"][1] != pytest.approx(constant.history["loss"][1], rel=1e-5)
    assert len({round(r.history["loss"][0], 6) for r in comparison.runs}) == 4


def test_learning_rates_follow_the_schedules(comparison):
    runs = {(r.optimizer, r.schedule): r for r in comparison.runs}
    np.testing.assert_allclose(runs["sgd", "constant"].history["lr"], [0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(runs["sgd", "inverse_time"].history["lr"], [0.1 / 2, 0.1 / 3], rtol=1e-6)
    np.testing.assert_allclose(runs["sgd", "step"].history["lr"], [0.1, 0.001], rtol=1e-6)
    np.testing.assert_allclose(runs["adam", "constant"].history["lr"], [1e-3, 1e-3], rtol=1e-6)


def test_plot_curves(comparison, tmp_path):
    path = plot_curves(comparison, tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    json.dumps(comparison.to_dict())  # JSON-ready


def test_optimizers_and_schedules_by_name():
    assert make_comparison_optimizer("sgd", 0.1).momentum == 0.0
    momentum = make_comparison_optimizer("momentum", 0.1)
    assert momentum.momentum == 0.9 and not momentum.nesterov
    assert make_comparison_optimizer("nesterov", 0.1).nesterov
    schedule = make_comparison_schedule("inverse_time", 0.1, steps_per_epoch=10, epochs=3, decay_rate=0.5)
    assert float(schedule(10)) == pytest.approx(0.1 / 1.5)
    assert make_comparison_schedule("constant", 0.1, 10, 3) == 0.1
    with pytest.raises(ValueError, match="expected an optimizer in"):
        make_comparison_optimizer("lbfgs", 0.1)
    with pytest.raises(ValueError, match="expected a schedule in"):
        make_comparison_schedule("exponential", 0.1, 10, 3)
    with pytest.raises(ValueError, match=r"expected \(optimizer, schedule\) pairs"):
        compare_optimizers("mlp", "mnist", [("sgd", "warmup")])
    with pytest.raises(ValueError, match="expected learning rates for optimizers in"):
        compare_optimizers("mlp", "mnist", lr={"lbfgs": 1.0})


def test_optimizers_command(tmp_path, capsys):
    from zoo.cli.teaching import add_parsers

    parser = argparse.ArgumentParser(prog="zoo")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["optimizers", "lenet5", "--dataset", "mnist"])
    assert args.runs is None and args.epochs == 5 and args.lr is None  # None: DEFAULT_RUNS
    args = parser.parse_args(
        [
            "optimizers",
            "mlp",
            "--dataset",
            "mnist",
            "--runs",
            "momentum:cosine,adam:step",
            "--lr",
            "adam=0.002",
            "--epochs",
            "1",
            "--max-train-examples",
            "256",
            "--batch-size",
            "64",
            "--validation-split",
            "0.01",
            "--out",
            str(tmp_path / "cmp"),
            "--json",
        ]
    )
    assert args.runs == [("momentum", "cosine"), ("adam", "step")] and args.lr == {"adam": 0.002}
    assert args.fn(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert [run["label"] for run in report["runs"]] == ["momentum cosine (lr 0.01)", "adam step (lr 0.002)"]
    assert all(run["test"]["examples"] == 10000 for run in report["runs"])
    saved = json.loads((tmp_path / "cmp" / "optimizers.json").read_text())
    assert saved["environment"]["keras"] and (tmp_path / "cmp" / "optimizers.png").stat().st_size > 0
    with pytest.raises(SystemExit):
        parser.parse_args(["optimizers", "mlp", "--dataset", "mnist", "--runs", "sgd"])


def test_result_round_trips_through_json(comparison):
    from zoo.training.optimizer_comparison import ComparisonResult

    again = ComparisonResult.from_dict(json.loads(json.dumps(comparison.to_dict())) | {"environment": {}})
    assert again == comparison
