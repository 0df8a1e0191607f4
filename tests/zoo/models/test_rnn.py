"""Character-level RNN language models: stepping, serialization, one fit step, on real Shakespeare text."""

import keras
import numpy as np
import pytest

import zoo
from zoo.data.text import build_vocabulary, decode, encode, load_text

NAMES = zoo.list_models(task="language_model")


@pytest.fixture(scope="module")
def hamlet_ids():
    text = load_text("shakespeare", "test").text[:20000]
    vocabulary = build_vocabulary(text)
    return vocabulary, encode(text, vocabulary)


def test_every_cell_is_registered():
    assert NAMES == ["char_gru", "char_lstm", "char_rnn"]


@pytest.mark.parametrize("name", NAMES)
def test_stepping_with_carried_state_equals_one_pass(name, hamlet_ids):
    vocabulary, ids = hamlet_ids
    model = zoo.create(name, vocabulary=vocabulary, units=32, num_layers=2)
    x = ids[: 2 * 60].reshape(2, 60)
    full = np.asarray(model(x))
    assert full.shape == (2, 60, len(vocabulary) + 1)
    states = model.initial_states(2)
    first, states = model.step(x[:, :25], states)
    second, _ = model.step(x[:, 25:], states)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), full, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_round_trips_and_one_fit_step(name, hamlet_ids, tmp_path):
    vocabulary, ids = hamlet_ids
    model = zoo.create(name, vocabulary=vocabulary, units=16)
    x = ids[: 4 * 41].reshape(4, 41)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.vocabulary == vocabulary
    np.testing.assert_allclose(model(x[:, :-1]), loaded(x[:, :-1]), rtol=1e-5, atol=1e-6)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=model.training_loss())
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x[:, :-1], x[:, 1:], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


def test_stateful_weights_load_into_the_stateless_model(hamlet_ids, tmp_path):
    vocabulary, ids = hamlet_ids
    stateful = zoo.create("char_gru", vocabulary=vocabulary, units=16, stateful=True, batch_size=2)
    stateful.save_weights(tmp_path / "w.weights.h5")
    stateless = zoo.create("char_gru", vocabulary=vocabulary, units=16)
    stateless.load_weights(tmp_path / "w.weights.h5")
    x = ids[:40].reshape(2, 20)
    for layer in stateful.rnn_layers:
        layer.reset_state()
    np.testing.assert_allclose(stateful(x), stateless(x), rtol=1e-5, atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="distinct"):
        zoo.create("char_lstm", vocabulary="aab")
    with pytest.raises(ValueError, match="cell"):
        zoo.create("char_lstm", cell="transformer")
    with pytest.raises(ValueError, match="batch_size"):
        zoo.create("char_lstm", stateful=True)


def test_encode_decode_and_unknown_characters():
    ids = encode("To be, or not to be~", "Tbeort ,n")
    assert ids[-1] == 0 and ids[0] == 1
    assert decode(ids, "Tbeort ,n") == "To be, or not to be?"
