"""zoo compress end to end on real MNIST: retrain under the prior, quantise, report, preset, SavedModel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo.training.compression import CompressConfig, compress

#: The packaged lenet_300_100:mnist preset (1.60% test error).
TRAINED = "mnist"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """LeNet-300-100 (the packaged mnist preset) retrained 10 short epochs on 6,000 real digits (about 40 s).

    Narrow initial components and a faster learning rate make the prior settle in
    240 steps; measured with seeds 0 and 1: 17.6% and 14.6% test error after quantisation,
    4% non-zero (8 epochs gave 20.3% with seed 0: too close to the bound below).
    """
    out = tmp_path_factory.mktemp("compress") / "lenet_300_100"
    config = CompressConfig(epochs=10, tau=0.05, lr=1e-3, init_std=0.03, max_train_examples=6000, verbose=0)
    return compress("lenet_300_100", TRAINED, "mnist", config=config, out=out, export_base=out.parent / "serving")


def test_quick_real_compression_keeps_accuracy_and_shrinks_the_model(quick_run):
    report = quick_run.report
    assert report["test"]["before"]["accuracy"] > 0.98  # the trained starting point
    assert report["test"]["after"]["accuracy"] > 0.80  # random guessing: 0.10; everything pruned: ~0.10
    assert report["compression"]["sparse"] > 20.0  # 32-bit dense weights / sparse format
    assert report["compression"]["sparse_huffman"] > report["compression"]["sparse"]
    assert report["weights"]["nonzero_fraction"] < 0.2
    assert 2 <= report["components"]["used"] <= 17


def test_the_compressed_model_holds_only_the_component_means(quick_run, mnist_test):
    codebook = set(np.float32(quick_run.report["codebook"]).tolist()) | {0.0}
    preset = Path(quick_run.report["preset"])
    loaded = zoo.create("lenet_300_100", weights=str(preset))
    for layer in ("dense1", "dense2", "predictions"):
        assert set(np.unique(np.array(loaded.get_layer(layer).kernel)).tolist()) <= codebook
    metadata = json.loads((preset / "metadata.json").read_text())
    assert metadata["metrics"]["accuracy"]["value"] == pytest.approx(quick_run.report["test"]["after"]["accuracy"])
    assert "model.weights.kzq" in metadata["files"] and not (preset / "model.weights.h5").exists()
    images = mnist_test[1].images[:256].astype("float32") / 255.0  # the compressed preset: the same logits
    assert np.asarray(loaded(images)).tobytes() == np.asarray(quick_run.model(images)).tobytes()


def test_outputs_report_plot_history_and_savedmodel(quick_run):
    out = quick_run.out
    assert (out / "weights.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(json.loads((out / "history.json").read_text())) == 10
    markdown = (out / "report.md").read_text()
    assert "compression (sparse + Huffman)" in markdown and "dense1/kernel" in markdown
    export = Path(quick_run.report["export"])
    assert (export / "saved_model.pb").is_file() and export.parent.name == "lenet_300_100"


def test_cli_compress_and_evaluate_the_preset(tmp_path):
    out = tmp_path / "cli"
    env_cmd = [sys.executable, "-m", "zoo.cli"]
    done = subprocess.run(
        env_cmd
        + [
            "compress",
            "lenet_300_100",
            "--weights",
            str(TRAINED),
            "--dataset",
            "mnist",
            "--epochs",
            "1",
            "--max-train-examples",
            "2000",
            "--tau",
            "0.05",
            "--out",
            str(out),
            "--tag",
            "mnist-quick",
            "--json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["preset"].endswith("mnist-quick") and summary["compression"]["sparse"] > 1.0
    evaluated = subprocess.run(
        env_cmd + ["evaluate", "lenet_300_100", "--weights", summary["preset"], "--dataset", "mnist", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(report["test"]["after"]["accuracy"], abs=1e-6)
    again = subprocess.run(
        env_cmd + ["compress", "lenet_300_100", "--weights", str(TRAINED), "--dataset", "mnist", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 2 and "already holds a finished compression run" in again.stderr


def test_bad_settings_are_refused_before_any_work():
    with pytest.raises(ValueError, match="method"):
        compress("lenet_300_100", TRAINED, "mnist", config=CompressConfig(method="magic"))
    with pytest.raises(ValueError, match="epochs"):
        compress("lenet_300_100", TRAINED, "mnist", config=CompressConfig(epochs=0))


def test_sharpening_narrows_the_components_before_quantising(tmp_path):
    """The same 3 epochs on 2,000 real digits, the last 2 of them with the components held near std 0.004.

    The components start at std 0.02, the mode of the default Gamma hyperprior.
    """

    def run(name, **phases):
        config = CompressConfig(
            lr=3e-3, tau=0.05, batch_size=64, init_std=0.02, max_train_examples=2000, verbose=0, **phases
        )
        return compress("lenet_300_100", TRAINED, "mnist", config=config, out=tmp_path / name)

    plain = run("plain", epochs=3)
    sharpened = run("sharpened", epochs=1, sharpen_epochs=2, sharpen_std=0.004)
    history = json.loads((sharpened.out / "history.json").read_text())
    assert [epoch["epoch"] for epoch in history] == [1, 2, 3]  # one history across both phases

    def learned_stds(result):
        stds = json.loads((result.out / "history.json").read_text())[-1]["mixture"]["stds"]
        return np.median(stds[1:])  # without the zero component

    assert learned_stds(sharpened) < 0.8 * learned_stds(plain)
    assert "unsharpened" in sharpened.report["error_percent"] and "unsharpened" not in plain.report["error_percent"]
    assert "Sharpening" in (sharpened.out / "report.md").read_text()
    with pytest.raises(ValueError, match="sharpen"):
        CompressConfig(sharpen_epochs=-1).validate()
