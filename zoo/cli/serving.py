"""``zoo export``, ``zoo serve`` and ``zoo predict``: the commands that run ``serving``.

``zoo predict --server`` is a gRPC client: it imports TensorFlow Serving's protocol buffers without TensorFlow
(:mod:`zoo.serving.protos`), so it starts in about a second.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def _flag_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, received {text!r}")


# --- zoo export ---------------------------------------------------------------
def cmd_export(args) -> int:
    from zoo.serving.exporter import export_weights

    path = export_weights(
        args.name,
        args.weights,
        args.base_path,
        args.version,
        model_name=args.model_name,
        config_base_path=args.config_base_path,
    )
    print(
        json.dumps(
            {
                "model": path.parent.name,
                "version": int(path.name),
                "path": str(path),
                "models_config": str(Path(args.base_path) / "models.config"),
            }
        )
        if args.json
        else path
    )
    return 0


# --- zoo serve ----------------------------------------------------------------
#: tensorflow_model_server flags accepted for compatibility but without effect here: flag -> why.
_IGNORED_FLAGS = {
    "rest_api_num_threads": "the REST server starts a thread per connection",
    "max_num_load_retries": "a failed version is loaded again when its files change",
    "load_retry_interval_micros": "a failed version is loaded again when its files change",
    "flush_filesystem_caches": "no file system caches to flush",
    "use_alts_credentials": "ALTS is not supported; use --ssl_config_file",
    "platform_config_file": "only the TensorFlow platform is served",
    "enable_per_model_batching_parameters": "one --batching_parameters_file applies to every model",
    "remove_unused_fields_from_bundle_metagraph": "the meta graph is kept whole",
    "prefer_tflite_model": "no TF Lite support; the SavedModel is served",
    "num_tflite_pools": "no TF Lite support",
    "num_tflite_interpreters_per_pool": "no TF Lite support",
    "xla_cpu_compilation_enabled": "XLA JIT is TensorFlow's default here",
    "xla_gpu_compilation_enabled": "XLA JIT is TensorFlow's default here",
    "enable_profiler": "no profiler service",
    "thread_pool_factory_config_file": "TensorFlow's own thread pools are used",
    "mixed_precision": "models run in the precision they were exported in",
    "skip_initialize_tpu": "no TPU support",
    "enable_grpc_healthcheck_service": "no grpc.health.v1 service; use GET /healthz and /readyz",
}


def _warn_ignored(args) -> None:
    for flag, why in _IGNORED_FLAGS.items():
        value = getattr(args, flag)
        if value not in (None, False, 0, ""):
            logger.warning(
                "--%s=%s is accepted for compatibility with tensorflow_model_server but has no effect: %s.",
                flag,
                value,
                why,
            )


def _version_text() -> str:
    """``--version``'s two lines, read from the installed distributions: no TensorFlow import (seconds)."""
    from importlib import metadata

    def installed(*names: str) -> str | None:
        for name in names:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return None

    tensorflow = installed("tensorflow", "tensorflow-cpu", "tf-nightly", "tensorflow-intel")
    if tensorflow is None:  # an unusual install (built from source): ask the library itself
        import tensorflow as tf

        tensorflow = tf.__version__
    return f"TensorFlow ModelServer: kzoo-{installed('kzoo') or 'unknown'}\nTensorFlow Library: {tensorflow}"


def cmd_serve(args) -> int:
    if args.version:
        print(_version_text())
        return 0
    from zoo.serving.server import ModelServer, ServerOptions

    logging.getLogger("zoo.serving").setLevel(logging.INFO)
    _warn_ignored(args)
    options = ServerOptions(
        port=args.port,
        rest_api_port=args.rest_api_port,
        model_name=args.model_name,
        model_base_path=args.model_base_path,
        model_config_file=args.model_config_file,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        enable_batching=args.enable_batching,
        batching_parameters_file=args.batching_parameters_file,
        monitoring_config_file=args.monitoring_config_file,
        ssl_config_file=args.ssl_config_file,
        enable_model_warmup=args.enable_model_warmup,
        grpc_max_threads=args.grpc_max_threads,
        tensorflow_intra_op_parallelism=args.tensorflow_intra_op_parallelism,
        tensorflow_inter_op_parallelism=args.tensorflow_inter_op_parallelism,
        max_message_bytes=args.max_message_bytes,
        host=args.host,
        grpc_socket_path=args.grpc_socket_path or None,
        grpc_channel_arguments=args.grpc_channel_arguments,
        rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        rest_api_enable_cors_support=args.rest_api_enable_cors_support,
        enable_serialization_as_tensor_content=args.enable_serialization_as_tensor_content,
        enable_signature_method_name_check=args.enable_signature_method_name_check,
        saved_model_tags=args.saved_model_tags,
        tensorflow_session_config_file=args.tensorflow_session_config_file,
        tensorflow_session_parallelism=args.tensorflow_session_parallelism,
        per_process_gpu_memory_fraction=args.per_process_gpu_memory_fraction,
        num_load_threads=args.num_load_threads,
        num_request_iterations_for_warmup=args.num_request_iterations_for_warmup,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
    )
    for name in ("zoo.serving", __name__):  # the server's lifecycle and this command's SIGTERM line
        logging.getLogger(name).setLevel(logging.INFO)
    if options.model_base_path and not options.model_config_file:
        logger.info(
            "Building single TensorFlow model file config: model_name: %s model_base_path: %s",
            options.model_name,
            options.model_base_path,
        )
    try:
        server = ModelServer(options)
    except (ValueError, OSError) as err:  # TF Serving's one line: "Failed to start server. Error: ..."
        print(f"Failed to start server. Error: {err}", file=sys.stderr, flush=True)
        return 1

    def shutdown(signum, _frame):
        logger.info("Received %s: finishing in-flight requests", signal.Signals(signum).name)
        server.stop(grace=args.grace_seconds)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        server.start()
    except (ValueError, OSError) as err:
        print(f"Failed to start server. Error: {err}", file=sys.stderr, flush=True)
        return 1
    listening = [f"gRPC {args.host}:{server.grpc_port}"] if server.grpc_port else []
    if args.grpc_socket_path:
        listening.append(f"gRPC unix:{args.grpc_socket_path}")
    if server.rest_port:
        listening.append(f"REST {args.host}:{server.rest_port}")
    print(f"serving on {', '.join(listening)}", flush=True)
    server.wait()
    return 0


# --- zoo predict --------------------------------------------------------------
def _load_input(path: str, shape: list[int] | None, dtype: str, *, convert: bool = False) -> np.ndarray:
    """One input file as a batch shaped like the signature's input: an image checked against the input (its
    channels must match unless ``convert``; another size is resized with a warning), or a .npy array."""
    from zoo.inference import fit_to_input, read_input, to_pixels

    example_shape = list(shape[1:]) if shape else []
    array = read_input(path)
    if path.endswith(".npy"):
        return array if example_shape and array.ndim == len(example_shape) + 1 else array[None]
    if len(example_shape) == 3:
        array = fit_to_input(array, [d if d and d > 0 else None for d in example_shape], name=path, convert=convert)
    if np.dtype(dtype).kind == "f":
        array = to_pixels(array)  # images travel as pixels in [0, 1]
    return array[None]


def check_inputs(paths: list[str]) -> None:
    """Fails before anything is sent when an input is missing, or is not a .npy file or a readable image.

    Raises:
        FileNotFoundError: a missing file.
        ValueError: a corrupt or unsupported file, naming it.
    """
    from zoo.inference import open_image

    for path in paths:
        if path.endswith(".npy"):
            try:
                np.load(path, allow_pickle=False, mmap_mode="r")
            except FileNotFoundError:
                raise FileNotFoundError(f"No such input file: {path}") from None
            except (ValueError, OSError, EOFError) as err:
                raise ValueError(f"{path} is not a readable .npy array ({err}).") from None
        else:
            open_image(path).close()


def cmd_predict(args) -> int:
    if args.name and args.model:
        if not Path(args.name).is_file():
            raise ValueError(f"Name the model once: {args.name!r} before the options, or --model {args.model}.")
        args.input = [args.name, *args.input]  # zoo predict --server ... --model NAME a.png: the file took NAME's slot
        args.name = None
    model = args.name or args.model
    if not model:
        raise ValueError(
            "Name the model: zoo predict NAME --weights TAG --input ... (locally), or "
            "zoo predict --server HOST:PORT --model NAME --input ..."
        )
    if not args.input and not args.text:
        raise ValueError(
            "Give the inputs, images or .npy arrays, after NAME or with --input FILE ..., "
            "or --text for a model that takes strings."
        )
    if args.weights is not None:
        if args.server or args.text:
            raise ValueError(
                "--weights predicts locally (image classifiers); --server and --text send to a server. "
                "Use one or the other."
            )
        return _predict_locally(model, args)
    check_inputs(args.input or [])
    from zoo.serving.errors import ServingError

    try:
        return _predict(model, args)
    except ServingError as err:
        print(f"zoo predict: error: {err.code_name}: {err.message}", file=sys.stderr)
        return 1


def _predict_locally(model: str, args) -> int:
    from zoo.inference import predict

    check_inputs(args.input)
    _print_report(
        predict(model, args.input, weights=args.weights, top_k_classes=args.top_k, convert=args.convert), args.json
    )
    return 0


def _print_report(report: list[dict], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    for entry in report:
        print(entry["input"])
        for item in entry.get("top_k", []):
            print(f"  {item['score']:.4f}  {item['label']}")
        for key, value in entry.get("outputs", {}).items():
            print(f"  {key}: {value}")


def _string_batch(args, metadata: dict, signature: str) -> tuple[list, np.ndarray]:
    """The strings a string input gets: --text values, or tf.Examples of the images for ``classify``/``regress``
    (checked against the image input of ``serving_default``, when the model has one)."""
    if args.text:
        return list(args.text), np.asarray([t.encode() for t in args.text], dtype=object)
    from zoo.serving.client import to_example
    from zoo.serving.signatures import IMAGE_FEATURE

    image_inputs = metadata["signatures"].get("serving_default", {}).get("inputs", {})
    shape = next((spec["shape"] for spec in image_inputs.values() if spec["dtype"] != "string"), None)
    arrays = [_load_input(p, shape, "float32", convert=args.convert) for p in args.input]
    examples = [to_example({IMAGE_FEATURE: a.reshape(-1)}).SerializeToString() for a in arrays]
    logger.info("Sending %d images to %s as tf.Examples (feature %r).", len(examples), signature, IMAGE_FEATURE)
    return list(args.input), np.asarray(examples, dtype=object)


def _predict(model: str, args) -> int:
    from zoo.serving.client import Client

    with Client(
        args.server or "localhost:8500",
        timeout=args.timeout,
        tls=args.tls,
        root_certificates=Path(args.ca_cert).read_bytes() if args.ca_cert else None,
        server_name=args.tls_server_name,
    ) as client:
        metadata = client.metadata(model, version=args.version, label=args.label)
        signature = args.signature or "serving_default"
        if signature not in metadata["signatures"]:
            raise ValueError(f"{model} has no signature {signature!r}; it has {sorted(metadata['signatures'])}.")
        inputs = metadata["signatures"][signature]["inputs"]
        name = args.input_name or (next(iter(inputs)) if len(inputs) == 1 else None)
        if name not in inputs:
            raise ValueError(f"Name the input with --input-name; the signature takes {sorted(inputs)}.")
        dtype = inputs[name]["dtype"]
        if dtype == "string":
            paths, batch = _string_batch(args, metadata, signature)
        else:
            if args.text:
                raise ValueError(f"{model}'s {signature} input {name!r} takes {dtype} tensors, not text: give --input.")
            paths = args.input
            batch = np.concatenate(
                [_load_input(p, inputs[name]["shape"], dtype, convert=args.convert) for p in args.input]
            ).astype(dtype)
        outputs = client.predict(model, {name: batch}, signature_name=signature, version=args.version, label=args.label)
        labels = None
        if "scores" in outputs and "classify" in metadata["signatures"] and dtype != "string" and not args.signature:
            labels = _class_labels(client, model, args, batch[:1])
    _print_report(_report(paths, outputs, labels, args.top_k), args.json)
    return 0


def _class_labels(client, model: str, args, first: np.ndarray) -> list[str] | None:
    """Class names from the model's Classify signature, which returns a label with every score."""
    from zoo.serving.errors import ServingError
    from zoo.serving.signatures import IMAGE_FEATURE

    try:
        result = client.classify(
            model,
            [{IMAGE_FEATURE: first.reshape(-1)}],
            signature_name="classify",
            version=args.version,
            label=args.label,
        )
    except ServingError as err:
        logger.info("No class names from Classify: %s", err)
        return None
    return [label for label, _ in result[0]]


def _report(paths, outputs, labels, top_k) -> list[dict]:
    from zoo.inference import top_k as best

    count = len(next(iter(outputs.values())))
    names = [str(p) for p in paths] if len(paths) == count else [f"example {i}" for i in range(count)]
    report = []
    for i, name in enumerate(names):
        entry = {"input": name}
        scores, classes = outputs.get("scores"), outputs.get("classes")
        if scores is not None and scores.ndim == 2:
            row_labels = _plain(classes[i]) if classes is not None and np.asarray(classes).ndim == 2 else labels
            entry = best(scores[i : i + 1], [name], row_labels, top_k)[0]
        else:
            entry["outputs"] = {k: _plain(v[i]) for k, v in outputs.items()}
        report.append(entry)
    return report


def _plain(value):
    """An output value as JSON takes it: bytes as text, arrays as lists."""
    value = np.asarray(value)
    if value.dtype.kind in "OS":
        return (
            value.astype(object).tolist().decode(errors="replace")
            if value.ndim == 0
            else [
                v.decode(errors="replace") if isinstance(v, bytes) else v for v in value.astype(object).ravel().tolist()
            ]
        )
    return value.tolist()


def add_parsers(sub) -> None:
    """Adds the serving subcommands to the ``zoo`` parser."""
    for add in (_add_export_parser, _add_serve_parser, _add_predict_parser):
        add(sub)


def _add_export_parser(sub) -> None:
    """``zoo export NAME --weights W --base-path BASE``."""
    p = sub.add_parser(
        "export",
        help="export trained weights (a preset tag such as mnist, or a run) as a SavedModel in TF Serving's layout",
    )
    p.add_argument("name", help="registered model name")
    p.add_argument(
        "--weights",
        required=True,
        help="a preset tag (zoo presets NAME lists them, e.g. --weights mnist), a preset directory or URL, "
        "a .weights.h5 / .weights.kzq file or a zoo train run directory",
    )
    p.add_argument("--base-path", required=True, help="directory of models: writes BASE/<model>/<version>/")
    p.add_argument("--version", type=int, default=None, help="default: the next free version")
    p.add_argument("--model-name", default=None, help="name clients use (default: the registry name)")
    p.add_argument(
        "--config-base-path",
        default=None,
        help="base path written to models.config when the server sees BASE elsewhere (e.g. /models)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_export)


def _add_switch(p, flag: str, default: bool = False, help: str | None = None) -> None:
    """A tensorflow_model_server boolean: ``--flag``, ``--flag=true`` or ``--flag=false``."""
    p.add_argument(f"--{flag}", type=_flag_bool, nargs="?", const=True, default=default, help=help)


def _add_serve_parser(sub) -> None:
    """``zoo serve``: tensorflow_model_server's flags (those without an effect here accepted), then kzoo's own."""
    p = sub.add_parser(
        "serve", help="serve SavedModels over TF Serving's gRPC and REST APIs (tensorflow_model_server's flags)"
    )
    _add_model_server_flags(p)
    _add_tensorflow_flags(p)
    _add_ignored_flags(p)
    p.add_argument(
        "--max_message_bytes",
        type=int,
        default=256 * 1024 * 1024,
        help="kzoo: largest gRPC message / REST body accepted",
    )
    p.add_argument("--host", default="0.0.0.0", help="kzoo: interface to bind")
    p.add_argument("--grace_seconds", type=float, default=10.0, help="kzoo: time in-flight requests get on SIGTERM")
    p.set_defaults(fn=cmd_serve)


def _add_model_server_flags(p) -> None:
    """Ports, models and their config files, batching, warm-up, gRPC and REST: as tensorflow_model_server has them."""
    p.add_argument("--port", type=int, default=8500, help="gRPC port")
    p.add_argument("--rest_api_port", type=int, default=8501, help="REST port (0 disables REST)")
    p.add_argument("--model_name", default="default")
    p.add_argument("--model_base_path", default=None)
    p.add_argument("--model_config_file", default=None, help="ModelServerConfig text proto (models.config)")
    p.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0)
    p.add_argument("--file_system_poll_wait_seconds", type=float, default=1)
    _add_switch(p, "enable_batching")
    p.add_argument("--batching_parameters_file", default=None)
    p.add_argument("--monitoring_config_file", default=None)
    p.add_argument("--ssl_config_file", default=None, help="SSLConfig text proto: serve gRPC over TLS")
    _add_switch(p, "enable_model_warmup", default=True)
    p.add_argument(
        "--grpc_max_threads", type=int, default=64, help="threads for unbatched model calls and non-Predict calls"
    )


def _add_tensorflow_flags(p) -> None:
    """Threads, sockets, timeouts, output encoding and session settings, as tensorflow_model_server has them."""
    for kind in ("intra", "inter"):
        p.add_argument(
            f"--tensorflow_{kind}_op_parallelism",
            type=int,
            default=0,
            help="0: 1 thread, unless --tensorflow_session_parallelism or a session config file sizes it",
        )
    p.add_argument("--grpc_socket_path", default="", help="also serve gRPC on this Unix domain socket")
    p.add_argument(
        "--grpc_channel_arguments",
        default="",
        help="gRPC server arguments, key=value[,key=value] (grpc.so_reuseport=1 shares the port)",
    )
    p.add_argument(
        "--rest_api_timeout_in_ms", type=int, default=30000, help="close a REST connection silent for this long"
    )
    _add_switch(p, "rest_api_enable_cors_support")
    _add_switch(
        p,
        "enable_serialization_as_tensor_content",
        help="Predict outputs in tensor_content instead of float_val, int64_val, ...",
    )
    _add_switch(
        p,
        "enable_signature_method_name_check",
        help="Classify/Regress need the signature's method_name (off: TF2 SavedModels qualify by names)",
    )
    p.add_argument("--saved_model_tags", default="serve", help="meta graph tags to load, comma separated")
    p.add_argument("--tensorflow_session_config_file", default=None, help="ConfigProto text proto for the sessions")
    p.add_argument("--tensorflow_session_parallelism", type=int, default=0)
    p.add_argument("--per_process_gpu_memory_fraction", type=float, default=0.0)
    p.add_argument("--num_load_threads", type=int, default=0, help="versions loaded in parallel (0: 2)")
    p.add_argument("--num_unload_threads", type=int, default=0, help="accepted; unloading is immediate")
    p.add_argument("--num_request_iterations_for_warmup", type=int, default=1)
    p.add_argument("--version", action="store_true", help="print the versions and exit")
    _add_switch(
        p,
        "allow_version_labels_for_unavailable_models",
        help="a new version label may name a version that is not AVAILABLE yet",
    )


#: Ignored tensorflow_model_server flags that take a number.
_IGNORED_NUMBERS = (
    "max_num_load_retries",
    "load_retry_interval_micros",
    "rest_api_num_threads",
    "num_tflite_pools",
    "num_tflite_interpreters_per_pool",
)


def _add_ignored_flags(p) -> None:
    """tensorflow_model_server's flags without an effect here: accepted, so its command lines work unchanged."""
    ignored = "accepted for compatibility; no effect"
    for flag in _IGNORED_FLAGS:
        if flag in _IGNORED_NUMBERS:
            p.add_argument(f"--{flag}", type=int, default=None, help=ignored)
        elif flag.endswith("_file") or flag == "mixed_precision":
            p.add_argument(f"--{flag}", default=None, help=ignored)
        else:
            _add_switch(p, flag, help=ignored)


def _add_predict_parser(sub) -> None:
    """``zoo predict``: local classification with ``--weights``, or a request to a server."""
    p = sub.add_parser(
        "predict",
        help="classify images locally (NAME --weights TAG) or send inputs to a TF "
        "Serving-compatible server over gRPC (--server)",
    )
    p.add_argument("name", nargs="?", default=None, help="registered model name (local) or served model name")
    p.add_argument(
        "--weights",
        default=None,
        help="predict locally, no server: a preset tag (zoo presets NAME), preset or run directory, or weights file",
    )
    p.add_argument(
        "--server", default=None, help="HOST:PORT of the gRPC API (default localhost:8500 without --weights)"
    )
    p.add_argument("--model", default=None, help="served model name (default: NAME)")
    p.add_argument(
        "--input",
        nargs="+",
        default=[],
        help=".npy files or images (PNG, JPEG, ...); they may also follow NAME without --input",
    )
    p.add_argument(
        "--text",
        action="append",
        default=[],
        help="a string for a signature that takes strings, e.g. a language model's prompt (repeatable)",
    )
    p.add_argument(
        "--convert",
        action="store_true",
        help="convert colour images to grey (or grey to colour) when the model takes the other; "
        "without it such an input is refused",
    )
    p.add_argument("--input-name", default=None, help="signature input to feed (default: its only input)")
    p.add_argument(
        "--signature", default=None, help="default: serving_default; classify sends the images as tf.Examples"
    )
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--label", default=None, help="a version label such as stable")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--ca-cert", default=None, help="PEM file of the CA to trust (implies --tls)")
    p.add_argument("--tls-server-name", default=None, help="expected server name in its certificate")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_predict, trailing_inputs="input")
