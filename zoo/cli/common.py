"""What the ``zoo`` command modules share: JSON output, ``--set`` overrides, the quiet start-up.

Imports nothing heavy: ``zoo --help``, ``zoo list`` and ``zoo presets`` must start without TensorFlow.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import threading
from collections.abc import Iterator
from typing import Any


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
