"""One loaded version of a SavedModel: its signatures, input checks and calls.

Any TF Serving-compatible SavedModel loads: TF2 ``tf.saved_model.save`` and
Keras ``model.export`` exports, and TF1 SavedModels with Predict / Classify /
Regress signature defs. Signature metadata is read from ``saved_model.pb``
itself, as TF Serving does, so method names and tensor infos are exact.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving import errors
from serving.tensors import TensorSpec, dtype_name, numpy_dtype, shape_of

logger = logging.getLogger(__name__)

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
_INTERNAL_SIGNATURES = ("__saved_model_init_op",)


def read_signature_defs(export_dir: str | Path, tags: str = "serve") -> dict[str, meta_graph_pb2.SignatureDef]:
    """The signature defs of the ``tags`` meta graph in ``saved_model.pb`` (or ``.pbtxt``).

    Raises:
        FileNotFoundError: no saved_model.pb / saved_model.pbtxt.
        ValueError: the file does not parse, or has no meta graph tagged ``tags``.
    """
    export_dir = Path(export_dir)
    saved = saved_model_pb2.SavedModel()
    if (export_dir / "saved_model.pb").is_file():
        try:
            saved.ParseFromString((export_dir / "saved_model.pb").read_bytes())
        except Exception as err:  # protobuf's DecodeError
            raise ValueError(f"{export_dir}/saved_model.pb is corrupt: {err}") from None
    elif (export_dir / "saved_model.pbtxt").is_file():
        text_format.Parse((export_dir / "saved_model.pbtxt").read_text(), saved)
    else:
        raise FileNotFoundError(f"No saved_model.pb in {export_dir}.")
    for meta_graph in saved.meta_graphs:
        if tags in meta_graph.meta_info_def.tags:
            return {k: v for k, v in meta_graph.signature_def.items() if k not in _INTERNAL_SIGNATURES}
    raise ValueError(f"{export_dir} has no meta graph tagged {tags!r}.")


def tensor_specs(tensor_infos) -> dict[str, TensorSpec]:
    """Signature tensor infos -> ``TensorSpec(dtype, shape)`` per alias."""
    specs = {}
    for alias, info in tensor_infos.items():
        try:
            dtype = numpy_dtype(info.dtype)
        except ValueError:
            dtype = np.dtype(object)
        specs[alias] = TensorSpec(dtype=dtype, shape=shape_of(info.tensor_shape))
    return specs


def is_batchable(signature: meta_graph_pb2.SignatureDef) -> bool:
    """Whether every input and output has a leading batch dimension of unknown size."""
    infos = list(signature.inputs.values()) + list(signature.outputs.values())
    return bool(signature.inputs) and all(
        not info.tensor_shape.unknown_rank and info.tensor_shape.dim and info.tensor_shape.dim[0].size == -1
        for info in infos
    )


class Servable:
    """A loaded SavedModel version.

    Args:
        name: model name.
        version: version number.
        path: the version directory.
    """

    def __init__(self, name: str, version: int, path: str | Path):
        self.name, self.version, self.path = name, int(version), Path(path)
        self.signature_defs = read_signature_defs(self.path)
        self._loaded = tf.saved_model.load(str(self.path), tags=["serve"])
        signatures = self._loaded.signatures
        self._functions = {key: signatures[key] for key in self.signature_defs if key in signatures}
        self._input_specs = {key: tensor_specs(sig.inputs) for key, sig in self.signature_defs.items()}
        self._batchable = {key: is_batchable(sig) for key, sig in self.signature_defs.items()}
        self._batchers: dict[str, object] = {}

    def __repr__(self) -> str:
        return f"Servable({self.name!r}, version={self.version})"

    def signature(self, key: str | None) -> tuple[str, meta_graph_pb2.SignatureDef]:
        """Resolves a signature name ('' or None means ``serving_default``).

        Raises:
            ServingError: FAILED_PRECONDITION for an unknown signature, as TF Serving.
        """
        key = key or DEFAULT_SIGNATURE
        if key not in self.signature_defs:
            raise errors.failed_precondition(f'Serving signature key "{key}" not found.')
        return key, self.signature_defs[key]

    def input_specs(self, key: str) -> dict[str, TensorSpec]:
        return self._input_specs[key]

    def check_inputs(self, key: str, inputs: Mapping[str, np.ndarray]) -> None:
        """Checks aliases, dtypes and shapes against signature ``key``.

        Raises:
            ServingError: INVALID_ARGUMENT naming the offending input.
        """
        specs = self._input_specs[key]
        missing, extra = sorted(set(specs) - set(inputs)), sorted(set(inputs) - set(specs))
        if missing or extra:
            raise errors.invalid_argument(
                f"input size does not match signature: {len(inputs)}!={len(specs)} len({{{','.join(sorted(inputs))}}}) "
                f"!= len({{{','.join(sorted(specs))}}}). Sent extra: {{{','.join(extra)}}}. "
                f"Missing but required: {{{','.join(missing)}}}."
            )
        sig = self.signature_defs[key]
        for alias, value in inputs.items():
            spec = specs[alias]
            if np.dtype(value.dtype) != spec.dtype:
                raise errors.invalid_argument(
                    f"Input {alias!r} expects {dtype_name(sig.inputs[alias].dtype)} ({spec.dtype}); received {value.dtype}."
                )
            if spec.shape is not None and (
                len(value.shape) != len(spec.shape)
                or any(want is not None and want != got for want, got in zip(spec.shape, value.shape))
            ):
                expected = [-1 if d is None else d for d in spec.shape]
                raise errors.invalid_argument(
                    f"Input {alias!r} expects shape {expected}; received {list(value.shape)}."
                )
        # Like TF Serving's BatchingSession: only a batched signature needs one 0th-dimension size
        # (a graph signature's node features and edge list legitimately differ).
        if len(inputs) > 1 and key in self._batchers and len({v.shape[0] for v in inputs.values()}) > 1:
            sizes = {k: v.shape[0] for k, v in inputs.items()}
            raise errors.invalid_argument(f"Inputs have different batch sizes: {sizes}.")

    def run(self, key: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs signature ``key`` on checked inputs, through the batcher when one is attached."""
        batcher = self._batchers.get(key)
        if batcher is not None:
            return batcher.submit(inputs)
        return self.call(key, inputs)

    def call(self, key: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calls the signature function directly (no batching)."""
        function = self._functions.get(key)
        if function is None:
            raise errors.failed_precondition(f'Serving signature key "{key}" has no callable function.')
        try:
            outputs = function(**{alias: tf.convert_to_tensor(v) for alias, v in inputs.items()})
        except Exception as err:  # TF raises many types; keep the code TF gives
            raise errors.from_exception(err) from None
        return {alias: t.numpy() for alias, t in outputs.items()}

    def attach_batchers(self, make_batcher) -> None:
        """Routes every batchable signature through ``make_batcher(servable, key)``."""
        for key in self.signature_defs:
            if key in self._functions and self._batchable[key]:
                self._batchers[key] = make_batcher(self, key)

    def close(self) -> None:
        """Stops batchers; in-flight calls holding a reference finish normally."""
        for batcher in self._batchers.values():
            batcher.close()
        self._batchers.clear()
