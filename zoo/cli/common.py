"""What the ``zoo`` command modules share: JSON output, ``--set`` overrides, the quiet start-up.

Imports nothing heavy: ``zoo --help``, ``zoo list`` and ``zoo presets`` must start without TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
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


def quiet_startup(verbose: bool = False) -> None:
    """Silences TensorFlow's start-up lines (oneDNN, cudart, cuInit, absl) unless ``-v`` asks for them.

    Must run before TensorFlow is imported; a ``TF_CPP_MIN_LOG_LEVEL`` the user set wins.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    if not verbose:
        os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
