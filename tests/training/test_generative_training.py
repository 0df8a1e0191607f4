"""Generative training on real digits: the ELBO falls, GAN and diffusion runs write sample grids and FIDs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from zoo.training import TrainConfig, evaluate, train


def test_a_short_vae_run_lowers_the_negative_elbo(tmp_path):
    config = TrainConfig(epochs=3, batch_size=64, lr=1e-3, max_train_examples=2000, validation_split=0.05, verbose=0)
    result = train("vae_mlp", "mnist", config=config, out=tmp_path / "vae")
    losses = result.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0] - 20, losses
    assert result.history["val_loss"][-1] < result.history["val_loss"][0]
    assert sorted(p.name for p in (tmp_path / "vae" / "samples").iterdir()) == [
        "epoch-001.png",
        "epoch-002.png",
        "epoch-003.png",
    ]
    test = result.test
    assert test["unit"] == "nats" and 0 < test["nll"] <= test["negative_elbo"] < losses[0]


def test_a_short_gan_run_trains_both_networks_and_measures_fid(tmp_path):
    config = TrainConfig(epochs=2, batch_size=64, max_train_examples=1024, verbose=0)
    result = train("dcgan", "mnist", config=config, out=tmp_path / "gan")
    assert np.isfinite(result.history["d_loss"]).all() and np.isfinite(result.history["g_loss"]).all()
    assert not (tmp_path / "gan" / "best.weights.h5").exists() and (tmp_path / "gan" / "last.weights.h5").is_file()
    assert (tmp_path / "gan" / "samples" / "epoch-002.png").is_file()
    assert result.test["fid"] > result.test["fid_real_vs_real"] > 0 and result.test["samples"] == 500


@pytest.mark.slow
def test_train_and_evaluate_a_diffusion_model_from_the_command_line(tmp_path):
    zoo = [sys.executable, "-m", "zoo.cli"]
    run = tmp_path / "ddpm"
    done = subprocess.run(
        [
            *zoo,
            "train",
            "ddpm_small",
            "--dataset",
            "mnist",
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--max-train-examples",
            "512",
            "--validation-split",
            "0.005",
            "--quiet",
            "--json",
            "--out",
            str(run),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["test"]["samples"] == 200
    measured = evaluate("ddpm_small", run, "mnist", num_samples=200, steps=5)
    assert measured["samples"] == 200 and measured["steps"] == 5 and measured["fid"] > 0
    bad = subprocess.run(
        [*zoo, "evaluate", "lenet5", "--weights", "mnist", "--dataset", "mnist", "--steps", "5"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "options of generative models' evaluation" in bad.stderr


def test_the_end_of_training_measure_does_not_need_a_feature_preset():
    """A data set without a zoo classifier to measure FID on (CIFAR-10 here) still finishes its training run."""
    import zoo
    from zoo.training.generative import evaluate_model

    measured = evaluate_model(zoo.create("dcgan", image_shape=[32, 32, 3]), "cifar10", quick=True)
    assert measured["fid"] is None and "No zoo classifier preset measures cifar10" in measured["note"]


def test_the_pipeline_follows_the_built_models_critic_steps_and_refuses_too_few_images():
    from zoo.training.generative import GenerativeData

    config = TrainConfig(batch_size=32, max_train_examples=200)
    assert GenerativeData.loader("wgan_gp", {"critic_steps": 3})("mnist", config).step_batch == 96
    assert GenerativeData.loader("wgan_gp")("mnist", config).step_batch == 160
    with pytest.raises(ValueError, match="cannot fill one step of 320"):
        GenerativeData.loader("wgan_gp")("mnist", TrainConfig(batch_size=64, max_train_examples=200))
