"""Training a character RNN on real Shakespeare: both minibatch samplings, perplexity, generation, errors."""

import json

import numpy as np
import pytest

from zoo.training import TrainConfig, language_model, train
from zoo.training.language_model import RandomWindows, SequentialStreams, evaluate_model, generate

pytestmark = pytest.mark.slow


def test_random_windows_shift_targets_and_cover_the_text():
    ids = np.arange(1, 1002, dtype=np.int32)
    batches = RandomWindows(ids, seq_length=10, batch_size=4, seed=0)
    x, y = batches[0]
    assert x.shape == y.shape == (4, 10)
    np.testing.assert_array_equal(y, x + 1)
    starts = sorted(int(batches[i][0][r, 0]) for i in range(len(batches)) for r in range(4))
    assert len(set(starts)) == len(starts) and all(np.diff(starts) % 10 == 0)
    with pytest.raises(ValueError, match="batch"):
        RandomWindows(ids[:30], seq_length=10, batch_size=4)


def test_sequential_streams_continue_row_by_row():
    ids = np.arange(1, 1002, dtype=np.int32)
    batches = SequentialStreams(ids, seq_length=10, batch_size=4, shuffle=False)
    first, second = batches[0][0], batches[1][0]
    np.testing.assert_array_equal(second[:, 0], first[:, -1] + 1)  # each row picks up where it stopped
    np.testing.assert_array_equal(batches[0][1], first + 1)


@pytest.mark.parametrize("sampling", ["random", "sequential"])
def test_short_run_learns_and_generates(sampling, tmp_path):
    config = TrainConfig(
        epochs=2,
        batch_size=32,
        seq_length=50,
        lr=0.01,
        schedule="constant",
        max_train_examples=640,
        validation_split=0.01,
        sampling=sampling,
        verbose=0,
    )
    result = train("char_gru", "shakespeare", config=config, out=tmp_path / "run", overrides={"units": 64})
    history = json.loads((result.run_dir / "history.json").read_text())
    assert history["loss"][-1] < history["loss"][0]
    # Uniform guessing over the 84 characters is perplexity 84; character frequencies alone give about 27.
    assert result.test["perplexity"] < 20
    assert result.test["unknown_characters"] == 0
    if sampling == "random":  # the run directory rebuilds the model with its vocabulary
        again = language_model.evaluate("char_gru", result.run_dir, "shakespeare", max_characters=20_000)
        same = evaluate_model(result.model, "shakespeare", max_characters=20_000)
        assert again["characters"] < 20_000 and again["perplexity"] == pytest.approx(same["perplexity"], rel=1e-4)
    texts = generate(result.model, ["ROMEO.", "To be"], 40, temperature=0.7, seed=3)
    assert texts[0].startswith("ROMEO.") and len(texts[0]) == 46 and len(texts[1]) == 45
    assert texts == generate(result.model, ["ROMEO.", "To be"], 40, temperature=0.7, seed=3)
    assert texts != generate(result.model, ["ROMEO.", "To be"], 40, temperature=0.7, seed=4)


def test_log_prob_signature_agrees_with_the_perplexity(tmp_path):
    import math

    import tensorflow as tf

    import zoo
    from zoo.data.text import build_vocabulary, load_text
    from zoo.serving.signatures import language_model

    text = load_text("shakespeare", "test").text[:3001]
    model = zoo.create("char_lstm", vocabulary=build_vocabulary(load_text("shakespeare", "train").text), units=16)
    scored = language_model(model)["serving_default"](tf.constant([text]))
    measured = evaluate_model(model, "shakespeare", streams=1, max_characters=3001)
    assert int(scored["characters"][0]) == measured["characters"] == 3000
    assert math.exp(-float(scored["log_prob"][0]) / 3000) == pytest.approx(measured["perplexity"], rel=1e-4)


def test_bad_requests_are_refused(tmp_path):
    with pytest.raises(ValueError, match="handles language_model"):
        language_model.train("lenet5", "shakespeare", out=tmp_path / "a")
    with pytest.raises(ValueError, match="Unknown dataset 'shakespeare'"):
        train("lenet5", "shakespeare", out=tmp_path / "a")  # dispatched to the image classifier's trainer
    with pytest.raises(ValueError, match="sampling"):
        train("char_gru", "shakespeare", config=TrainConfig(sampling="shuffled"), out=tmp_path / "b")
    with pytest.raises(ValueError, match="seq_length"):
        train("char_gru", "shakespeare", config=TrainConfig(seq_length=0), out=tmp_path / "c")
    with pytest.raises(ValueError, match="Unknown text corpus"):
        train("char_gru", "shakespear", out=tmp_path / "d")
    import zoo

    model = zoo.create("char_gru", units=8)
    for bad, match in (
        (dict(prompts=""), "non-empty"),
        (dict(length=-1), "length"),
        (dict(temperature=-0.5), "temperature"),
    ):
        with pytest.raises(ValueError, match=match):
            generate(model, **{"prompts": "To be", "length": 5, **bad})
    with pytest.raises(ValueError, match="not a character language model"):
        generate(zoo.create("lenet5"), "To be")
