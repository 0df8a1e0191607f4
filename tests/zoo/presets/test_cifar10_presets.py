"""The colour-image presets trained on CIFAR-10: they load, score well above chance on real test photos, and
fine-tune on a user's folder of colour photos from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import zoo
from zoo import presets
from zoo.presets import declared

CIFAR10_PRESETS = sorted((d["model"], d["tag"]) for d in declared.declarations() if d["dataset"] == "cifar10")
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.mark.parametrize("name", ["resnet20", "cct_4_3x2_32"])
def test_a_resnet_and_a_vision_transformer_have_a_cifar10_preset(name):
    assert (name, "cifar10") in CIFAR10_PRESETS
    assert "cifar10" in zoo.info(name)["weights"]


@pytest.mark.parametrize(("name", "tag"), CIFAR10_PRESETS)
def test_a_cifar10_preset_scores_well_above_chance_on_real_test_photos(name, tag, cifar10_test):
    """500 of the 10,000 test photos (every 20th): chance is 10%; the recorded figure is over all 10,000."""
    metadata = json.loads((presets.find(name, tag) / "metadata.json").read_text())
    recorded = metadata["metrics"]["accuracy"]
    assert recorded["command"] == f"zoo evaluate {name} --weights {tag} --dataset cifar10 --json"
    assert metadata["class_names"] == CLASSES
    _, split = cifar10_test
    images, labels = split.images[::20].astype("float32") / 255.0, split.labels[::20]
    model = zoo.create(name, weights=tag)
    predicted = np.argmax(model.predict(images, batch_size=100, verbose=0), axis=-1)
    accuracy = float(np.mean(predicted == labels))
    # 500 photos: one standard deviation of the sample's accuracy is about 1.3 points at 90%.
    assert accuracy > 0.75 and abs(accuracy - recorded["value"]) < 0.05, (accuracy, recorded["value"])


@pytest.mark.slow
@pytest.mark.parametrize(("name", "last_block"), [("resnet20", "stack3_block3"), ("cct_4_3x2_32", "block4")])
def test_zoo_finetune_from_a_cifar10_preset_on_a_folder_of_colour_photos(name, last_block, tmp_path, cifar10_test):
    """`zoo finetune NAME --weights cifar10 --dataset <folder>`: a new 2-class head on the pretrained backbone."""
    from PIL import Image

    _, split = cifar10_test
    folder = tmp_path / "photos"
    wanted = {0: "plane", 8: "boat"}  # two classes of the user's own naming
    kept = [(image, label) for image, label in zip(split.images, split.labels) if label in wanted][:120]
    for i, (image, label) in enumerate(kept):
        (folder / wanted[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / wanted[label] / f"{i}.png")
    run = tmp_path / "run"
    command = [sys.executable, "-m", "zoo.cli", "finetune", name, "--weights", "cifar10", "--dataset"]
    command += [str(folder), "--epochs", "2", "--batch-size", "16", "--quiet", "--json", "--out", str(run)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    config = json.loads((run / "config.json").read_text())
    assert config["model_config"]["num_classes"] == 2 and config["class_names"] == ["boat", "plane"]
    assert last_block in " ".join(config["pretrained"]["transferred_layers"])
    assert summary["test"]["accuracy"] > 0.7, summary["test"]
