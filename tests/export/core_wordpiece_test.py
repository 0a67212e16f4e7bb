"""The core-TF WordPiece gives the ids and texts of tensorflow-text's."""

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("export needs the TensorFlow backend", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from export.core_wordpiece import CoreWordpieceTokenizer  # noqa: E402
from keras_tfm.data import coref  # noqa: E402
from keras_tfm.text import SentencepieceTokenizer, WordpieceTokenizer  # noqa: E402
from keras_tfm.text import learn_wordpiece_vocabulary  # noqa: E402

HARD = [
    "", "   ", "a\tb\nc\rd", "Le chien 🐕 était trop fatigué", "x" * 150, "the\x00dog",
    "zzqq animal's", "dog\u200bcat", "##a b##", "[UNK] [START]", "L'âne n'a pas pu",
]


@pytest.fixture(scope="module")
def tokenizers():
    examples = coref.generate_coref_pairs(seed=0, sizes={"train": 60, "validation": 0, "test": 20, "test_heldout": 0})
    texts = [s for e in examples["train"] for s in (e.en, e.fr)]
    tokenizer = WordpieceTokenizer(learn_wordpiece_vocabulary(texts, 200))
    held_out = [s for e in examples["test"] for s in (e.en, e.fr)]
    return tokenizer, CoreWordpieceTokenizer.from_tokenizer(tokenizer), held_out


def test_same_ids_as_tensorflow_text(tokenizers):
    tokenizer, core, held_out = tokenizers
    texts = tf.constant(held_out + HARD)
    np.testing.assert_array_equal(core.tokenize_to_tensor(texts).numpy(), tokenizer.tokenize_to_tensor(texts).numpy())


def test_same_text_as_tensorflow_text_for_any_ids(tokenizers):
    tokenizer, core, _ = tokenizers
    ids = np.random.default_rng(0).integers(0, tokenizer.vocab_size, (200, 12)).astype(np.int32)
    assert core.detokenize(ids).numpy().tolist() == tokenizer.detokenize(ids).numpy().tolist()


def test_only_default_wordpiece_has_a_core_twin(tokenizers):
    tokenizer, _, _ = tokenizers
    assert CoreWordpieceTokenizer.from_tokenizer(WordpieceTokenizer(tokenizer.vocabulary, lower_case=True)) is None
    assert CoreWordpieceTokenizer.from_tokenizer(object.__new__(SentencepieceTokenizer)) is None
