import numpy as np
import pytest
import tensorflow as tf

from zoo.data.text import decode, encode
from zoo.tokenizers import UNKNOWN, CharTokenizer

TEXTS = ["To be, or not", "Café ☃ zz", "", "\n~ "]


def test_numpy_and_tensorflow_lookups_agree_on_unknown_and_non_ascii_characters():
    tokenizer = CharTokenizer("\n ,Tbenort~")
    ragged = tokenizer.encode_tensor(tf.constant(TEXTS))
    for text, row in zip(TEXTS, ragged.to_list(), strict=True):
        assert tokenizer.encode(text).tolist() == row
    assert tokenizer.encode("é☃").tolist() == [UNKNOWN, UNKNOWN]
    assert tokenizer.encode("Tz").tolist() == [4, UNKNOWN]  # 'z' is beyond the table's largest code point
    decoded = [t.decode("utf-8") for t in tokenizer.decode_tensor(ragged).numpy()]
    assert decoded == [tokenizer.decode(tokenizer.encode(t)) for t in TEXTS]
    assert decoded[1] == "???? ? ??"


def test_the_data_helpers_are_the_tokenizer():
    vocabulary = "abc"
    assert encode("abca!", vocabulary).tolist() == CharTokenizer(vocabulary).encode("abca!").tolist() == [1, 2, 3, 1, 0]
    assert decode(np.array([3, 0, 1]), vocabulary) == "c?a"
    assert CharTokenizer(vocabulary).vocabulary_size == 4


def test_unknown_characters_are_named_once_each(caplog):
    tokenizer = CharTokenizer("ab")
    assert tokenizer.warn_unknown(["abz", "zy"], "m") == ["y", "z"]
    assert "2 character(s) outside m's vocabulary of 2" in caplog.text


def test_a_vocabulary_with_repeated_characters_is_refused():
    with pytest.raises(ValueError, match="distinct characters. Received: vocabulary='aa'"):
        CharTokenizer("aa")
