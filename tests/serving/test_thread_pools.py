"""TensorFlow thread pools of the model sessions: kzoo's 1/1 default, and the flags that override it (issue 20)."""

import numpy as np
import pytest

import zoo
from zoo.serving.client import Client
from zoo.serving.exporter import export
from zoo.serving.server import DEFAULT_THREAD_POOLS, ModelServer, ServerOptions


def _serve(base, **options) -> ModelServer:
    server = ModelServer(
        ServerOptions(
            port=0,
            rest_api_port=0,
            host="127.0.0.1",
            model_name="lenet5",
            model_base_path=str(base / "lenet5"),
            file_system_poll_wait_seconds=0,
            **options,
        )
    )
    server.start()
    return server


def _session_threads(server: ModelServer) -> tuple[int, int]:
    config = server.manager.servable("lenet5")._session._config  # noqa: SLF001 - the ConfigProto it runs with
    return config.intra_op_parallelism_threads, config.inter_op_parallelism_threads


def test_sessions_default_to_one_thread_each_and_a_session_config_file_overrides(tmp_path, real_images):
    export(zoo.create("lenet5"), tmp_path, update_config=False)
    (tmp_path / "session.config").write_text("intra_op_parallelism_threads: 2\n")
    images = real_images((28, 28, 1), 3)
    answers = {}
    for name, options in {
        "default": {},
        "file": {"tensorflow_session_config_file": str(tmp_path / "session.config")},
    }.items():
        server = _serve(tmp_path, **options)
        try:
            with Client(f"127.0.0.1:{server.grpc_port}") as client:
                answers[name] = client.predict("lenet5", {"images": images})["scores"]
            answers[name + " threads"] = _session_threads(server)
        finally:
            server.stop(grace=1)
    assert answers["default threads"] == DEFAULT_THREAD_POOLS == (1, 1)
    assert answers["file threads"] == (2, 0)  # the file's choice; the inter-op pool left to TensorFlow
    assert answers["default"].shape == (3, 10)
    np.testing.assert_allclose(answers["default"], answers["file"], atol=1e-6)  # same answers either way


def test_thread_pool_choices():
    assert ServerOptions().thread_pools() == (1, 1, False)
    assert ServerOptions(tensorflow_intra_op_parallelism=4).thread_pools() == (4, 0, True)
    assert ServerOptions(tensorflow_session_parallelism=3, tensorflow_inter_op_parallelism=2).thread_pools() == (
        3,
        2,
        True,
    )
    assert ServerOptions(tensorflow_session_config_file="s.config").thread_pools() == (0, 0, True)


def test_explicit_thread_counts_after_tensorflow_started_are_refused(tmp_path):
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # TensorFlow runs in this process now
    current = tf.config.threading.get_intra_op_parallelism_threads()
    with pytest.raises(ValueError, match="must be set before TensorFlow starts"):
        ModelServer(
            ServerOptions(
                model_name="lenet5", model_base_path=str(tmp_path), tensorflow_intra_op_parallelism=current + 5
            )
        )
