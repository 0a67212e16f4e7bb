"""WordPiece: vocabulary learning and an in-graph, TFLite-ready tokenizer.

Shape legend: B batch, W words, T tokens.

How text is split. Text is normalised (`WordpieceTokenizer.normalize`), split
on whitespace only, and each whitespace word is cut into WordPiece pieces,
continuation pieces carrying the "##" prefix. Punctuation is *not* split off
as BERT's basic tokenizer does: "qu'il" is one word whose pieces may be
`qu'il` or `qu ##' ##il`, and "tired." becomes `tired ##.`. This makes
detokenization exact with no clean-up rules: `detokenize` glues "##" pieces
to the piece before and puts one space between words, so
`detokenize(tokenize(s)) == normalize(s)` for every `s` whose characters are
in the vocabulary, in TensorFlow and in TFLite alike. The vocabulary learner
below splits words the same way.

Normalisation (`normalize`), in order:
1. control characters become spaces (tensorflow-text `FastBertNormalizer`
   without lower-casing, so accents stay: "fatigué" is not "fatigue");
2. `lower_case=True`: Unicode case folding (`tf_text.case_fold_utf8`);
3. `normalization_form="NFC"` (or NFKC, NFD, NFKD): Unicode normalisation;
4. runs of whitespace (any Unicode space) become one space; ends are stripped.

Steps 2 and 3 use ops that TFLite's tensorflow-text registrar lacks; with the
defaults (`lower_case=False`, `normalization_form=None`) tokenize and
detokenize convert to TFLite.

Unknown input: a word with a character outside the vocabulary, bytes that are
not UTF-8, or a word longer than 100 bytes becomes one [UNK] token, which
detokenizes to the text "[UNK]". An empty string tokenizes to
`[START] [END]` and detokenizes to "".
"""

import collections

import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.tools.wordpiece_vocab import (
    wordpiece_tokenizer_learner_lib as learner,
)

from keras_tfm.text.tokenizer import RESERVED_TOKENS
from keras_tfm.text.tokenizer import Tokenizer

_NORMALIZATION_FORMS = ("NFC", "NFKC", "NFD", "NFKD")
JOINER = "##"


def _check_normalization(lower_case, normalization_form):
    if not isinstance(lower_case, bool):
        raise ValueError(
            f"`lower_case` must be a bool. Received: lower_case={lower_case!r}"
        )
    if normalization_form is not None and (
        normalization_form not in _NORMALIZATION_FORMS
    ):
        raise ValueError(
            f"`normalization_form` must be None or one of "
            f"{list(_NORMALIZATION_FORMS)}. "
            f"Received: normalization_form={normalization_form!r}"
        )


class _Normalizer(tf.Module):
    """Steps 1-3 of the module docstring's normalisation (no splitting)."""

    def __init__(self, lower_case=False, normalization_form=None):
        super().__init__()
        _check_normalization(lower_case, normalization_form)
        self.lower_case = lower_case
        self.normalization_form = normalization_form
        self._bert_normalizer = tf_text.FastBertNormalizer(
            lower_case_nfd_strip_accents=False
        )

    def __call__(self, texts):
        texts = self._bert_normalizer.normalize(texts)
        if self.lower_case or self.normalization_form:
            # The Unicode ops below reject invalid UTF-8; make it U+FFFD,
            # which no vocabulary learned here holds, so it becomes [UNK].
            texts = tf.strings.unicode_transcode(
                texts, "UTF-8", "UTF-8", errors="replace"
            )
        if self.lower_case:
            texts = tf_text.case_fold_utf8(texts)
        if self.normalization_form:
            texts = tf_text.normalize_utf8(texts, self.normalization_form)
        return texts


def _as_text_batches(texts, batch_size=1024):
    """Yields lists of strings from a list or a `tf.data.Dataset`."""
    if isinstance(texts, tf.data.Dataset):
        if texts.element_spec.shape.rank == 0:
            texts = texts.batch(batch_size)
        for batch in texts.as_numpy_iterator():
            yield list(batch)
        return
    if isinstance(texts, (str, bytes)):
        raise ValueError(
            "`texts` must be an iterable of strings or a tf.data.Dataset of "
            f"strings, not one string. Received: texts={texts[:40]!r}"
        )
    batch = []
    for text in texts:
        batch.append(text)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def learn_wordpiece_vocabulary(
    texts,
    vocab_size,
    reserved_tokens=RESERVED_TOKENS,
    lower_case=False,
    normalization_form=None,
    **learn_params,
):
    """Learns a WordPiece vocabulary with tensorflow-text's BERT learner.

    The texts are normalised and split on whitespace exactly as
    `WordpieceTokenizer` does, then passed to tensorflow-text's
    `wordpiece_tokenizer_learner_lib.learn`, the algorithm behind
    `bert_vocab_from_dataset` (which would split punctuation BERT's way).
    Every character of the corpus (up to `max_unique_chars`, 1000) gets a
    piece, so only unseen characters become [UNK].

    Args:
        texts: an iterable of `str`/`bytes`, or a `tf.data.Dataset` of string
            scalars or string batches.
        vocab_size: the largest vocabulary size; the learner aims within 5%
            below it.
        reserved_tokens: tokens placed first, in this order. The default gives
            [PAD]=0, [START]=1, [END]=2, [UNK]=3.
        lower_case, normalization_form: as for `WordpieceTokenizer`; use the
            same values there.
        **learn_params: passed to the learner (`lower_thresh`,
            `upper_thresh`, `num_iterations`, `max_token_length`,
            `max_unique_chars`, `slack_ratio`).

    Returns:
        The vocabulary, a list of strings.

    Example:
    >>> vocab = learn_wordpiece_vocabulary(["le chien", "la vache"], 64)
    >>> vocab[:4]
    ['[PAD]', '[START]', '[END]', '[UNK]']
    """
    if not isinstance(vocab_size, int) or vocab_size <= len(reserved_tokens):
        raise ValueError(
            "`vocab_size` must be an integer larger than the number of "
            f"reserved tokens ({len(reserved_tokens)}). "
            f"Received: vocab_size={vocab_size!r}"
        )
    normalizer = _Normalizer(lower_case, normalization_form)
    splitter = tf_text.WhitespaceTokenizer()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def split(batch):
        return splitter.tokenize(normalizer(batch)).flat_values

    counts = collections.Counter()
    for batch in _as_text_batches(texts):
        words = split(tf.constant(batch, tf.string)).numpy()
        counts.update(w.decode("utf-8", errors="replace") for w in words)
    if not counts:
        raise ValueError("`texts` must hold at least one word. Received none.")
    lower_thresh = learn_params.pop("lower_thresh", 1)
    # The learner's threshold search can end on a vocabulary a little over
    # `vocab_size` (when the lowest threshold overshoots): raise the lowest
    # threshold until it fits.
    for _ in range(16):
        vocabulary = learner.learn(
            counts.items(),
            vocab_size,
            list(reserved_tokens),
            lower_thresh=lower_thresh,
            include_joiner_token=True,
            joiner=JOINER,
            **learn_params,
        )
        if len(vocabulary) <= vocab_size:
            return vocabulary
        lower_thresh += 1
    raise ValueError(
        "`vocab_size` must leave room for the corpus's characters: the "
        f"smallest vocabulary found has {len(vocabulary)} tokens. "
        f"Received: vocab_size={vocab_size}"
    )


class WordpieceTokenizer(Tokenizer):
    """Whitespace-split WordPiece on `tf_text.FastWordpieceTokenizer`.

    See the module docstring for splitting, normalisation and unknown input,
    and `keras_tfm.text.tokenizer` for the method table.

    Args:
        vocabulary: list of tokens (continuation pieces start with "##"), or
            the path of a file with one token per line. Must start with
            [PAD], [START], [END], [UNK].
        lower_case: case-fold the input (not TFLite-convertible).
        normalization_form: None, "NFC", "NFKC", "NFD" or "NFKD" Unicode
            normalisation of the input (not TFLite-convertible).
        name: the `tf.Module` name.

    Example:
    >>> vocab = learn_wordpiece_vocabulary(["L'animal était fatigué"], 64)
    >>> tokenizer = WordpieceTokenizer(vocab)
    >>> ids = tokenizer.tokenize(tf.constant(["L'animal était fatigué"]))
    >>> tokenizer.detokenize(ids.to_tensor()).numpy()[0].decode()
    "L'animal était fatigué"
    """

    def __init__(
        self,
        vocabulary,
        lower_case=False,
        normalization_form=None,
        name=None,
    ):
        super().__init__(name=name)
        if isinstance(vocabulary, (str, bytes)):
            with tf.io.gfile.GFile(vocabulary, "r") as f:
                vocabulary = [line.rstrip("\n") for line in f]
        vocabulary = [str(token) for token in vocabulary]
        if tuple(vocabulary[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
            raise ValueError(
                f"`vocabulary` must start with {list(RESERVED_TOKENS)}. "
                f"Received: vocabulary[:4]={vocabulary[:4]}"
            )
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError(
                "`vocabulary` must not repeat a token. Received "
                f"{len(vocabulary) - len(set(vocabulary))} repeated tokens."
            )
        self.lower_case = lower_case
        self.normalization_form = normalization_form
        self._vocabulary = tuple(vocabulary)
        self._normalizer = _Normalizer(lower_case, normalization_form)
        self._splitter = tf_text.WhitespaceTokenizer()
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=vocabulary,
            suffix_indicator=JOINER,
            max_bytes_per_word=100,
            token_out_type=tf.int32,
            unknown_token="[UNK]",
            no_pretokenization=True,
            support_detokenization=True,
        )

    @property
    def vocabulary(self):
        """The tokens, a list indexed by id."""
        return list(self._vocabulary)

    @property
    def vocab_size(self):
        return len(self._vocabulary)

    def id_to_token(self, token_id):
        return self._vocabulary[token_id]

    def token_to_id(self, token):
        return self._vocabulary.index(token)

    def _tokenize_plain(self, texts):
        words = self._splitter.tokenize(self._normalizer(texts))  # (B, W)
        pieces = self._wordpiece.tokenize(words)  # (B, W, None)
        return pieces.merge_dims(1, 2)  # (B, T)

    def _detokenize_plain(self, ids):
        return self._wordpiece.detokenize(ids)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def normalize(self, texts):
        """The text `detokenize(tokenize(texts))` gives back when every
        character is in the vocabulary (see the module docstring)."""
        words = self._splitter.tokenize(self._normalizer(texts))
        return tf.strings.reduce_join(words, axis=-1, separator=" ")

    def get_config(self):
        return {
            "lower_case": self.lower_case,
            "normalization_form": self.normalization_form,
        }

    def _save_files(self, directory, prefix):
        path = tf.io.gfile.join(directory, prefix + "vocab.txt")
        with tf.io.gfile.GFile(path, "w") as f:
            f.write("".join(token + "\n" for token in self._vocabulary))
        return path

    @classmethod
    def _from_files(cls, vocab_path, config):
        return cls(vocab_path, **config)
