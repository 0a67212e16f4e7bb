"""Source and target tokenizers for a translation corpus, shared or separate."""

import tensorflow as tf

from keras_tfm.text.sentencepiece_tokenizer import SentencepieceTokenizer
from keras_tfm.text.sentencepiece_tokenizer import train_sentencepiece_model
from keras_tfm.text.wordpiece_tokenizer import WordpieceTokenizer
from keras_tfm.text.wordpiece_tokenizer import learn_wordpiece_vocabulary

_KINDS = ("wordpiece", "sentencepiece")


def _split_pairs(pairs, source_key, target_key):
    """Returns two lists of strings from (source, target) pairs."""
    if isinstance(pairs, tf.data.Dataset):
        pairs = pairs.as_numpy_iterator()
    sources, targets = [], []
    for pair in pairs:
        if isinstance(pair, dict):
            source, target = pair[source_key], pair[target_key]
        else:
            source, target = pair
        sources.append(source)
        targets.append(target)
    return sources, targets


def learn_translation_tokenizers(
    pairs,
    vocab_size,
    kind="wordpiece",
    shared=False,
    source_key="en",
    target_key="fr",
    **kwargs,
):
    """Learns tokenizers for a translation corpus.

    Args:
        pairs: an iterable or `tf.data.Dataset` of `(source, target)` tuples
            or of dicts holding `source_key` and `target_key` (as the tfds
            builders of `keras_tfm.data` yield them).
        vocab_size: the size of each vocabulary (of the one vocabulary when
            `shared`).
        kind: "wordpiece" (`WordpieceTokenizer`) or "sentencepiece"
            (`SentencepieceTokenizer`).
        shared: learn one vocabulary from both sides and return it twice.
        source_key, target_key: the dict keys, for dict elements.
        **kwargs: passed to `learn_wordpiece_vocabulary` and
            `WordpieceTokenizer` (`lower_case`, `normalization_form`) or to
            `train_sentencepiece_model`.

    Returns:
        `(source_tokenizer, target_tokenizer)`; the same object twice when
        `shared`.

    Example:
    >>> pairs = [("the dog was tired", "le chien était fatigué")]
    >>> source, target = learn_translation_tokenizers(pairs, 64)
    """
    if kind not in _KINDS:
        raise ValueError(
            f"`kind` must be one of {list(_KINDS)}. Received: kind={kind!r}"
        )
    sources, targets = _split_pairs(pairs, source_key, target_key)
    if not sources:
        raise ValueError("`pairs` must hold at least one pair. Received none.")

    def make(texts):
        if kind == "wordpiece":
            vocabulary = learn_wordpiece_vocabulary(texts, vocab_size, **kwargs)
            tokenizer_kwargs = {
                key: kwargs[key]
                for key in ("lower_case", "normalization_form")
                if key in kwargs
            }
            return WordpieceTokenizer(vocabulary, **tokenizer_kwargs)
        return SentencepieceTokenizer(
            train_sentencepiece_model(texts, vocab_size, **kwargs)
        )

    if shared:
        tokenizer = make(sources + targets)
        return tokenizer, tokenizer
    return make(sources), make(targets)
