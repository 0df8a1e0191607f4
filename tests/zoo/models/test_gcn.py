"""The Spektral GCN under Keras 3: the adapted layer, serialization and one step on the real Cora graph."""

import keras
import numpy as np
import pytest

import zoo
from zoo.data.graphs import load_graph


@pytest.fixture(scope="module")
def cora():
    return load_graph("cora")


def test_cora_is_the_public_planetoid_split(cora):
    assert cora.features.shape == (2708, 1433) and cora.num_classes == 7
    assert {k: int(v.sum()) for k, v in cora.masks.items()} == {"train": 140, "validation": 500, "test": 1000}
    assert not np.any(cora.masks["train"] & cora.masks["test"])
    a = cora.adjacency.toarray()
    np.testing.assert_allclose(a, a.T, atol=1e-6)  # symmetric normalisation of an undirected graph
    assert np.all(np.diag(a) > 0)  # self loops added by gcn_filter
    np.testing.assert_allclose(cora.features.sum(1)[cora.features.sum(1) > 0], 1.0, rtol=1e-5)


def test_forward_round_trip_and_one_step_on_cora(cora, tmp_path):
    model = zoo.create("gcn", **cora.model_overrides())
    inputs = [cora.features, cora.adjacency.toarray()]
    logits = np.asarray(model(inputs, training=False))
    assert logits.shape == (2708, 7) and np.isfinite(logits).all()
    assert len(model.losses) == 1  # the first layer's L2 penalty
    model.save(tmp_path / "gcn.keras")
    loaded = keras.saving.load_model(tmp_path / "gcn.keras")
    np.testing.assert_allclose(loaded(inputs, training=False), logits, rtol=1e-5, atol=1e-6)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    before = [w.copy() for w in model.get_weights()]
    model.fit(inputs, cora.labels, sample_weight=cora.masks["train"].astype("float32"), batch_size=2708, verbose=0)
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_bad_arguments_and_unknown_graphs():
    with pytest.raises(ValueError, match="dropout"):
        zoo.create("gcn", dropout=1.5)
    with pytest.raises(ValueError, match="l2"):
        zoo.create("gcn", l2=-1.0)
    with pytest.raises(ValueError, match="Did you mean: cora"):
        load_graph("coral")
