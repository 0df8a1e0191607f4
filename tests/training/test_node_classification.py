"""GCN on the real Cora graph: a short run beats a threshold; the exported signatures check the adjacency."""

import numpy as np
import pytest
import tensorflow as tf

from zoo.training import TrainConfig, evaluate, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    config = TrainConfig(epochs=60, lr=0.01, schedule="constant", verbose=0)
    return train("gcn", "cora", config=config, out=tmp_path_factory.mktemp("gcn") / "run")


def test_short_run_on_cora_learns(trained):
    assert trained.test["examples"] == 1000
    assert trained.test["accuracy"] > 0.75  # Kipf & Welling: 81.5% after up to 200 epochs
    assert evaluate("gcn", trained.run_dir, "cora")["accuracy"] == pytest.approx(trained.test["accuracy"], abs=1e-6)


def test_dense_and_sparse_signatures_agree_and_refuse_bad_adjacency(trained):
    from zoo.data.graphs import load_graph
    from zoo.serving.signatures import node_classification

    graph = load_graph("cora")
    functions = node_classification(trained.model)
    adjacency = graph.adjacency.tocoo()
    dense = functions["serving_default"](
        features=tf.constant(graph.features), adjacency=tf.constant(graph.adjacency.toarray())
    )
    sparse = functions["sparse"](
        features=tf.constant(graph.features),
        adjacency_indices=tf.constant(np.stack([adjacency.row, adjacency.col], 1), tf.int64),
        adjacency_values=tf.constant(adjacency.data),
    )
    np.testing.assert_allclose(dense["scores"], sparse["scores"], rtol=1e-5, atol=1e-6)
    accuracy = np.mean(dense["classes"].numpy()[graph.masks["test"]] == graph.labels[graph.masks["test"]])
    assert accuracy == pytest.approx(trained.test["accuracy"], abs=1e-6)
    a = graph.adjacency.toarray()
    for bad in (a[:-1], a[:, :-1], a[:-1, :-1]):  # not square, or not one row per node
        with pytest.raises(tf.errors.InvalidArgumentError, match="adjacency"):
            functions["serving_default"](features=tf.constant(graph.features), adjacency=tf.constant(bad))
    with pytest.raises(tf.errors.InvalidArgumentError, match="indices"):
        functions["sparse"](
            features=tf.constant(graph.features),
            adjacency_indices=tf.constant([[0, 2708]], tf.int64),
            adjacency_values=tf.constant([1.0]),
        )
