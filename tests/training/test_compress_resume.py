"""zoo compress killed in the middle of an epoch resumes, through the engine's backups, to the same compressed model."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from kill_and_resume import kill_mid_epoch

import zoo
from zoo.training.compression import CompressConfig, compress

ZOO = [sys.executable, "-m", "zoo.cli"]
#: The packaged lenet_300_100:mnist preset; 1,500 real digits in batches of 50 (30 steps an epoch), retraining,
#: sharpening and fine-tuning the shared values one epoch each, a backup every 7 steps.
COMMAND = [
    *ZOO,
    "compress",
    "lenet_300_100",
    "--weights",
    "mnist",
    "--dataset",
    "mnist",
    "--epochs",
    "2",
    "--sharpen-epochs",
    "1",
    "--finetune-epochs",
    "1",
    "--batch-size",
    "50",
    "--max-train-examples",
    "1500",
    "--tau",
    "0.05",
    "--backup-every",
    "7",
    "--quiet",
    "--json",
]


@pytest.mark.slow
def test_a_killed_compression_resumes_to_the_model_of_an_uninterrupted_run(tmp_path):
    full = subprocess.run([*COMMAND, "--out", str(tmp_path / "full")], capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]
    cut = tmp_path / "cut"
    point = kill_mid_epoch(COMMAND, cut)
    assert point is not None and point.stage == 0 and point.epoch >= 1 and point.step % 7 == 0 and point.step > 0
    assert not (cut / "report.json").exists()

    refused = subprocess.run([*COMMAND, "--out", str(cut)], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = subprocess.run([*COMMAND, "--out", str(cut), "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a, b = (json.loads((tmp_path / r / "report.json").read_text()) for r in ("full", "cut"))
    assert a["test"] == b["test"] and a["codebook"] == b["codebook"] and a["compression"] == b["compression"]
    history = [json.loads((tmp_path / r / "history.json").read_text()) for r in ("full", "cut")]
    assert len(history[1]) == 3  # two retraining epochs and one sharpening epoch
    for whole, resumed_epoch in zip(*history):  # the same mixture after every epoch
        assert whole["mixture"] == resumed_epoch["mixture"]
        if whole["epoch"] != point.epoch + 1:  # the interrupted epoch's loss averages only its last batches
            assert whole == resumed_epoch
    models = [zoo.create("lenet_300_100", weights=str(tmp_path / r / "preset" / "mnist-sws")) for r in ("full", "cut")]
    for x, y in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_array_equal(x, y)
    assert not (cut / "backup").exists()  # a finished run keeps no backup


def test_resume_needs_the_output_directory():
    with pytest.raises(ValueError, match="give its output directory"):
        compress("lenet_300_100", "mnist", "mnist", config=CompressConfig(epochs=1, resume=True))


def test_resuming_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "cut"
    point = kill_mid_epoch(COMMAND, out)
    assert point is not None
    changed = CompressConfig(
        epochs=2,
        sharpen_epochs=1,
        finetune_epochs=1,
        batch_size=50,
        max_train_examples=1500,
        tau=0.1,
        backup_every=7,
        resume=True,
        verbose=0,
    )
    with pytest.raises(ValueError, match="tau"):
        compress("lenet_300_100", "mnist", "mnist", config=changed, out=out)
