"""``zoo serve`` as a drop-in for ``tensorflow_model_server`` (issues 20 and 25), through real gRPC and REST calls.

The SavedModels are exported here the way TF Serving's own test models are
(``saved_model_half_plus_two.py``): TF1 graphs written with ``tf.compat.v1`` and
``SavedModelBuilder`` (one with tensor infos that carry no shape, like the
``half_plus_three`` model written by TensorFlow 1.0, which TensorFlow 2's loader
cannot prune), and a TF2 ``tf.Module`` whose signatures use Classify / Regress names.
Expected behaviour is TF Serving's documented behaviour (its README, main.cc, server.cc,
predict_util.cc, classifier.cc, regressor.cc, server_core.cc).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from zoo.serving import config_files
from zoo.serving.client import Client, to_example
from zoo.serving.errors import ServingError
from zoo.serving.tensors import to_array, to_tensor_proto


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def zoo_command() -> list[str]:
    return [sys.executable, "-m", "zoo.cli"]


v1 = tf.compat.v1
C = v1.saved_model.signature_constants


# --- SavedModels written as TF Serving's tests write them ---------------------------------------------------


def export_half_plus(path, b_value: float, keep_shapes: bool) -> None:
    """TF Serving's half_plus_two graph (y = 0.5 x + b over parsed tf.Examples) with v1 SavedModelBuilder.

    Without ``keep_shapes`` the signature tensor infos lose their shapes, as in TF 1.0 exports
    (TF Serving's testdata/saved_model_half_plus_three).
    """
    graph = tf.Graph()
    with graph.as_default():
        a, b = v1.Variable(0.5, name="a"), v1.Variable(b_value, name="b")
        serialized = v1.placeholder(tf.string, name="tf_example", shape=[None])
        parsed = v1.parse_example(serialized, {"x": v1.FixedLenFeature([1], tf.float32)})
        x = tf.identity(parsed["x"], name="x")  # declared [-1, 1]
        y = tf.identity(a * x + b, name="y")
        info = v1.saved_model.utils.build_tensor_info
        build = v1.saved_model.signature_def_utils.build_signature_def
        signatures = {
            "serving_default": build({"x": info(x)}, {"y": info(y)}, C.PREDICT_METHOD_NAME),
            "regress_x_to_y": build(
                {C.REGRESS_INPUTS: info(serialized)}, {C.REGRESS_OUTPUTS: info(y)}, C.REGRESS_METHOD_NAME
            ),
            "classify_x_to_y": build(
                {C.CLASSIFY_INPUTS: info(serialized)}, {C.CLASSIFY_OUTPUT_SCORES: info(y)}, C.CLASSIFY_METHOD_NAME
            ),
        }
        if not keep_shapes:
            for signature in signatures.values():
                for tensor in [*signature.inputs.values(), *signature.outputs.values()]:
                    tensor.ClearField("tensor_shape")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map=signatures)
            builder.save()


class HalfPlusTwoTF2(tf.Module):
    """TF Serving's native TF2 half_plus_two: tf.saved_model.save always writes method_name predict."""

    def __init__(self):
        super().__init__()
        self.a, self.b = tf.Variable(0.5), tf.Variable(2.0)
        self.w = tf.Variable([[1.0, 2.0], [3.0, 4.0]])

    def _parse(self, serialized):
        return tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def regress(self, inputs):
        return {"outputs": self.a * self._parse(inputs) + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])
    def classify(self, inputs):
        return {"scores": self.a * self._parse(inputs) + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def project(self, x):
        return {
            "y": tf.matmul(x, self.w),
            "rows": tf.cast(tf.shape(x)[0], tf.int64),
            "name": tf.constant(["kzoo"]),
            "positive": tf.reduce_all(x > 0, axis=1),
        }

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="n"), tf.TensorSpec([None], tf.float32, name="x")])
    def scale(self, n, x):
        return {"y": x * tf.cast(n, tf.float32)}


def export_tf2(path) -> None:
    module = HalfPlusTwoTF2()
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "serving_default": module.project,
            "regress_x_to_y": module.regress,
            "classify_x_to_y": module.classify,
            "scale": module.scale,
        },
    )


def export_broken(path) -> None:
    """A TF1 SavedModel whose variables went missing: the load fails in TensorFlow's restore."""
    export_half_plus(path, 3.0, keep_shapes=True)
    for item in (path / "variables").iterdir():
        item.unlink()


MODELS = ("half_plus_three", "half_plus_two", "tf2")


@pytest.fixture(scope="module")
def model_base(tmp_path_factory):
    base = tmp_path_factory.mktemp("compat") / "models"
    export_half_plus(base / "half_plus_three" / "123", 3.0, keep_shapes=False)
    export_half_plus(base / "half_plus_two" / "1", 2.0, keep_shapes=True)
    export_tf2(base / "tf2" / "1")
    export_broken(base.parent / "broken_models" / "broken" / "1")
    for name in MODELS:
        config_files.upsert_model(base / config_files.MODELS_CONFIG, name, (base / name).absolute())
    return base


def wait_available(server, names, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    with Client(server.target, retries=0) as client:
        for name in names:
            while True:
                assert server.process.poll() is None, server.log()
                try:
                    client.wait_until_available(name, timeout=2.0)
                    break
                except (ServingError, OSError):
                    assert time.monotonic() < deadline, server.log()


@pytest.fixture(scope="module")
def compat_server(model_base, tmp_path_factory, start_server):
    """``zoo serve`` with tensorflow_model_server's defaults (and a short REST timeout to test it)."""
    server = start_server(model_base, tmp_path_factory.mktemp("compat-log"), "--rest_api_timeout_in_ms", "500")
    try:
        wait_available(server, MODELS)
        yield server
    finally:
        assert server.terminate() == 0, server.log()


@pytest.fixture(scope="module")
def flags_server(model_base, tmp_path_factory, start_server):
    """``zoo serve`` with the non-default flags: tensor_content, method-name check, a Unix socket, channel
    arguments (a 4 KiB receive limit), CORS, and flags it only accepts."""
    log_dir = tmp_path_factory.mktemp("flags-log")
    socket_path = log_dir / "grpc.sock"
    config = config_files.read_model_server_config(model_base / config_files.MODELS_CONFIG)
    next(c for c in config.model_config_list.config if c.name == "tf2").version_labels["canary"] = 2  # not there
    config_files.write_text_proto(log_dir / "flags.config", config)
    server = start_server(
        model_base,
        log_dir,
        "--model_config_file",
        str(log_dir / "flags.config"),
        "--allow_version_labels_for_unavailable_models",
        "--enable_serialization_as_tensor_content",
        "--enable_signature_method_name_check",
        "--grpc_socket_path",
        str(socket_path),
        "--grpc_channel_arguments",
        "grpc.max_receive_message_length=4096,grpc.primary_user_agent=kzoo-test",
        "--rest_api_enable_cors_support",
        "--prefer_tflite_model",
        "--enable_profiler=true",
        "--rest_api_num_threads",
        "8",
        "--num_load_threads",
        "1",
    )
    server.socket_path = socket_path
    try:
        wait_available(server, MODELS)
        yield server
    finally:
        assert server.terminate() == 0, server.log()


def stubs(target: str):
    channel = grpc.insecure_channel(target)
    return (
        channel,
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )


def predict_request(model: str, signature: str = "", **inputs) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(to_tensor_proto(value))
    return request


def examples(*xs):
    from tensorflow_serving.apis import input_pb2

    request_input = input_pb2.Input()
    request_input.example_list.examples.extend(to_example({"x": [x]}) for x in xs)
    return request_input


# --- issue 25: TF1 SavedModels load and run as in TF Serving ---------------------------------------------


def test_half_plus_three_is_a_model_tensorflow2s_loader_refuses(model_base):
    """The test model has the quirk of TF Serving's half_plus_three: TF2's object loader cannot prune it."""
    with pytest.raises(ValueError, match="Shapes must be equal rank"):
        tf.saved_model.load(str(model_base / "half_plus_three" / "123")).signatures["serving_default"]


def test_tf1_models_predict_regress_classify_over_grpc(compat_server):
    channel, predictions, _ = stubs(compat_server.target)
    with channel:
        response = predictions.Predict(predict_request("half_plus_three", x=np.array([[1.0], [2.0]], np.float32)))
        assert list(response.outputs["y"].float_val) == [3.5, 4.0]
        assert response.model_spec.version.value == 123
        # half_plus_two declares x as [-1, 1]; the graph takes a [3] tensor, so TF Serving does too.
        response = predictions.Predict(predict_request("half_plus_two", x=np.array([1.0, 2.0, 5.0], np.float32)))
        assert list(response.outputs["y"].float_val) == [2.5, 3.0, 4.5]
        assert [d.size for d in response.outputs["y"].tensor_shape.dim] == [3]
        regress = regression_pb2.RegressionRequest(input=examples(1.0, 4.0))
        regress.model_spec.name, regress.model_spec.signature_name = "half_plus_three", "regress_x_to_y"
        assert [r.value for r in predictions.Regress(regress).result.regressions] == [3.5, 5.0]
        classify = classification_pb2.ClassificationRequest(input=examples(2.0))
        classify.model_spec.name, classify.model_spec.signature_name = "half_plus_three", "classify_x_to_y"
        assert predictions.Classify(classify).result.classifications[0].classes[0].score == 4.0


def test_tf1_models_over_rest_as_in_tf_servings_readme(compat_server):
    status, body = compat_server.rest("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]})
    assert (status, body) == (200, {"predictions": [2.5, 3.0, 4.5]})
    status, body = compat_server.rest("POST", "/v1/models/half_plus_three:predict", {"instances": [[1.0], [2.0]]})
    assert (status, body) == (200, {"predictions": [[3.5], [4.0]]})
    status, body = compat_server.rest(
        "POST", "/v1/models/half_plus_three:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}]}
    )
    assert (status, body) == (200, {"results": [3.5]})


def test_a_load_failure_shows_in_the_status_the_logs_and_a_reload(compat_server, model_base):
    channel, _, models = stubs(compat_server.target)
    config = config_files.read_model_server_config(model_base / config_files.MODELS_CONFIG)
    config.model_config_list.config.add(
        name="broken", base_path=str(model_base.parent / "broken_models" / "broken"), model_platform="tensorflow"
    )
    with channel:
        with pytest.raises(grpc.RpcError) as err:  # TF Serving's ReloadConfig names what did not load
            models.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=config))
        assert err.value.code() == grpc.StatusCode.UNKNOWN
        assert "1 model(s) did not become available" in err.value.details()
        assert "name: broken version: 1" in err.value.details()
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "broken"
        (status,) = models.GetModelStatus(request).model_version_status
        assert status.version == 1 and status.state == get_model_status_pb2.ModelVersionStatus.END
        assert status.status.error_code != 0 and "broken" in status.status.error_message
        request.model_spec.name = "half_plus_three"  # the others keep serving
        (status,) = models.GetModelStatus(request).model_version_status
        assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    code, body = compat_server.rest("GET", "/v1/models/broken")
    assert code == 200
    (entry,) = body["model_version_status"]
    assert entry["state"] == "END" and entry["status"]["error_code"] != "OK" and entry["status"]["error_message"]
    assert "Loading servable: {name: broken version: 1} failed" in compat_server.log()


# --- issue 20.1: typed response fields ---------------------------------------------------------------------


def test_predict_fills_typed_fields_by_default(compat_server):
    channel, predictions, _ = stubs(compat_server.target)
    with channel:
        response = predictions.Predict(predict_request("tf2", x=np.array([[1.0, 1.0], [-1.0, 2.0]], np.float32)))
    y, rows, name, positive = (response.outputs[k] for k in ("y", "rows", "name", "positive"))
    assert list(y.float_val) == [4.0, 6.0, 5.0, 6.0] and not y.tensor_content
    assert list(rows.int64_val) == [2] and not rows.tensor_shape.dim  # a scalar
    assert list(name.string_val) == [b"kzoo"]
    assert list(positive.bool_val) == [True, False]


def test_tensor_content_flag(flags_server):
    channel, predictions, _ = stubs(flags_server.target)
    with channel:
        response = predictions.Predict(predict_request("tf2", x=np.array([[1.0, 1.0]], np.float32)))
    assert not response.outputs["y"].float_val
    np.testing.assert_array_equal(to_array(response.outputs["y"]), [[4.0, 6.0]])
    assert list(response.outputs["name"].string_val) == [b"kzoo"]


# --- issue 20.2: shapes are TensorFlow's to check ----------------------------------------------------------


def test_tensorflow_refuses_with_its_own_message(compat_server):
    channel, predictions, _ = stubs(compat_server.target)
    with channel:
        empty = predictions.Predict(predict_request("tf2", x=np.zeros((0, 2), np.float32)))
        assert [d.size for d in empty.outputs["y"].tensor_shape.dim] == [0, 2]
        with pytest.raises(grpc.RpcError) as err:
            predictions.Predict(predict_request("tf2", x=np.zeros((1, 3), np.float32)))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Matrix size-incompatible" in err.value.details()
    assert "input 'x' has shape [1, 3], the signature declares [-1,2]" in err.value.details()
    assert "stack traces unavailable" not in err.value.details()
    status, body = compat_server.rest("POST", "/v1/models/tf2:predict", {"instances": [[1.0, 2.0, 3.0]]})
    assert status == 400 and "Matrix size-incompatible" in body["error"]


def test_a_failure_on_an_undeclared_shape_is_invalid_argument_whatever_the_kernel_says(tmp_path):
    """Eigen's convolution on an AVX2 CPU answers a wrong channel count with UNIMPLEMENTED; the caller's
    mistake is still INVALID_ARGUMENT, with the shapes and TensorFlow's message. Declared shapes pass as they were."""
    from zoo.serving.servable import Servable

    export_tf2(tmp_path / "1")
    servable = Servable("tf2", 1, tmp_path / "1")
    kernel = ServingError(
        grpc.StatusCode.UNIMPLEMENTED, "Fused conv implementation does not support grouped convolutions"
    )
    error = servable._with_shape_mismatch("serving_default", {"x": np.zeros((1, 3), np.float32)}, kernel)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.message == (
        "input 'x' has shape [1, 3], the signature declares [-1,2]: "
        "Fused conv implementation does not support grouped convolutions"
    )
    assert servable._with_shape_mismatch("serving_default", {"x": np.zeros((5, 2), np.float32)}, kernel) is kernel
    servable.close()


# --- issues 25 and 20.3: Classify / Regress / MultiInference on TF2 SavedModels -----------------------------


def test_tf2_signatures_serve_classify_regress_and_multi_inference(compat_server):
    channel, predictions, _ = stubs(compat_server.target)
    with channel:
        classify = classification_pb2.ClassificationRequest(input=examples(2.0, 4.0))
        classify.model_spec.name, classify.model_spec.signature_name = "tf2", "classify_x_to_y"
        result = predictions.Classify(classify).result
        assert [[c.score for c in r.classes] for r in result.classifications] == [[3.0], [4.0]]
        regress = regression_pb2.RegressionRequest(input=examples(2.0))
        regress.model_spec.name, regress.model_spec.signature_name = "tf2", "regress_x_to_y"
        assert [r.value for r in predictions.Regress(regress).result.regressions] == [3.0]
        multi = inference_pb2.MultiInferenceRequest(input=examples(6.0))
        for signature, method in (
            ("classify_x_to_y", C.CLASSIFY_METHOD_NAME),
            ("regress_x_to_y", C.REGRESS_METHOD_NAME),
        ):
            task = multi.tasks.add(method_name=method)
            task.model_spec.name, task.model_spec.signature_name = "tf2", signature
        results = predictions.MultiInference(multi).results
        assert results[0].classification_result.classifications[0].classes[0].score == 5.0
        assert results[1].regression_result.regressions[0].value == 5.0
        regress.model_spec.signature_name = "serving_default"  # neither Regress's input nor output names
        with pytest.raises(grpc.RpcError) as err:
            predictions.Regress(regress)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_method_name_check_flag_refuses_tf2_classify(flags_server):
    channel, predictions, _ = stubs(flags_server.target)
    classify = classification_pb2.ClassificationRequest(input=examples(2.0))
    classify.model_spec.name, classify.model_spec.signature_name = "tf2", "classify_x_to_y"
    with channel, pytest.raises(grpc.RpcError) as err:
        predictions.Classify(classify)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details() == (
        "Expected classification signature method_name to be tensorflow/serving/classify. "
        "Was: tensorflow/serving/predict"
    )


# --- issue 20.4 / 25: flags ----------------------------------------------------------------------------------


def test_unix_socket_channel_arguments_cors_and_accepted_flags(flags_server):
    channel, predictions, _ = stubs(f"unix:{flags_server.socket_path}")
    with channel:
        response = predictions.Predict(predict_request("half_plus_three", x=np.array([[1.0]], np.float32)))
        assert to_array(response.outputs["y"]).tolist() == [[3.5]]
        with pytest.raises(grpc.RpcError) as err:  # grpc.max_receive_message_length=4096 applies
            predictions.Predict(predict_request("half_plus_three", x=np.zeros((2000, 1), np.float32)))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    conn = http.client.HTTPConnection("127.0.0.1", flags_server.rest_port, timeout=30)
    conn.request(
        "OPTIONS",
        "/v1/models/tf2:predict",
        headers={"Origin": "http://example.com", "Access-Control-Request-Method": "POST"},
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200 and response.getheader("Access-Control-Allow-Origin") == "*"
    assert "POST" in response.getheader("Access-Control-Allow-Methods")
    log = flags_server.log()
    assert "--prefer_tflite_model=True is accepted" in log and "no TF Lite support" in log
    assert "--enable_profiler=True is accepted" in log


def test_a_label_may_name_a_version_still_to_come(flags_server):
    """--allow_version_labels_for_unavailable_models: the server starts; the label answers NOT_FOUND for now."""
    channel, predictions, _ = stubs(flags_server.target)
    request = predict_request("tf2", x=np.ones((1, 2), np.float32))
    request.model_spec.version_label = "canary"
    with channel, pytest.raises(grpc.RpcError) as err:
        predictions.Predict(request)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_rest_api_timeout_closes_a_silent_connection(compat_server):
    with socket.create_connection(("127.0.0.1", compat_server.rest_port), timeout=30) as conn:
        conn.sendall(b"POST /v1/models/tf2:predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")  # then silence
        assert conn.recv(1024) == b""  # closed by the server after --rest_api_timeout_in_ms=500


def run_zoo_serve(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*zoo_command(), "serve", "--host", "127.0.0.1", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


@pytest.mark.slow  # starts zoo serve processes of its own
def test_version_flag():
    result = run_zoo_serve("--version")
    assert result.returncode == 0
    assert (
        result.stdout.startswith("TensorFlow ModelServer: ")
        and f"TensorFlow Library: {tf.__version__}" in result.stdout
    )


# --- issue 20.5: start-up messages -------------------------------------------------------------------------


@pytest.mark.slow  # starts zoo serve processes of its own
def test_malformed_model_config_file_message(tmp_path):
    config = tmp_path / "models.config"
    config.write_text("model_config_list { config { name: 'x' base_path: '/m' colour: 1 } }")
    result = run_zoo_serve("--model_config_file", str(config), "--port", str(free_port()), "--rest_api_port", "0")
    assert result.returncode != 0
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in result.stderr
    assert "Failed to start server. Error:" in result.stderr and "Traceback" not in result.stderr
    result = run_zoo_serve("--model_config_file", str(tmp_path / "none.config"), "--rest_api_port", "0")
    assert result.returncode != 0 and "NOT_FOUND" in result.stderr and "Traceback" not in result.stderr


# --- issue 20.6: ports and missing base paths ------------------------------------------------------------------


@pytest.mark.slow  # starts zoo serve processes of its own
def test_busy_ports_are_refused_in_one_line(compat_server, model_base):
    config = str(model_base / config_files.MODELS_CONFIG)
    result = run_zoo_serve(
        "--model_config_file",
        config,
        "--port",
        str(compat_server.grpc_port),
        "--rest_api_port",
        "0",
        "--file_system_poll_wait_seconds",
        "0",
    )
    assert result.returncode != 0, result.stdout  # no silent SO_REUSEPORT sharing
    assert "address already in use" in result.stderr and "Traceback" not in result.stderr
    result = run_zoo_serve(
        "--model_config_file",
        config,
        "--port",
        str(free_port()),
        "--rest_api_port",
        str(compat_server.rest_port),
        "--file_system_poll_wait_seconds",
        "0",
    )
    assert result.returncode != 0
    assert f"Failed to start HTTP Server at 127.0.0.1:{compat_server.rest_port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # starts zoo serve processes of its own
def test_a_missing_base_path_is_logged_on_each_poll(tmp_path):
    missing = tmp_path / "nonexistent"
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                *zoo_command(),
                "serve",
                "--host",
                "127.0.0.1",
                "--model_name",
                "m",
                "--model_base_path",
                str(missing),
                "--port",
                str(free_port()),
                "--rest_api_port",
                "0",
                "--file_system_poll_wait_seconds",
                "0.2",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    try:
        needle = f"Could not find base path {missing} for servable m"
        deadline = time.monotonic() + 90
        while log_path.read_text().count(needle) < 3:
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(60)


# --- issue 20.7: the client conforms inputs to the signature ----------------------------------------------------


def test_client_casts_inputs_and_takes_scalars_as_shape_one(compat_server):
    with compat_server.client() as client:
        out = client.predict("tf2", {"n": np.array(3), "x": np.array([1.0, 2.0])}, signature_name="scale")
        np.testing.assert_array_equal(out["y"], [3.0, 6.0])
        out = client.predict("tf2", {"n": np.array([2]), "x": [1.5]}, signature_name="scale")
        np.testing.assert_array_equal(out["y"], [3.0])
        with pytest.raises(ValueError, match="int32"):  # does not fit
            client.predict("tf2", {"n": np.array(2**40), "x": [1.0]}, signature_name="scale")
        for bad, cast in (({"n": np.array(2.0)}, True), ({"n": np.array(3)}, False)):
            with pytest.raises(ServingError) as err:  # floats are not truncated; no cast: the dtypes differ
                client.predict("tf2", {"x": np.array([1.0], np.float32), **bad}, signature_name="scale", cast=cast)
            assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT and "int32" in err.value.message
