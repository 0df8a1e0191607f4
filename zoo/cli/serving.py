"""``zoo export``, ``zoo serve`` and ``zoo predict``: the commands that run ``serving``.

``zoo predict --server`` is a gRPC client: it imports TensorFlow Serving's protocol buffers without TensorFlow
(:mod:`serving.protos`), so it starts in about a second.
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
    from serving.exporter import export_weights

    path = export_weights(args.name, args.weights, args.base_path, args.version, model_name=args.model_name,
                          config_base_path=args.config_base_path)
    print(json.dumps({"model": path.parent.name, "version": int(path.name), "path": str(path),
                      "models_config": str(Path(args.base_path) / "models.config")}) if args.json else path)
    return 0


# --- zoo serve ----------------------------------------------------------------
def cmd_serve(args) -> int:
    from serving.server import ModelServer, ServerOptions

    options = ServerOptions(
        port=args.port, rest_api_port=args.rest_api_port, model_name=args.model_name,
        model_base_path=args.model_base_path, model_config_file=args.model_config_file,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        enable_batching=args.enable_batching, batching_parameters_file=args.batching_parameters_file,
        monitoring_config_file=args.monitoring_config_file, ssl_config_file=args.ssl_config_file,
        enable_model_warmup=args.enable_model_warmup,
        grpc_max_threads=args.grpc_max_threads,
        tensorflow_intra_op_parallelism=args.tensorflow_intra_op_parallelism,
        tensorflow_inter_op_parallelism=args.tensorflow_inter_op_parallelism, max_message_bytes=args.max_message_bytes, host=args.host,
    )
    logging.getLogger("serving").setLevel(logging.INFO)
    server = ModelServer(options)

    def shutdown(signum, _frame):
        logger.info("Received %s: finishing in-flight requests", signal.Signals(signum).name)
        server.stop(grace=args.grace_seconds)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    server.start()
    print(f"serving on gRPC {args.host}:{server.grpc_port}"
          + (f", REST {args.host}:{server.rest_port}" if server.rest_port else ""), flush=True)
    server.wait()
    return 0


# --- zoo predict --------------------------------------------------------------
def _load_input(path: str, shape: list[int] | None, dtype: str) -> np.ndarray:
    """One example from a .npy file or an image, shaped like the signature's input (without batch)."""
    example_shape = shape[1:] if shape else None
    if path.endswith(".npy"):
        array = np.load(path, allow_pickle=False)
        if example_shape is not None and array.ndim == len(example_shape) + 1:
            return array  # already a batch
        return array[None]
    from PIL import Image

    with _open_image(path) as image:
        channels = example_shape[-1] if example_shape and example_shape[-1] in (1, 3, 4) else 3
        image = image.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])
        if example_shape and len(example_shape) == 3 and example_shape[0] > 0 and example_shape[1] > 0:
            image = image.resize((example_shape[1], example_shape[0]))
        array = np.asarray(image)
    array = array.reshape(array.shape[0], array.shape[1], -1)
    if np.dtype(dtype).kind == "f":
        array = array.astype(dtype) / 255.0  # images travel as pixels in [0, 1]
    return array[None]


def _open_image(path: str):
    """``PIL.Image.open(path)`` fully decoded, or ValueError naming the file when it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()  # decode now: a truncated or corrupt file fails here, not inside a later conversion
    except FileNotFoundError:
        raise FileNotFoundError(f"No such input file: {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{path} is not a readable image ({type(err).__name__}: {err}). zoo predict takes .npy "
                         f"files or images (PNG, JPEG, BMP, ...).") from None
    return image


def check_inputs(paths: list[str]) -> None:
    """Fails before anything is sent when an input is missing, or is not a .npy file or a readable image.

    Raises:
        FileNotFoundError: a missing file.
        ValueError: a corrupt or unsupported file, naming it.
    """
    for path in paths:
        if path.endswith(".npy"):
            try:
                np.load(path, allow_pickle=False, mmap_mode="r")
            except FileNotFoundError:
                raise FileNotFoundError(f"No such input file: {path}") from None
            except (ValueError, OSError, EOFError) as err:
                raise ValueError(f"{path} is not a readable .npy array ({err}).") from None
        else:
            _open_image(path).close()


def cmd_predict(args) -> int:
    from serving.errors import ServingError

    check_inputs(args.input)
    try:
        return _predict(args)
    except ServingError as err:
        print(f"zoo predict: error: {err.code_name}: {err.message}", file=sys.stderr)
        return 1


def _predict(args) -> int:
    from serving.client import Client

    with Client(args.server, timeout=args.timeout, tls=args.tls,
                root_certificates=Path(args.ca_cert).read_bytes() if args.ca_cert else None,
                server_name=args.tls_server_name) as client:
        metadata = client.metadata(args.model, version=args.version, label=args.label)
        signature = args.signature or "serving_default"
        if signature not in metadata["signatures"]:
            raise ValueError(f"{args.model} has no signature {signature!r}; it has {sorted(metadata['signatures'])}.")
        inputs = metadata["signatures"][signature]["inputs"]
        name = args.input_name or (next(iter(inputs)) if len(inputs) == 1 else None)
        if name not in inputs:
            raise ValueError(f"Name the input with --input-name; the signature takes {sorted(inputs)}.")
        dtype = inputs[name]["dtype"]
        batch = np.concatenate([_load_input(p, inputs[name]["shape"], dtype) for p in args.input])
        if dtype != "string":
            batch = batch.astype(dtype)
        outputs = client.predict(args.model, {name: batch}, signature_name=signature, version=args.version,
                                 label=args.label)
        labels = None
        if "scores" in outputs and "classify" in metadata["signatures"] and not args.signature:
            labels = _class_labels(client, args, batch[:1])
    report = _report(args.input, outputs, labels, args.top_k)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for entry in report:
            print(entry["input"])
            for item in entry.get("top_k", []):
                print(f"  {item['score']:.4f}  {item['label']}")
            for key, value in entry.get("outputs", {}).items():
                print(f"  {key}: {value}")
    return 0


def _class_labels(client, args, first: np.ndarray) -> list[str] | None:
    """Class names from the model's Classify signature, which returns a label with every score."""
    from serving.errors import ServingError
    from serving.signatures import IMAGE_FEATURE

    try:
        result = client.classify(args.model, [{IMAGE_FEATURE: first.reshape(-1)}], signature_name="classify",
                                 version=args.version, label=args.label)
    except ServingError as err:
        logger.info("No class names from Classify: %s", err)
        return None
    return [label for label, _ in result[0]]


def _report(paths, outputs, labels, top_k) -> list[dict]:
    count = len(next(iter(outputs.values())))
    names = [str(p) for p in paths] if len(paths) == count else [f"example {i}" for i in range(count)]
    report = []
    for i, name in enumerate(names):
        entry = {"input": name}
        scores = outputs.get("scores")
        if scores is not None and scores.ndim == 2:
            order = np.argsort(-scores[i])[:top_k]
            entry["top_k"] = [{"class": int(j), "label": labels[j] if labels else str(j), "score": float(scores[i, j])}
                              for j in order]
        else:
            entry["outputs"] = {k: np.asarray(v[i]).tolist() for k, v in outputs.items()}
        report.append(entry)
    return report


def add_parsers(sub) -> None:
    """Adds the serving subcommands to the ``zoo`` parser."""
    p = sub.add_parser("export", help="export trained weights (a preset tag such as mnist, or a run) as a SavedModel "
                                      "in TF Serving's layout")
    p.add_argument("name", help="registered model name")
    p.add_argument("--weights", required=True,
                   help="a preset tag (zoo presets NAME lists them, e.g. --weights mnist), a preset directory or URL, "
                        "a .weights.h5 / .weights.kzq file or a zoo train run directory")
    p.add_argument("--base-path", required=True, help="directory of models: writes BASE/<model>/<version>/")
    p.add_argument("--version", type=int, default=None, help="default: the next free version")
    p.add_argument("--model-name", default=None, help="name clients use (default: the registry name)")
    p.add_argument("--config-base-path", default=None,
                   help="base path written to models.config when the server sees BASE elsewhere (e.g. /models)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("serve", help="serve SavedModels over TF Serving's gRPC and REST APIs (tensorflow_model_server's flags)")
    p.add_argument("--port", type=int, default=8500, help="gRPC port")
    p.add_argument("--rest_api_port", type=int, default=8501, help="REST port (0 disables REST)")
    p.add_argument("--model_name", default="default")
    p.add_argument("--model_base_path", default=None)
    p.add_argument("--model_config_file", default=None, help="ModelServerConfig text proto (models.config)")
    p.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0)
    p.add_argument("--file_system_poll_wait_seconds", type=float, default=1)
    p.add_argument("--enable_batching", type=_flag_bool, nargs="?", const=True, default=False)
    p.add_argument("--batching_parameters_file", default=None)
    p.add_argument("--monitoring_config_file", default=None)
    p.add_argument("--ssl_config_file", default=None, help="SSLConfig text proto: serve gRPC over TLS")
    p.add_argument("--enable_model_warmup", type=_flag_bool, nargs="?", const=True, default=True)
    p.add_argument("--grpc_max_threads", type=int, default=64)
    p.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0, help="0: TensorFlow decides")
    p.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0, help="0: TensorFlow decides")
    p.add_argument("--max_message_bytes", type=int, default=256 * 1024 * 1024,
                   help="kzoo: largest gRPC message / REST body accepted")
    p.add_argument("--host", default="0.0.0.0", help="kzoo: interface to bind")
    p.add_argument("--grace_seconds", type=float, default=10.0, help="kzoo: time in-flight requests get on SIGTERM")
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("predict", help="send inputs to a TF Serving-compatible server over gRPC")
    p.add_argument("--server", default="localhost:8500", help="HOST:PORT of the gRPC API")
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True, nargs="+", help=".npy files or images (PNG, JPEG, ...)")
    p.add_argument("--input-name", default=None, help="signature input to feed (default: its only input)")
    p.add_argument("--signature", default=None, help="default: serving_default")
    p.add_argument("--version", type=int, default=None)
    p.add_argument("--label", default=None, help="a version label such as stable")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--ca-cert", default=None, help="PEM file of the CA to trust (implies --tls)")
    p.add_argument("--tls-server-name", default=None, help="expected server name in its certificate")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_predict)

