"""Issue 21: arguments are checked before anything trains, and a failed run leaves no directory behind."""

from __future__ import annotations

import logging

import pytest

from zoo.training import TrainConfig, train
from zoo.training.finetune import FinetuneConfig, finetune


def test_an_unknown_freeze_layer_fails_before_the_first_stage(tmp_path, caplog):
    config = FinetuneConfig(epochs=2, freeze="until:nolayer", max_train_examples=64, batch_size=32, verbose=0)
    with (
        caplog.at_level(logging.INFO, logger="zoo.training"),
        pytest.raises(ValueError, match="until:nolayer: .* has no such layer"),
    ):
        finetune("lenet5", "mnist", "mnist:3,8", config=config, out=tmp_path / "run")
    assert "Stage head" not in caplog.text  # the head-only stage never started
    assert not (tmp_path / "run").exists()  # and no debris


def test_two_stage_with_one_epoch_fails_before_loading_anything(tmp_path):
    with pytest.raises(ValueError, match="two_stage needs epochs >= 2"):
        finetune("lenet5", "mnist", "mnist:3,8", config=FinetuneConfig(epochs=1), out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_failed_train_leaves_no_run_directory_and_the_name_can_be_reused(tmp_path):
    config = TrainConfig(epochs=1, max_train_examples=64, batch_size=32, validation_split=0.0, verbose=0)
    with pytest.raises(ValueError, match="does not accept the override"):
        train("lenet5", "mnist", config=config, out=tmp_path / "run", overrides={"no_such_argument": 1})
    assert not (tmp_path / "run").exists()
    result = train("lenet5", "mnist", config=config, out=tmp_path / "run")
    assert result.run_dir == tmp_path / "run" and (tmp_path / "run" / "results.json").is_file()


def test_a_failure_keeps_a_directory_the_user_made(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    config = TrainConfig(epochs=1, max_train_examples=64, batch_size=32, verbose=0)
    with pytest.raises(ValueError):
        train("lenet5", "mnist", config=config, out=tmp_path / "mine", overrides={"no_such_argument": 1})
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
