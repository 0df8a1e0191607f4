"""A character RNN, a linear regression and a GCN exported and served by ``zoo serve``: generate, scoring,
Regress, and node classification over the wire."""

import grpc
import numpy as np
import pytest

import zoo
from zoo.data.tabular import load_tabular
from zoo.data.text import build_vocabulary, load_text
from zoo.serving.errors import ServingError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models():
    train = load_tabular("diabetes", "train")
    regression = zoo.create("linear_regression", **train.model_overrides())
    regression.get_layer("predictions").kernel.assign(np.linspace(-1, 1, 10, dtype="float32")[:, None])
    vocabulary = build_vocabulary(load_text("shakespeare", "test").text)
    return {
        "char_gru": zoo.create("char_gru", vocabulary=vocabulary, units=32),
        "linear_regression": regression,
        "gcn": zoo.create("gcn"),
    }


@pytest.fixture(scope="module")
def cora_subgraph():
    """The first 200 nodes of Cora: features and their block of the normalised adjacency."""
    from zoo.data.graphs import load_graph

    graph = load_graph("cora")
    return graph.features[:200], graph.adjacency[:200, :200].toarray()


@pytest.fixture(scope="module")
def server(models, serve_models):
    return serve_models(models)


def test_generate_over_grpc_equals_in_process(server, models):
    from zoo.training.language_model import generate

    prompts = ["ROMEO.", "To be, or not"]
    with server.client() as client:
        reply = client.predict(
            "char_gru",
            {
                "prompt": np.array(prompts, dtype=object),
                "length": np.int32(30),
                "temperature": np.float32(0.8),
                "seed": np.int64(11),
            },
            signature_name="generate",
        )
    served = [t.decode() for t in reply["text"]]
    assert served == generate(models["char_gru"], prompts, 30, temperature=0.8, seed=11)
    assert served[0].startswith("ROMEO.") and len(served[0]) == 36


def test_text_scoring_over_rest_matches_keras(server, models):
    import keras

    from zoo.data.text import encode

    text = "Who's there?"
    status, body = server.rest("POST", "/v1/models/char_gru:predict", {"instances": [text]})
    assert status == 200, body
    ids = encode(text, models["char_gru"].vocabulary)[None]
    log_probs = keras.ops.log_softmax(models["char_gru"](ids[:, :-1]), axis=-1)
    expected = float(np.sum(np.take_along_axis(np.asarray(log_probs), ids[:, 1:, None], axis=-1)))
    assert body["predictions"][0]["log_prob"] == pytest.approx(expected, rel=1e-4)
    assert body["predictions"][0]["characters"] == len(text) - 1


def test_bad_generate_requests_are_invalid_and_the_server_keeps_serving(server):
    good = {
        "prompt": np.array(["A"], dtype=object),
        "length": np.int32(3),
        "temperature": np.float32(1.0),
        "seed": np.int64(0),
    }
    with server.client() as client:
        for bad in (
            {"prompt": np.array([""], dtype=object)},
            {"temperature": np.float32(-1.0)},
            {"length": np.int32(-1)},
            {"length": np.float32(3.0)},
        ):
            with pytest.raises(ServingError) as caught:
                client.predict("char_gru", {**good, **bad}, signature_name="generate")
            assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT, caught.value
        assert len(client.predict("char_gru", good, signature_name="generate")["text"][0]) == 4


def test_regress_and_predict_match_keras(server, models):
    test = load_tabular("diabetes", "test")
    expected = np.asarray(models["linear_regression"](test.features[:5]))[:, 0]
    with server.client() as client:
        regressed = client.regress(
            "linear_regression", [{"features": row} for row in test.features[:5]], signature_name="regress"
        )
        predicted = client.predict("linear_regression", {"features": test.features[:5]})["predictions"][:, 0]
    np.testing.assert_allclose(regressed, expected, rtol=1e-5)
    np.testing.assert_allclose(predicted, expected, rtol=1e-5)


def test_gcn_dense_and_sparse_over_grpc_match_keras(server, models, cora_subgraph):
    features, adjacency = cora_subgraph
    expected = keras_softmax(models["gcn"]([features, adjacency], training=False))
    rows, cols = np.nonzero(adjacency)
    with server.client() as client:
        dense = client.predict("gcn", {"features": features, "adjacency": adjacency})
        sparse = client.predict(
            "gcn",
            {
                "features": features,
                "adjacency_indices": np.stack([rows, cols], 1).astype(np.int64),
                "adjacency_values": adjacency[rows, cols],
            },
            signature_name="sparse",
        )
        with pytest.raises(ServingError) as caught:
            client.predict("gcn", {"features": features, "adjacency": adjacency[:-1]})
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT and "adjacency" in str(caught.value)
        again = client.predict("gcn", {"features": features, "adjacency": adjacency})  # still serving
    np.testing.assert_allclose(dense["scores"], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sparse["scores"], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(again["classes"], np.argmax(expected, axis=-1))


def keras_softmax(logits):
    import keras

    return np.asarray(keras.ops.softmax(logits, axis=-1))
