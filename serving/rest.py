"""REST front end: TF Serving's ``/v1/models/...`` API, Prometheus metrics and health checks.

URL patterns, JSON bodies and HTTP codes follow TF Serving's
``http_rest_api_handler.cc``; errors are ``{"error": "..."}``. Besides TF
Serving's paths it answers ``/healthz`` (the process is up) and ``/readyz``
(every configured model has an AVAILABLE version).
"""

from __future__ import annotations

import http.server
import json
import logging
import re
import threading
import time
import urllib.parse

from google.protobuf import json_format
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
    regression_pb2,
)

from zoo.serving import errors, rest_codec
from zoo.serving.grpc_service import model_status
from zoo.serving.inference import InferenceService

logger = logging.getLogger(__name__)

_POST = re.compile(r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)")
_GET = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")


def _to_dict(message) -> dict:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


class RestApi:
    """Request handling independent of the HTTP server (easy to test and reuse)."""

    def __init__(self, service: InferenceService, metrics_path: str | None, max_body_bytes: int):
        self.service = service
        self.metrics_path = metrics_path
        self.max_body_bytes = max_body_bytes

    def handle(self, method: str, raw_path: str, read_body) -> tuple[int, str, bytes]:
        """Answers one request: returns (HTTP status, content type, body)."""
        path = urllib.parse.urlsplit(raw_path).path
        if method == "GET" and self.metrics_path and path == self.metrics_path:
            return 200, "text/plain; version=0.0.4", self.service.metrics.render().encode()
        if method == "GET" and path == "/healthz":
            return 200, "application/json", b'{"status": "ok"}'
        if method == "GET" and path == "/readyz":
            ready = self.service.manager.ready() and not self.service.drain.draining
            return (200 if ready else 503), "application/json", json.dumps({"ready": ready}).encode()
        if not path.lower().startswith("/v1/"):
            return 404, "application/json", json.dumps({"error": f"Not found: {path}"}).encode()
        if not self.service.drain.enter():
            return 503, "application/json", b'{"error": "The server is shutting down."}'
        start = time.perf_counter()
        api, spec, response, code = "rest", None, None, "OK"
        try:
            if method == "POST" and (match := _POST.fullmatch(path)):
                name, version, label, verb = match.groups()
                api = verb.lower()
                spec = self._spec(name, version, label)
                body = read_body()
                payload, response = self._post(api, spec, body)
            elif method == "GET" and (match := _GET.fullmatch(path)):
                name, version, label, metadata = match.groups()
                if not name:
                    raise errors.invalid_argument("Missing model name in request.")
                spec = self._spec(name, version, label)
                api = "get_model_metadata" if metadata else "get_model_status"
                payload = (
                    self._metadata(spec)
                    if metadata
                    else _to_dict(
                        model_status(self.service, get_model_status_pb2.GetModelStatusRequest(model_spec=spec))
                    )
                )
            else:
                raise errors.invalid_argument(f"Malformed request: {method} {path}")
            return 200, "application/json", json.dumps(payload).encode()
        except Exception as err:  # noqa: BLE001 - every failure is an {"error"} body
            failure = errors.from_exception(err)
            code = failure.code_name
            if failure.code in (errors.grpc.StatusCode.INTERNAL, errors.grpc.StatusCode.UNKNOWN):
                logger.exception("REST %s %s failed", method, path)
            return failure.http_status, "application/json", json.dumps({"error": failure.message}).encode()
        finally:
            self.service.drain.exit()
            if spec is not None:
                self.service.record(api, "REST", spec, response, code, time.perf_counter() - start)

    @staticmethod
    def _spec(name: str, version: str | None, label: str | None):
        spec = model_pb2.ModelSpec()
        spec.name = urllib.parse.unquote(name)
        if version is not None:
            try:
                spec.version.value = int(version)
            except ValueError:
                raise errors.invalid_argument(f"Failed to convert version: {version}") from None
        elif label is not None:
            spec.version_label = urllib.parse.unquote(label)
        return spec

    def _post(self, api: str, spec, body: bytes):
        request = rest_codec.parse_body(body)
        servable = self.service.resolve(spec)
        signature_name = request.get("signature_name") or ""
        if not isinstance(signature_name, str):
            raise errors.invalid_argument("'signature_name' must be a string.")
        spec.signature_name = signature_name
        if api == "predict":
            key, _ = servable.signature(signature_name)
            inputs, fmt = rest_codec.decode_predict_inputs(request, servable.input_specs(key))
            key, outputs = self.service.predict_arrays(servable, key, inputs)
            response = predict_pb2.PredictResponse()  # outputs stay JSON; the spec feeds the metrics
            self.service.fill_spec(response.model_spec, servable, key)
            return rest_codec.encode_predict_outputs(outputs, fmt), response
        examples = rest_codec.decode_examples(request)
        if api == "classify":
            answer = self.service.classify_with(
                servable, classification_pb2.ClassificationRequest(model_spec=spec, input=examples)
            )
            return rest_codec.encode_classification(answer.result), answer
        answer = self.service.regress_with(servable, regression_pb2.RegressionRequest(model_spec=spec, input=examples))
        return rest_codec.encode_regression(answer.result), answer

    def _metadata(self, spec) -> dict:
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec, metadata_field=["signature_def"])
        response = self.service.metadata(request)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        return {"model_spec": _to_dict(response.model_spec), "metadata": {"signature_def": _to_dict(signature_map)}}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # seconds a silent connection is kept (--rest_api_timeout_in_ms); shutdown waits for these threads
    cors = False  # --rest_api_enable_cors_support
    api: RestApi  # set on the subclass made by make_server

    def _serve(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return self._error(411, "Send the body with a Content-Length; chunked bodies are not accepted.")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError
        except ValueError:
            self.close_connection = True
            return self._error(400, f"Invalid Content-Length: {self.headers.get('Content-Length')!r}")
        if length > self.api.max_body_bytes:
            self.close_connection = True
            return self._error(
                413, f"Request body of {length} bytes exceeds the limit of {self.api.max_body_bytes} bytes."
            )
        body: list[bytes] = []

        def read_body() -> bytes:
            if not body:
                body.append(self.rfile.read(length) if length else b"")
            return body[0]

        status, content_type, payload = self.api.handle(self.command, self.path, read_body)
        read_body()  # an unread body must not be taken for the next request on this connection
        if self.api.service.drain.draining:
            self.close_connection = True
        self._reply(status, content_type, payload)

    def _error(self, status: int, message: str) -> None:
        self._reply(status, "application/json", json.dumps({"error": message}).encode())

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.cors:
            self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self) -> None:  # noqa: N802 - http.server names
        """A CORS preflight (with ``--rest_api_enable_cors_support``), as TF Serving answers it."""
        if not self.cors:
            return self._serve()
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "POST, GET")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815 - http.server names

    def log_message(self, format, *args):  # noqa: A002 - http.server signature
        logger.debug("%s - %s", self.address_string(), format % args)


class RestServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server; ``ModelServer.stop`` drains its requests before closing it."""

    daemon_threads = True  # shutdown waits for in-flight requests through the drain, bounded by the grace
    block_on_close = False
    allow_reuse_address = True  # SO_REUSEADDR only: a busy port still fails with "Address already in use"


def make_server(
    service: InferenceService,
    host: str,
    port: int,
    *,
    metrics_path: str | None,
    max_body_bytes: int,
    timeout: float | None = 5.0,
    cors: bool = False,
) -> RestServer:
    """A REST server on ``host:port`` (not yet serving; see :func:`serve_in_thread`).

    Raises:
        OSError: the port cannot be bound (in use, say).
    """
    handler = type(
        "Handler",
        (_Handler,),
        {"api": RestApi(service, metrics_path, max_body_bytes), "timeout": timeout, "cors": cors},
    )
    return RestServer((host, port), handler)


def serve_in_thread(server: RestServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="kzoo-rest", daemon=True)
    thread.start()
    return thread
