"""gRPC front end: ``tensorflow.serving.PredictionService`` and ``ModelService``.

Uses the stubs of ``tensorflow-serving-api``, so any TF Serving client talks to
it unchanged. Every call is counted and timed under TF Serving's metric names.

The server is gRPC's asyncio server on an event loop thread of its own. Predict,
the hot path, is a coroutine: it parses and checks on the loop and awaits the
model (a merged batch, or a call on the handler threads), so waiting requests
hold no thread. The other calls are plain functions on the handler threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time

import grpc
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from zoo.serving import errors
from zoo.serving.inference import InferenceService

logger = logging.getLogger(__name__)


def _spec_of(request):
    if hasattr(request, "model_spec"):
        return request.model_spec
    if getattr(request, "tasks", None):
        return request.tasks[0].model_spec
    return None


def _failure(api: str, err: Exception) -> errors.ServingError:
    """The status a failed call answers with; unexpected failures are logged with their traceback."""
    failure = errors.from_exception(err)
    if failure.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
        logger.error("%s failed", api, exc_info=err)
    return failure


def _handle(service: InferenceService, api: str, function, request, context):
    """Runs ``function(request)``; failures abort the RPC with their status code."""
    if not service.drain.enter():
        context.abort(grpc.StatusCode.UNAVAILABLE, "The server is shutting down.")
    start = time.perf_counter()
    response, code = None, "OK"
    try:
        response = function(request)
        return response
    except Exception as err:  # noqa: BLE001 - every failure becomes a status, the server lives on
        failure = _failure(api, err)
        code = failure.code_name
        context.abort(failure.code, failure.message[:1024])
    finally:
        service.drain.exit()
        _record(service, api, request, response, code, start)


async def _handle_async(service: InferenceService, api: str, function, request, context):
    """``_handle`` for a coroutine function: awaits ``function(request)``; failures abort the RPC with their status."""
    if not service.drain.enter():
        await context.abort(grpc.StatusCode.UNAVAILABLE, "The server is shutting down.")
    start = time.perf_counter()
    response, code = None, "OK"
    try:
        response = await function(request)
        return response
    except asyncio.CancelledError:  # the client went away or the server is stopping
        code = "CANCELLED"
        raise
    except Exception as err:  # noqa: BLE001 - every failure becomes a status, the server lives on
        failure = _failure(api, err)
        code = failure.code_name
        await context.abort(failure.code, failure.message[:1024])
    finally:
        service.drain.exit()
        _record(service, api, request, response, code, start)


def _record(service: InferenceService, api: str, request, response, code: str, start: float) -> None:
    service.record(
        api,
        "GRPC",
        _spec_of(request),
        response if hasattr(response, "model_spec") else None,
        code,
        time.perf_counter() - start,
    )


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, service: InferenceService, executor: concurrent.futures.Executor | None = None):
        self.service, self.executor = service, executor

    async def Predict(self, request, context):  # noqa: N802 - gRPC method names
        predict = lambda r: self.service.predict_async(r, self.executor)  # noqa: E731
        return await _handle_async(self.service, "predict", predict, request, context)

    def Classify(self, request, context):  # noqa: N802
        return _handle(self.service, "classify", self.service.classify, request, context)

    def Regress(self, request, context):  # noqa: N802
        return _handle(self.service, "regress", self.service.regress, request, context)

    def MultiInference(self, request, context):  # noqa: N802
        return _handle(self.service, "multi_inference", self.service.multi_inference, request, context)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return _handle(self.service, "get_model_metadata", self.service.metadata, request, context)


def model_status(service: InferenceService, request) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatus: every version's state, or one version's (a label resolves to its version)."""
    spec = request.model_spec
    choice = spec.WhichOneof("version_choice")
    version = spec.version.value if choice == "version" else None
    label = spec.version_label if choice == "version_label" else None
    response = get_model_status_pb2.GetModelStatusResponse()
    for record in service.manager.statuses(spec.name, version, label):
        status = response.model_version_status.add(version=record.version, state=record.state)
        status.status.SetInParent()  # TF Serving always reports a status, OK included
        if record.error is not None:
            status.status.error_code = record.error.code.value[0]
            status.status.error_message = record.error.message
    return response


def reload_config(service: InferenceService, request) -> model_management_pb2.ReloadConfigResponse:
    """HandleReloadConfigRequest: applies the new ModelServerConfig, blocking until it has loaded."""
    service.manager.reload_config(request.config)
    return model_management_pb2.ReloadConfigResponse()


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, service: InferenceService):
        self.service = service

    def GetModelStatus(self, request, context):  # noqa: N802
        return _handle(self.service, "get_model_status", lambda r: model_status(self.service, r), request, context)

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        return _handle(self.service, "reload_config", lambda r: reload_config(self.service, r), request, context)


def add_services(server, service: InferenceService, executor: concurrent.futures.Executor | None = None) -> None:
    """Adds PredictionService and ModelService; ``executor`` runs unbatched model calls of Predict."""
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(service, executor), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(service), server)


class AsyncServer:
    """gRPC's asyncio server behind the sync server's methods, on an event loop thread of its own.

    Args:
        executor: runs the handlers that are plain functions (and unbatched model calls).
        options: gRPC server arguments.
    """

    def __init__(self, executor: concurrent.futures.ThreadPoolExecutor, options=()):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kzoo-grpc-loop", daemon=True)
        self._thread.start()
        self._server = self._call(self._make(executor, list(options)))

    async def _make(self, executor, options) -> grpc.aio.Server:
        return grpc.aio.server(migration_thread_pool=executor, options=options)

    def _call(self, coroutine, timeout: float | None = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, credentials)

    def start(self) -> None:
        self._call(self._server.start())

    def stop(self, grace: float | None) -> threading.Event:
        """Stops serving (calls still running get ``grace`` s) and then the loop; the event is set when done."""
        done = threading.Event()

        async def stop_then_close():
            try:
                await self._server.stop(grace)
            finally:
                self._loop.call_soon(self._loop.stop)
                done.set()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(stop_then_close(), self._loop)
        else:
            done.set()
        return done
