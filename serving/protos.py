"""TensorFlow Serving's protocol buffers, importable without importing TensorFlow.

``tensorflow_serving.apis`` and ``tensorflow.core`` hold only generated ``*_pb2`` modules, but importing
``tensorflow.core.framework.tensor_pb2`` first runs ``tensorflow/__init__.py``, which loads all of TensorFlow
(6-9 s). A gRPC client (``zoo predict --server``, :class:`zoo.serving.client.Client`) needs only the messages, so
when TensorFlow is not loaded yet this module imports them under a bare stand-in for the ``tensorflow``
package (its ``__path__`` only) and removes the stand-in afterwards: a later ``import tensorflow`` runs the
real package, which finds the same message modules already imported.

Import this module before any ``tensorflow.core`` or ``tensorflow_serving`` import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

PACKAGES = ("tensorflow_serving.apis", "tensorflow_serving.config")
"""Every ``*_pb2`` / ``*_pb2_grpc`` module of these is imported, with the ``tensorflow.core`` protos they use."""

EXTRA = ("tensorflow.core.example.example_pb2", "tensorflow.core.protobuf.saved_model_pb2")
"""TensorFlow protos the serving code imports directly."""


def _modules() -> list[str]:
    """All message and service modules: importing all now means none is left to import half-way later."""
    names = list(EXTRA)
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        for folder in spec.submodule_search_locations if spec else ():
            names += sorted(f"{package}.{path.stem}" for path in Path(folder).glob("*_pb2*.py"))
    return names


def _import_without_tensorflow() -> None:
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or spec.submodule_search_locations is None:
        return  # no TensorFlow installed: the imports below fail with the usual message
    stand_in = types.ModuleType("tensorflow")
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__spec__ = spec
    sys.modules["tensorflow"] = stand_in
    try:
        for name in _modules():
            importlib.import_module(name)
    finally:
        if sys.modules.get("tensorflow") is stand_in:
            del sys.modules["tensorflow"]


if "tensorflow" not in sys.modules:
    _import_without_tensorflow()
