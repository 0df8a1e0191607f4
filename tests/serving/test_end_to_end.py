"""End to end: a really trained LeNet-5 served by ``zoo serve``, over gRPC, REST and the CLI.

Tests run in file order against one server: the hot-reload and version-label
tests come last because they change which versions are loaded.
"""

from __future__ import annotations

import json
import re
import threading
import time

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from zoo.cli import main as zoo_main
from zoo.serving.errors import ServingError
from zoo.serving.tensors import to_array, to_tensor_proto

pytestmark = pytest.mark.slow

MODEL = "lenet5"

ATOL = 1e-5
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
DIGITS = [str(i) for i in range(10)]


@pytest.fixture(scope="module", autouse=True)
def _launch_spare(spare_server):
    """Starts the graceful-shutdown test's server now, so it loads while the other tests run."""


@pytest.fixture(scope="module")
def batch(mnist_images):
    images, labels = mnist_images
    return images[:8], labels[:8]


@pytest.fixture(scope="module")
def expected(keras_lenet5, batch):
    """The in-process Keras model's softmax on the 8 images."""
    import keras

    return keras.ops.convert_to_numpy(keras.ops.softmax(keras_lenet5(batch[0], training=False), axis=-1))


@pytest.fixture(scope="module")
def client(serving_server):
    with serving_server.client() as c:
        yield c


def _wait_for(condition, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(message() if callable(message) else message)
        time.sleep(0.2)


# --- predict ------------------------------------------------------------------
def test_grpc_predict_matches_keras(client, batch, expected):
    outputs = client.predict(MODEL, {"images": batch[0]})
    assert set(outputs) == {"scores", "classes"}
    assert outputs["scores"].shape == (8, 10) and outputs["scores"].dtype == np.float32
    np.testing.assert_allclose(outputs["scores"], expected, atol=ATOL)
    assert outputs["classes"].dtype == np.int64
    np.testing.assert_array_equal(outputs["classes"], expected.argmax(axis=-1))
    # The model was really trained: most of the digits are right.
    assert (outputs["classes"] == batch[1]).mean() >= 0.5


def test_grpc_predict_reports_version_and_signature(serving_server, batch):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["images"].CopyFrom(to_tensor_proto(batch[0][:2]))
    with grpc.insecure_channel(serving_server.target) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    assert response.model_spec.name == MODEL
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"


def test_rest_predict_row_and_columnar_formats(serving_server, batch, expected):
    images = batch[0].tolist()
    status, row = serving_server.rest("POST", f"/v1/models/{MODEL}:predict", {"instances": images})
    assert status == 200, row
    predictions = row["predictions"]
    assert len(predictions) == 8 and set(predictions[0]) == {"scores", "classes"}
    np.testing.assert_allclose([p["scores"] for p in predictions], expected, atol=ATOL)
    assert [p["classes"] for p in predictions] == expected.argmax(axis=-1).tolist()

    for body in (
        {"inputs": images},
        {"inputs": {"images": images}},
        {"signature_name": "serving_default", "inputs": images},
    ):
        status, columnar = serving_server.rest("POST", f"/v1/models/{MODEL}/versions/1:predict", body)
        assert status == 200, columnar
        np.testing.assert_allclose(columnar["outputs"]["scores"], expected, atol=ATOL)
        assert columnar["outputs"]["classes"] == expected.argmax(axis=-1).tolist()


# --- classify -------------------------------------------------------------------
def test_classify_grpc_and_rest(serving_server, client, batch, expected):
    examples = [{"images": image.reshape(-1)} for image in batch[0]]
    result = client.classify(MODEL, examples, signature_name="classify")
    assert len(result) == 8
    for row, want in zip(result, expected):
        assert [label for label, _ in row] == DIGITS
        np.testing.assert_allclose([score for _, score in row], want, atol=ATOL)

    body = {"signature_name": "classify", "examples": [{"images": image.reshape(-1).tolist()} for image in batch[0]]}
    status, answer = serving_server.rest("POST", f"/v1/models/{MODEL}:classify", body)
    assert status == 200, answer
    assert len(answer["results"]) == 8
    for row, want in zip(answer["results"], expected):
        assert [label for label, _ in row] == DIGITS
        np.testing.assert_allclose([score for _, score in row], want, atol=ATOL)


# --- metadata and status ---------------------------------------------------------
def test_metadata_grpc_and_rest(serving_server, client):
    metadata = client.metadata(MODEL)
    assert metadata["version"] == 1
    signatures = metadata["signatures"]
    assert set(signatures) == {"serving_default", "classify"}
    assert signatures["serving_default"]["method"] == PREDICT_METHOD
    assert signatures["serving_default"]["inputs"] == {"images": {"dtype": "float32", "shape": [-1, 28, 28, 1]}}
    assert signatures["serving_default"]["outputs"] == {
        "scores": {"dtype": "float32", "shape": [-1, 10]},
        "classes": {"dtype": "int64", "shape": [-1]},
    }
    assert signatures["classify"]["method"] == CLASSIFY_METHOD
    assert signatures["classify"]["inputs"] == {"inputs": {"dtype": "string", "shape": [-1]}}

    status, body = serving_server.rest("GET", f"/v1/models/{MODEL}/metadata")
    assert status == 200, body
    assert body["model_spec"]["name"] == MODEL and body["model_spec"]["version"] == "1"
    defs = body["metadata"]["signature_def"]["signature_def"]
    assert set(defs) == {"serving_default", "classify"}
    assert defs["serving_default"]["method_name"] == PREDICT_METHOD
    assert defs["classify"]["method_name"] == CLASSIFY_METHOD
    assert defs["serving_default"]["inputs"]["images"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in defs["serving_default"]["inputs"]["images"]["tensor_shape"]["dim"]] == [
        "-1",
        "28",
        "28",
        "1",
    ]


def test_status_grpc_and_rest(serving_server, client):
    assert client.status(MODEL) == [{"version": 1, "state": "AVAILABLE", "error_code": "OK", "error_message": ""}]
    assert client.status(MODEL, version=1)[0]["state"] == "AVAILABLE"
    expected = {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]
    }
    assert serving_server.rest("GET", f"/v1/models/{MODEL}") == (200, expected)
    assert serving_server.rest("GET", f"/v1/models/{MODEL}/versions/1") == (200, expected)
    assert serving_server.rest("GET", "/readyz") == (200, {"ready": True})


# --- metrics ----------------------------------------------------------------------
def test_prometheus_metrics(serving_server, client, batch):
    client.predict(MODEL, {"images": batch[0][:1]})
    assert serving_server.rest("POST", f"/v1/models/{MODEL}:predict", {"instances": batch[0][:1].tolist()})[0] == 200
    status, text = serving_server.rest("GET", "/monitoring/prometheus/metrics")
    assert status == 200
    assert isinstance(text, str) and "# TYPE :tensorflow:serving:request_count counter" in text
    counts = {}
    for line in text.splitlines():
        match = re.fullmatch(r":tensorflow:serving:request_count\{(.*)\} (\S+)", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            key = (labels["model_name"], labels["API"], labels["entrypoint"], labels["status"])
            counts[key] = float(match.group(2))
    assert counts.get((MODEL, "predict", "GRPC", "OK"), 0) >= 1, counts
    assert counts.get((MODEL, "predict", "REST", "OK"), 0) >= 1, counts
    assert any(
        line.startswith(":tensorflow:serving:request_latency_count{")
        and 'model_name="lenet5"' in line
        and 'entrypoint="GRPC"' in line
        for line in text.splitlines()
    )
    assert ':tensorflow:serving:model_version_available{model_name="lenet5",version="1"} 1' in text
    # Batching is on in this server: batch sizes are recorded.
    assert ':tensorflow:serving:batching_session:input_batch_size_count{model_name="lenet5"' in text


# --- the zoo predict CLI (in process: the servers already run `python -m zoo.cli serve`) ------------
def test_zoo_predict_cli_on_a_png(capsys, serving_server, keras_lenet5, mnist_images, tmp_path):
    import keras
    from PIL import Image

    images, labels = mnist_images
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(keras_lenet5(images, training=False), axis=-1))
    right = np.flatnonzero((probabilities.argmax(-1) == labels) & (probabilities.max(-1) > 0.5))
    assert right.size, "the trained model gets no test digit right"
    index = int(right[0])
    path = tmp_path / f"digit-{labels[index]}.png"
    Image.fromarray((images[index, :, :, 0] * 255).round().astype(np.uint8), mode="L").save(path)

    code = zoo_main(
        ["predict", "--server", serving_server.target, "--model", MODEL, "--input", str(path), "--top-k", "3", "--json"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert len(report) == 1 and report[0]["input"] == str(path)
    top = report[0]["top_k"]
    assert len(top) == 3
    assert top[0]["label"] == str(labels[index]) and top[0]["class"] == int(labels[index])
    assert top[0]["score"] == pytest.approx(float(probabilities[index].max()), abs=ATOL)
    assert [t["score"] for t in top] == sorted((t["score"] for t in top), reverse=True)

    # The file may follow the options without --input, as with a local prediction; same answer.
    assert (
        zoo_main(["predict", "--server", serving_server.target, "--model", MODEL, str(path), "--top-k", "3", "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out) == report
    assert zoo_main(["predict", "not-a-file", "--server", serving_server.target, "--model", MODEL, str(path)]) == 2
    assert f"Name the model once: 'not-a-file' before the options, or --model {MODEL}" in capsys.readouterr().err


# --- hot reload (zoo export writes version 2 under the running server) ----------------------
class _Traffic:
    """Predicts in a background thread (gRPC and REST in turn), recording every failure."""

    def __init__(self, server, images, expected):
        self.server, self.images, self.expected = server, images, expected
        self.failures: list[str] = []
        self.versions: set[int] = set()
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["images"].CopyFrom(to_tensor_proto(self.images))
        with grpc.insecure_channel(self.server.target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            while not self._stop.is_set():
                try:
                    if self.count % 2 == 0:
                        response = stub.Predict(request, timeout=10)
                        self.versions.add(response.model_spec.version.value)
                        scores = to_array(response.outputs["scores"])
                    else:
                        status, body = self.server.rest(
                            "POST", f"/v1/models/{MODEL}:predict", {"instances": self.images.tolist()}
                        )
                        if status != 200:
                            raise RuntimeError(f"REST {status}: {body}")
                        scores = np.asarray([p["scores"] for p in body["predictions"]])
                    np.testing.assert_allclose(scores, self.expected, atol=ATOL)
                except Exception as err:  # noqa: BLE001 - every failure is recorded
                    self.failures.append(f"{type(err).__name__}: {err}")
                self.count += 1

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)


def test_hot_reload_via_zoo_export(capsys, serving_server, client, batch, expected):
    base = serving_server.base
    with _Traffic(serving_server, batch[0][:4], expected[:4]) as traffic:
        _wait_for(lambda: traffic.count >= 5, 30, "no traffic")
        code = zoo_main(["export", MODEL, "--weights", str(base.run_dir), "--base-path", str(base.base_path), "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        written = json.loads(out)
        assert written["model"] == MODEL and written["version"] == 2
        assert (base.base_path / MODEL / "2" / "saved_model.pb").is_file()

        def switched():
            states = {s["version"]: s["state"] for s in client.status(MODEL)}
            return states == {2: "AVAILABLE", 1: "END"}

        _wait_for(switched, 30, lambda: f"no switch to version 2: {client.status(MODEL)}\n{serving_server.log()}")
        after = traffic.count
        _wait_for(lambda: traffic.count >= after + 5, 30, "no traffic after the switch")
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.versions == {1, 2}, traffic.versions
    status, body = serving_server.rest("GET", f"/v1/models/{MODEL}")
    assert status == 200
    assert body == {
        "model_version_status": [
            {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "1", "state": "END", "status": {"error_code": "OK", "error_message": ""}},
        ]
    }
    assert client.metadata(MODEL)["version"] == 2
    with pytest.raises(ServingError) as err:
        client.predict(MODEL, {"images": batch[0]}, version=1)
    assert err.value.code == grpc.StatusCode.NOT_FOUND


# --- version labels ------------------------------------------------------------------------
def _labelled_config(base_path: str, labels: dict[str, int]) -> model_server_config_pb2.ModelServerConfig:
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(name=MODEL, base_path=base_path, model_platform="tensorflow")
    model.model_version_policy.specific.versions.extend([1, 2])
    for label, version in labels.items():
        model.version_labels[label] = version
    return config


def test_version_labels(serving_server, client, batch, expected):
    base_path = str((serving_server.base.base_path / MODEL).absolute())
    client.reload_config(_labelled_config(base_path, {"stable": 1, "canary": 2}))
    assert [(s["version"], s["state"]) for s in client.status(MODEL)] == [(2, "AVAILABLE"), (1, "AVAILABLE")]

    with grpc.insecure_channel(serving_server.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for label, version in (("stable", 1), ("canary", 2)):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = MODEL
            request.model_spec.version_label = label
            request.inputs["images"].CopyFrom(to_tensor_proto(batch[0]))
            response = stub.Predict(request, timeout=10)
            assert response.model_spec.version.value == version
        latest = predict_pb2.PredictRequest()
        latest.model_spec.name = MODEL
        latest.inputs["images"].CopyFrom(to_tensor_proto(batch[0]))
        assert stub.Predict(latest, timeout=10).model_spec.version.value == 2

    np.testing.assert_allclose(
        client.predict(MODEL, {"images": batch[0]}, label="stable")["scores"], expected, atol=ATOL
    )
    status, body = serving_server.rest(
        "POST", f"/v1/models/{MODEL}/labels/stable:predict", {"instances": batch[0].tolist()}
    )
    assert status == 200, body
    np.testing.assert_allclose([p["scores"] for p in body["predictions"]], expected, atol=ATOL)
    status, body = serving_server.rest("GET", f"/v1/models/{MODEL}/labels/stable")
    assert status == 200 and [s["version"] for s in body["model_version_status"]] == ["1"]
    assert client.status(MODEL, label="canary")[0]["version"] == 2

    # TF Serving refuses a label on a version that is not AVAILABLE.
    with pytest.raises(ServingError) as err:
        client.reload_config(_labelled_config(base_path, {"stable": 1, "broken": 7}))
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "not currently available" in err.value.message
    assert client.predict(MODEL, {"images": batch[0][:1]}, label="stable")["scores"].shape == (1, 10)


# --- graceful shutdown -----------------------------------------------------------------------
def test_graceful_shutdown_under_load(spare_server, batch, expected):
    spare_server.wait_ready()
    results: list[tuple[str, object]] = [None] * 20
    started = threading.Barrier(len(results) + 1)

    def fire(i):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = MODEL
        request.inputs["images"].CopyFrom(to_tensor_proto(batch[0]))
        with grpc.insecure_channel(spare_server.target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            grpc.channel_ready_future(channel).result(timeout=10)
            started.wait(10)
            try:
                response = stub.Predict(request, timeout=30)
                scores = to_array(response.outputs["scores"])
                results[i] = ("ok", np.abs(scores - expected).max())
            except grpc.RpcError as err:
                results[i] = (err.code().name, err.details())

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(len(results))]
    for thread in threads:
        thread.start()
    started.wait(10)
    time.sleep(0.005)  # the requests are on the wire
    code = spare_server.terminate()
    for thread in threads:
        thread.join(30)
    log = spare_server.log()
    assert code == 0, f"exit code {code}:\n{log}"
    assert all(r is not None for r in results), results
    # No request fails with an error of the server's own (INTERNAL, UNKNOWN, ...), and none gets wrong numbers.
    # Every request succeeds or gets UNAVAILABLE (which clients retry elsewhere): the server drains
    # before grpc.Server.stop, which would CANCEL calls still queued for a handler thread.
    outcomes = sorted(r[0] for r in results)
    assert set(outcomes) <= {"ok", "UNAVAILABLE"}, f"{outcomes}\n{log}"
    assert all(r[1] <= ATOL for r in results if r[0] == "ok"), results
    assert "Traceback" not in log, log
    assert "Received SIGTERM" in log and "Server stopped." in log
