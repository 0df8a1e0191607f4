"""Issue 26: temperature 0 decodes greedily (in-process and exported), and characters outside the vocabulary
are warned about instead of silently becoming '?'."""

from __future__ import annotations

import logging

import pytest

import zoo
from zoo.training.language_model import generate


@pytest.fixture(scope="module")
def char_gru():
    return zoo.create("char_gru", weights="shakespeare")


def test_temperature_zero_is_greedy_and_ignores_the_seed(char_gru):
    greedy = generate(char_gru, ["ROMEO:", "To be"], 40, temperature=0, seed=1)
    assert greedy == generate(char_gru, ["ROMEO:", "To be"], 40, temperature=0.0, seed=2)
    assert greedy == generate(char_gru, ["ROMEO:", "To be"], 40, temperature=1e-4, seed=3)  # the limit of sampling
    assert all(len(t) == len(p) + 40 for t, p in zip(greedy, ["ROMEO:", "To be"]))
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        generate(char_gru, "ROMEO:", 5, temperature=-1.0)


def test_the_exported_signature_decodes_greedily_too(char_gru):
    import tensorflow as tf

    from zoo.serving.signatures import language_model

    served = language_model(char_gru)["generate"](
        prompt=tf.constant(["ROMEO:"]),
        length=tf.constant(20, tf.int32),
        temperature=tf.constant(0.0),
        seed=tf.constant(7, tf.int64),
    )
    assert served["text"].numpy()[0].decode() == generate(char_gru, "ROMEO:", 20, temperature=0)[0]


def test_characters_outside_the_vocabulary_are_named_in_a_warning(char_gru, caplog):
    outside = sorted({"é", "☃"} - set(char_gru.vocabulary))
    assert outside == ["é", "☃"]
    with caplog.at_level(logging.WARNING, logger="zoo.training.language_model"):
        [text] = generate(char_gru, "Café ☃", 3, temperature=0)
    assert text.startswith("Caf? ?")
    [message] = [r.getMessage() for r in caplog.records if r.name == "zoo.training.language_model"]
    assert "'é'" in message and "'☃'" in message and "'?'" in message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="zoo.training.language_model"):
        generate(char_gru, "Cafe", 3, temperature=0)
    assert not [r for r in caplog.records if r.name == "zoo.training.language_model"]
