"""Presets: save, checksum, find by tag, load through zoo.create, refuse tampered files."""

from __future__ import annotations

import json

import numpy as np
import pytest

import zoo
from zoo import presets


@pytest.fixture
def kzoo_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KZOO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _saved(kzoo_home, tag="mnist-test"):
    model = zoo.create("lenet_300_100", dropout=0.0)
    directory = presets.save_preset(
        model,
        kzoo_home / "presets" / "lenet_300_100" / tag,
        name="lenet_300_100",
        dataset="mnist",
        metrics={"accuracy": {"value": 0.5, "command": "zoo evaluate"}},
    )
    return model, directory


def test_a_saved_preset_loads_by_tag_with_identical_weights(kzoo_home, real_images):
    model, directory = _saved(kzoo_home)
    assert sorted(p.name for p in directory.iterdir()) == [
        "README.md",
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
    metadata = json.loads((directory / "metadata.json").read_text())
    assert metadata["parameters"] == model.count_params() and metadata["dataset"] == "mnist"
    assert set(metadata["files"]) == {"config.json", "model.weights.h5", "README.md"}
    assert "mnist-test" in presets.list_tags("lenet_300_100") and "mnist-test" in zoo.info("lenet_300_100")["weights"]
    images = real_images((28, 28, 1), 4)
    for loaded in (
        zoo.create("lenet_300_100", weights="mnist-test"),
        zoo.create("lenet_300_100", weights=str(directory)),
    ):
        np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)


def test_a_tampered_or_incomplete_preset_is_refused(kzoo_home):
    _, directory = _saved(kzoo_home)
    with open(directory / "model.weights.h5", "r+b") as f:
        f.seek(-64, 2)
        f.write(b"\0" * 64)
    with pytest.raises(ValueError, match="corrupt or was modified"):
        zoo.create("lenet_300_100", weights="mnist-test")
    _, other = _saved(kzoo_home, tag="mnist-other")
    (other / "README.md").unlink()
    with pytest.raises(ValueError, match="README.md is missing"):
        presets.verify(other)


def test_unknown_tags_and_mismatched_models_get_clear_errors(kzoo_home):
    _saved(kzoo_home)
    with pytest.raises(ValueError, match="No preset 'imagenet' for lenet_300_100. Available: .*mnist-test"):
        zoo.create("lenet_300_100", weights="imagenet")
    with pytest.raises(ValueError, match="holds weights for 'lenet_300_100', not 'lenet5'"):
        zoo.create("lenet5", weights=str(kzoo_home / "presets" / "lenet_300_100" / "mnist-test"))
    with pytest.raises(FileExistsError):
        _saved(kzoo_home)


@pytest.mark.parametrize("name", ["lenet5_caffe", "lenet_300_100"])
def test_the_shipped_soft_weight_sharing_presets_are_quantised_and_accurate(name, mnist_test):
    """zoo.create(NAME, weights="mnist-sws"): kernels hold only the codebook's values; digits still classified."""
    assert "mnist-sws" in zoo.info(name)["weights"]
    model = zoo.create(name, weights="mnist-sws")
    metadata = json.loads((presets.find(name, "mnist-sws") / "metadata.json").read_text())
    codebook = metadata.get("codebook", metadata["mixture"]["means"])  # trained quantisation moves the values
    allowed = set(np.float32(codebook).tolist()) | {0.0}
    assert len(codebook) <= len(metadata["mixture"]["means"])
    for variable in model.trainable_weights:
        assert set(np.unique(np.array(variable)).tolist()) <= allowed, variable.path
    spec, split = mnist_test
    from zoo.data.pipeline import make_pipeline

    images = make_pipeline(spec, split.images[:2000], split.labels[:2000], batch_size=500, training=False)
    predictions = np.concatenate([np.argmax(model.predict(x, verbose=0), axis=-1) for x, _ in images])
    assert np.mean(predictions == split.labels[:2000]) > 0.97


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lenet5", "lenet5_caffe", "lenet_300_100", "mlp"])
def test_the_shipped_mnist_presets_reproduce_their_recorded_accuracy(name):
    """zoo.create(NAME, weights="mnist") verifies the checksums, and zoo evaluate gives the metadata's figure."""
    from zoo.training import evaluate

    assert "mnist" in zoo.info(name)["weights"]
    directory = presets.find(name, "mnist")
    metadata = json.loads((directory / "metadata.json").read_text())
    assert (
        metadata["metrics"]["accuracy"]["command"]
        == f"zoo evaluate {name} --weights bench/weights/{name}-mnist --dataset mnist --json"
    )
    measured = evaluate(name, "mnist", "mnist")
    assert measured["examples"] == 10000
    assert measured["accuracy"] == pytest.approx(metadata["metrics"]["accuracy"]["value"], abs=1e-4)
    assert measured["accuracy"] > 0.97


def test_zoo_presets_with_no_match_suggests_close_names(capsys):
    from zoo.cli import main

    assert main(["presets", "resnet2"]) == 1
    err = capsys.readouterr().err
    assert "no presets match 'resnet2'. Did you mean: resnet20, resnet20:cifar10" in err
    assert main(["presets", "lenet5:mnst"]) == 1
    assert "Did you mean: lenet5:mnist" in capsys.readouterr().err
    assert main(["presets", "resnet20"]) == 0
    assert capsys.readouterr().out.startswith("resnet20:cifar10")
