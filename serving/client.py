"""A gRPC client for TF Serving's API: the embedded server and ``tensorflow_model_server`` alike.

Example:
    >>> client = Client("localhost:8500")  # doctest: +SKIP
    >>> client.predict("lenet5", {"images": x})["scores"].shape  # doctest: +SKIP
    (1, 10)
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# isort: split
import zoo.serving.protos  # noqa: F401  (before the protos below: imports them without TensorFlow)

# isort: split
import grpc
import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    input_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from zoo.serving import config_files, errors
from zoo.serving.tensors import dtype_name, numpy_dtype, shape_of, to_array, to_tensor_proto

_STATES = get_model_status_pb2.ModelVersionStatus.State


def to_example(features: Mapping[str, Any]) -> example_pb2.Example:
    """A ``tf.train.Example`` from ``{name: value}``: floats, ints, str/bytes, or arrays of them.

    Example:
        >>> to_example({"images": [0.5, 1.0]}).features.feature["images"].float_list.value[:]
        [0.5, 1.0]
    """
    example = example_pb2.Example()
    for name, value in features.items():
        array = np.asarray(value).reshape(-1)
        feature = example.features.feature[name]
        if array.dtype.kind in "OSU":
            feature.bytes_list.CopyFrom(
                feature_pb2.BytesList(value=[v if isinstance(v, bytes) else str(v).encode() for v in array.tolist()])
            )
        elif array.dtype.kind in "iub":
            feature.int64_list.CopyFrom(feature_pb2.Int64List(value=array.astype(np.int64).tolist()))
        elif array.dtype.kind == "f":
            feature.float_list.CopyFrom(feature_pb2.FloatList(value=array.astype(np.float32).tolist()))
        else:
            raise ValueError(f"Feature {name!r}: cannot put {array.dtype} values in a tf.Example.")
    return example


def conform_input(value: Any, dtype: str, shape: list[int] | None, alias: str = "input") -> np.ndarray:
    """``value`` as the signature input ``(dtype, shape)`` expects it, when that changes no value.

    As ``tf.convert_to_tensor`` would: integers are cast to another integer dtype if every value
    fits, integers and floats to a float dtype (float64 narrows to float32); floats are not
    truncated to integers (the server refuses them, naming the dtypes). A one-element ``[1]`` array becomes a scalar for a
    scalar input, a scalar becomes ``[1]`` for an input declared ``[1]``. Strings pass as they are.

    Raises:
        ValueError: a value the dtype cannot hold exactly.

    Example:
        >>> conform_input(np.array(50), "int32", []).dtype
        dtype('int32')
        >>> conform_input([7], "int64", []).shape
        ()
        >>> conform_input(2.0, "float32", [1]).tolist()
        [2.0]
    """
    array = np.asarray(value)
    if shape is not None:
        if list(shape) == [] and array.shape == (1,):
            array = array.reshape(())
        elif list(shape) == [1] and array.shape == ():
            array = array.reshape((1,))
    if dtype == "string" or array.dtype.kind in "OSU":
        return array
    target = np.dtype(dtype)
    if array.dtype == target:
        return array
    if target.kind in "iu" and array.dtype.kind in "iu":
        with np.errstate(all="ignore"):
            cast = array.astype(target)
        if not np.array_equal(cast.astype(array.dtype), array):
            raise ValueError(
                f"Input {alias!r} is {dtype} in the signature; its {array.dtype} values do not all fit "
                f"{dtype}. Send values in {dtype}'s range."
            )
        return cast
    if target.kind in "fc" and array.dtype.kind in "iufb":
        return array.astype(target)
    return array  # the server names the mismatch


def _examples_input(examples, context: Mapping[str, Any] | None) -> input_pb2.Input:
    if isinstance(examples, input_pb2.Input):
        return examples
    protos = [e if isinstance(e, example_pb2.Example) else to_example(e) for e in examples]
    request_input = input_pb2.Input()
    if context is None:
        request_input.example_list.examples.extend(protos)
    else:
        request_input.example_list_with_context.examples.extend(protos)
        request_input.example_list_with_context.context.CopyFrom(to_example(context))
    return request_input


def _tensor_info(info) -> dict[str, Any]:
    try:
        dtype = numpy_dtype(info.dtype).name if dtype_name(info.dtype) != "DT_STRING" else "string"
    except ValueError:
        dtype = dtype_name(info.dtype)
    shape = shape_of(info.tensor_shape) if info.HasField("tensor_shape") else None  # TF1 infos may lack one
    return {"dtype": dtype, "shape": None if shape is None else [-1 if d is None else d for d in shape]}


class Client:
    """Calls a TF Serving-compatible server over gRPC.

    Args:
        target: ``host:port`` of the gRPC API.
        timeout: default deadline of each call, seconds.
        retries: retries after UNAVAILABLE (server starting, restarting, overloaded); other errors raise at once.
        backoff: first retry delay in seconds; doubles each time, with jitter.
        tls: use TLS. ``root_certificates`` (PEM bytes) pins the CA; ``private_key`` and
            ``certificate_chain`` authenticate the client (mutual TLS); ``server_name``
            overrides the name expected in the server's certificate.
        max_message_bytes: largest request/response message.

    Raises (from every call):
        ServingError: the server's status code and message (``err.code`` is a ``grpc.StatusCode``).
    """

    def __init__(
        self,
        target: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.05,
        tls: bool = False,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
        server_name: str | None = None,
        max_message_bytes: int = 256 * 1024 * 1024,
    ):
        self.target, self.timeout, self.retries, self.backoff = target, timeout, retries, backoff
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if tls or root_certificates or private_key:
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            credentials = grpc.ssl_channel_credentials(root_certificates, private_key, certificate_chain)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._signature_inputs: dict[tuple, dict[str, dict[str, Any]] | None] = {}
        self._predictions = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- plumbing -----------------------------------------------------------
    def _call(self, method, request, timeout: float | None):
        deadline = time.monotonic() + (timeout or self.timeout)
        delay = self.backoff
        for attempt in range(self.retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise errors.ServingError(
                    grpc.StatusCode.DEADLINE_EXCEEDED, f"Deadline exceeded calling {self.target}."
                )
            try:
                return method(request, timeout=remaining)
            except grpc.RpcError as err:
                code = err.code()
                if code != grpc.StatusCode.UNAVAILABLE or attempt == self.retries:
                    raise errors.ServingError(code, err.details() or code.name) from None
            time.sleep(min(delay * (1 + random.random()), max(deadline - time.monotonic(), 0)))
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _spec(
        spec, model: str, signature_name: str | None = None, version: int | None = None, label: str | None = None
    ) -> None:
        if version is not None and label is not None:
            raise ValueError("Give a version or a label, not both.")
        spec.name = model
        if signature_name:
            spec.signature_name = signature_name
        if version is not None:
            spec.version.value = int(version)
        elif label is not None:
            spec.version_label = label

    # --- PredictionService --------------------------------------------------
    def _input_infos(
        self, model: str, signature_name: str | None, version: int | None, label: str | None, timeout: float | None
    ) -> dict[str, dict[str, Any]] | None:
        """The signature's inputs (dtype, shape) from GetModelMetadata, cached; None when unavailable."""
        key = (model, signature_name or "serving_default", version, label)
        if key not in self._signature_inputs:
            try:
                signatures = self.metadata(model, version=version, label=label, timeout=timeout)["signatures"]
            except errors.ServingError as err:
                if err.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                return None  # the Predict call itself reports an unknown model or signature
            self._signature_inputs[key] = signatures.get(key[1], {}).get("inputs")
        return self._signature_inputs[key]

    def predict(
        self,
        model: str,
        inputs: Mapping[str, Any],
        *,
        signature_name: str | None = None,
        version: int | None = None,
        label: str | None = None,
        output_filter: Sequence[str] = (),
        timeout: float | None = None,
        cast: bool = True,
    ) -> dict[str, np.ndarray]:
        """Predict: ``{input alias: array}`` in, ``{output alias: array}`` out.

        With ``cast`` (the default), inputs are first converted to the signature's dtypes
        (read once per model and signature with GetModelMetadata) when no value changes,
        e.g. ``np.array(50)`` (int64) for an int32 input, or float64 pixels for float32
        ones; a one-element ``[1]`` array is sent as a scalar to a scalar input, and a scalar
        as ``[1]`` to an input declared ``[1]``.

        Raises:
            ValueError: an integer that the signature's integer dtype cannot hold (2**40 for int32).
        """
        request = predict_pb2.PredictRequest(output_filter=list(output_filter))
        self._spec(request.model_spec, model, signature_name, version, label)
        infos = self._input_infos(model, signature_name, version, label, timeout) if cast else None
        for alias, value in inputs.items():
            info = (infos or {}).get(alias)
            if info is not None:
                value = conform_input(value, info["dtype"], info["shape"], alias)
            request.inputs[alias].CopyFrom(to_tensor_proto(value))
        try:
            response = self._call(self._predictions.Predict, request, timeout)
        except errors.ServingError as err:
            if err.code == grpc.StatusCode.INVALID_ARGUMENT:  # a new version may take other dtypes: read them again
                self._signature_inputs.pop((model, signature_name or "serving_default", version, label), None)
            raise
        return {alias: to_array(proto) for alias, proto in response.outputs.items()}

    def classify(
        self,
        model: str,
        examples,
        *,
        context: Mapping[str, Any] | None = None,
        signature_name: str | None = None,
        version: int | None = None,
        label: str | None = None,
        timeout: float | None = None,
    ) -> list[list[tuple[str, float]]]:
        """Classify: tf.Examples (or ``{feature: value}`` dicts) in, per example ``[(label, score), ...]``."""
        request = classification_pb2.ClassificationRequest(input=_examples_input(examples, context))
        self._spec(request.model_spec, model, signature_name, version, label)
        response = self._call(self._predictions.Classify, request, timeout)
        return [[(c.label, c.score) for c in entry.classes] for entry in response.result.classifications]

    def regress(
        self,
        model: str,
        examples,
        *,
        context: Mapping[str, Any] | None = None,
        signature_name: str | None = None,
        version: int | None = None,
        label: str | None = None,
        timeout: float | None = None,
    ) -> np.ndarray:
        """Regress: tf.Examples (or dicts) in, one float per example out."""
        request = regression_pb2.RegressionRequest(input=_examples_input(examples, context))
        self._spec(request.model_spec, model, signature_name, version, label)
        response = self._call(self._predictions.Regress, request, timeout)
        return np.asarray([r.value for r in response.result.regressions], dtype=np.float32)

    def metadata(
        self, model: str, *, version: int | None = None, label: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """GetModelMetadata: ``{"version": N, "signatures": {name: {"method", "inputs", "outputs"}}}``."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, model, None, version, label)
        response = self._call(self._predictions.GetModelMetadata, request, timeout)
        signature_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signature_map)
        signatures = {
            key: {
                "method": sig.method_name,
                "inputs": {alias: _tensor_info(info) for alias, info in sig.inputs.items()},
                "outputs": {alias: _tensor_info(info) for alias, info in sig.outputs.items()},
            }
            for key, sig in signature_map.signature_def.items()
        }
        return {"version": response.model_spec.version.value, "signatures": signatures}

    # --- ModelService -------------------------------------------------------
    def status(
        self, model: str, *, version: int | None = None, label: str | None = None, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """GetModelStatus: ``[{"version", "state", "error_code", "error_message"}]``, newest first."""
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model, None, version, label)
        response = self._call(self._models.GetModelStatus, request, timeout)
        return [
            {
                "version": s.version,
                "state": _STATES.Name(s.state),
                "error_code": errors.code_from_number(s.status.error_code).name,
                "error_message": s.status.error_message,
            }
            for s in response.model_version_status
        ]

    def reload_config(self, config, *, timeout: float | None = 60.0) -> None:
        """HandleReloadConfigRequest with a ``ModelServerConfig``, or the path of a models.config file."""
        if isinstance(config, (str, Path)):
            config = config_files.read_model_server_config(config)
        if not isinstance(config, model_server_config_pb2.ModelServerConfig):
            raise TypeError(
                f"reload_config takes a ModelServerConfig or a file path; received {type(config).__name__}."
            )
        request = model_management_pb2.ReloadConfigRequest(config=config)
        self._call(self._models.HandleReloadConfigRequest, request, timeout)

    def wait_until_available(self, model: str, *, version: int | None = None, timeout: float = 60.0) -> int:
        """Blocks until ``model`` (or that version) is AVAILABLE; returns the version."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                for entry in self.status(model, version=version, timeout=max(deadline - time.monotonic(), 0.1)):
                    if entry["state"] == "AVAILABLE":
                        return entry["version"]
            except errors.ServingError as err:
                if err.code not in (
                    grpc.StatusCode.NOT_FOUND,
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ):
                    raise
            if time.monotonic() > deadline:
                raise errors.ServingError(
                    grpc.StatusCode.DEADLINE_EXCEEDED, f"{model} did not become AVAILABLE within {timeout} s."
                )
            time.sleep(0.1)
