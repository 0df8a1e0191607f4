"""Character-level recurrent language models (Karpathy 2015; d2l.ai chapter 9).

Token ids in, next-token logits out. Id 0 is "unknown character", ids
1..V are the characters of the model's ``vocabulary`` in order, so the model
carries its own tokenizer and exported models take and return plain strings
(see ``serving.signatures.language_model``).
"""

from __future__ import annotations

import keras
from keras import ops

from zoo.models.base import ZooModel, check_positive_ints, check_rate
from zoo.registry import register_model

#: Default vocabulary: newline and printable ASCII. Training replaces it with the corpus' characters.
ASCII_VOCABULARY = "\n" + "".join(chr(c) for c in range(32, 127))
CELLS = {"simple": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}


@keras.saving.register_keras_serializable(package="kzoo")
class CharRNN(ZooModel):
    """Embedding, stacked recurrent layers, and a Dense layer over the vocabulary.

    Args:
        vocabulary: str. The distinct characters, in token order (id = 1 + index).
        embedding_dim: int. Size of the character embedding. Defaults to 64.
        units: int. Hidden units of each recurrent layer. Defaults to 256.
        cell: str. ``"simple"`` (Elman), ``"gru"`` or ``"lstm"``. Defaults to ``"lstm"``.
        num_layers: int. Stacked recurrent layers. Defaults to 1.
        dropout: float. Dropout between layers and before the output. Defaults to 0.
        stateful: bool. Carry each layer's state from one batch to the next (for
            sequential sampling of the training text); needs ``batch_size``. Defaults to False.
        batch_size: int or None. Fixed batch size of a stateful model.

    Example:
        >>> model = CharRNN(vocabulary="abc", units=8, cell="gru")
        >>> model.output_shape
        (None, None, 4)
    """

    def __init__(
        self,
        vocabulary: str = ASCII_VOCABULARY,
        embedding_dim: int = 64,
        units: int = 256,
        cell: str = "lstm",
        num_layers: int = 1,
        dropout: float = 0.0,
        stateful: bool = False,
        batch_size: int | None = None,
        **kwargs,
    ):
        if not isinstance(vocabulary, str) or not vocabulary or len(set(vocabulary)) != len(vocabulary):
            raise ValueError(f"CharRNN: `vocabulary` must be a non-empty string of distinct characters. "
                             f"Received: vocabulary={vocabulary!r}")
        if cell not in CELLS:
            raise ValueError(f"CharRNN: `cell` must be one of {sorted(CELLS)}. Received: cell={cell!r}")
        check_positive_ints("CharRNN", embedding_dim=embedding_dim, units=units, num_layers=num_layers)
        check_rate("CharRNN", dropout=dropout)
        if stateful:
            check_positive_ints("CharRNN", batch_size=batch_size)

        # === Functional Model ===
        shape = {"batch_shape": (batch_size, None)} if stateful else {"shape": (None,)}
        inputs = keras.Input(**shape, dtype="int32", name="tokens")
        x = keras.layers.Embedding(len(vocabulary) + 1, embedding_dim, name="embedding")(inputs)
        for i in range(1, num_layers + 1):
            layer = CELLS[cell](units, return_sequences=True, return_state=True, stateful=stateful, name=f"rnn{i}")
            x = layer(x)[0]
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
        outputs = keras.layers.Dense(len(vocabulary) + 1, name="predictions")(x)

        # === Config ===
        super().__init__(
            inputs,
            outputs,
            config={"vocabulary": vocabulary, "embedding_dim": embedding_dim, "units": units, "cell": cell,
                    "num_layers": num_layers, "dropout": dropout, "stateful": stateful, "batch_size": batch_size},
            **kwargs,
        )
        self.vocabulary = vocabulary
        self.rnn_layers = [self.get_layer(f"rnn{i}") for i in range(1, num_layers + 1)]

    def initial_states(self, batch: int) -> list[list]:
        """Zero states of every recurrent layer: ``[h, c]`` for an LSTM, ``[h]`` otherwise."""
        per_layer = 2 if self._zoo_config["cell"] == "lstm" else 1
        units = self._zoo_config["units"]
        return [[ops.zeros((batch, units)) for _ in range(per_layer)] for _ in self.rnn_layers]

    def step(self, tokens, states: list[list]):
        """Runs ``tokens`` (batch, time) from ``states``; returns ``(logits, new_states)`` (inference mode)."""
        x = self.get_layer("embedding")(tokens)
        new_states = []
        for layer, state in zip(self.rnn_layers, states):
            x, *state = layer(x, initial_state=state)
            new_states.append(state)
        return self.get_layer("predictions")(x), new_states

    def training_loss(self) -> keras.losses.Loss:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@register_model("char_rnn", task="language_model", dataset="shakespeare")
def char_rnn(**overrides):
    """Character-level language model on an Elman (SimpleRNN) cell, 256 units."""
    return CharRNN(**{"cell": "simple", "name": "char_rnn", **overrides})


@register_model("char_gru", task="language_model", dataset="shakespeare")
def char_gru(**overrides):
    """Character-level language model on a GRU cell, 256 units."""
    return CharRNN(**{"cell": "gru", "name": "char_gru", **overrides})


@register_model("char_lstm", task="language_model", dataset="shakespeare")
def char_lstm(**overrides):
    """Character-level language model on an LSTM cell, 256 units."""
    return CharRNN(**{"cell": "lstm", "name": "char_lstm", **overrides})
