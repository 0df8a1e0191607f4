"""Malformed requests get TF Serving's status codes, over gRPC and REST, and the server lives on.

Each case asserts the exact ``grpc.StatusCode`` (gRPC) or HTTP status with an
``{"error": ...}`` body (REST). The last test checks the shared server is still
healthy and logged no internal error.
"""

from __future__ import annotations

import http.client
import json

import grpc
import numpy as np
import pytest
from tensorflow.core.example import example_pb2
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from zoo.serving.tensors import to_tensor_proto

pytestmark = pytest.mark.slow

MODEL = "lenet5"
MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # the shared server's --max_message_bytes (tests/serving/conftest.py)
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"
PREDICT = "tensorflow/serving/predict"
Code = grpc.StatusCode

_rng = np.random.default_rng(0)
IMAGES = _rng.random((2, 28, 28, 1), dtype=np.float32)


# --- request builders --------------------------------------------------------------
def predict(inputs=None, *, model=MODEL, version=None, label=None, signature=None, output_filter=()):
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    if signature is not None:
        request.model_spec.signature_name = signature
    for alias, value in ({"images": IMAGES} if inputs is None else inputs).items():
        request.inputs[alias].CopyFrom(value if isinstance(value, tensor_pb2.TensorProto) else to_tensor_proto(value))
    return request


def tensor(dtype, shape, content=b"", **values):
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_content=content, **values)
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in shape)
    return proto


def example(pixels) -> example_pb2.Example:
    result = example_pb2.Example()
    result.features.feature["images"].float_list.value.extend(np.asarray(pixels, np.float32).reshape(-1).tolist())
    return result


def classify(examples=None, *, signature="classify", model=MODEL):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    request.input.example_list.examples.extend([example(IMAGES[0])] if examples is None else examples)
    return request


def regress(signature="serving_default"):
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = MODEL
    request.model_spec.signature_name = signature
    request.input.example_list.examples.append(example(IMAGES[0]))
    return request


def multi(*tasks, with_input=True):
    request = inference_pb2.MultiInferenceRequest()
    for model, signature, method in tasks:
        task = request.tasks.add(method_name=method)
        task.model_spec.name = model
        task.model_spec.signature_name = signature
    if with_input:
        request.input.example_list.examples.append(example(IMAGES[0]))
    return request


def metadata(*fields, model=MODEL):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=list(fields))
    request.model_spec.name = model
    return request


def status(model=MODEL, version=None, label=None):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    return request


# --- gRPC cases: (id, method, request builder, expected code) --------------------------
GRPC_CASES = [
    # Predict: inputs that do not fit the signature.
    ("float64_images", "Predict", lambda: predict({"images": IMAGES.astype(np.float64)}), Code.INVALID_ARGUMENT),
    ("int32_images", "Predict", lambda: predict({"images": (IMAGES * 255).astype(np.int32)}), Code.INVALID_ARGUMENT),
    (
        "string_images",
        "Predict",
        lambda: predict({"images": np.array([b"x", b"y"], dtype=object)}),
        Code.INVALID_ARGUMENT,
    ),
    ("no_channel_dim", "Predict", lambda: predict({"images": IMAGES[..., 0]}), Code.INVALID_ARGUMENT),
    ("rgb_32x32", "Predict", lambda: predict({"images": np.zeros((2, 32, 32, 3), np.float32)}), Code.INVALID_ARGUMENT),
    ("missing_input", "Predict", lambda: predict({"pixels": IMAGES}), Code.INVALID_ARGUMENT),
    ("extra_input", "Predict", lambda: predict({"images": IMAGES, "extra": IMAGES}), Code.INVALID_ARGUMENT),
    ("empty_inputs", "Predict", lambda: predict({}), Code.INVALID_ARGUMENT),
    (
        "over_max_batch_size",
        "Predict",
        lambda: predict({"images": np.zeros((1001, 28, 28, 1), np.float32)}),
        Code.INVALID_ARGUMENT,
    ),
    # Predict: which servable.
    ("empty_model_name", "Predict", lambda: predict(model=""), Code.INVALID_ARGUMENT),
    ("unknown_model", "Predict", lambda: predict(model="no_such_model"), Code.NOT_FOUND),
    ("unknown_version", "Predict", lambda: predict(version=99), Code.NOT_FOUND),
    ("unknown_label", "Predict", lambda: predict(label="no_such_label"), Code.INVALID_ARGUMENT),
    ("unknown_signature", "Predict", lambda: predict(signature="no_such_signature"), Code.FAILED_PRECONDITION),
    ("unknown_output_filter", "Predict", lambda: predict(output_filter=["logits"]), Code.INVALID_ARGUMENT),
    ("duplicate_output_filter", "Predict", lambda: predict(output_filter=["scores", "scores"]), Code.INVALID_ARGUMENT),
    # Predict: TensorProtos that do not decode.
    (
        "tensor_content_too_short",
        "Predict",
        lambda: predict({"images": tensor(types_pb2.DT_FLOAT, [2, 28, 28, 1], IMAGES.tobytes()[:-4])}),
        Code.INVALID_ARGUMENT,
    ),
    (
        "tensor_shape_minus_one",
        "Predict",
        lambda: predict({"images": tensor(types_pb2.DT_FLOAT, [-1, 28, 28, 1], IMAGES.tobytes())}),
        Code.INVALID_ARGUMENT,
    ),
    (
        "too_many_float_vals",
        "Predict",
        lambda: predict({"images": tensor(types_pb2.DT_FLOAT, [1, 28, 28, 1], float_val=[0.5] * 785)}),
        Code.INVALID_ARGUMENT,
    ),
    (
        "unsupported_dtype",
        "Predict",
        lambda: predict({"images": tensor(types_pb2.DT_RESOURCE, [1, 28, 28, 1])}),
        Code.INVALID_ARGUMENT,
    ),
    # Classify / Regress.
    ("classify_on_predict_signature", "Classify", lambda: classify(signature="serving_default"), Code.INVALID_ARGUMENT),
    ("classify_unknown_signature", "Classify", lambda: classify(signature="no_such_signature"), Code.INVALID_ARGUMENT),
    ("classify_empty_input", "Classify", lambda: classify([]), Code.INVALID_ARGUMENT),
    ("classify_missing_feature", "Classify", lambda: classify([example_pb2.Example()]), Code.INVALID_ARGUMENT),
    ("classify_wrong_feature_length", "Classify", lambda: classify([example(np.zeros(10))]), Code.INVALID_ARGUMENT),
    ("classify_unknown_model", "Classify", lambda: classify(model="no_such_model"), Code.NOT_FOUND),
    ("regress_on_predict_signature", "Regress", lambda: regress("serving_default"), Code.INVALID_ARGUMENT),
    ("regress_on_classify_signature", "Regress", lambda: regress("classify"), Code.INVALID_ARGUMENT),
    # MultiInference.
    ("multi_no_tasks", "MultiInference", lambda: multi(), Code.INVALID_ARGUMENT),
    (
        "multi_two_models",
        "MultiInference",
        lambda: multi((MODEL, "classify", CLASSIFY), ("other", "classify", CLASSIFY)),
        Code.INVALID_ARGUMENT,
    ),
    (
        "multi_duplicate_signature",
        "MultiInference",
        lambda: multi((MODEL, "classify", CLASSIFY), (MODEL, "classify", CLASSIFY)),
        Code.INVALID_ARGUMENT,
    ),
    ("multi_predict_method", "MultiInference", lambda: multi((MODEL, "serving_default", PREDICT)), Code.UNIMPLEMENTED),
    (
        "multi_empty_input",
        "MultiInference",
        lambda: multi((MODEL, "classify", CLASSIFY), with_input=False),
        Code.INVALID_ARGUMENT,
    ),
    # Metadata and status.
    ("metadata_no_field", "GetModelMetadata", lambda: metadata(), Code.INVALID_ARGUMENT),
    (
        "metadata_unknown_field",
        "GetModelMetadata",
        lambda: metadata("signature_def", "graph_def"),
        Code.INVALID_ARGUMENT,
    ),
    (
        "metadata_unknown_model",
        "GetModelMetadata",
        lambda: metadata("signature_def", model="no_such_model"),
        Code.NOT_FOUND,
    ),
    ("status_unknown_model", "GetModelStatus", lambda: status("no_such_model"), Code.NOT_FOUND),
    ("status_unknown_version", "GetModelStatus", lambda: status(version=99), Code.NOT_FOUND),
    ("status_unknown_label", "GetModelStatus", lambda: status(label="no_such_label"), Code.INVALID_ARGUMENT),
    ("status_empty_name", "GetModelStatus", lambda: status(""), Code.INVALID_ARGUMENT),
    # Over --max_message_bytes (8 MiB): 9 MiB of pixels.
    (
        "oversized_message",
        "Predict",
        lambda: predict({"images": np.zeros((9 * 1024 * 1024 // (28 * 28 * 4), 28, 28, 1), np.float32)}),
        Code.RESOURCE_EXHAUSTED,
    ),
]


@pytest.fixture(scope="module")
def channel(serving_server):
    with grpc.insecure_channel(
        serving_server.target,
        options=[
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
        ],
    ) as ch:
        yield ch


@pytest.mark.parametrize("method, build, code", [c[1:] for c in GRPC_CASES], ids=[c[0] for c in GRPC_CASES])
def test_grpc_bad_request(channel, method, build, code):
    if method == "GetModelStatus":
        call = getattr(model_service_pb2_grpc.ModelServiceStub(channel), method)
    else:
        call = getattr(prediction_service_pb2_grpc.PredictionServiceStub(channel), method)
    with pytest.raises(grpc.RpcError) as err:
        call(build(), timeout=30)
    assert err.value.code() == code, err.value.details()
    assert err.value.details()


def test_grpc_oversized_message_is_over_the_limit():
    """The oversized case really is over the shared server's 8 MiB limit."""
    assert (
        predict({"images": np.zeros((9 * 1024 * 1024 // 3136, 28, 28, 1), np.float32)}).ByteSize() > MAX_MESSAGE_BYTES
    )


# --- REST cases: (id, method, path, body, expected HTTP status) -----------------------------
_INSTANCES = IMAGES.tolist()
_PREDICT = f"/v1/models/{MODEL}:predict"
_CLASSIFY = f"/v1/models/{MODEL}:classify"
REST_CASES = [
    # Bodies that are not a predict request.
    ("garbage_json", "POST", _PREDICT, b"{not json", 400),
    ("empty_body", "POST", _PREDICT, b"", 400),
    ("invalid_utf8", "POST", _PREDICT, b'{"instances": "\xff\xfe"}', 400),
    ("array_top_level", "POST", _PREDICT, [_INSTANCES], 400),
    ("instances_and_inputs", "POST", _PREDICT, {"instances": _INSTANCES, "inputs": _INSTANCES}, 400),
    ("neither_instances_nor_inputs", "POST", _PREDICT, {"signature_name": "serving_default"}, 400),
    ("empty_instances", "POST", _PREDICT, {"instances": []}, 400),
    ("instances_not_a_list", "POST", _PREDICT, {"instances": 3.0}, 400),
    ("ragged_instances", "POST", _PREDICT, {"instances": [_INSTANCES[0], _INSTANCES[1][:27]]}, 400),
    ("strings_into_float_input", "POST", _PREDICT, {"instances": [[[["a"] * 1] * 28] * 28]}, 400),
    ("no_channel_dim", "POST", _PREDICT, {"instances": IMAGES[..., 0].tolist()}, 400),
    ("rgb_32x32", "POST", _PREDICT, {"instances": np.zeros((1, 32, 32, 3)).tolist()}, 400),
    ("unknown_input_name", "POST", _PREDICT, {"inputs": {"pixels": _INSTANCES}}, 400),
    ("signature_name_not_a_string", "POST", _PREDICT, {"signature_name": 5, "instances": _INSTANCES}, 400),
    # Which servable.
    ("unknown_model", "POST", "/v1/models/no_such_model:predict", {"instances": _INSTANCES}, 404),
    ("unknown_version", "POST", f"/v1/models/{MODEL}/versions/99:predict", {"instances": _INSTANCES}, 404),
    ("unknown_label", "POST", f"/v1/models/{MODEL}/labels/no_such_label:predict", {"instances": _INSTANCES}, 400),
    ("unknown_signature", "POST", _PREDICT, {"signature_name": "no_such_signature", "instances": _INSTANCES}, 400),
    # Classify / regress.
    ("classify_on_predict_signature", "POST", _CLASSIFY, {"examples": [{"images": IMAGES[0].ravel().tolist()}]}, 400),
    ("classify_without_examples", "POST", _CLASSIFY, {"signature_name": "classify"}, 400),
    ("classify_empty_examples", "POST", _CLASSIFY, {"signature_name": "classify", "examples": []}, 400),
    ("classify_example_not_object", "POST", _CLASSIFY, {"signature_name": "classify", "examples": [1.0]}, 400),
    (
        "classify_wrong_feature_length",
        "POST",
        _CLASSIFY,
        {"signature_name": "classify", "examples": [{"images": [0.0] * 10}]},
        400,
    ),
    (
        "regress_on_predict_signature",
        "POST",
        f"/v1/models/{MODEL}:regress",
        {"examples": [{"images": IMAGES[0].ravel().tolist()}]},
        400,
    ),
    # Paths and methods.
    ("unknown_verb", "POST", f"/v1/models/{MODEL}:explain", {"instances": _INSTANCES}, 400),
    ("version_not_a_number", "POST", f"/v1/models/{MODEL}/versions/one:predict", {"instances": _INSTANCES}, 400),
    ("get_on_predict", "GET", _PREDICT, None, 400),
    ("put_predict", "PUT", _PREDICT, {"instances": _INSTANCES}, 400),
    ("delete_model", "DELETE", f"/v1/models/{MODEL}", None, 400),
    ("no_model_name", "GET", "/v1/models", None, 400),
    ("status_unknown_model", "GET", "/v1/models/no_such_model", None, 404),
    ("status_unknown_version", "GET", f"/v1/models/{MODEL}/versions/99", None, 404),
    ("metadata_unknown_model", "GET", "/v1/models/no_such_model/metadata", None, 404),
    ("outside_v1", "GET", "/v2/models/lenet5", None, 404),
    ("root", "GET", "/", None, 404),
]


@pytest.mark.parametrize("method, path, body, http_status", [c[1:] for c in REST_CASES], ids=[c[0] for c in REST_CASES])
def test_rest_bad_request(serving_server, method, path, body, http_status):
    status, answer = serving_server.rest(method, path, body)
    assert status == http_status, answer
    assert isinstance(answer, dict) and set(answer) == {"error"}, answer
    assert isinstance(answer["error"], str) and answer["error"]


def test_rest_malformed_paths_say_so(serving_server):
    for method, path in (("POST", f"/v1/models/{MODEL}:explain"), ("GET", _PREDICT), ("PUT", _PREDICT)):
        status, answer = serving_server.rest(method, path, {"instances": _INSTANCES})
        assert status == 400 and answer["error"].startswith("Malformed request"), answer


def test_rest_unknown_signature_says_so(serving_server):
    status, answer = serving_server.rest("POST", _PREDICT, {"signature_name": "nope", "instances": _INSTANCES})
    assert status == 400 and 'Serving signature key "nope" not found' in answer["error"], answer


def test_rest_oversized_body_is_413(serving_server):
    """A Content-Length over --max_message_bytes is refused before the body is read."""
    conn = http.client.HTTPConnection("127.0.0.1", serving_server.rest_port, timeout=30)
    try:
        conn.putrequest("POST", _PREDICT)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(MAX_MESSAGE_BYTES + 1024 * 1024))
        conn.endheaders()
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 413, body
    assert "exceeds the limit" in body["error"]


def test_unread_bodies_never_become_requests(serving_server):
    """A body the server does not read (bad verb, bad path) must not be parsed as the next request."""
    import socket

    smuggled = b"GET /v1/models/nosuch HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", serving_server.rest_port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/models/lenet5:bogus HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
            % (len(smuggled), smuggled)
        )
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    import re

    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"400", b"200"], data


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"Content-Length": "abc"}, 400),
        ({"Transfer-Encoding": "chunked"}, 411),
    ],
)
def test_bad_framing_headers(serving_server, headers, status):
    conn = http.client.HTTPConnection("127.0.0.1", serving_server.rest_port, timeout=30)
    try:
        conn.putrequest("POST", _PREDICT, skip_accept_encoding=True)
        for key, value in headers.items():
            conn.putheader(key, value)
        conn.endheaders()
        response = conn.getresponse()
        body = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == status and "error" in body


def test_tiny_request_declaring_a_huge_tensor_is_invalid_argument(serving_server):
    """One float_val with dims of 2**33 must not make the server allocate 32 GiB."""
    from tensorflow.core.framework import tensor_pb2, types_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[0.0])
    for size in (2**33, 28, 28, 1):
        proto.tensor_shape.dim.add(size=size)
    request.inputs["images"].CopyFrom(proto)
    with grpc.insecure_channel(serving_server.target) as channel:
        with pytest.raises(grpc.RpcError) as err:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()


def test_server_still_healthy(serving_server):
    """After every bad request: a good predict works over both APIs, the model is AVAILABLE, nothing crashed."""
    with serving_server.client() as client:
        assert client.predict(MODEL, {"images": IMAGES})["scores"].shape == (2, 10)
        assert {s["state"] for s in client.status(MODEL)} >= {"AVAILABLE"}
    status, answer = serving_server.rest("POST", _PREDICT, {"instances": _INSTANCES})
    assert status == 200 and len(answer["predictions"]) == 2
    status, answer = serving_server.rest("GET", f"/v1/models/{MODEL}")
    assert status == 200
    assert any(
        s["state"] == "AVAILABLE" and s["status"] == {"error_code": "OK", "error_message": ""}
        for s in answer["model_version_status"]
    )
    assert serving_server.process.poll() is None
    log = serving_server.log()
    assert "Traceback" not in log and " failed" not in log, log
