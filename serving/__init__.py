"""Serving for zoo models through TensorFlow Serving's protocol.

- ``serving.export(model, base_path)``: a SavedModel in TF Serving's layout
  (``<base>/<model>/<version>/``, warmup requests, ``models.config``).
- ``serving.ModelServer(ServerOptions(...))`` / ``zoo serve``: the embedded server
  (gRPC ``PredictionService`` + ``ModelService``, REST ``/v1/models``, batching,
  version policies and labels, hot reload, Prometheus metrics).
- ``serving.Client("host:8500")`` / ``zoo predict``: a gRPC client that works
  against this server and ``tensorflow_model_server`` alike.

Imports are lazy: ``from zoo import serving`` does not load TensorFlow.
"""

_EXPORTS = {
    "export": "zoo.serving.exporter",
    "export_weights": "zoo.serving.exporter",
    "Client": "zoo.serving.client",
    "ModelServer": "zoo.serving.server",
    "ServerOptions": "zoo.serving.server",
    "ServingError": "zoo.serving.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'zoo.serving' has no attribute {name!r}")
