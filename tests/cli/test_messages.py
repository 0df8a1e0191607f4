"""Errors that say what to do next: preset-tag suggestions, weights=True, help texts."""

from __future__ import annotations

import pytest

import zoo
from zoo import presets
from zoo.cli import build_parser, main


@pytest.mark.parametrize("tag, suggested", [("mnst", "mnist"), ("fashion-mnist", "fashion_mnist")])
def test_preset_tag_typos_get_did_you_mean(tag, suggested):
    with pytest.raises(ValueError, match=f"Did you mean: {suggested}\\?"):
        presets.find("lenet5", tag)


def test_pull_typo_suggests_the_tag(capsys):
    assert main(["pull", "lenet5:mnst"]) == 2
    assert "Did you mean: lenet5:mnist?" in capsys.readouterr().err


@pytest.mark.parametrize("weights", [True, 1, ["mnist"]])
def test_weights_must_be_a_string(weights):
    with pytest.raises(ValueError, match=r"weights is a preset tag, a path or a URL .* Received: weights=") as err:
        zoo.create("lenet5", weights=weights)
    assert "mnist" in str(err.value) and "No preset" not in str(err.value)


def test_export_help_says_preset_tags_work():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = sub.choices["export"].format_help()
    assert "preset tag" in text and "--weights mnist" in text


def test_progress_is_plain_when_stdout_is_not_a_terminal(capsys):
    from zoo.cli.training import command_config
    from zoo.training.config import TrainConfig

    args = build_parser().parse_args(["train", "lenet5", "--dataset", "mnist"])
    assert command_config(TrainConfig, args).verbose == 2  # pytest's captured stdout is not a terminal


def test_tensorflow_start_up_lines_are_filtered():
    from zoo.cli.common import is_noise

    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796363627.650412   15445 port.cc:153] oneDNN custom operations are on.",
        "E0000 00:00:1796363126.019784    7638 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
        (
            "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
            "appropriate compiler flags."
        ),
    ]
    assert all(is_noise(line) for line in noise)
    kept = [
        "zoo train: error: Unknown dataset 'mnst'.",
        "E0000 00:00:1796363126.019784    7638 bfc_allocator.cc:1] Allocator ran out of memory",
        "Traceback (most recent call last):",
    ]
    assert not any(is_noise(line) for line in kept)


def test_tensorflow_retracing_warnings_are_dropped_unless_verbose(caplog):
    """Keras's new function per compile (fine-tuning stages) is not the user's problem: no warning for it."""
    import logging

    from zoo.cli.common import ExpectedRetracing, quiet_startup

    logger = logging.getLogger("tensorflow")
    before = list(logger.filters)
    try:
        quiet_startup(verbose=False)
        quiet_startup(verbose=False)  # once is enough
        assert sum(isinstance(f, ExpectedRetracing) for f in logger.filters) == 1
        with caplog.at_level(logging.WARNING, logger="tensorflow"):
            logger.warning("5 out of the last 15 calls to <function f> triggered tf.function retracing. Tracing is ...")
            logger.warning("Something else went wrong")
        assert [r.getMessage() for r in caplog.records] == ["Something else went wrong"]
    finally:
        logger.filters[:] = before
