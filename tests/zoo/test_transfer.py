"""Issue 26: a new head of another size on pretrained weights in one call, and short errors for real mismatches."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

import zoo


def test_a_new_head_of_the_asked_size_on_the_pretrained_backbone(caplog, real_images):
    pretrained = zoo.create("lenet5", weights="fashion_mnist")
    with caplog.at_level(logging.WARNING), warnings.catch_warnings(record=True) as keras_warnings:
        warnings.simplefilter("always")
        model = zoo.create("lenet5", weights="fashion_mnist", num_classes=5)
    assert model.output_shape == (None, 5)
    for name in ("conv1", "conv2", "fc1", "fc2"):
        for new, old in zip(model.get_layer(name).get_weights(), pretrained.get_layer(name).get_weights()):
            np.testing.assert_array_equal(new, old)
    features = real_images((28, 28, 1), 2)
    assert np.isfinite(model.predict(features, verbose=0)).all()
    notes = [r.getMessage() for r in caplog.records if r.name.startswith("zoo")]  # not TensorFlow's retracing notes
    assert len(notes) == 1 and "new head (predictions, 5 outputs)" in notes[0] and "10-output" in notes[0]
    assert not [w for w in keras_warnings if "Skipping" in str(w.message)]


def test_overrides_that_keep_the_shapes_keep_every_weight():
    pretrained = zoo.create("lenet5", weights="fashion_mnist")
    same = zoo.create("lenet5", weights="fashion_mnist", num_classes=10)
    for new, old in zip(same.get_weights(), pretrained.get_weights()):
        np.testing.assert_array_equal(new, old)


def test_a_real_mismatch_names_the_layer_and_both_shapes_briefly(tmp_path):
    with pytest.raises(ValueError) as caught:
        zoo.create("lenet5", weights="fashion_mnist", input_shape=[32, 32, 1])
    message = str(caught.value)
    assert "'fc1'" in message and "(400, 120)" in message and "(576, 120)" in message
    assert "value=" not in message and len(message) < 600

    bare = tmp_path / "lenet5.weights.h5"
    zoo.create("lenet5", weights="fashion_mnist").save_weights(bare)
    with warnings.catch_warnings(record=True) as keras_warnings, pytest.raises(ValueError) as caught:
        warnings.simplefilter("always")
        zoo.create("lenet5", weights=str(bare), num_classes=5)
    message = str(caught.value)
    assert "'predictions'" in message and "(84, 5)" in message and "(84, 10)" in message
    assert "value=" not in message and "[[" not in message and len(message) < 600
    assert not [w for w in keras_warnings if "Skipping" in str(w.message)]


def test_a_run_directory_gets_a_new_head_too(tmp_path):
    import json

    pretrained = zoo.create("lenet5", weights="mnist")
    run = tmp_path / "run"
    run.mkdir()
    pretrained.save_weights(run / "best.weights.h5")
    (run / "config.json").write_text(
        json.dumps({"model": "lenet5", "dataset": "mnist", "model_config": zoo.registry.constructor_config(pretrained)})
    )
    model = zoo.create("lenet5", weights=str(run), num_classes=3)
    assert model.output_shape == (None, 3)
    np.testing.assert_array_equal(model.get_layer("fc2").get_weights()[0], pretrained.get_layer("fc2").get_weights()[0])
