"""SentencePiece: training with the `sentencepiece` package and an in-graph,
TFLite-ready tokenizer on `tf_text.FastSentencepieceTokenizer`.

Shape legend: B batch, T tokens.

SentencePiece treats the text as a stream of characters with "▁" marking
spaces, so detokenization is lossless up to the model's normaliser
(`nmt_nfkc` by default: Unicode NFKC, control characters dropped, runs of
spaces made one, ends stripped). `detokenize(tokenize(s)) == normalize(s)`
for every `s` whose characters the model knows; `normalize` approximates the
`nmt_nfkc` rule with NFKC and whitespace collapsing.

Unknown input: a character the model never saw (or bytes that are not UTF-8)
becomes [UNK]=3, which detokenizes to " ⁇ " (SentencePiece's convention), so
it never vanishes silently. An empty string tokenizes to `[START] [END]`.

TFLite: `tokenize_to_tensor` converts and runs at any batch size.
Detokenization converts, but tensorflow-text's TFLite SentencePiece
detokenizer writes into the output shape known at conversion time (with a
dynamic batch it overruns and crashes), so convert it with a static batch
size: `tokenizer.detokenize_function(batch_size=B).get_concrete_function()`.
"""

import io

import tensorflow as tf
import tensorflow_text as tf_text

from keras_tfm.text.tokenizer import END_ID
from keras_tfm.text.tokenizer import PAD_ID
from keras_tfm.text.tokenizer import RESERVED_TOKENS
from keras_tfm.text.tokenizer import START_ID
from keras_tfm.text.tokenizer import Tokenizer
from keras_tfm.text.tokenizer import UNK_ID

_MODEL_TYPES = ("unigram", "bpe", "char", "word")


def train_sentencepiece_model(
    texts,
    vocab_size,
    model_type="unigram",
    character_coverage=1.0,
    normalization_rule_name="nmt_nfkc",
    **trainer_kwargs,
):
    """Trains a SentencePiece model with the `sentencepiece` package.

    The special pieces get the package-wide ids [PAD]=0, [START]=1, [END]=2,
    [UNK]=3. Training is single-threaded and deterministic for a given input.

    Args:
        texts: an iterable of `str` (or `bytes`), or a `tf.data.Dataset` of
            string scalars.
        vocab_size: the vocabulary size (a soft limit: a tiny corpus may give
            fewer pieces).
        model_type: "unigram", "bpe", "char" or "word".
        character_coverage: share of characters covered; 1.0 keeps them all.
        normalization_rule_name: SentencePiece's normaliser, "nmt_nfkc" by
            default ("identity" keeps the text as is).
        **trainer_kwargs: more `sentencepiece.SentencePieceTrainer` options.

    Returns:
        The serialized model proto, `bytes`.
    """
    import sentencepiece as spm  # Only training needs the package.

    if model_type not in _MODEL_TYPES:
        raise ValueError(
            f"`model_type` must be one of {list(_MODEL_TYPES)}. "
            f"Received: model_type={model_type!r}"
        )
    if not isinstance(vocab_size, int) or vocab_size <= len(RESERVED_TOKENS):
        raise ValueError(
            "`vocab_size` must be an integer larger than the number of "
            f"reserved tokens ({len(RESERVED_TOKENS)}). "
            f"Received: vocab_size={vocab_size!r}"
        )
    if isinstance(texts, tf.data.Dataset):
        texts = texts.as_numpy_iterator()

    def sentences():
        for text in texts:
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
            text = text.strip()
            if text:
                yield text

    model = io.BytesIO()
    options = dict(
        model_type=model_type,
        vocab_size=vocab_size,
        character_coverage=character_coverage,
        normalization_rule_name=normalization_rule_name,
        pad_id=PAD_ID,
        bos_id=START_ID,
        eos_id=END_ID,
        unk_id=UNK_ID,
        pad_piece=RESERVED_TOKENS[PAD_ID],
        bos_piece=RESERVED_TOKENS[START_ID],
        eos_piece=RESERVED_TOKENS[END_ID],
        unk_piece=RESERVED_TOKENS[UNK_ID],
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    options.update(trainer_kwargs)
    spm.SentencePieceTrainer.train(
        sentence_iterator=sentences(), model_writer=model, **options
    )
    return model.getvalue()


class SentencepieceTokenizer(Tokenizer):
    """SentencePiece on `tf_text.FastSentencepieceTokenizer`.

    See the module docstring for normalisation, unknown input and TFLite, and
    `keras_tfm.text.tokenizer` for the method table.

    Args:
        model: the serialized model (`bytes`, from
            `train_sentencepiece_model`) or the path of a `.model` file. Its
            special pieces must have ids [PAD]=0, [START]=1, [END]=2, [UNK]=3.
        name: the `tf.Module` name.
    """

    def __init__(self, model, name=None):
        super().__init__(name=name)
        if isinstance(model, str):
            with tf.io.gfile.GFile(model, "rb") as f:
                model = f.read()
        if not isinstance(model, bytes) or not model:
            raise ValueError(
                "`model` must be a serialized SentencePiece model (bytes) or "
                f"the path of one. Received: model={type(model).__name__}"
            )
        self._model = model
        self._pieces = self._read_pieces(model)
        if tuple(self._pieces[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
            raise ValueError(
                f"`model` must have the pieces {list(RESERVED_TOKENS)} at ids "
                "0-3 (train it with `train_sentencepiece_model`). "
                f"Received: pieces[:4]={self._pieces[:4]}"
            )
        self._sentencepiece = tf_text.FastSentencepieceTokenizer(model)

    @staticmethod
    def _read_pieces(model):
        import sentencepiece as spm

        try:
            processor = spm.SentencePieceProcessor(model_proto=model)
        except RuntimeError as e:
            raise ValueError(
                f"`model` is not a SentencePiece model proto: {e}"
            ) from e
        return tuple(
            processor.id_to_piece(i) for i in range(processor.get_piece_size())
        )

    @property
    def vocabulary(self):
        """The pieces, a list indexed by id."""
        return list(self._pieces)

    @property
    def vocab_size(self):
        return len(self._pieces)

    def id_to_token(self, token_id):
        return self._pieces[token_id]

    def token_to_id(self, token):
        return self._pieces.index(token)

    def _tokenize_plain(self, texts):
        return self._sentencepiece.tokenize(texts)  # (B, T)

    def _detokenize_plain(self, ids):
        # The TFLite kernel reads the row splits as int32.
        ids = ids.with_row_splits_dtype(tf.int32)
        return self._sentencepiece.detokenize(ids)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def normalize(self, texts):
        """NFKC, control characters as spaces, whitespace collapsed and
        stripped (see the module docstring)."""
        texts = tf.strings.unicode_transcode(
            texts, "UTF-8", "UTF-8", errors="replace"
        )
        texts = tf_text.normalize_utf8(texts, "NFKC")
        texts = tf.strings.regex_replace(texts, r"\p{Cc}", " ")
        words = tf.strings.split(texts)  # (B, None)
        return tf.strings.reduce_join(words, axis=-1, separator=" ")

    def _save_files(self, directory, prefix):
        path = tf.io.gfile.join(directory, prefix + "sentencepiece.model")
        with tf.io.gfile.GFile(path, "wb") as f:
            f.write(self._model)
        return path

    @classmethod
    def _from_files(cls, vocab_path, config):
        return cls(vocab_path, **config)
