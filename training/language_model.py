"""Training and evaluation of character-level language models on text corpora.

Two ways to cut the training text into minibatches (d2l.ai section 9.3):
``random`` sampling starts each epoch at a random offset, cuts the text into
windows of ``seq_length`` and shuffles them, every window starting from a zero
state; ``sequential`` partitioning splits the text into ``batch_size`` parallel
streams so that row r of batch i+1 continues row r of batch i, and a stateful
model carries its hidden state across batches (gradients stop at batch edges).
Perplexity is measured on the test text read as 64 continuous streams, the
state carried from chunk to chunk, so only 64 characters are predicted cold.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

import zoo
from zoo.data.text import build_vocabulary, encode, load_text
from zoo.registry import constructor_config, get_entry
from zoo.training import engine
from zoo.training.config import SAMPLINGS
from zoo.training.engine import TrainConfig, TrainResult
from zoo.weights import create_trained

logger = logging.getLogger(__name__)

EVAL_STREAMS = 64
EVAL_CHUNK = 500


class _TextBatches(keras.utils.PyDataset):
    """Minibatches of (inputs, targets shifted by one) cut from token ids.

    Epoch e's offset and order come from ``(seed, e)`` alone, so a run resumed at
    epoch e (``first_epoch=e``, after ``skip`` batches) reads the batches an
    uninterrupted run would.
    """

    def __init__(
        self,
        ids: np.ndarray,
        seq_length: int,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        first_epoch: int = 0,
        skip: int = 0,
    ):
        super().__init__()
        if len(ids) < seq_length * batch_size + 1:
            raise ValueError(
                f"{len(ids)} characters cannot fill one batch of {batch_size} x {seq_length}; "
                f"lower --batch-size or --seq-length."
            )
        self.ids, self.seq_length, self.batch_size, self.shuffle = ids, seq_length, batch_size, shuffle
        self.seed, self.epoch, self.skip = seed, first_epoch, skip
        self._draw()

    def on_epoch_end(self):
        self.epoch += 1
        self.skip = 0
        self._draw()

    def _draw(self) -> None:
        self.rng = np.random.default_rng([self.seed, self.epoch])
        self._cut(int(self.rng.integers(self.seq_length)) if self.shuffle else 0)

    def __len__(self) -> int:
        return self.batches() - self.skip

    def __getitem__(self, index: int):
        return self.batch(index + self.skip)


class RandomWindows(_TextBatches):
    """Random sampling: windows of ``seq_length`` from a random offset, shuffled, in batches (targets shifted by one)."""

    def _cut(self, offset: int) -> None:
        starts = offset + self.seq_length * np.arange((len(self.ids) - offset - 1) // self.seq_length)
        self.starts = self.rng.permutation(starts) if self.shuffle else starts

    def batches(self) -> int:
        return len(self.starts) // self.batch_size

    def batch(self, index: int):
        starts = self.starts[index * self.batch_size : (index + 1) * self.batch_size]
        windows = self.ids[starts[:, None] + np.arange(self.seq_length + 1)]
        return windows[:, :-1], windows[:, 1:]


class SequentialStreams(_TextBatches):
    """Sequential partitioning: ``batch_size`` continuous streams; batch i holds the i-th window of each stream."""

    def _cut(self, offset: int) -> None:
        per_stream = (len(self.ids) - offset - 1) // self.batch_size
        stream = self.ids[offset : offset + per_stream * self.batch_size + 1]
        self.inputs = stream[:-1].reshape(self.batch_size, per_stream)
        self.targets = stream[1:].reshape(self.batch_size, per_stream)

    def batches(self) -> int:
        return self.inputs.shape[1] // self.seq_length

    def batch(self, index: int):
        window = slice(index * self.seq_length, (index + 1) * self.seq_length)
        return self.inputs[:, window], self.targets[:, window]


class ResetStates(keras.callbacks.Callback):
    """Zeroes a stateful model's recurrent states at each epoch's start and around validation."""

    def _reset(self, *args):
        for layer in self.model.rnn_layers:
            layer.reset_state()

    on_epoch_begin = on_test_begin = on_test_end = _reset


def _check_language_model(model_name: str) -> None:
    task = get_entry(model_name).task
    if task != "language_model":
        raise ValueError(f"{model_name} is a {task} model; this trainer handles language_model.")


@dataclasses.dataclass
class TextData(engine.TaskData):
    """A corpus made ready to fit a character language model: vocabulary, ids, minibatches.

    Its examples are characters. With ``sequential`` sampling the fitted model is a
    stateful copy (same weights) that carries its state across batches, so it is not
    split across replicas.
    """

    dataset: str
    vocabulary: list[str]
    train_ids: np.ndarray
    val_ids: np.ndarray | None
    source: str
    config: TrainConfig

    @classmethod
    def load(cls, dataset: str, config: TrainConfig) -> "TextData":
        if config.sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}. Received: sampling={config.sampling!r}")
        text = load_text(dataset, "train")
        vocabulary = build_vocabulary(text.text)
        ids = encode(text.text, vocabulary)
        n_val = int(len(ids) * config.validation_split)
        train_ids, val_ids = (ids[:-n_val], ids[-n_val:]) if n_val else (ids, None)
        if config.max_train_examples:
            train_ids = train_ids[: config.max_train_examples * config.seq_length + 1]
        return cls(dataset, vocabulary, train_ids, val_ids, text.source, config)

    @property
    def stateful(self) -> bool:
        return self.config.sampling == "sequential"

    @property
    def distributable(self) -> bool:
        return not self.stateful

    @property
    def monitor(self) -> str:
        return "val_loss" if self.val_ids is not None else "loss"

    def _batches(self, ids, **kwargs) -> _TextBatches:
        cls = SequentialStreams if self.stateful else RandomWindows
        return cls(ids, self.config.seq_length, self.config.batch_size, **kwargs)

    @property
    def steps_per_epoch(self) -> int:
        return self._batches(self.train_ids, seed=self.config.seed).batches()

    @property
    def examples_per_epoch(self) -> int:
        return self.steps_per_epoch * self.config.batch_size * self.config.seq_length

    def describe(self) -> dict[str, Any]:
        return {
            "data_source": self.source,
            "examples": {
                "train_characters": len(self.train_ids),
                "validation_characters": 0 if self.val_ids is None else len(self.val_ids),
            },
        }

    def trainee(self, model: keras.Model) -> keras.Model:
        """The stateless model itself, or (sequential sampling) a stateful copy of it sharing its weights."""
        if not self.stateful:
            return model
        copy = zoo.create(
            model.name, **{**constructor_config(model), "stateful": True, "batch_size": self.config.batch_size}
        )
        copy.set_weights(model.get_weights())
        return copy

    def compile(self, model: keras.Model, optimizer) -> None:
        model.compile(
            optimizer=optimizer,
            loss=model.training_loss(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )

    def callbacks(self, run_dir: Path) -> list[keras.callbacks.Callback]:
        return [ResetStates()] if self.stateful else []

    def fit(
        self,
        model: keras.Model,
        *,
        epochs: int,
        initial_epoch: int = 0,
        skip_steps: int = 0,
        callbacks=(),
        verbose="auto",
    ):
        train_data = self._batches(self.train_ids, seed=self.config.seed, first_epoch=initial_epoch, skip=skip_steps)
        val_data = self._batches(self.val_ids, shuffle=False) if self.val_ids is not None else None
        return model.fit(
            train_data,
            validation_data=val_data,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=list(callbacks),
            verbose=verbose,
        )

    def evaluate(self, model: keras.Model) -> dict[str, Any]:
        return evaluate_model(model, self.dataset)


def train(
    model_name: str,
    dataset: str,
    *,
    config: TrainConfig | None = None,
    out: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainResult:
    """Trains a character-level language model on a corpus and writes a run directory.

    The model's vocabulary is the training text's characters. ``config.sampling``
    picks random or sequential minibatches, ``config.seq_length`` the window
    length (truncated backpropagation through time), ``config.max_train_examples``
    caps the training windows per epoch, and ``config.validation_split`` holds
    out the end of the training text. ``results.json`` holds the test
    perplexity (see :func:`evaluate_model`).
    """
    config = config or TrainConfig()
    _check_language_model(model_name)
    return engine.fit(
        model_name,
        dataset,
        config,
        out=out,
        load_data=TextData.load,
        build=lambda prepared: zoo.create(model_name, **{"vocabulary": prepared.vocabulary, **(overrides or {})}),
    )


def _compiled_step(model: keras.Model):
    """``model.step`` as one graph on the TensorFlow backend: run eagerly, a recurrent layer's time loop
    dispatches its ops one at a time. Two traces in all (full chunks, then the last one)."""
    if keras.backend.backend() != "tensorflow":
        return model.step
    import tensorflow as tf

    return tf.function(model.step, reduce_retracing=True)


def evaluate_model(
    model: keras.Model, dataset: str, *, streams: int = EVAL_STREAMS, max_characters: int | None = None
) -> dict[str, Any]:
    """Perplexity of ``model`` on the test text, read as ``streams`` continuous streams.

    Returns:
        ``{"perplexity", "bits_per_character", "loss" (nats per character),
        "characters", "unknown_characters", "source"}``.
    """
    from keras import ops

    text = load_text(dataset, "test")
    ids = encode(text.text[:max_characters] if max_characters else text.text, model.vocabulary)
    per_stream = (len(ids) - 1) // streams
    if per_stream < 1:
        raise ValueError(f"The test text has {len(ids)} characters, too few for {streams} streams.")
    inputs = ids[: per_stream * streams].reshape(streams, per_stream)
    targets = ids[1 : per_stream * streams + 1].reshape(streams, per_stream)
    states, total, step = model.initial_states(streams), 0.0, _compiled_step(model)
    for start in range(0, per_stream, EVAL_CHUNK):
        logits, states = step(inputs[:, start : start + EVAL_CHUNK], states)
        losses = keras.losses.sparse_categorical_crossentropy(
            targets[:, start : start + EVAL_CHUNK], logits, from_logits=True
        )
        total += float(ops.sum(losses))
    nats = total / targets.size
    return {
        "perplexity": math.exp(nats),
        "bits_per_character": nats / math.log(2),
        "loss": nats,
        "characters": int(targets.size),
        "unknown_characters": int(np.sum(ids == 0)),
        "source": text.source,
    }


def evaluate(
    model_name: str, weights: str | Path, dataset: str, *, batch_size: int = 256, max_characters: int | None = None
) -> dict[str, Any]:
    """Loads trained weights (a run directory rebuilds the trained vocabulary) and measures test perplexity
    (on the first ``max_characters`` of the test text when given)."""
    _check_language_model(model_name)
    model, run_config = create_trained(model_name, weights, build=lambda: zoo.create(model_name))
    if run_config is None:
        logger.warning("%s has no run config beside it; assuming the default vocabulary of %s.", weights, model_name)
    return evaluate_model(model, dataset, max_characters=max_characters)


def warn_unknown_characters(model: keras.Model, texts: list[str]) -> list[str]:
    """Logs a warning naming the characters of ``texts`` outside ``model.vocabulary`` (they become ``?``).

    Returns:
        Those characters, sorted.
    """
    return model.tokenizer.warn_unknown(texts, model.name, log=logger)


def generate(
    model: keras.Model, prompts: str | list[str], length: int = 200, *, temperature: float = 1.0, seed: int = 0
) -> list[str]:
    """Continues each prompt by ``length`` sampled characters, exactly as the exported ``generate`` signature does
    (:meth:`zoo.models.rnn.CharRNN.generate`).

    ``temperature=0`` picks the most likely character at every step (greedy decoding). Prompt
    characters outside the model's vocabulary are read as its unknown token and come back as
    ``?``; a warning names them.

    Example:
        >>> generate(zoo.create("char_gru", units=8), "To be", 5, seed=1)[0][:5]
        'To be'
    """
    if not hasattr(model, "vocabulary"):
        raise ValueError(f"{model.name} is not a character language model (zoo list --json shows each task).")
    texts = [prompts] if isinstance(prompts, str) else list(prompts)
    if all(isinstance(text, str) for text in texts):  # model.generate refuses anything else
        warn_unknown_characters(model, texts)
    return model.generate(prompts, length, temperature=temperature, seed=seed, warn=False)
