"""One loaded version of a SavedModel: its signatures, input checks and calls.

Any SavedModel TF Serving loads loads here, the way TF Serving runs it: the
meta graph is imported into a ``tf.compat.v1.Session`` and each signature runs
as a session callable that feeds and fetches the signature's tensor names.
That serves TF2 ``tf.saved_model.save`` / Keras ``model.export`` exports and
TF1 ``SavedModelBuilder`` exports alike, including TF1 signatures whose tensor
infos carry no shape (TensorFlow 2's object loader builds rank-0 placeholders
for those and fails with "Shapes must be equal rank"). Inputs are not checked
against the declared shapes: TensorFlow checks them, as in TF Serving (whose
README feeds ``half_plus_two``, declared ``[-1, 1]``, a ``[3]`` tensor). When the
graph then fails on an input whose shape the signature does not declare, the
answer is INVALID_ARGUMENT with the two shapes and TensorFlow's message: the code
TensorFlow gives for such a failure depends on the kernel the CPU runs
(UNIMPLEMENTED "grouped convolutions" from Eigen's convolution on an AVX2 CPU,
INVALID_ARGUMENT from oneDNN's).
Signature metadata is read from ``saved_model.pb`` itself, so method names and
tensor infos are exact.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from zoo import tasks
from zoo.serving import errors
from zoo.serving.tensors import TensorSpec, dtype_name, numpy_dtype, shape_of

logger = logging.getLogger(__name__)

#: TF Serving's method names, the ones zoo.tasks declares its signatures with.
PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD = tasks.PREDICT, tasks.CLASSIFY, tasks.REGRESS
DEFAULT_SIGNATURE = "serving_default"
_INTERNAL_SIGNATURES = ("__saved_model_init_op",)


def read_signature_defs(export_dir: str | Path, tags: str = "serve") -> dict[str, meta_graph_pb2.SignatureDef]:
    """The signature defs of the meta graph tagged ``tags`` (comma separated) in ``saved_model.pb`` (or ``.pbtxt``).

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
    wanted = {t.strip() for t in tags.split(",") if t.strip()}
    for meta_graph in saved.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == wanted:
            return {k: v for k, v in meta_graph.signature_def.items() if k not in _INTERNAL_SIGNATURES}
    available = [",".join(m.meta_info_def.tags) for m in saved.meta_graphs]
    raise ValueError(f"{export_dir} has no meta graph tagged {tags!r}; it has {available}.")


def tensor_specs(tensor_infos) -> dict[str, TensorSpec]:
    """Signature tensor infos -> ``TensorSpec(dtype, shape)`` per alias.

    A tensor info without a ``tensor_shape`` (TF1 exports before shapes were recorded)
    has an unknown shape, not a scalar one.
    """
    specs = {}
    for alias, info in tensor_infos.items():
        try:
            dtype = numpy_dtype(info.dtype)
        except ValueError:
            dtype = np.dtype(object)
        shape = shape_of(info.tensor_shape) if info.HasField("tensor_shape") else None
        specs[alias] = TensorSpec(dtype=dtype, shape=shape)
    return specs


def _shape_fits(shape: tuple[int, ...], declared: tuple[int | None, ...] | None) -> bool:
    """Whether ``shape`` is one the signature declares (None: unknown rank or dim, anything fits)."""
    if declared is None:
        return True
    return len(shape) == len(declared) and all(d is None or d == n for n, d in zip(shape, declared))


def _shape_text(declared: tuple[int | None, ...]) -> str:
    return "[" + ",".join("-1" if d is None else str(d) for d in declared) + "]"


def is_batchable(signature: meta_graph_pb2.SignatureDef) -> bool:
    """Whether every input and output has a leading batch dimension of unknown size."""
    infos = list(signature.inputs.values()) + list(signature.outputs.values())
    return bool(signature.inputs) and all(
        not info.tensor_shape.unknown_rank and info.tensor_shape.dim and info.tensor_shape.dim[0].size == -1
        for info in infos
    )


def session_config(intra_op: int = 0, inter_op: int = 0, base=None):
    """The ``ConfigProto`` model sessions run with: ``base`` (``--tensorflow_session_config_file``), else
    TensorFlow's thread pool sizes (``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism``)."""
    from tensorflow.core.protobuf import config_pb2

    config = config_pb2.ConfigProto()
    if base is not None:
        config.CopyFrom(base)
    if intra_op and not config.intra_op_parallelism_threads:
        config.intra_op_parallelism_threads = intra_op
    if inter_op and not config.inter_op_parallelism_threads:
        config.inter_op_parallelism_threads = inter_op
    return config


class Servable:
    """A loaded SavedModel version.

    Args:
        name: model name.
        version: version number.
        path: the version directory.
        tags: the meta graph to load (``--saved_model_tags``, comma separated).
        config: the session's ``ConfigProto`` (see :func:`session_config`); None: TensorFlow's defaults.

    Raises:
        ValueError, FileNotFoundError, tf.errors.OpError: the SavedModel does not load; the message
            says why (it becomes the version's status).
    """

    def __init__(self, name: str, version: int, path: str | Path, *, tags: str = "serve", config=None):
        self.name, self.version, self.path = name, int(version), Path(path)
        tag_list = [t.strip() for t in tags.split(",") if t.strip()] or ["serve"]
        self.signature_defs = read_signature_defs(self.path, ",".join(tag_list))
        self._session = _load_session(self.path, tag_list, config)
        self._callables: dict[str, tuple[list[str], list[str], object]] = {}
        for key, signature in self.signature_defs.items():
            try:
                self._callables[key] = self._make_callable(signature)
            except (ValueError, KeyError, tf.errors.OpError) as err:  # a broken signature must not sink the others
                logger.warning("%s version %d: signature %r cannot run: %s", name, self.version, key, err)
        self._input_specs = {key: tensor_specs(sig.inputs) for key, sig in self.signature_defs.items()}
        self._batchable = {key: is_batchable(sig) for key, sig in self.signature_defs.items()}
        self._batchers: dict[str, object] = {}

    def _make_callable(self, signature: meta_graph_pb2.SignatureDef):
        from tensorflow.core.protobuf import config_pb2

        feeds, fetches = sorted(signature.inputs), sorted(signature.outputs)
        options = config_pb2.CallableOptions(
            feed=[signature.inputs[a].name for a in feeds], fetch=[signature.outputs[a].name for a in fetches]
        )
        # A session callable runs the graph as TF Serving's Session::Run does: no Python-side
        # check of fed shapes against the graph's static shapes (Session.run has one), and
        # less Python per call. TensorFlow has no public name for it.
        return feeds, fetches, self._session._make_callable_from_options(options)  # noqa: SLF001

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
        """Checks aliases and dtypes against signature ``key``; shapes are TensorFlow's to check.

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

    async def run_async(self, key: str, inputs: Mapping[str, np.ndarray], executor=None) -> dict[str, np.ndarray]:
        """``run`` for a coroutine: awaits the batcher, or calls the signature on ``executor``'s threads."""
        batcher = self._batchers.get(key)
        if batcher is not None:
            return await batcher.submit_async(inputs, executor)
        return await asyncio.get_running_loop().run_in_executor(executor, self.call, key, inputs)

    def call(self, key: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calls the signature function directly (no batching)."""
        entry = self._callables.get(key)
        if entry is None:
            raise errors.failed_precondition(f'Serving signature key "{key}" cannot run in this model.')
        feeds, fetches, run = entry
        try:
            outputs = run(*[inputs[alias] for alias in feeds])
        except Exception as err:  # TF raises many types; keep the code TF gives
            raise self._with_shape_mismatch(key, inputs, errors.from_exception(err)) from None
        return dict(zip(fetches, outputs))

    def _with_shape_mismatch(self, key: str, inputs: Mapping[str, np.ndarray], error: errors.ServingError):
        """``error``, as INVALID_ARGUMENT naming the shapes, when an input's shape is not the declared one."""
        specs = self._input_specs[key]
        wrong = [alias for alias in sorted(inputs) if not _shape_fits(inputs[alias].shape, specs[alias].shape)]
        if not wrong:
            return error
        shapes = "; ".join(
            f"input {a!r} has shape {list(inputs[a].shape)}, the signature declares {_shape_text(specs[a].shape)}"
            for a in wrong
        )
        return errors.invalid_argument(f"{shapes}: {error.message}")

    def attach_batchers(self, make_batcher) -> None:
        """Routes every batchable signature through ``make_batcher(servable, key)``."""
        for key in self.signature_defs:
            if key in self._callables and self._batchable[key]:
                self._batchers[key] = make_batcher(self, key)

    def close(self) -> None:
        """Stops batchers; in-flight calls holding a reference finish normally."""
        for batcher in self._batchers.values():
            batcher.close()
        self._batchers.clear()
        # The session closes when the last reference (an in-flight call's) goes away.


class _DropRestoreChatter(logging.Filter):
    """Drops the saver's "Restoring parameters from ..." INFO line, logged on every load (and twice in notebooks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO and str(record.msg).startswith("Restoring parameters from"))


_RESTORE_FILTER = _DropRestoreChatter()


def _load_session(path: Path, tags: list[str], config):
    """Imports the meta graph tagged ``tags`` into a new session and restores its variables and assets.

    ``SavedModelLoader`` is what ``tf.compat.v1.saved_model.load`` calls, without that wrapper's
    deprecation warning on every load; it runs the main op / legacy init op as TF Serving does.
    """
    from tensorflow.python.saved_model import loader_impl

    tf_logger = tf.get_logger()
    if _RESTORE_FILTER not in tf_logger.filters:
        tf_logger.addFilter(_RESTORE_FILTER)
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=config)
    try:
        with graph.as_default():
            loader_impl.SavedModelLoader(str(path)).load(session, tags)
    except Exception:
        session.close()
        raise
    return session
