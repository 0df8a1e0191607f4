"""The flags of ``zoo train``, ``finetune`` and ``compress`` are made from their config classes: same names,
defaults and accepted values, and every value they offer is one training accepts."""

from __future__ import annotations

import dataclasses

import pytest

from zoo.cli import build_parser
from zoo.cli.common import add_config_flags, config_from_args, flag_fields, flag_name
from zoo.training.config import CompressConfig, FinetuneConfig, TrainConfig, option

#: Each command, its config class, and the arguments it needs besides the config's flags.
COMMANDS = {
    "train": (TrainConfig, ["lenet5", "--dataset", "x"]),
    "finetune": (FinetuneConfig, ["lenet5", "--weights", "w", "--dataset", "x"]),
    "compress": (CompressConfig, ["lenet5", "--weights", "w", "--dataset", "x"]),
}
#: The flags of each command that set no config field.
COMMAND_ONLY = {
    "train": {"--help", "--dataset", "--out", "--quiet", "--json", "--set"},
    "finetune": {"--help", "--weights", "--dataset", "--out", "--quiet", "--json"},
    "compress": {"--help", "--weights", "--dataset", "--out", "--export-base", "--tag", "--quiet", "--json"},
}
#: The config flags as users have written them since before the flags were made from the classes.
KNOWN_FLAGS = {
    "train": "augment backup-every batch-size deterministic epochs jit-compile label-smoothing lr lr-scaling "
    "max-train-examples mix mix-alpha mixed-precision optimizer resume sampling schedule seed select seq-length strategy "
    "validation-split warmup-epochs weight-decay",
    "finetune": "augment backup-every batch-size deterministic epochs freeze head-epochs head-init jit-compile "
    "label-smoothing lr lr-scaling max-train-examples mix mix-alpha mixed-precision num-classes optimizer resume "
    "schedule seed "
    "select strategy train-batchnorm unfreeze-lr-scale validation-split warmup-epochs weight-decay",
    "compress": "backup-every batch-size components epochs finetune-epochs finetune-lr init-std lr "
    "max-train-examples merge-kl method mixed-precision resume schedule seed sharpen-epochs sharpen-std strategy "
    "tau weight-decay zero-mixing",
}


def command_parser(command: str):
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices[command]


def options(parser) -> dict[str, object]:
    """Option string -> argparse action."""
    return {o: a for a in parser._actions for o in a.option_strings if o.startswith("--")}


def from_flag(field: dataclasses.Field, value):
    convert = field.metadata["flag"]["from_flag"]
    return convert(value) if convert else value


@pytest.mark.parametrize("command", COMMANDS)
def test_no_flags_give_the_config_defaults(command):
    config_class, required = COMMANDS[command]
    args = build_parser().parse_args([command, *required])
    assert config_from_args(config_class, args) == config_class()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_config_field_is_a_flag_with_its_default_and_choices(command):
    config_class, _ = COMMANDS[command]
    actions = options(command_parser(command))
    flags = {flag_name(f): f for f in flag_fields(config_class)}
    assert set(actions) == set(flags) | COMMAND_ONLY[command]  # no flag without a field, no field without a flag
    assert {f[2:] for f in flags} == set(KNOWN_FLAGS[command].split())
    for name, field in flags.items():
        action = actions[name]
        assert action.dest == field.name
        assert from_flag(field, action.default) == field.default, name
        offered = field.metadata["flag"]["choices"]
        assert action.choices == (list(offered) if offered else None), name


@pytest.mark.parametrize("command", COMMANDS)
def test_every_flag_sets_its_field(command):
    """A value other than the default on every flag at once reaches the config field of the same name."""
    config_class, required = COMMANDS[command]
    actions = options(command_parser(command))
    argv, expected = [command, *required], {}
    for field in flag_fields(config_class):
        offered, action = field.metadata["flag"]["choices"], actions[flag_name(field)]
        if field.default is False:
            argv.append(flag_name(field))
            expected[field.name] = True
            continue
        if offered:
            value = next(c for c in offered if from_flag(field, c) != field.default)
        else:
            value = "until:conv1" if field.name == "freeze" else "3"
        argv += [flag_name(field), value]
        expected[field.name] = from_flag(field, action.type(value) if action.type else value)
    config = config_from_args(config_class, build_parser().parse_args(argv))
    assert {name: getattr(config, name) for name in expected} == expected
    assert all(value != getattr(config_class(), name) for name, value in expected.items())


def _choices(config_class, name: str) -> list[str]:
    field = next(f for f in flag_fields(config_class) if f.name == name)
    return [from_flag(field, c) for c in field.metadata["flag"]["choices"]]


@pytest.mark.parametrize("config_class", [TrainConfig, FinetuneConfig, CompressConfig])
def test_every_offered_choice_passes_validation(config_class):
    for field in flag_fields(config_class):
        for value in _choices(config_class, field.name) if field.metadata["flag"]["choices"] else []:
            config_class(**{field.name: value}).validate()


def test_every_offered_optimizer_and_schedule_builds():
    from zoo.data.mixing import MIXES
    from zoo.data.pipeline import AUGMENTATIONS
    from zoo.training.finetune import stages
    from zoo.training.optim import make_optimizer, make_schedule

    for name in set(_choices(TrainConfig, "optimizer")) | set(_choices(FinetuneConfig, "optimizer")):
        assert make_optimizer(name, 0.01).learning_rate is not None
    for name in _choices(TrainConfig, "schedule"):  # as engine.fit builds them
        make_schedule(name, 0.1, 100, steps_per_epoch=10)
    for name in _choices(FinetuneConfig, "schedule"):  # a fine-tuning schedule is stages of plain schedules
        for stage in stages(FinetuneConfig(schedule=name)):
            make_schedule(stage.schedule, stage.lr, 100, steps_per_epoch=10)
    for name in _choices(CompressConfig, "schedule"):  # as the retraining builds them: no steps per epoch
        make_schedule(name, 5e-4, 100)
    assert set(_choices(TrainConfig, "augment")) == {"auto", "none", *AUGMENTATIONS}
    assert set(_choices(TrainConfig, "mix")) == {"none", *MIXES}


def test_a_field_that_declares_no_flag_is_refused():
    import argparse

    @dataclasses.dataclass
    class Undeclared:
        epochs: int = option(3)
        forgotten: int = 1

    with pytest.raises(TypeError, match="forgotten"):
        add_config_flags(argparse.ArgumentParser(), Undeclared)
