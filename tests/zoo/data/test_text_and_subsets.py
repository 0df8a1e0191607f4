"""Class subsets of image data sets, the Shakespeare corpus, and the diabetes table."""

import numpy as np
import pytest

from zoo import data
from zoo.data import tabular, text


def test_class_subset_keeps_and_relabels(mnist_test):
    spec, split = data.load("mnist:5,2", "test")
    _, whole = mnist_test
    assert spec.class_names == ("5", "2") and spec.num_classes == 2 and spec.name == "mnist:5,2"
    assert len(split) == int(np.sum(whole.labels == 5) + np.sum(whole.labels == 2))
    np.testing.assert_array_equal(split.labels, (whole.labels[np.isin(whole.labels, [2, 5])] == 2).astype(int))
    assert data.get_spec("mnist:5,2").model_overrides()["num_classes"] == 2
    for bad in ("mnist:2", "mnist:2,2", "mnist:a,b", "mnist:-1,2"):
        with pytest.raises(ValueError, match="class subset"):
            data.get_spec(bad)
    with pytest.raises(ValueError, match="classes 0..9"):
        data.load("mnist:3,10", "test")


def test_shakespeare_splits_span_every_work():
    train, test = text.load_text("shakespeare", "train"), text.load_text("shakespeare", "test")
    assert len(train) > 4_000_000 and 400_000 < len(test) < 600_000
    assert "Who's there?" in train.text  # Hamlet, I.1, in the first 90% of the play
    assert "the rest is silence." in test.text  # Hamlet, V.2, in the last 10%
    assert "the rest is silence." not in train.text
    assert set(test.text) <= set(text.build_vocabulary(train.text))


def test_corpus_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="Did you mean: shakespeare"):
        text.load_text("shakespear", "train")
    with pytest.raises(ValueError, match="split"):
        text.load_text("shakespeare", "validation")
    monkeypatch.setenv("KZOO_HOME", str(tmp_path))
    monkeypatch.setenv("KZOO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KZOO_OFFLINE", "1")
    with pytest.raises(ValueError, match="fetch"):
        text.load_text("shakespeare", "train")


def test_shakespeare_from_a_folder_of_texts(monkeypatch, tmp_path):
    (tmp_path / "shakespeare").mkdir()
    (tmp_path / "shakespeare" / "sonnet_gut.txt").write_text("Shall I compare thee to a summer's day?\n" * 10)
    monkeypatch.setenv("KZOO_DATA_DIR", str(tmp_path))
    split = text.load_text("shakespeare", "test")
    assert split.source.startswith("text files in") and "summer" in split.text


def test_diabetes_split_is_fixed_and_disjoint():
    train, test = tabular.load_tabular("diabetes", "train"), tabular.load_tabular("diabetes", "test")
    assert (len(train), len(test)) == (354, 88) and train.features.shape[1] == 10
    rows = {tuple(r) for r in train.features}
    assert not any(tuple(r) in rows for r in test.features)
    np.testing.assert_array_equal(train.features, tabular.load_tabular("diabetes", "train").features)
    with pytest.raises(ValueError, match="Unknown tabular"):
        tabular.load_tabular("boston", "train")
