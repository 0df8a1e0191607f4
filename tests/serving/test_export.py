"""Export in TF Serving's layout: versions, atomicity, signatures, warmup file, models.config."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.serving import config_files
from zoo.serving.exporter import WARMUP_FILE, export, next_version, version_dirs
from zoo.serving.servable import CLASSIFY_METHOD, PREDICT_METHOD, read_signature_defs


@pytest.fixture(scope="module")
def model():
    return zoo.create("lenet5")


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    return base, export(model, base, class_names=[f"digit{i}" for i in range(10)])


def test_layout_and_versions(exported, model):
    base, path = exported
    assert path == base / "lenet5" / "1"
    assert (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    assert (path / "assets.extra" / WARMUP_FILE).is_file()
    assert not [p for p in (base / "lenet5").iterdir() if p.name.startswith(".tmp")], "temporary dir left behind"
    assert next_version(base / "lenet5") == 2
    with pytest.raises(FileExistsError, match="immutable"):
        export(model, base, version=1)
    assert sorted(version_dirs(base / "lenet5")) == [1]


def test_signatures_have_meaningful_names_and_tf_serving_methods(exported):
    _, path = exported
    sigs = read_signature_defs(path)
    assert set(sigs) == {"serving_default", "classify"}
    assert sigs["serving_default"].method_name == PREDICT_METHOD
    assert set(sigs["serving_default"].inputs) == {"images"}
    assert set(sigs["serving_default"].outputs) == {"scores", "classes"}
    assert sigs["classify"].method_name == CLASSIFY_METHOD
    assert set(sigs["classify"].inputs) == {"inputs"}


def test_exported_model_matches_keras_and_classify_returns_labels(exported, model, real_images):
    _, path = exported
    images = real_images((28, 28, 1), 4)
    loaded = tf.saved_model.load(str(path))
    out = loaded.signatures["serving_default"](images=tf.constant(images))
    expected = tf.nn.softmax(model(images)).numpy()
    np.testing.assert_allclose(out["scores"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(out["classes"].numpy(), expected.argmax(-1))
    from zoo.serving.client import to_example

    examples = tf.constant([to_example({"images": im.reshape(-1)}).SerializeToString() for im in images])
    classified = loaded.signatures["classify"](inputs=examples)
    np.testing.assert_allclose(classified["scores"].numpy(), expected, atol=1e-5)
    assert classified["classes"].numpy()[0, 3] == b"digit3"


def test_warmup_file_is_a_tfrecord_of_prediction_logs(exported):
    from tensorflow_serving.apis import prediction_log_pb2

    _, path = exported
    records = list(tf.data.TFRecordDataset(str(path / "assets.extra" / WARMUP_FILE)))
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    assert log.predict_log.request.model_spec.name == "lenet5"
    assert list(log.predict_log.request.inputs["images"].tensor_shape.dim[i].size for i in range(4)) == [1, 28, 28, 1]


def test_models_config_is_written_and_updated(exported, model, tmp_path):
    base, _ = exported
    config = config_files.read_model_server_config(base / config_files.MODELS_CONFIG)
    (entry,) = config.model_config_list.config
    assert (entry.name, entry.base_path, entry.model_platform) == ("lenet5", str(base / "lenet5"), "tensorflow")
    # A second model joins the file; an existing entry keeps its policy and gets the container path.
    entry.model_version_policy.latest.num_versions = 2
    config_files.write_text_proto(tmp_path / "models.config", config)
    export(model, tmp_path, model_name="digits", config_base_path="/models")
    export(model, tmp_path, model_name="lenet5", config_base_path="/models")
    updated = {
        c.name: c for c in config_files.read_model_server_config(tmp_path / "models.config").model_config_list.config
    }
    assert updated["digits"].base_path == "/models/digits"
    assert updated["lenet5"].base_path == "/models/lenet5"
    assert updated["lenet5"].model_version_policy.latest.num_versions == 2


def test_bad_export_arguments(model, tmp_path):
    with pytest.raises(ValueError, match="non-negative"):
        export(model, tmp_path, version=-1)
    with pytest.raises(ValueError, match="plain directory"):
        export(model, tmp_path, model_name="../evil")
    with pytest.raises(ValueError, match="task"):
        export(tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)], name="custom"), tmp_path)
    with pytest.raises(ValueError, match="10 classes"):
        export(model, tmp_path, class_names=["a", "b"])
    assert not (tmp_path / "lenet5").exists() or not version_dirs(tmp_path / "lenet5")


def test_the_lazy_package_attributes_stay_callable(tmp_path):
    """``serving.export(...)`` works every time, also after its module was imported (no submodule of that name)."""
    import importlib

    import zoo
    from zoo import serving

    importlib.import_module("zoo.serving.exporter")
    first = serving.export(zoo.create("lenet_300_100"), tmp_path)
    second = serving.export(zoo.create("lenet_300_100"), tmp_path)
    assert (first.name, second.name) == ("1", "2") and callable(serving.Client)
