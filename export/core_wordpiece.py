"""WordPiece in core TensorFlow ops, so a SavedModel runs without tensorflow-text.

Shape legend: B batch, W words (of the whole batch), C characters of the
longest word, T tokens.

`saved_model_cli run` (the client that ships with TensorFlow) cannot load
tensorflow-text's ops, so the translator's SavedModel tokenizes with this
module instead of `keras_tfm.text.WordpieceTokenizer`. It gives the same ids
as that tokenizer (with `lower_case=False`, `normalization_form=None`) for
any text whose words are separated by ASCII whitespace (or control/format
characters); the exporter checks the two on the held-out sentences, and
`tests/export/core_wordpiece_test.py` on harder strings. Text split by other
Unicode spaces (U+00A0, U+3000, ...) may differ: tensorflow-text's
`WhitespaceTokenizer` cuts such characters mid-byte.

The algorithm is WordPiece's greedy longest-match-first: a word is cut into
the longest vocabulary piece from its start, then the longest "##" piece
from there, and so on; a word that cannot be cut completely, or longer than
`max_bytes_per_word`, becomes one [UNK].
"""

import tensorflow as tf

from keras_tfm.text import UNK_ID
from keras_tfm.text.tokenizer import add_start_end, strip_special_tokens

JOINER = "##"


class CoreWordpieceTokenizer(tf.Module):
    """`tokenize_to_tensor` and `detokenize` of `WordpieceTokenizer`, in core TF ops.

    Args:
        vocabulary: list of tokens, [PAD], [START], [END], [UNK] first.
        max_bytes_per_word: longer words become [UNK] (100, as
            `WordpieceTokenizer`).
    """

    def __init__(self, vocabulary, max_bytes_per_word=100, name=None):
        super().__init__(name=name)
        vocabulary = list(vocabulary)
        self.vocab_size = len(vocabulary)
        self.max_bytes_per_word = max_bytes_per_word
        self._vocabulary = tf.constant(vocabulary, tf.string)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                self._vocabulary, tf.range(len(vocabulary), dtype=tf.int32)
            ),
            default_value=-1,
        )

    @classmethod
    def from_tokenizer(cls, tokenizer):
        """The core-ops twin of a `keras_tfm.text.WordpieceTokenizer`, or None if it has none."""
        if type(tokenizer).__name__ != "WordpieceTokenizer":
            return None
        if getattr(tokenizer, "lower_case", False) or getattr(tokenizer, "normalization_form", None):
            return None  # Case folding and Unicode normalisation have no core ops.
        return cls(tokenizer.vocabulary)

    def _words(self, texts):
        """Strings `(B,)` -> ragged words `(B, None)`, split as `WordpieceTokenizer` splits."""
        texts = tf.strings.regex_replace(texts, r"[\p{Cc}\p{Cf}]", " ")
        return tf.strings.split(texts)  # Splits on ASCII whitespace, drops empty words.

    def _wordpiece(self, words):
        """Flat words `(W,)` -> ragged ids `(W, None)`."""
        offsets = tf.strings.unicode_decode_with_offsets(words, "UTF-8", errors="replace")[1]
        lengths = tf.cast(offsets.row_lengths(), tf.int32)  # (W,) characters per word
        num_bytes = tf.strings.length(words)  # (W,)
        count = tf.shape(words)[0]
        offsets = tf.concat([offsets.to_tensor(0), tf.zeros([count, 1], tf.int64)], axis=1)
        positions = tf.range(tf.shape(offsets)[1])[tf.newaxis, :]  # (1, C + 1)
        # Byte offset of each character boundary; position `length` is the word's end.
        boundaries = tf.where(positions < lengths[:, None], tf.cast(offsets, tf.int32), num_bytes[:, None])
        shape = tf.shape(boundaries)  # (W, C + 1)
        all_words = tf.broadcast_to(words[:, None], shape)

        def body(start, done, failed, pieces, step):
            begin = tf.gather(boundaries, start, batch_dims=1)  # (W,) bytes
            candidates = tf.strings.substr(
                all_words, tf.broadcast_to(begin[:, None], shape), tf.maximum(boundaries - begin[:, None], 0)
            )  # (W, C + 1): the word from `start` to each boundary
            prefix = tf.broadcast_to(tf.where(start > 0, JOINER, "")[:, None], shape)
            ids = self._table.lookup(tf.strings.join([prefix, candidates]))
            valid = (positions > start[:, None]) & (positions <= lengths[:, None]) & (ids >= 0)
            end = tf.reduce_max(tf.where(valid, positions, -1), axis=1)  # (W,) the longest match
            found = (end >= 0) & ~done
            failed = failed | (~done & (end < 0))
            piece = tf.gather(ids, tf.maximum(end, 0), batch_dims=1)
            pieces = tf.where((positions == step) & found[:, None], piece[:, None], pieces)
            start = tf.where(found, end, start)
            done = done | failed | (start >= lengths)
            return start, done, failed, pieces, step + 1

        def cond(start, done, failed, pieces, step):
            return tf.logical_not(tf.reduce_all(done))

        state = (
            tf.zeros([count], tf.int32), lengths <= 0, tf.zeros([count], tf.bool), tf.fill(shape, -1),
            tf.constant(0),
        )
        _, _, failed, pieces, _ = tf.while_loop(cond, body, state)  # pieces: (W, C + 1), -1 = none
        unknown = failed | (num_bytes > self.max_bytes_per_word)
        pieces = tf.where(unknown[:, None], tf.where(positions == 0, UNK_ID, -1), pieces)
        return tf.ragged.boolean_mask(pieces, pieces >= 0)  # (W, None)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize_to_tensor(self, texts):
        """Strings `(B,)` -> int32 `(B, T)` with [START] ... [END], padded with 0."""
        words = self._words(texts)  # (B, None)
        ids = self._wordpiece(words.flat_values)  # (W, None)
        ids = words.with_flat_values(ids).merge_dims(1, 2)  # (B, T - 2)
        return add_start_end(ids)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def detokenize(self, ids):
        """int32 `(B, T)` -> strings `(B,)`: drops [PAD], [START] and all from [END];
        "##" pieces are glued to the piece before."""
        tokens = tf.gather(self._vocabulary, strip_special_tokens(ids))  # (B, None)
        text = tf.strings.reduce_join(tokens, axis=-1, separator=" ")
        return tf.strings.regex_replace(text, " " + JOINER, "")
