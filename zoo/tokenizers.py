"""Character tokenizer of the character-level language models: one table, read from NumPy and from TensorFlow.

Id 0 is the unknown character (it decodes to ``"?"``); ids 1..V are the
characters of the vocabulary in order. :meth:`CharTokenizer.encode` /
:meth:`CharTokenizer.decode` serve NumPy callers (data preparation, perplexity);
:meth:`CharTokenizer.encode_tensor` / :meth:`CharTokenizer.decode_tensor` are the
same lookups as TensorFlow ops for ``tf.function`` graphs (the exported
signatures), which take and return UTF-8 strings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

logger = logging.getLogger(__name__)

#: Token id of characters outside a vocabulary.
UNKNOWN = 0
#: What the unknown token decodes to.
UNKNOWN_CHARACTER = "?"


class CharTokenizer:
    """Maps characters to token ids and back through a vocabulary.

    Args:
        vocabulary: str. Distinct characters, in token order (id = 1 + index).

    Example:
        >>> tokenizer = CharTokenizer("abc")
        >>> tokenizer.encode("abca!").tolist()
        [1, 2, 3, 1, 0]
        >>> tokenizer.decode([1, 0, 3])
        'a?c'
    """

    def __init__(self, vocabulary: str):
        if not isinstance(vocabulary, str) or len(set(vocabulary)) != len(vocabulary):
            raise ValueError(
                f"CharTokenizer: `vocabulary` must be a string of distinct characters. "
                f"Received: vocabulary={vocabulary!r}"
            )
        self.vocabulary = vocabulary
        codes = np.fromiter(map(ord, vocabulary), dtype=np.int64, count=len(vocabulary))
        #: Code point -> token id, for code points up to the vocabulary's largest (larger ones are unknown).
        self.token_of_code = np.zeros(int(codes.max(initial=0)) + 1, dtype=np.int32)
        self.token_of_code[codes] = np.arange(1, len(vocabulary) + 1, dtype=np.int32)
        #: Token id -> code point.
        self.code_of_token = np.concatenate([[ord(UNKNOWN_CHARACTER)], codes]).astype(np.int32)

    @property
    def vocabulary_size(self) -> int:
        """Token ids, the unknown one included."""
        return len(self.vocabulary) + 1

    def encode(self, text: str) -> np.ndarray:
        """Token ids (int32) of ``text``; characters outside the vocabulary become :data:`UNKNOWN`."""
        codes = np.fromiter(map(ord, text), dtype=np.int64, count=len(text))
        known = self.token_of_code[np.minimum(codes, len(self.token_of_code) - 1)]
        return np.where(codes < len(self.token_of_code), known, UNKNOWN).astype(np.int32)

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """The text of token ids; :data:`UNKNOWN` becomes ``"?"``."""
        return "".join(map(chr, self.code_of_token[np.asarray(ids, dtype=np.int64).ravel()]))

    def unknown_characters(self, texts: Iterable[str]) -> list[str]:
        """The characters of ``texts`` outside the vocabulary, sorted."""
        return sorted(set("".join(texts)) - set(self.vocabulary))

    def warn_unknown(
        self, texts: Iterable[str], owner: str = "the model", *, log: logging.Logger | None = None
    ) -> list[str]:
        """Logs a warning (on ``log``, default this module's logger) naming the characters of ``texts`` outside
        the vocabulary (they come back as ``?``).

        Returns:
            Those characters, sorted.
        """
        unknown = self.unknown_characters(texts)
        if unknown:
            (log or logger).warning(
                "%d character(s) outside %s's vocabulary of %d are read as its unknown token and come back as '?': %s",
                len(unknown),
                owner,
                len(self.vocabulary),
                " ".join(repr(c) for c in unknown[:20]) + (" ..." if len(unknown) > 20 else ""),
            )
        return unknown

    def encode_tensor(self, texts):
        """UTF-8 strings ``(batch,)`` -> a ``tf.RaggedTensor`` of int32 token ids (TensorFlow, graph-friendly).

        Invalid UTF-8 decodes to U+FFFD, which is unknown unless the vocabulary has it.
        """
        import tensorflow as tf

        codes = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")
        table = tf.constant(self.token_of_code, tf.int32)
        known = tf.gather(table, tf.minimum(codes, len(self.token_of_code) - 1))
        return tf.where(codes < len(self.token_of_code), known, tf.zeros_like(codes))

    def decode_tensor(self, ids):
        """A ``tf.RaggedTensor`` of token ids -> UTF-8 strings (TensorFlow, graph-friendly)."""
        import tensorflow as tf

        return tf.strings.unicode_encode(tf.gather(tf.constant(self.code_of_token, tf.int32), ids), "UTF-8")
