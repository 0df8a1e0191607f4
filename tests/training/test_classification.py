import json
import os
import subprocess
import sys

import pytest

from zoo.training import TrainConfig, evaluate, train


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """LeNet-5 on 3,000 real MNIST images for 2 epochs."""
    out = tmp_path_factory.mktemp("runs") / "lenet5"
    config = TrainConfig(epochs=2, batch_size=64, lr=2e-3, max_train_examples=3000, verbose=0)
    return train("lenet5", "mnist", config=config, out=out)


def test_short_real_run_learns(short_run):
    assert short_run.test["examples"] == 10000
    assert short_run.test["accuracy"] > 0.85  # random weights give ~0.10
    assert short_run.history["loss"][1] < short_run.history["loss"][0]


def test_run_directory_contents(short_run):
    run = short_run.run_dir
    for name in ("config.json", "best.weights.h5", "last.weights.h5", "history.json", "curves.png", "results.json"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "lenet5" and config["model_config"]["conv_filters"] == [6, 16]
    assert config["training"]["epochs"] == 2 and "offline" in config["data_source"]
    history = json.loads((run / "history.json").read_text())
    assert len(history["val_accuracy"]) == 2


def test_evaluate_reproduces_the_run(short_run):
    metrics = evaluate("lenet5", short_run.run_dir, "mnist")
    assert metrics["examples"] == 10000
    assert metrics["accuracy"] == pytest.approx(short_run.test["accuracy"], abs=1e-6)
    bare = evaluate("lenet5", short_run.run_dir / "best.weights.h5", "mnist")
    assert bare["accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-6)


def test_evaluate_rejects_mismatches_and_corrupt_files(short_run, tmp_path):
    with pytest.raises(ValueError, match="trained for 'lenet5', not 'lenet5_caffe'"):
        evaluate("lenet5_caffe", short_run.run_dir, "mnist")
    corrupt = tmp_path / "broken.weights.h5"
    corrupt.write_bytes(b"\x89HDF\r\n" + os.urandom(64))
    with pytest.raises(ValueError, match="Could not load"):
        evaluate("lenet5", corrupt, "mnist")
    with pytest.raises(FileNotFoundError):
        evaluate("lenet5", tmp_path / "missing", "mnist")
    with pytest.raises(ValueError, match="takes .*but cifar10"):
        evaluate("lenet5", short_run.run_dir, "cifar10")


def test_refuses_to_overwrite_a_finished_run(short_run):
    with pytest.raises(FileExistsError):
        train("lenet5", "mnist", config=TrainConfig(epochs=1, verbose=0), out=short_run.run_dir)


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match="epochs"):
        train("lenet5", "mnist", config=TrainConfig(epochs=0))
    with pytest.raises(ValueError, match="Unknown dataset"):
        train("lenet5", "imagenet22k", config=TrainConfig(epochs=1))
    with pytest.raises(ValueError, match="Unknown model"):
        train("lenet6", "mnist", config=TrainConfig(epochs=1))


def test_trains_on_a_user_image_folder(tmp_path):
    from zoo import data

    src = data.data_dir() / "cifar10" / "test"
    for split, names in (("train", range(40)), ("test", range(40, 50))):
        for cls in ("automobile", "frog"):
            (tmp_path / "imgs" / split / cls).mkdir(parents=True)
            for i in names:
                name = f"{i:04d}.jpg"
                (tmp_path / "imgs" / split / cls / name).write_bytes((src / cls / name).read_bytes())
    result = train(
        "resnet20",
        str(tmp_path / "imgs"),
        overrides={"stage_blocks": [1, 1, 1]},
        config=TrainConfig(epochs=1, batch_size=16, verbose=0),
        out=tmp_path / "run",
    )
    assert result.model.output_shape == (None, 2)
    assert result.test["examples"] == 20


def _zoo(*args, check=True):
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli", *args], capture_output=True, text=True, env=os.environ.copy()
    )
    if check and done.returncode != 0:
        raise AssertionError(done.stderr[-2000:])
    return done


@pytest.mark.slow
def test_cli_end_to_end(tmp_path):
    listing = json.loads(_zoo("list", "lenet5*", "--json").stdout)
    assert [m["name"] for m in listing] == ["lenet5", "lenet5_caffe"]
    assert json.loads(_zoo("info", "resnet20", "--json").stdout)["parameters"] == 271098
    out = tmp_path / "run"
    summary = json.loads(
        _zoo(
            "train",
            "lenet_300_100",
            "--dataset",
            "mnist",
            "--epochs",
            "2",
            "--max-train-examples",
            "3000",
            "--lr",
            "0.003",
            "--out",
            str(out),
            "--quiet",
            "--json",
        ).stdout
    )
    assert summary["run_dir"] == str(out)
    metrics = json.loads(
        _zoo("evaluate", "lenet_300_100", "--weights", str(out), "--dataset", "mnist", "--json").stdout
    )
    assert set(metrics) >= {"accuracy", "loss", "examples"}
    assert metrics["examples"] == 10000 and metrics["accuracy"] > 0.8  # random weights: ~0.10
    assert metrics["accuracy"] == pytest.approx(summary["test"]["accuracy"], abs=1e-6)


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "resnet21"], "Unknown model 'resnet21'. Did you mean: resnet20"),
        (["train", "lenet5", "--dataset", "mnist", "--set", "conv_filters=[-1,16]"], "conv_filters"),
        (["train", "lenet5", "--dataset", "cifar100"], "Unknown dataset 'cifar100'"),
        (["evaluate", "lenet5", "--weights", "/nonexistent", "--dataset", "mnist"], "No weights file"),
    ],
)
def test_cli_errors_are_clear(args, message):
    done = _zoo(*args, check=False)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
