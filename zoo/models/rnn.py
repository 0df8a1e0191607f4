"""Character-level recurrent language models (Karpathy 2015; d2l.ai chapter 9).

Token ids in, next-token logits out. Id 0 is "unknown character", ids
1..V are the characters of the model's ``vocabulary`` in order, so the model
carries its own tokenizer (:class:`zoo.tokenizers.CharTokenizer`) and exported
models take and return plain strings. Scoring and sampling are methods of the
model (:meth:`CharRNN.score_text`, :meth:`CharRNN.generate_text`,
:meth:`CharRNN.generate`); ``zoo.serving.signatures.language_model`` only wraps them.
The scoring and sampling graphs use TensorFlow's string ops and stateless
random ops (imported when called, as the GAN's TensorFlow train step does):
they run on the TensorFlow backend, where models are exported.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo.models.base import ZooModel, check_positive_ints, check_rate, traced
from zoo.registry import register_model
from zoo.tasks import get_task
from zoo.tokenizers import CharTokenizer

#: Default vocabulary: newline and printable ASCII. Training replaces it with the corpus' characters.
ASCII_VOCABULARY = "\n" + "".join(chr(c) for c in range(32, 127))
#: The argument (name, dtype, shape) of :meth:`CharRNN.generate_text`, as the ``generate`` signature takes them.
GENERATE_SIGNATURE = get_task("language_model").signatures["generate"].input_specs()
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
            raise ValueError(
                f"CharRNN: `vocabulary` must be a non-empty string of distinct characters. "
                f"Received: vocabulary={vocabulary!r}"
            )
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
            config={
                "vocabulary": vocabulary,
                "embedding_dim": embedding_dim,
                "units": units,
                "cell": cell,
                "num_layers": num_layers,
                "dropout": dropout,
                "stateful": stateful,
                "batch_size": batch_size,
            },
            **kwargs,
        )
        self.vocabulary = vocabulary
        self.tokenizer = CharTokenizer(vocabulary)
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

    def score_text(self, text) -> dict:
        """Log-likelihood of UTF-8 strings ``text`` (batch,) under the model (TensorFlow ops, graph-friendly).

        Returns:
            ``{"log_prob": (batch,) float32, the sum over characters 2..n of log p(c_i | c_<i),
            "characters": (batch,) int32, the characters scored (n - 1, 0 for empty texts)}``.
        """
        import tensorflow as tf

        tokens = self.tokenizer.encode_tensor(text)
        lengths = tokens.row_lengths()
        padded = tf.pad(tokens.to_tensor(), [[0, 0], [0, 2]])  # one input column even for empty texts
        log_probs = tf.nn.log_softmax(self(padded[:, :-1], training=False), axis=-1)
        picked = tf.gather(log_probs, padded[:, 1:], axis=-1, batch_dims=2)
        mask = tf.sequence_mask(lengths - 1, maxlen=tf.shape(picked)[1], dtype=picked.dtype)
        return {
            "log_prob": tf.reduce_sum(picked * mask, axis=1),
            "characters": tf.cast(tf.maximum(lengths - 1, 0), tf.int32),
        }

    def generate_text(self, prompt, length, temperature, seed) -> dict:
        """Continues UTF-8 strings ``prompt`` (batch,) by ``length`` sampled characters (TensorFlow ops, graph-friendly).

        Sampling is ``tf.random.stateless_categorical`` seeded by (seed, position): the
        same prompt, seed and temperature give the same text in-process, exported and
        served. ``temperature=0`` decodes greedily (the most likely character each step).
        The unknown token is never sampled. Bad arguments (an empty prompt, ``length < 0``,
        ``temperature < 0``) fail with ``InvalidArgumentError``.

        Args:
            prompt: string tensor (batch,).
            length: int32 scalar tensor.
            temperature: float32 scalar tensor.
            seed: int64 scalar tensor.

        Returns:
            ``{"text": (batch,) strings, each prompt followed by its continuation}``.
        """
        import tensorflow as tf

        tokens = self.tokenizer.encode_tensor(prompt)
        lengths = tf.cast(tokens.row_lengths(), tf.int32)
        checks = [
            tf.debugging.assert_positive(lengths, message="generate: every prompt needs at least one character"),
            tf.debugging.assert_non_negative(length, message="generate: length must be >= 0"),
            tf.debugging.assert_non_negative(temperature, message="generate: temperature must be >= 0 (0: greedy)"),
        ]
        with tf.control_dependencies(checks):
            padded = tokens.to_tensor()
        steps = tf.shape(padded)[1] + length
        states = self.initial_states(tf.shape(padded)[0])
        token = padded[:, 0]
        written = tf.TensorArray(tf.int32, size=steps).write(0, token)
        for t in tf.range(1, steps):
            logits, states = self.step(token[:, None], states)
            divisor = tf.where(temperature > 0, temperature, tf.ones_like(temperature))
            logits = tf.concat([tf.fill([tf.shape(logits)[0], 1], -1e9), logits[:, 0, 1:] / divisor], axis=-1)
            sampled = tf.random.stateless_categorical(
                logits, 1, seed=tf.stack([seed, tf.cast(t, tf.int64)]), dtype=tf.int32
            )[:, 0]
            sampled = tf.where(temperature > 0, sampled, tf.argmax(logits, axis=-1, output_type=tf.int32))
            token = tf.where(t < lengths, padded[:, tf.minimum(t, tf.shape(padded)[1] - 1)], sampled)
            written = written.write(t, token)
        ids = tf.RaggedTensor.from_tensor(tf.transpose(written.stack()), lengths=lengths + length)
        return {"text": self.tokenizer.decode_tensor(ids)}

    def generate(
        self, prompts: str | list[str], length: int = 200, *, temperature: float = 1.0, seed: int = 0, warn: bool = True
    ) -> list[str]:
        """Continues each prompt by ``length`` sampled characters, exactly as the exported ``generate`` signature does.

        ``temperature=0`` picks the most likely character at every step (greedy decoding).
        Prompt characters outside the vocabulary are read as the unknown token and come
        back as ``?``; a warning names them (unless ``warn=False``: the caller warned).

        Raises:
            ValueError: no prompt, an empty prompt, ``length < 0`` or ``temperature < 0``.

        Example:
            >>> CharRNN(vocabulary="To be", units=8, cell="gru").generate("To be", 5, seed=1)[0][:5]
            'To be'
        """
        import tensorflow as tf

        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts or not all(isinstance(p, str) and p for p in prompts):
            raise ValueError(f"generate needs one or more non-empty prompts. Received: {prompts!r}")
        if not isinstance(length, int) or length < 0:
            raise ValueError(f"length must be an integer >= 0. Received: length={length!r}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0 (0: greedy decoding). Received: temperature={temperature!r}")
        if warn:
            self.tokenizer.warn_unknown(prompts, self.name)
        run = traced(self, "generate_text", self.generate_text, GENERATE_SIGNATURE)
        result = run(
            prompt=tf.constant(prompts),
            length=tf.constant(length, tf.int32),
            temperature=tf.constant(temperature, tf.float32),
            seed=tf.constant(seed, tf.int64),
        )
        return [t.decode("utf-8") for t in result["text"].numpy()]

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
