"""The embedded model server: TF Serving's gRPC and REST APIs in one process.

``ModelServer(ServerOptions(...))`` takes the same settings as
``tensorflow_model_server``'s flags (``zoo serve`` parses those flags into
``ServerOptions``), so a deployment can move to the real server without
changing its config files, export directory or clients.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import threading
import time
from pathlib import Path

import grpc

from zoo.serving import config_files
from zoo.serving.batching import Batcher, BatchingOptions
from zoo.serving.errors import ServingError
from zoo.serving.grpc_service import AsyncServer, add_services
from zoo.serving.inference import InferenceService
from zoo.serving.manager import AVAILABLE, ModelManager
from zoo.serving.metrics import ServingMetrics
from zoo.serving.rest import make_server, serve_in_thread
from zoo.serving.servable import Servable

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# TensorFlow's (intra-op, inter-op) threads when the user sizes none (ServerOptions.thread_pools).
DEFAULT_THREAD_POOLS = (1, 1)


@dataclasses.dataclass
class ServerOptions:
    """``tensorflow_model_server`` flags (same names and defaults), plus a few of kzoo's.

    Attributes:
        port: gRPC port.
        rest_api_port: REST port; 0 disables REST, as in TF Serving.
        model_name / model_base_path: serve one model (ignored when a config file is given).
        model_config_file: a ModelServerConfig text proto (many models, policies, labels).
        model_config_file_poll_wait_seconds: re-read the config file this often (0: never).
        file_system_poll_wait_seconds: look for new/removed versions this often (0: only at start).
        enable_batching / batching_parameters_file: dynamic batching and its BatchingParameters.
        monitoring_config_file: a MonitoringConfig (Prometheus path, on/off); metrics are on by default.
        ssl_config_file: an SSLConfig text proto; gRPC then requires TLS (mutual TLS with client_verify).
        enable_model_warmup: replay ``assets.extra/tf_serving_warmup_requests`` before AVAILABLE.
        grpc_max_threads: threads running gRPC handlers other than Predict, and unbatched model calls
            (Predict itself is a coroutine on the server's event loop; a batched request holds no thread).
        tensorflow_intra_op_parallelism / tensorflow_inter_op_parallelism: TensorFlow's thread
            pools. With neither (nor the two below) given, both are 1: see :meth:`thread_pools`.
        max_message_bytes: largest gRPC message or REST body accepted (kzoo).
        host: interface to bind (kzoo; TF Serving binds all interfaces).
        grpc_socket_path: also serve gRPC on this Unix domain socket. With ``port=0`` and a socket
            path, gRPC listens on the socket only (as TF Serving); ``port=0`` alone picks a free port.
        grpc_channel_arguments: gRPC server arguments, ``"key=value,key=value"`` (integers are passed
            as integers, as TF Serving does); ``grpc.so_reuseport=1`` lets servers share the port.
        rest_api_timeout_in_ms: how long a REST connection may stay silent (reading a request, or
            idle between keep-alive requests) before the server closes it; 0: no limit.
        rest_api_enable_cors_support: answer CORS preflights and allow any origin.
        enable_serialization_as_tensor_content: Predict outputs in ``tensor_content`` instead of
            the typed fields (``float_val``, ...).
        enable_signature_method_name_check: Classify / Regress require the signature's method_name.
        saved_model_tags: the meta graph to load, comma separated.
        tensorflow_session_config_file: a ConfigProto text proto for the model sessions.
        tensorflow_session_parallelism: both thread pools' size when the two flags above are 0.
        per_process_gpu_memory_fraction: the sessions' GPU memory fraction (0: TensorFlow's default).
        num_load_threads: versions loaded in parallel (0: kzoo's default, 2).
        num_request_iterations_for_warmup: times each warmup record is replayed.
        allow_version_labels_for_unavailable_models: a new label may name a version not yet AVAILABLE.
    """

    port: int = 8500
    rest_api_port: int = 8501
    model_name: str = "default"
    model_base_path: str | None = None
    model_config_file: str | None = None
    model_config_file_poll_wait_seconds: float = 0
    file_system_poll_wait_seconds: float = 1
    enable_batching: bool = False
    batching_parameters_file: str | None = None
    monitoring_config_file: str | None = None
    ssl_config_file: str | None = None
    enable_model_warmup: bool = True
    grpc_max_threads: int = 64
    tensorflow_intra_op_parallelism: int = 0
    tensorflow_inter_op_parallelism: int = 0
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    host: str = "0.0.0.0"
    grpc_socket_path: str | None = None
    grpc_channel_arguments: str = ""
    rest_api_timeout_in_ms: int = 30000
    rest_api_enable_cors_support: bool = False
    enable_serialization_as_tensor_content: bool = False
    enable_signature_method_name_check: bool = False
    saved_model_tags: str = "serve"
    tensorflow_session_config_file: str | None = None
    tensorflow_session_parallelism: int = 0
    per_process_gpu_memory_fraction: float = 0.0
    num_load_threads: int = 0
    num_request_iterations_for_warmup: int = 1
    allow_version_labels_for_unavailable_models: bool = False

    def model_server_config(self):
        """The ModelServerConfig these options describe.

        Raises:
            ValueError: neither a config file nor a base path, or an unreadable config file.
        """
        if self.model_config_file:
            return config_files.read_model_server_config(self.model_config_file)
        if not self.model_base_path:
            raise ValueError("Give --model_config_file, or --model_base_path (with --model_name).")
        return config_files.single_model_config(self.model_name, Path(self.model_base_path).expanduser().absolute())

    def batching_options(self) -> BatchingOptions | None:
        if self.batching_parameters_file and not self.enable_batching:
            raise ValueError("--batching_parameters_file needs --enable_batching.")
        if not self.enable_batching:
            return None
        if self.batching_parameters_file:
            return BatchingOptions.from_proto(config_files.read_batching_parameters(self.batching_parameters_file))
        return BatchingOptions()

    def channel_arguments(self) -> list[tuple[str, int | str]]:
        """``grpc_channel_arguments`` as gRPC server options, after the message size limits.

        Port sharing (``SO_REUSEPORT``) is off unless these arguments turn it on, so a second
        server on a busy port fails instead of silently taking half the connections.

        Raises:
            ValueError: an argument that is not ``key=value``.

        Example:
            >>> ServerOptions(grpc_channel_arguments="grpc.max_concurrent_streams=10,grpc.primary_user_agent=x"
            ...               ).channel_arguments()[-2:]
            [('grpc.max_concurrent_streams', 10), ('grpc.primary_user_agent', 'x')]
        """
        size = self.max_message_bytes
        arguments: list[tuple[str, int | str]] = [
            ("grpc.max_receive_message_length", size),
            ("grpc.max_send_message_length", size),
            ("grpc.so_reuseport", 0),
        ]
        for item in filter(None, (part.strip() for part in self.grpc_channel_arguments.split(","))):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(
                    f"--grpc_channel_arguments takes key=value pairs separated by commas; received {item!r}."
                )
            value = value.strip()
            try:
                parsed: int | str = int(value)
            except ValueError:
                parsed = value
            arguments = [a for a in arguments if a[0] != key.strip()] + [(key.strip(), parsed)]
        return arguments

    def thread_pools(self) -> tuple[int, int, bool]:
        """TensorFlow's (intra-op, inter-op) thread counts for the model sessions, and whether the user chose them.

        When no ``--tensorflow_intra_op_parallelism`` / ``--tensorflow_inter_op_parallelism`` /
        ``--tensorflow_session_parallelism`` / ``--tensorflow_session_config_file`` is given, both are
        :data:`DEFAULT_THREAD_POOLS` (1, 1): concurrency comes from the requests themselves (one gRPC
        thread per request, or ``num_batch_threads`` merged batches), and TensorFlow's own default
        (a pool as wide as the machine) costs a thread hand-off per op, measured at 2-4x the CPU of
        a batch-1 LeNet-5 call and no faster (bench/reports/serving.md). Give the flags (e.g. the
        core count) for large models that should use several cores for a single request.

        Example:
            >>> ServerOptions().thread_pools()
            (1, 1, False)
            >>> ServerOptions(tensorflow_session_parallelism=8).thread_pools()
            (8, 8, True)
        """
        intra = self.tensorflow_intra_op_parallelism or self.tensorflow_session_parallelism
        inter = self.tensorflow_inter_op_parallelism or self.tensorflow_session_parallelism
        if intra or inter or self.tensorflow_session_config_file:
            return intra, inter, True
        return (*DEFAULT_THREAD_POOLS, False)

    def session_config(self):
        """The ConfigProto model sessions run with."""
        from zoo.serving.servable import session_config

        base = None
        if self.tensorflow_session_config_file:
            from tensorflow.core.protobuf import config_pb2

            base = config_files.parse_text_proto(self.tensorflow_session_config_file, config_pb2.ConfigProto())
        intra, inter, _ = self.thread_pools()
        config = session_config(intra, inter, base)
        if self.per_process_gpu_memory_fraction:
            config.gpu_options.per_process_gpu_memory_fraction = self.per_process_gpu_memory_fraction
        return config

    def metrics_path(self) -> str | None:
        if not self.monitoring_config_file:
            return config_files.DEFAULT_METRICS_PATH
        prometheus = config_files.read_monitoring_config(self.monitoring_config_file).prometheus_config
        if not prometheus.enable:
            return None
        return prometheus.path or config_files.DEFAULT_METRICS_PATH


def _set_tensorflow_threads(intra: int, inter: int, chosen: bool = True) -> None:
    """Sizes TensorFlow's process-wide thread pools; only possible before the TF runtime has started.

    The sessions' ConfigProto carries the same counts, but TensorFlow sizes its shared pools once,
    for whoever starts first (an eager op may come before the first session). So kzoo's defaults
    apply process-wide too when TensorFlow has not started yet (``zoo serve``); in a process where
    it has (a notebook that already ran TensorFlow), they are left to the sessions' ConfigProto.

    Raises:
        ValueError: the user ``chosen`` counts come too late (TensorFlow already runs in this process).
    """
    if not intra and not inter:
        return
    import tensorflow as tf

    try:
        if intra and tf.config.threading.get_intra_op_parallelism_threads() != intra:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
        if inter and tf.config.threading.get_inter_op_parallelism_threads() != inter:
            tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError as err:
        if chosen:
            raise ValueError(f"TensorFlow thread counts must be set before TensorFlow starts: {err}") from None
        logger.debug("TensorFlow already started; thread pools stay as they are: %s", err)


def _bind_problem(address: str) -> str:
    """Why gRPC could not listen on ``address``: "address already in use" when another socket holds it."""
    import errno
    import socket

    if address.startswith("unix:"):
        path = address[len("unix:") :]
        return "address already in use" if Path(path).exists() else "cannot create the socket file"
    host, _, port = address.rpartition(":")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host.strip("[]"), int(port)))
        except OSError as err:
            return "address already in use" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
    return "gRPC refused the address"


class ModelServer:
    """Loads the configured models and answers gRPC and REST until ``stop()``.

    Example:
        >>> server = ModelServer(ServerOptions(model_name="lenet5", model_base_path="models/lenet5"))  # doctest: +SKIP
        >>> server.start()  # doctest: +SKIP
        >>> server.stop()  # doctest: +SKIP
    """

    def __init__(self, options: ServerOptions):
        self.options = options
        _set_tensorflow_threads(*options.thread_pools())
        self.metrics = ServingMetrics()
        self._config = options.model_server_config()
        self._batching = options.batching_options()
        self._metrics_path = options.metrics_path()
        servable_options = {"tags": options.saved_model_tags, "config": options.session_config()}
        self._channel_arguments = options.channel_arguments()
        self.manager = ModelManager(
            self._config,
            prepare=self._prepare,
            on_state=self._on_state,
            load_threads=options.num_load_threads or 2,
            servable_options=servable_options,
            allow_labels_for_unavailable=options.allow_version_labels_for_unavailable_models,
        )
        self.service = InferenceService(
            self.manager,
            self.metrics,
            tensor_content=options.enable_serialization_as_tensor_content,
            method_name_check=options.enable_signature_method_name_check,
            warmup_iterations=options.num_request_iterations_for_warmup,
        )
        self._grpc: AsyncServer | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._rest = None
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._stopping = False
        self.grpc_port: int | None = None
        self.rest_port: int | None = None

    def _prepare(self, servable: Servable) -> None:
        if self._batching is not None:
            labels = (servable.name, str(servable.version))

            def make_batcher(s: Servable, key: str) -> Batcher:
                def on_batch(size: int, padded: int) -> None:
                    self.metrics.input_batch_size.observe(size, *labels, key)
                    self.metrics.batch_size.observe(padded, *labels, key)

                return Batcher(
                    lambda inputs: s.call(key, inputs),
                    self._batching,
                    on_batch,
                    name=f"batch-{s.name}-{s.version}-{key}",
                )

            servable.attach_batchers(make_batcher)
        if self.options.enable_model_warmup:
            try:
                count = self.service.warmup(servable)
            except Exception:
                servable.close()
                raise
            if count:
                logger.info("Warmed up %s version %d with %d requests", servable.name, servable.version, count)
        self.metrics.load_count.inc(str(servable.path), "success")

    def _on_state(self, name: str, version: int, state: int) -> None:
        self.metrics.model_state.set(name, str(version), value=1.0 if state == AVAILABLE else 0.0)

    def start(self) -> None:
        """Loads the models (blocking, as TF Serving does before opening its ports), then serves."""
        opts = self.options
        try:
            self.manager.start(opts.file_system_poll_wait_seconds)
        except ServingError as err:  # e.g. a label naming a version that did not load
            self.manager.stop()
            raise ValueError(err.message) from None
        with self._stop_lock:
            if self._stopping:  # stop() arrived (SIGTERM) while the models were loading
                self.manager.stop()
                self._stopped.set()
                return
        if opts.model_config_file and opts.model_config_file_poll_wait_seconds > 0:
            self.manager.watch_config_file(
                opts.model_config_file, opts.model_config_file_poll_wait_seconds, config_files.read_model_server_config
            )
        try:
            self._start_grpc()
            self._start_rest()
        except BaseException:
            self._abort_start()
            raise

    def _start_grpc(self) -> None:
        opts = self.options
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=opts.grpc_max_threads, thread_name_prefix="kzoo-grpc"
        )
        self._grpc = AsyncServer(self._executor, options=self._channel_arguments)
        add_services(self._grpc, self.service, self._executor)
        credentials = self._credentials(opts.ssl_config_file) if opts.ssl_config_file else None
        addresses = []
        if opts.port or not opts.grpc_socket_path:
            addresses.append(f"{opts.host}:{opts.port}")
        if opts.grpc_socket_path:
            addresses.append(f"unix:{opts.grpc_socket_path}")
        for address in addresses:
            try:
                port = (
                    self._grpc.add_secure_port(address, credentials)
                    if credentials is not None
                    else self._grpc.add_insecure_port(address)
                )
            except RuntimeError:
                port = 0
            if port == 0:
                raise OSError(
                    f"Failed to BuildAndStart gRPC server: cannot listen on {address}: {_bind_problem(address)}"
                )
            if not address.startswith("unix:"):
                self.grpc_port = port
        self._grpc.start()
        if self.grpc_port:
            logger.info("Running gRPC ModelServer at %s:%d ...", opts.host, self.grpc_port)
        if opts.grpc_socket_path:
            logger.info("Running gRPC ModelServer at UNIX socket %s ...", opts.grpc_socket_path)

    def _start_rest(self) -> None:
        opts = self.options
        if not opts.rest_api_port:
            return
        if opts.rest_api_port == opts.port:
            logger.error(
                "server_options.http_port cannot be same as grpc_port. Please use a different port for "
                "HTTP/REST API. Skipped exporting HTTP/REST API."
            )
            return
        try:
            self._rest = make_server(
                self.service,
                opts.host,
                opts.rest_api_port,
                metrics_path=self._metrics_path,
                max_body_bytes=opts.max_message_bytes,
                timeout=opts.rest_api_timeout_in_ms / 1000 if opts.rest_api_timeout_in_ms > 0 else None,
                cors=opts.rest_api_enable_cors_support,
            )
        except OSError as err:
            raise OSError(
                f"Failed to start HTTP Server at {opts.host}:{opts.rest_api_port}: {err.strerror or err}"
            ) from None
        self.rest_port = self._rest.server_address[1]
        serve_in_thread(self._rest)
        logger.info(
            "Exporting HTTP/REST API at:%s:%d ...; metrics at %s",
            opts.host,
            self.rest_port,
            self._metrics_path or "(off)",
        )

    def _abort_start(self) -> None:
        """Releases what a failed start had opened (the caller reports the error)."""
        if self._grpc is not None:
            self._grpc.stop(0)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self.manager.stop()
        self._stopped.set()

    @staticmethod
    def _credentials(path: str) -> grpc.ServerCredentials:
        ssl = config_files.read_ssl_config(path)
        if not ssl.server_key or not ssl.server_cert:
            raise ValueError(f"{path}: an SSLConfig needs server_key and server_cert (PEM text).")
        if ssl.client_verify and not ssl.custom_ca:
            raise ValueError(f"{path}: client_verify needs custom_ca, the CA that signs client certificates.")
        return grpc.ssl_server_credentials(
            [(ssl.server_key.encode(), ssl.server_cert.encode())],
            root_certificates=ssl.custom_ca.encode() or None,
            require_client_auth=ssl.client_verify,
        )

    def stop(self, grace: float = 10.0) -> None:
        """Stops accepting requests, lets in-flight ones finish (up to ``grace`` s), unloads models."""
        with self._stop_lock:
            if self._stopping:
                return
            self._stopping = True
        start = time.monotonic()
        # Refuse new calls (UNAVAILABLE, so clients retry another replica) and let running ones
        # finish; gRPC's own stop() would cancel calls still queued for a handler thread.
        if not self.service.drain.drain(grace):
            logger.warning("Requests still running after %.1f s; stopping anyway.", grace)
        time.sleep(0.2)  # calls already queued reach a handler and are refused, not cancelled
        remaining = max(grace - (time.monotonic() - start), 0.5)
        done = self._grpc.stop(remaining) if self._grpc is not None else None
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.server_close()  # REST requests in flight were awaited by the drain above
        if done is not None:
            done.wait(remaining)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self.manager.stop()
        self._stopped.set()
        logger.info("Server stopped.")

    def wait(self) -> None:
        """Blocks until ``stop()`` is called (from a signal handler, say)."""
        # Wake up now and then: a process signal may be delivered to another thread (gRPC, TF),
        # and Python runs its handler only once the main thread is back in the interpreter.
        while not self._stopped.wait(0.25):
            pass
