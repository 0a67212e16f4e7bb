"""The in-graph tokenizer interface shared by WordPiece and SentencePiece.

Shape legend: B batch, T tokens (with [START] and [END]), L a requested length.

Every tokenizer in `keras_tfm.text` is a `tf.Module` whose methods are
`tf.function`s with fixed input signatures, so they run eagerly, inside
`tf.data`, inside another `tf.function`, in a SavedModel, and (for the dense
methods) in TFLite with tensorflow-text's op registrar:

| method                     | in            | out                  | TFLite |
|----------------------------|---------------|----------------------|--------|
| `tokenize(texts)`          | string (B,)   | int32 ragged (B, T)  | no     |
| `tokenize_to_tensor(texts)`| string (B,)   | int32 (B, T)         | yes    |
| `detokenize(ids)`          | int32 (B, T)  | string (B,)          | yes (1)|
| `normalize(texts)`         | string (B,)   | string (B,)          | no     |

`tokenize_to_tensor` pads with [PAD]=0; `tokenize` returns a
`tf.RaggedTensor` (ragged outputs cannot leave a TFLite model).

(1) SentencePiece's TFLite detokenizer kernel needs a static batch size:
convert `detokenize_function(batch_size)` instead; see
`SentencepieceTokenizer`.

Special tokens have the same ids in every vocabulary this package makes:
[PAD]=0, [START]=1, [END]=2, [UNK]=3. `tokenize` adds [START] and [END];
`detokenize` drops [PAD] and [START] and stops at the first [END], so decoder
output can be passed as is.
"""

import json
import os

import tensorflow as tf

RESERVED_TOKENS = ("[PAD]", "[START]", "[END]", "[UNK]")
PAD_ID, START_ID, END_ID, UNK_ID = 0, 1, 2, 3

CONFIG_FILENAME = "tokenizer.json"


def add_start_end(ids):
    """Adds [START] and [END] to token ids and pads them densely.

    Uses only dense ops that TFLite has as builtins (no ragged concat).

    Args:
        ids: int32 `tf.RaggedTensor` `(B, None)` without special tokens.

    Returns:
        int32 `(B, T)` tensor, `T = max length + 2`, padded with [PAD]=0.
    """
    lengths = tf.cast(ids.row_lengths(), tf.int32)  # (B,)
    dense = ids.to_tensor(PAD_ID)  # (B, T - 2)
    column = tf.zeros([tf.shape(dense)[0], 1], tf.int32)  # (B, 1)
    dense = tf.concat([column + START_ID, dense, column], axis=1)  # (B, T)
    positions = tf.range(tf.shape(dense)[1])[tf.newaxis, :]  # (1, T)
    return tf.where(positions == lengths[:, tf.newaxis] + 1, END_ID, dense)


def fit_to_length(ids, length):
    """Pads or trims dense token ids to a static `length`, keeping [END].

    A row longer than `length` is cut to its first `length - 1` tokens
    followed by [END]. TFLite-friendly (dense builtins only).

    Args:
        ids: int32 `(B, T)` output of `tokenize_to_tensor`.
        length: the static length `L`, at least 2.

    Returns:
        int32 `(B, L)`.
    """
    if not isinstance(length, int) or length < 2:
        raise ValueError(
            "`length` must be an integer >= 2 (room for [START] and [END]). "
            f"Received: length={length}"
        )
    ids = tf.convert_to_tensor(ids, tf.int32)
    padding = tf.maximum(length - tf.shape(ids)[1], 0)
    ids = tf.pad(ids, [[0, 0], [0, padding]])[:, :length]  # (B, L)
    # A row was cut when its last kept token is neither [PAD] nor [END].
    last = ids[:, -1:]  # (B, 1)
    cut = tf.logical_and(last != PAD_ID, last != END_ID)
    return tf.concat([ids[:, :-1], tf.where(cut, END_ID, last)], axis=1)


def strip_special_tokens(ids):
    """Drops [PAD] and [START], and everything from the first [END] on.

    Args:
        ids: int32 `(B, T)`.

    Returns:
        int32 `tf.RaggedTensor` `(B, None)`.
    """
    ids = tf.convert_to_tensor(ids, tf.int32)
    seen_end = tf.cumsum(tf.cast(ids == END_ID, tf.int32), axis=1) > 0
    keep = tf.logical_not(seen_end)
    keep = tf.logical_and(keep, ids != PAD_ID)
    keep = tf.logical_and(keep, ids != START_ID)
    ragged = tf.ragged.boolean_mask(ids, keep)
    if ids.shape[0] is not None:  # Keep a static batch size static.
        splits = tf.reshape(ragged.row_splits, [ids.shape[0] + 1])
        ragged = tf.RaggedTensor.from_row_splits(
            ragged.values, splits, validate=False
        )
    return ragged


class Tokenizer(tf.Module):
    """Base class: subclasses implement `_tokenize_plain`, `_detokenize_plain`,
    `normalize`, `vocab_size`, `_save_files` and `_from_files`.

    Attributes:
        pad_id, start_id, end_id, unk_id: the special token ids (0, 1, 2, 3).
    """

    pad_id = PAD_ID
    start_id = START_ID
    end_id = END_ID
    unk_id = UNK_ID

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, texts):
        """Strings `(B,)` -> int32 `tf.RaggedTensor` `(B, None)` with
        [START] ... [END]."""
        ids = self._tokenize_plain(texts)  # (B, None)
        return tf.RaggedTensor.from_tensor(
            add_start_end(ids), lengths=ids.row_lengths() + 2
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize_to_tensor(self, texts):
        """Strings `(B,)` -> int32 `(B, T)` with [START] ... [END], padded
        with 0. Converts to TFLite."""
        return add_start_end(self._tokenize_plain(texts))

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)])
    def detokenize(self, ids):
        """int32 `(B, T)` -> strings `(B,)`. Drops [PAD], [START] and all from
        the first [END]; [UNK] stays visible in the text."""
        return self._detokenize(ids)

    def _detokenize(self, ids):
        return self._detokenize_plain(strip_special_tokens(ids))

    def detokenize_function(self, batch_size=None):
        """`detokenize` as a `tf.function` for a static batch size.

        For TFLite conversion where a kernel needs the batch size fixed
        (SentencePiece's): `tf.lite.TFLiteConverter.from_concrete_functions(
        [tokenizer.detokenize_function(1).get_concrete_function()], tokenizer)`.

        Args:
            batch_size: B, or None for any.
        """
        if batch_size is not None and (
            not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(
                "`batch_size` must be None or a positive integer. "
                f"Received: batch_size={batch_size!r}"
            )
        return tf.function(
            self._detokenize,
            input_signature=[tf.TensorSpec([batch_size, None], tf.int32)],
        )

    @property
    def vocab_size(self):
        raise NotImplementedError

    def get_config(self):
        """The JSON-able arguments that `from_config` takes, files excluded."""
        return {}

    def save(self, directory, prefix=""):
        """Writes the vocabulary file and `{prefix}tokenizer.json`.

        Afterwards the tokenizer holds the vocabulary file as a
        `tf.saved_model.Asset`, so a SavedModel that contains it copies the
        file into its `assets/` folder.

        Args:
            directory: folder to write into (created if missing), e.g. next to
                the model.
            prefix: file name prefix, e.g. "source_" and "target_" for
                separate vocabularies in one folder.

        Returns:
            The path of the vocabulary file.
        """
        os.makedirs(directory, exist_ok=True)
        vocab_path = self._save_files(directory, prefix)
        config = {
            "class_name": type(self).__name__,
            "vocabulary_file": os.path.basename(vocab_path),
            "config": self.get_config(),
        }
        with open(os.path.join(directory, prefix + CONFIG_FILENAME), "w") as f:
            json.dump(config, f, indent=2, sort_keys=True)
        self.vocabulary_asset = tf.saved_model.Asset(vocab_path)
        return vocab_path


def load_tokenizer(directory, prefix=""):
    """Loads a tokenizer written by `Tokenizer.save(directory, prefix)`.

    Args:
        directory: the folder given to `save`.
        prefix: the prefix given to `save`.

    Returns:
        A `WordpieceTokenizer` or `SentencepieceTokenizer`.
    """
    # Imported here: both modules import this one.
    from keras_tfm.text.sentencepiece_tokenizer import SentencepieceTokenizer
    from keras_tfm.text.wordpiece_tokenizer import WordpieceTokenizer

    path = os.path.join(directory, prefix + CONFIG_FILENAME)
    if not os.path.exists(path):
        raise ValueError(
            "`directory` must hold a tokenizer written by `Tokenizer.save`; "
            f"{path} does not exist. Received: directory={directory!r}, "
            f"prefix={prefix!r}"
        )
    with open(path) as f:
        config = json.load(f)
    classes = {
        "WordpieceTokenizer": WordpieceTokenizer,
        "SentencepieceTokenizer": SentencepieceTokenizer,
    }
    cls = classes.get(config.get("class_name"))
    if cls is None:
        raise ValueError(
            f"`class_name` in {path} must be one of {sorted(classes)}. "
            f"Received: class_name={config.get('class_name')!r}"
        )
    vocab_path = os.path.join(directory, config["vocabulary_file"])
    tokenizer = cls._from_files(vocab_path, config["config"])
    tokenizer.vocabulary_asset = tf.saved_model.Asset(vocab_path)
    return tokenizer
