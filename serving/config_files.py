"""TF Serving's text-proto configuration files: models.config, batching and monitoring.

``ModelServerConfig`` comes from ``tensorflow-serving-api``. ``BatchingParameters``,
``MonitoringConfig`` and ``SSLConfig`` are not in that package, so they are declared here with
TF Serving's field names (text format matches on names), and the same files
work for ``tensorflow_model_server`` and ``zoo serve``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

# isort: split
import zoo.serving.protos  # noqa: F401  (before the protos below: imports them without TensorFlow)

# isort: split
from tensorflow_serving.config import model_server_config_pb2

#: File name export writes beside the models in a base path.
MODELS_CONFIG = "models.config"
#: TF Serving's default Prometheus path.
DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"


def _declare_messages():
    """Builds BatchingParameters / MonitoringConfig message classes (TF Serving's field names)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="kzoo/serving_configs.proto",
        package="kzoo.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )
    f = descriptor_pb2.FieldDescriptorProto
    opt, rep = f.LABEL_OPTIONAL, f.LABEL_REPEATED

    def message(name, fields):
        msg = file.message_type.add(name=name)
        for number, (field_name, kind, label, type_name) in enumerate(fields, start=1):
            msg.field.add(name=field_name, number=number, type=kind, label=label, type_name=type_name)

    i64, s = ".google.protobuf.Int64Value", ".google.protobuf.StringValue"
    msg_t = f.TYPE_MESSAGE
    message(
        "BatchingParameters",
        [
            ("max_batch_size", msg_t, opt, i64),
            ("batch_timeout_micros", msg_t, opt, i64),
            ("max_enqueued_batches", msg_t, opt, i64),
            ("num_batch_threads", msg_t, opt, i64),
            ("thread_pool_name", msg_t, opt, s),
            ("allowed_batch_sizes", f.TYPE_INT64, rep, None),
            ("pad_variable_length_inputs", f.TYPE_BOOL, opt, None),
        ],
    )
    message("PrometheusConfig", [("enable", f.TYPE_BOOL, opt, None), ("path", f.TYPE_STRING, opt, None)])
    message("MonitoringConfig", [("prometheus_config", msg_t, opt, ".kzoo.serving.PrometheusConfig")])
    text = f.TYPE_STRING
    message(
        "SSLConfig",
        [
            ("server_key", text, opt, None),
            ("server_cert", text, opt, None),
            ("custom_ca", text, opt, None),
            ("client_verify", f.TYPE_BOOL, opt, None),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    get = lambda name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"kzoo.serving.{name}"))  # noqa: E731
    return get("BatchingParameters"), get("MonitoringConfig"), get("SSLConfig")


BatchingParameters, MonitoringConfig, SSLConfig = _declare_messages()


def parse_text_proto(path: str | Path, message):
    """Parses the text proto at ``path`` into ``message``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a valid text proto of that message (the parser's line and column).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NOT_FOUND: {path}; No such file or directory")
    try:
        return text_format.Parse(path.read_text(), message)
    except (text_format.ParseError, UnicodeDecodeError) as err:
        # TF Serving's words (protobuf's TextFormat error, then ParseProtoTextFile's status), which tools grep for.
        name = message.DESCRIPTOR.full_name.replace("kzoo.serving.", "tensorflow.serving.")
        raise ValueError(
            f"Error parsing text-format {name}: {err}. INVALID_ARGUMENT: Invalid protobuf file: '{path}'"
        ) from None


def read_model_server_config(path: str | Path) -> model_server_config_pb2.ModelServerConfig:
    """Reads a ``--model_config_file`` (ModelServerConfig text proto)."""
    return parse_text_proto(path, model_server_config_pb2.ModelServerConfig())


def read_batching_parameters(path: str | Path):
    """Reads a ``--batching_parameters_file`` (BatchingParameters text proto)."""
    return parse_text_proto(path, BatchingParameters())


def read_monitoring_config(path: str | Path):
    """Reads a ``--monitoring_config_file`` (MonitoringConfig text proto)."""
    return parse_text_proto(path, MonitoringConfig())


def read_ssl_config(path: str | Path):
    """Reads a ``--ssl_config_file`` (SSLConfig text proto: PEM server_key, server_cert, custom_ca, client_verify)."""
    return parse_text_proto(path, SSLConfig())


def write_text_proto(path: str | Path, message) -> None:
    """Writes ``message`` as a text proto, atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(text_format.MessageToString(message))
    os.replace(tmp, path)


def single_model_config(name: str, base_path: str | Path) -> model_server_config_pb2.ModelServerConfig:
    """The config ``--model_name`` / ``--model_base_path`` stand for: one model, latest version."""
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name=name, base_path=str(base_path), model_platform="tensorflow")
    return config


def upsert_model(
    config_file: str | Path, name: str, base_path: str | Path
) -> model_server_config_pb2.ModelServerConfig:
    """Adds model ``name`` at ``base_path`` to ``config_file`` (created if missing), keeping other entries.

    An existing entry of that name keeps its version policy and labels; only its base path changes.
    """
    config_file = Path(config_file)
    if config_file.exists():
        config = read_model_server_config(config_file)
    else:
        config = model_server_config_pb2.ModelServerConfig()
    entries = config.model_config_list.config
    entry = next((c for c in entries if c.name == name), None)
    if entry is None:
        entry = entries.add(name=name, model_platform="tensorflow")
    entry.base_path = str(base_path)
    write_text_proto(config_file, config)
    return config
