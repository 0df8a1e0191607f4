"""Export to SavedModels in TensorFlow Serving's layout.

``<base_path>/<model_name>/<version>/`` holds ``saved_model.pb``, ``variables/``
and ``assets.extra/tf_serving_warmup_requests``. A version is written under a
hidden temporary name in the same directory (servers skip names that are not
integers) and renamed into place, so no server ever sees half a version.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from zoo.serving import config_files
from zoo.serving.signatures import signature_functions
from zoo.tasks import get_task

logger = logging.getLogger(__name__)

WARMUP_FILE = "tf_serving_warmup_requests"


def version_dirs(model_dir: str | Path) -> dict[int, Path]:
    """The version directories under ``model_dir``: names that are non-negative integers."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        return {}
    return {int(p.name): p for p in model_dir.iterdir() if p.name.isascii() and p.name.isdigit() and p.is_dir()}


def next_version(model_dir: str | Path) -> int:
    """One more than the highest version under ``model_dir``, or 1."""
    return max(version_dirs(model_dir), default=0) + 1


def _task_of(model, task: str | None) -> str:
    if task is not None:
        return task
    from zoo.registry import get_entry

    try:
        return get_entry(model.name).task
    except ValueError:
        raise ValueError(
            f"{model.name!r} is not a registered zoo model, so its task is unknown: pass task=, "
            f"e.g. task='image_classification'."
        ) from None


def _set_method_names(export_dir: Path, methods: Mapping[str, str]) -> None:
    """Sets each signature's TF Serving method name (TF2 saving writes ``predict`` for all)."""
    from tensorflow.core.protobuf import saved_model_pb2

    pb = export_dir / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
    for meta_graph in saved.meta_graphs:
        for key, method in methods.items():
            if key in meta_graph.signature_def:
                meta_graph.signature_def[key].method_name = method
    pb.write_bytes(saved.SerializeToString())


def write_warmup_requests(
    export_dir: str | Path,
    model_name: str,
    inputs: Mapping[str, np.ndarray],
    signature_name: str = "serving_default",
    copies: int = 1,
) -> Path:
    """Writes ``assets.extra/tf_serving_warmup_requests``: a TFRecord of ``PredictionLog``\\ s.

    Both ``tensorflow_model_server`` and ``zoo serve`` replay these before a
    version becomes AVAILABLE, so the first real request is not slow.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    from zoo.serving.tensors import to_tensor_proto

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(to_tensor_proto(value))
    record = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    path = Path(export_dir) / "assets.extra" / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(copies):
            writer.write(record.SerializeToString())
    return path


def _zeros_for(function) -> dict[str, np.ndarray]:
    """A batch-1 input for a signature function: zeros of each input's dtype, a one-space text for strings,
    and 1 for integer scalars (counts such as ``num_images`` or ``steps``, which must be positive)."""
    import tensorflow as tf

    feeds = {}
    for spec in function.input_signature:
        shape = [1 if d is None else d for d in spec.shape.as_list()]
        if spec.dtype == tf.string:
            feeds[spec.name] = np.full(shape, b" ", dtype=object)
        elif not shape and spec.dtype.is_integer:
            feeds[spec.name] = np.ones(shape, dtype=spec.dtype.as_numpy_dtype)
        else:
            feeds[spec.name] = np.zeros(shape, dtype=spec.dtype.as_numpy_dtype)
    return feeds


def export(
    model,
    base_path: str | Path,
    version: int | None = None,
    *,
    model_name: str | None = None,
    task: str | None = None,
    class_names: Sequence[str] | None = None,
    config_base_path: str | None = None,
    update_config: bool = True,
) -> Path:
    """Exports ``model`` as ``<base_path>/<model_name>/<version>`` for TF Serving.

    Args:
        model: a Keras model (a zoo model, or any model whose ``task`` is given).
        base_path: directory holding one folder per model, and ``models.config``.
        version: version number; defaults to the next free one. An existing version is never overwritten.
        model_name: name clients use; defaults to ``model.name``.
        task: the task whose signatures to export; defaults to the registry's task for ``model.name``.
        class_names: labels for the ``classify`` signature of classifiers.
        config_base_path: the base path written into ``models.config``, when the server sees
            the directory elsewhere (``/models`` in the TF Serving container); defaults to the
            absolute ``base_path``.
        update_config: whether to write or update ``<base_path>/models.config``.

    Returns:
        The version directory.

    Raises:
        FileExistsError: ``version`` already exists.
        ValueError: a negative version, or a model/task with no serving signatures.

    Example:
        >>> import zoo, tempfile
        >>> export(zoo.create("lenet5"), tempfile.mkdtemp(), version=3).name  # doctest: +SKIP
        '3'
    """
    from keras.export import ExportArchive

    model_name = model_name or model.name
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise ValueError(f"Model names are plain directory names. Received: {model_name!r}")
    model_dir = Path(base_path).expanduser().absolute() / model_name
    if version is None:
        version = next_version(model_dir)
    if not isinstance(version, int) or version < 0:
        raise ValueError(f"Versions are non-negative integers. Received: {version!r}")
    target = model_dir / str(version)
    if target.exists():
        raise FileExistsError(f"{target} already exists; versions are immutable. Pick another --version.")

    task = _task_of(model, task)
    options = {"class_names": class_names} if class_names is not None else {}
    functions = signature_functions(task, model, **options)
    methods = {key: signature.method for key, signature in get_task(task).signatures.items()}

    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f".tmp-{version}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        archive = ExportArchive()
        archive.track(model)
        for key, function in functions.items():
            archive.add_endpoint(key, function)
        archive.write_out(str(tmp), verbose=False)
        _set_method_names(tmp, methods)
        write_warmup_requests(tmp, model_name, _zeros_for(functions["serving_default"]))
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("Exported %s version %d to %s", model_name, version, target)
    if update_config:
        config_files.upsert_model(
            Path(base_path) / config_files.MODELS_CONFIG,
            model_name,
            f"{config_base_path.rstrip('/')}/{model_name}" if config_base_path else model_dir,
        )
    return target


def export_weights(
    name: str, weights: str | Path, base_path: str | Path, version: int | None = None, **options
) -> Path:
    """Builds registry model ``name``, loads ``weights`` (a file or ``zoo train`` run) and exports it.

    A run directory's ``config.json`` (or a preset's ``metadata.json``) rebuilds the exact
    trained model, and the class names it records (timm presets: ImageNet-1k; else those of its
    data set) label the ``classify`` signature.
    """
    from zoo.inference import recorded_class_names
    from zoo.weights import create_trained

    model, run_config = create_trained(name, weights)
    if run_config is not None and "class_names" not in options:
        options["class_names"] = recorded_class_names(run_config, model)
    return export(model, base_path, version, **options)
