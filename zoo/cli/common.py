"""What the ``zoo`` command modules share: flags from config classes, JSON output, ``--set`` overrides, the quiet
start-up.

Imports nothing heavy: ``zoo --help``, ``zoo list`` and ``zoo presets`` must start without TensorFlow.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import sys
import threading
import types
import typing
from collections.abc import Iterator
from typing import Any

#: The flag types a config field may have (its annotation, ``None`` aside).
FLAG_TYPES = (int, float, str, bool)


def flag_fields(config_class) -> list[dataclasses.Field]:
    """The fields of the config dataclass ``config_class`` that are command-line flags.

    Raises:
        TypeError: a field says neither that it is a flag nor that it is not (``zoo.training.config.option`` /
            ``not_a_flag``).
    """
    fields = dataclasses.fields(config_class)
    undeclared = [f.name for f in fields if "flag" not in f.metadata]
    if undeclared:
        raise TypeError(f"{config_class.__name__} fields {undeclared} declare no flag (option() or not_a_flag()).")
    return [f for f in fields if f.metadata["flag"] is not None]


def flag_name(field: dataclasses.Field) -> str:
    """``--batch-size`` for the field ``batch_size``."""
    return "--" + field.name.replace("_", "-")


def _flag_type(config_class, field: dataclasses.Field) -> type:
    """The type of ``field``'s flag: its annotation without ``None`` (``int | None`` -> int)."""
    hint = typing.get_type_hints(config_class)[field.name]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(t for t in typing.get_args(hint) if t is not type(None))
    if hint not in FLAG_TYPES:
        raise TypeError(f"{config_class.__name__}.{field.name}: a flag is one of {FLAG_TYPES}. Received: {hint!r}")
    return hint


def _argparse_options(config_class, field: dataclasses.Field) -> dict[str, Any]:
    """``add_argument``'s keywords for ``field``: a bool is a ``store_true`` switch, the rest take a value."""
    flag = field.metadata["flag"]
    options = {"default": field.default, "help": flag["help"] and flag["help"].replace("%", "%%")}
    kind = _flag_type(config_class, field)
    if kind is bool:
        if field.default is not False:
            raise TypeError(f"{config_class.__name__}.{field.name}: a switch defaults to False.")
        return options | {"action": "store_true"}
    if kind is not str:
        options["type"] = kind
    if flag["choices"] is not None:
        options["choices"] = list(flag["choices"])
    if flag["metavar"]:
        options["metavar"] = flag["metavar"]
    return options


def add_config_flags(parser: argparse.ArgumentParser, config_class) -> None:
    """Adds a flag per field of the config dataclass ``config_class``, in field order.

    The name, default, help text, accepted values and help section come from the field (see
    :mod:`zoo.training.config`); the type from its annotation.
    """
    groups: dict[str, Any] = {}
    for field in flag_fields(config_class):
        title = field.metadata["flag"]["group"]
        if title and title not in groups:
            groups[title] = parser.add_argument_group(title)
        target = groups[title] if title else parser
        target.add_argument(flag_name(field), **_argparse_options(config_class, field))


def config_from_args(config_class, args: argparse.Namespace, **settings: Any):
    """The ``config_class`` of the parsed flags (each mapped by its field's ``from_flag``), plus ``settings``."""
    values = {}
    for field in flag_fields(config_class):
        from_flag = field.metadata["flag"]["from_flag"]
        value = getattr(args, field.name)
        values[field.name] = from_flag(value) if from_flag else value
    return config_class(**values, **settings)


def parse_override(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--set``, VALUE parsed as JSON (a bare string when it is not JSON)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--set takes KEY=VALUE (VALUE as JSON). Received: {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string such as activation=relu
    return key, value


def print_json(payload: Any) -> None:
    """Prints ``payload`` as indented JSON (numbers and paths as JSON takes them)."""
    print(json.dumps(payload, indent=2, default=str))


NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] .*"
    r"|E\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] .*(cuInit|cuda|CUDA|Unable to register).*"
    r"|To enable the following instructions: .*|.*rebuild TensorFlow with the appropriate compiler flags\.)$"
)
"""TensorFlow's start-up lines on stderr: absl's preamble, info and warning lines of its C++ runtime (oneDNN,
cudart, CPU features), and the cuInit / CUDA-factory errors of a machine without a GPU."""


def is_noise(line: str) -> bool:
    """Whether ``line`` (without its newline) is one of TensorFlow's start-up lines.

    Example:
        >>> is_noise("I0000 00:00:1796363562.190960   13974 cudart_stub.cc:31] Could not find cuda drivers")
        True
        >>> is_noise("zoo train: error: Unknown data set 'mnst'.")
        False
    """
    return bool(NOISE.match(line))


def quiet_startup(verbose: bool = False) -> None:
    """Sets TensorFlow's log level before it is imported: errors only, everything with ``-v``.

    A ``TF_CPP_MIN_LOG_LEVEL`` the user set wins. Lines TensorFlow's C++ runtime writes before its log level
    applies are removed by :func:`filtered_stderr`.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    if not verbose:
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
        tensorflow_logger = logging.getLogger("tensorflow")
        if not any(isinstance(f, ExpectedRetracing) for f in tensorflow_logger.filters):
            tensorflow_logger.addFilter(ExpectedRetracing())


class ExpectedRetracing(logging.Filter):
    """Drops TensorFlow's "N out of the last M calls ... triggered tf.function retracing" warning.

    Keras makes a new train and test function at every compile (each stage of a fine-tuning, each
    evaluation), and TensorFlow counts those as retracings of one function: the warning says nothing
    is wrong with the user's input. ``zoo -v`` shows it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def filtered_stderr(enabled: bool = True) -> Iterator[None]:
    """Passes the process's stderr (file descriptor 2, C++ libraries included) through :func:`is_noise`.

    Everything else reaches the terminal unchanged, line by line, as it is written.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    original = os.dup(2)
    read_end, write_end = os.pipe()
    forward_to = os.dup(original)  # the thread's own copy: it outlives ``original``
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as pipe, os.fdopen(forward_to, "wb", buffering=0) as out:
            for line in pipe:
                if not is_noise(line.decode(errors="replace").rstrip("\r\n")):
                    out.write(line)

    thread = threading.Thread(target=forward, name="zoo-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(original, 2)  # closes the pipe's last write end: the thread drains it and stops
        os.close(original)
        thread.join(timeout=5)
