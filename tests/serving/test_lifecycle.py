"""Model lifecycle in process: policies, bad versions, labels, reloads, warmup, and non-kzoo SavedModels."""

import shutil

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import inference_pb2, predict_pb2
from tensorflow_serving.config import model_server_config_pb2

import zoo
from zoo.serving import config_files
from zoo.serving.client import to_example
from zoo.serving.errors import ServingError
from zoo.serving.exporter import WARMUP_FILE, export, write_warmup_requests
from zoo.serving.inference import InferenceService
from zoo.serving.manager import AVAILABLE, END, ModelManager, aspired_versions
from zoo.serving.tensors import to_array, to_tensor_proto


@pytest.fixture(scope="module")
def version_one(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    return export(zoo.create("lenet5"), base, update_config=False)


def make_model_dir(tmp_path, version_one, versions=(1,)):
    model_dir = tmp_path / "lenet5"
    for v in versions:
        shutil.copytree(version_one, model_dir / str(v))
    return model_dir


def states(manager, name="lenet5"):
    return {r.version: r.state for r in manager.statuses(name)}


def predict_request(images, **spec):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "lenet5"
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    request.inputs["images"].CopyFrom(to_tensor_proto(images))
    return request


def test_specific_policy():
    config = model_server_config_pb2.ModelConfig(name="m")
    config.model_version_policy.specific.versions.extend([2, 7])
    assert aspired_versions(config, [1, 2, 3]) == {2}


def test_bad_new_version_never_takes_down_the_serving_one(tmp_path, version_one, real_images):
    model_dir = make_model_dir(tmp_path, version_one)
    manager = ModelManager(config_files.single_model_config("lenet5", model_dir))
    service = InferenceService(manager)
    manager.start(0)
    assert states(manager) == {1: AVAILABLE}
    (model_dir / "2").mkdir()
    (model_dir / "2" / "saved_model.pb").write_bytes(b"not a protobuf")
    manager.poll()
    records = {r.version: r for r in manager.statuses("lenet5")}
    assert records[2].state == END and "corrupt" in records[2].error.message
    assert records[1].state == AVAILABLE  # still serving
    response = service.predict(predict_request(real_images((28, 28, 1), 2)))
    assert response.model_spec.version.value == 1
    shutil.copytree(version_one, model_dir / "3")
    manager.poll()
    assert states(manager) == {3: AVAILABLE, 2: END, 1: END}
    assert service.predict(predict_request(real_images((28, 28, 1), 1))).model_spec.version.value == 3
    shutil.rmtree(model_dir / "3")  # versions removed from disk are unloaded
    manager.poll()
    with pytest.raises(ServingError) as err:
        service.predict(predict_request(real_images((28, 28, 1), 1)))
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    manager.stop()


def test_labels_versions_and_reload(tmp_path, version_one, real_images):
    model_dir = make_model_dir(tmp_path, version_one, versions=(1, 2))
    manager = ModelManager(config_files.single_model_config("lenet5", model_dir))
    service = InferenceService(manager)
    manager.start(0)
    assert states(manager) == {2: AVAILABLE}
    config = model_server_config_pb2.ModelServerConfig()
    entry = config.model_config_list.config.add(name="lenet5", base_path=str(model_dir))
    entry.model_version_policy.all.SetInParent()
    entry.version_labels["stable"] = 1
    entry.version_labels["canary"] = 2
    manager.reload_config(config)
    assert states(manager) == {1: AVAILABLE, 2: AVAILABLE}
    images = real_images((28, 28, 1), 1)
    assert service.predict(predict_request(images, version_label="stable")).model_spec.version.value == 1
    assert service.predict(predict_request(images, version_label="canary")).model_spec.version.value == 2
    assert service.predict(predict_request(images, version=1)).model_spec.version.value == 1
    for spec, code in [
        ({"version_label": "nightly"}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"version": 9}, grpc.StatusCode.NOT_FOUND),
    ]:
        with pytest.raises(ServingError) as err:
            service.predict(predict_request(images, **spec))
        assert err.value.code == code
    entry.version_labels["stable"] = 5  # a label must point at an AVAILABLE version
    with pytest.raises(ServingError) as err:
        manager.reload_config(config)
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    dropped = model_server_config_pb2.ModelServerConfig()
    dropped.model_config_list.config.add(name="other", base_path=str(tmp_path / "missing"))
    with pytest.raises(ServingError, match="1 model\\(s\\) did not become available") as err:
        manager.reload_config(dropped)  # applied, but TF Serving's ReloadConfig says what did not load
    assert err.value.code == grpc.StatusCode.UNKNOWN
    with pytest.raises(ServingError) as err:
        service.predict(predict_request(images))
    assert err.value.code == grpc.StatusCode.NOT_FOUND
    duplicate = model_server_config_pb2.ModelServerConfig()
    duplicate.model_config_list.config.add(name="a", base_path="/x")
    duplicate.model_config_list.config.add(name="a", base_path="/y")
    with pytest.raises(ServingError, match="multiple times"):
        manager.reload_config(duplicate)
    manager.stop()


def test_a_version_whose_warmup_fails_is_not_made_available(tmp_path, version_one):
    model_dir = make_model_dir(tmp_path, version_one)
    (model_dir / "1" / "assets.extra" / WARMUP_FILE).unlink()
    write_warmup_requests(model_dir / "1", "lenet5", {"images": np.zeros((1, 5, 5, 1), np.float32)})
    service = None

    def prepare(servable):
        service.warmup(servable)

    manager = ModelManager(config_files.single_model_config("lenet5", model_dir), prepare=prepare)
    service = InferenceService(manager)
    manager.start(0)
    (record,) = manager.statuses("lenet5")
    assert record.state == END and record.error.code == grpc.StatusCode.INVALID_ARGUMENT
    manager.stop()


# --- SavedModels not written by kzoo -------------------------------------------------------------------


def tf1_saved_model(path):
    """A TF1-style SavedModel: Predict, Classify and Regress signature defs over tf.Examples."""
    graph = tf.Graph()
    with graph.as_default():
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="tf_example")
        features = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([2], tf.float32)})
        x = features["x"]
        w = tf.compat.v1.get_variable("w", initializer=tf.constant([[1.0, -1.0], [2.0, 0.5]]))
        logits = tf.matmul(x, w)
        scores = tf.nn.softmax(logits)
        classes = tf.tile(tf.constant([["neg", "pos"]]), [tf.shape(x)[0], 1])
        value = tf.reduce_sum(x, axis=1)
        raw = tf.compat.v1.placeholder(tf.float32, [None, 2], name="raw")
        doubled = raw * 2.0
        sigs = tf.compat.v1.saved_model.signature_def_utils
        signature_defs = {
            "classify_x": sigs.classification_signature_def(serialized, classes, scores),
            "regress_x": sigs.regression_signature_def(serialized, value),
            "serving_default": sigs.predict_signature_def({"raw": raw}, {"doubled": doubled}),
        }
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map=signature_defs)
            builder.save()


@pytest.fixture()
def tf1_service(tmp_path):
    tf1_saved_model(tmp_path / "tf1" / "1")
    manager = ModelManager(config_files.single_model_config("tf1", tmp_path / "tf1"))
    manager.start(0)
    yield InferenceService(manager)
    manager.stop()


def examples_input(rows):
    from tensorflow_serving.apis import input_pb2

    request_input = input_pb2.Input()
    request_input.example_list.examples.extend(to_example({"x": r}) for r in rows)
    return request_input


def test_tf1_saved_model_predict_classify_regress_multi_inference(tf1_service):
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    rows = [[1.0, 2.0], [0.5, -1.0]]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "tf1"
    request.inputs["raw"].CopyFrom(to_tensor_proto(np.array(rows, np.float32)))
    np.testing.assert_allclose(to_array(tf1_service.predict(request).outputs["doubled"]), np.array(rows) * 2)

    classify = classification_pb2.ClassificationRequest(input=examples_input(rows))
    classify.model_spec.name, classify.model_spec.signature_name = "tf1", "classify_x"
    result = tf1_service.classify(classify).result.classifications
    logits = np.array(rows) @ np.array([[1.0, -1.0], [2.0, 0.5]])
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert [c.label for c in result[0].classes] == ["neg", "pos"]
    np.testing.assert_allclose([[c.score for c in r.classes] for r in result], expected, rtol=1e-5)

    regress = regression_pb2.RegressionRequest(input=examples_input(rows))
    regress.model_spec.name, regress.model_spec.signature_name = "tf1", "regress_x"
    assert [r.value for r in tf1_service.regress(regress).result.regressions] == pytest.approx([3.0, -0.5])

    multi = inference_pb2.MultiInferenceRequest(input=examples_input(rows))
    for signature, method in (
        ("classify_x", "tensorflow/serving/classify"),
        ("regress_x", "tensorflow/serving/regress"),
    ):
        task = multi.tasks.add(method_name=method)
        task.model_spec.name, task.model_spec.signature_name = "tf1", signature
    results = tf1_service.multi_inference(multi).results
    assert results[0].classification_result.classifications[1].classes[1].label == "pos"
    assert results[1].regression_result.regressions[0].value == pytest.approx(3.0)

    classify.model_spec.signature_name = "serving_default"  # a predict signature, without Classify's input name
    with pytest.raises(ServingError, match="No classification inputs found") as err:
        tf1_service.classify(classify)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    tf1_service.method_name_check = True  # --enable_signature_method_name_check
    with pytest.raises(
        ServingError,
        match="Expected classification signature method_name to be "
        "tensorflow/serving/classify. Was: tensorflow/serving/predict",
    ) as err:
        tf1_service.classify(classify)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_keras_export_and_tf_saved_model_save_are_served(tmp_path, real_images):
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.export(str(tmp_path / "keras_export" / "1"), verbose=False)

    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def __call__(self, x):
            return {"y": 2 * x}

    module = Doubler()
    tf.saved_model.save(module, str(tmp_path / "tf2" / "1"), signatures={"serving_default": module.__call__})
    config = model_server_config_pb2.ModelServerConfig()
    for name in ("keras_export", "tf2"):
        config.model_config_list.config.add(name=name, base_path=str(tmp_path / name))
    manager = ModelManager(config)
    manager.start(0)
    service = InferenceService(manager)
    servable = manager.servable("keras_export")
    (alias,) = servable.signature_defs["serving_default"].inputs
    images = real_images((28, 28, 1), 2)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "keras_export"
    request.inputs[alias].CopyFrom(to_tensor_proto(images))
    (output,) = service.predict(request).outputs.values()
    np.testing.assert_allclose(to_array(output), model(images).numpy(), atol=1e-5)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "tf2"
    request.inputs["x"].CopyFrom(to_tensor_proto(np.ones((2, 3), np.float32)))
    assert to_array(service.predict(request).outputs["y"]).tolist() == [[2.0] * 3] * 2
    manager.stop()


def test_moving_a_model_to_a_path_that_does_not_load_keeps_the_old_one_serving(tmp_path, version_one, real_images):
    model_dir = make_model_dir(tmp_path, version_one)
    manager = ModelManager(config_files.single_model_config("lenet5", model_dir))
    service = InferenceService(manager)
    manager.start(0)
    broken = tmp_path / "broken" / "lenet5" / "4"
    broken.mkdir(parents=True)
    (broken / "saved_model.pb").write_bytes(b"garbage")
    manager.reload_config(config_files.single_model_config("lenet5", broken.parent))
    assert service.predict(predict_request(real_images((28, 28, 1), 1))).model_spec.version.value == 1
    moved = tmp_path / "moved"
    shutil.copytree(version_one, moved / "7")
    manager.reload_config(config_files.single_model_config("lenet5", moved))
    assert service.predict(predict_request(real_images((28, 28, 1), 1))).model_spec.version.value == 7
    manager.stop()


def test_a_label_naming_a_missing_version_stops_startup(tmp_path, version_one):
    model_dir = make_model_dir(tmp_path, version_one)
    config = config_files.single_model_config("lenet5", model_dir)
    config.model_config_list.config[0].version_labels["stable"] = 7
    manager = ModelManager(config)
    with pytest.raises(ServingError, match="version 7") as err:
        manager.start(0)
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    manager.stop()


def test_errors_without_a_message_still_map_to_a_status():
    from zoo.serving.errors import from_exception

    failure = from_exception(tf.errors.InvalidArgumentError(None, None, ""))
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT and failure.message == "InvalidArgumentError"
