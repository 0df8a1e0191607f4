"""gRPC front end: ``tensorflow.serving.PredictionService`` and ``ModelService``.

Uses the stubs of ``tensorflow-serving-api``, so any TF Serving client talks to
it unchanged. Every call is counted and timed under TF Serving's metric names.
"""

from __future__ import annotations

import logging
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
        failure = errors.from_exception(err)
        code = failure.code_name
        if failure.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            logger.exception("%s failed", api)
        context.abort(failure.code, failure.message[:1024])
    finally:
        service.drain.exit()
        service.record(
            api,
            "GRPC",
            _spec_of(request),
            response if hasattr(response, "model_spec") else None,
            code,
            time.perf_counter() - start,
        )


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, service: InferenceService):
        self.service = service

    def Predict(self, request, context):  # noqa: N802 - gRPC method names
        return _handle(self.service, "predict", self.service.predict, request, context)

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


def add_services(server: grpc.Server, service: InferenceService) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(service), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(service), server)
