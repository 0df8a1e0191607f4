"""Fine-tuning: head replacement, freezing (BatchNorm in inference mode), two stages, real-data transfer runs."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

import zoo
from zoo.training.finetune import FinetuneConfig, apply_freeze, finetune, head_layers, stages, with_new_head


def test_a_new_head_keeps_every_pretrained_layer_but_the_head():
    pretrained = zoo.create("lenet5", weights="mnist")
    model, transferred = with_new_head(pretrained, "lenet5", {"num_classes": 5})
    assert transferred == ["conv1", "conv2", "fc1", "fc2"] and head_layers(model) == ["predictions"]
    assert model.output_shape == (None, 5)
    for name in transferred:
        for new, old in zip(model.get_layer(name).get_weights(), pretrained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(new, old)


def test_a_globally_pooled_model_takes_a_new_input_size_but_a_flattening_one_says_why_not():
    pretrained = zoo.create("resnet20", stage_blocks=[1, 1, 1])
    model, transferred = with_new_head(pretrained, "resnet20", {"num_classes": 3, "input_shape": [48, 48, 3]})
    assert model.input_shape == (None, 48, 48, 3) and "stack3_block1" in transferred
    np.testing.assert_array_equal(
        model.get_layer("stem_conv").get_weights()[0], pretrained.get_layer("stem_conv").get_weights()[0]
    )
    with pytest.raises(ValueError, match=r"Layer 'fc1' .* weights \[\(400, 120\), \(120,\)\].* needs \[\(576, 120\)"):
        with_new_head(zoo.create("lenet5"), "lenet5", {"num_classes": 10, "input_shape": [32, 32, 1]})


def test_freezing_the_backbone_leaves_only_the_head_and_keeps_batchnorm_statistics(real_images):
    model = zoo.create("resnet20", stage_blocks=[1, 1, 1], num_classes=3)
    frozen = apply_freeze(model, "backbone")
    assert "stack3_block1" in frozen and "predictions" not in frozen
    assert [w.path for w in model.trainable_weights] == ["predictions/kernel", "predictions/bias"]
    apply_freeze(model, "until:stack2_block1")
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable == {"stack3_block1", "predictions"}
    batchnorms = [l for l in model._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    before = [np.array(b.moving_mean) for b in batchnorms]
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(real_images((32, 32, 3), 8), np.arange(8) % 3, epochs=1, verbose=0)
    for b, m in zip(batchnorms, before):  # inference mode: moving statistics untouched, even in trainable blocks
        np.testing.assert_array_equal(np.array(b.moving_mean), m)
    apply_freeze(model, "none", train_batchnorm=True)
    assert len(model.trainable_weights) == sum(len(l.trainable_weights) for l in model.layers)


def test_bad_fine_tuning_settings_get_clear_errors():
    with pytest.raises(ValueError, match="one-stage schedule"):
        FinetuneConfig(freeze="backbone").validate()
    with pytest.raises(ValueError, match="freeze must be"):
        FinetuneConfig(freeze="half").validate()
    with pytest.raises(ValueError, match="head_epochs must be in"):
        FinetuneConfig(epochs=4, head_epochs=4).validate()
    with pytest.raises(ValueError, match="no such layer.* Layers: images, standardize, conv1"):
        apply_freeze(zoo.create("lenet5"), "until:conv9")
    assert [(s.name, s.epochs, s.freeze) for s in stages(FinetuneConfig(epochs=5, lr=0.01))] == [
        ("head", 2, "backbone"),
        ("unfrozen", 3, "none"),
    ]
    assert stages(FinetuneConfig(epochs=5, lr=0.01))[1].lr == pytest.approx(0.001)
    with pytest.raises(ValueError, match="takes 1-channel images, cifar10:0,1 has 3 channels"):
        finetune("lenet5", "mnist", "cifar10:0,1", config=FinetuneConfig(epochs=2, max_train_examples=64))
    with pytest.raises(ValueError, match="1433 node features, citeseer has 3703"):
        finetune("gcn", "cora", "citeseer", config=FinetuneConfig(epochs=2))


def test_mnist_lenet5_fine_tunes_and_probes_on_fashion_mnist(tmp_path):
    """2,000 Fashion-MNIST images, 4 epochs: two stages reach what random weights cannot; a probe keeps the backbone."""
    budget = dict(epochs=4, max_train_examples=2000, batch_size=64, lr=1e-2, validation_split=0.05, verbose=0)
    tuned = finetune("lenet5", "mnist", "fashion_mnist", config=FinetuneConfig(**budget), out=tmp_path / "ft")
    record = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert record["pretrained"]["transferred_layers"] == ["conv1", "conv2", "fc1", "fc2"]
    assert [s["name"] for s in record["stages"]] == ["head", "unfrozen"]
    assert len(tuned.history["loss"]) == 4
    assert tuned.test["accuracy"] > 0.65, tuned.test  # measured: 72.9%
    probe = finetune(
        "lenet5",
        "mnist",
        "fashion_mnist",
        out=tmp_path / "probe",
        config=FinetuneConfig(**{**budget, "schedule": "cosine", "freeze": "backbone"}),
    )
    conv1 = zoo.create("lenet5", weights="mnist").get_layer("conv1").get_weights()[0]
    np.testing.assert_array_equal(probe.model.get_layer("conv1").get_weights()[0], conv1)  # frozen throughout
    assert probe.test["accuracy"] > 0.60, probe.test


def test_progress_counts_epochs_over_both_stages(tmp_path, capfd):
    """Keras numbers epochs per fit: a one-epoch head stage printed no header, a longer one "Epoch 1/2" of 5."""
    config = FinetuneConfig(epochs=3, head_epochs=1, max_train_examples=128, batch_size=64, verbose=2)
    finetune("lenet5", "mnist", "mnist:3,8", config=config, out=tmp_path / "ft")
    headers = [line for line in capfd.readouterr().out.splitlines() if line.startswith("Epoch ")]
    assert headers == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]


def test_a_pretrained_gcn_fine_tunes_on_a_new_label_set_of_its_graph(tmp_path):
    result = finetune(
        "gcn", "cora", "cora:0,1,2,3", out=tmp_path / "gcn", config=FinetuneConfig(epochs=60, lr=0.05, verbose=0)
    )
    assert result.model.output_shape == (None, 4)
    assert result.test["examples"] == 684 and result.test["accuracy"] > 0.8, result.test  # measured: 87.4%


@pytest.mark.slow
def test_zoo_finetune_from_the_command_line_then_evaluate_the_run(tmp_path):
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "zoo.cli",
        "finetune",
        "lenet5",
        "--weights",
        "mnist",
        "--dataset",
        "mnist:3,8",
        "--epochs",
        "2",
        "--max-train-examples",
        "1000",
        "--schedule",
        "cosine",
        "--lr",
        "3e-3",
        "--quiet",
        "--json",
        "--out",
        str(run),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["test"]["accuracy"] > 0.9
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "zoo.cli",
            "evaluate",
            "lenet5",
            "--weights",
            str(run),
            "--dataset",
            "mnist:3,8",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(summary["test"]["accuracy"], abs=1e-6)
    bad = subprocess.run(
        [*command[:-2], "--schedule", "two_stage", "--freeze", "backbone", "--out", str(tmp_path / "bad")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "one-stage schedule" in bad.stderr
