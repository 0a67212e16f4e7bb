"""Tests for WordPiece vocabulary learning and `WordpieceTokenizer`."""

import os
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from keras_tfm.data import coref
from keras_tfm.text import END_ID
from keras_tfm.text import RESERVED_TOKENS
from keras_tfm.text import START_ID
from keras_tfm.text import UNK_ID
from keras_tfm.text import WordpieceTokenizer
from keras_tfm.text import fit_to_length
from keras_tfm.text import learn_translation_tokenizers
from keras_tfm.text import learn_wordpiece_vocabulary
from keras_tfm.text import load_tokenizer

HAND_WRITTEN = [
    "Hello, world! Don't stop: go on.",
    "Où est-il ? « Je ne sais pas », dit-elle.",
    "L'Éternel dit: Que la lumière soit! Et la lumière fut.",
    "Jean 3:16 (LSG) -- 42 chèvres, 7 ânes; voilà.",
]


@pytest.fixture(scope="module")
def corpus():
    examples = coref.generate_coref_pairs(
        seed=0, sizes={"train": 60, "validation": 0, "test": 0,
                       "test_heldout": 0}
    )["train"]
    return [s for ex in examples for s in (ex.en, ex.fr)] + HAND_WRITTEN


@pytest.fixture(scope="module")
def tokenizer(corpus):
    return WordpieceTokenizer(learn_wordpiece_vocabulary(corpus, 300))


def _texts(strings):
    return [s.decode("utf-8", errors="replace") for s in strings.numpy()]


def test_vocabulary_starts_with_reserved_tokens(tokenizer):
    assert tuple(tokenizer.vocabulary[:4]) == RESERVED_TOKENS
    assert 50 < tokenizer.vocab_size <= 300
    assert tokenizer.token_to_id("[UNK]") == UNK_ID
    assert tokenizer.id_to_token(START_ID) == "[START]"


def test_detokenize_inverts_tokenize_over_the_corpus(corpus, tokenizer):
    ids = tokenizer.tokenize(tf.constant(corpus))
    assert all(row[0] == START_ID and row[-1] == END_ID
               for row in ids.numpy())
    assert UNK_ID not in ids.flat_values.numpy()
    round_trip = _texts(tokenizer.detokenize(ids.to_tensor()))
    assert round_trip == _texts(tokenizer.normalize(tf.constant(corpus)))
    # The corpus is already in normal form: it comes back unchanged.
    assert round_trip == corpus
    assert "parce qu'il était trop fatigué" in " ".join(round_trip)


def test_normalisation_collapses_whitespace_and_control_chars(tokenizer):
    messy = tf.constant(["  Le \t chien\x00était\n trop   fatigué  "])
    expected = ["Le chien était trop fatigué"]
    assert _texts(tokenizer.normalize(messy)) == expected
    ids = tokenizer.tokenize_to_tensor(messy)
    assert _texts(tokenizer.detokenize(ids)) == expected


def test_unseen_characters_become_unk(tokenizer):
    ids = tokenizer.tokenize(tf.constant(["Le chien 🐕 était Ω"]))
    assert list(ids.flat_values.numpy()).count(UNK_ID) == 2
    text = _texts(tokenizer.detokenize(ids.to_tensor()))
    assert text == ["Le chien [UNK] était [UNK]"]


def test_empty_and_non_utf8_neither_crash_nor_vanish(tokenizer):
    texts = tf.constant([b"", b"Le chien", b"Le \xff\xfe chien", b"\x00"])
    ids = tokenizer.tokenize(texts)
    assert ids.nrows() == 4
    assert ids[0].numpy().tolist() == [START_ID, END_ID]
    assert UNK_ID in ids[2].numpy()
    assert ids[3].numpy().tolist() == [START_ID, END_ID]
    assert _texts(tokenizer.detokenize(ids.to_tensor())) == [
        "", "Le chien", "Le [UNK] chien", "",
    ]


def test_lower_case_and_unicode_normalisation(corpus):
    vocabulary = learn_wordpiece_vocabulary(
        corpus, 300, lower_case=True, normalization_form="NFC"
    )
    tokenizer = WordpieceTokenizer(
        vocabulary, lower_case=True, normalization_form="NFC"
    )
    decomposed = unicodedata.normalize("NFD", "LE CHIEN ÉTAIT FATIGUÉ")
    texts = tf.constant([decomposed, b"LE \xff CHIEN"])
    ids = tokenizer.tokenize_to_tensor(texts)
    assert _texts(tokenizer.detokenize(ids)) == [
        "le chien était fatigué", "le [UNK] chien",
    ]


def test_detokenize_stops_at_end_and_skips_padding(tokenizer):
    a = tokenizer.token_to_id("a")  # Every character is a token.
    ids = tf.constant([[START_ID, a, END_ID, a, 0],
                       [START_ID, a, a, 0, 0]], tf.int32)
    assert _texts(tokenizer.detokenize(ids)) == ["a", "a a"]


def test_fit_to_length_pads_and_trims_keeping_end():
    ids = tf.constant([[1, 5, 6, 7, 2], [1, 5, 2, 0, 0]], tf.int32)
    np.testing.assert_array_equal(
        fit_to_length(ids, 4), [[1, 5, 6, 2], [1, 5, 2, 0]]
    )
    np.testing.assert_array_equal(
        fit_to_length(ids, 6), [[1, 5, 6, 7, 2, 0], [1, 5, 2, 0, 0, 0]]
    )
    with pytest.raises(ValueError, match="Received: length=1"):
        fit_to_length(ids, 1)


def test_works_inside_tf_data(corpus, tokenizer):
    ds = tf.data.Dataset.from_tensor_slices(corpus).batch(8).map(
        tokenizer.tokenize_to_tensor
    )
    first = next(iter(ds))
    assert first.dtype == tf.int32 and first.shape[0] == 8


def test_save_load_and_saved_model_asset(tmp_path, corpus, tokenizer):
    path = tokenizer.save(str(tmp_path), prefix="target_")
    assert os.path.basename(path) == "target_vocab.txt"
    loaded = load_tokenizer(str(tmp_path), prefix="target_")
    assert isinstance(loaded, WordpieceTokenizer)
    assert loaded.vocabulary == tokenizer.vocabulary
    texts = tf.constant(corpus[:5])
    np.testing.assert_array_equal(
        loaded.tokenize_to_tensor(texts), tokenizer.tokenize_to_tensor(texts)
    )
    export = str(tmp_path / "saved_model")
    tf.saved_model.save(loaded, export)
    assert os.listdir(os.path.join(export, "assets")) == ["target_vocab.txt"]
    restored = tf.saved_model.load(export)
    ids = restored.tokenize_to_tensor(texts)
    assert _texts(restored.detokenize(ids)) == corpus[:5]
    assert restored.tokenize(texts).shape[0] == 5


def test_shared_and_separate_vocabularies(corpus):
    pairs = list(zip(corpus[0:120:2], corpus[1:120:2]))
    source, target = learn_translation_tokenizers(pairs, 200)
    assert source is not target
    assert "était" in target.vocabulary and "était" not in source.vocabulary
    assert "because" in source.vocabulary
    shared, same = learn_translation_tokenizers(
        [{"en": en, "fr": fr} for en, fr in pairs], 300, shared=True
    )
    assert shared is same
    assert {"était", "because"} <= set(shared.vocabulary)


def test_bad_arguments_raise(tmp_path, corpus):
    with pytest.raises(ValueError, match=r"must start with \['\[PAD\]'"):
        WordpieceTokenizer(["a", "b"])
    with pytest.raises(ValueError, match="must not repeat a token"):
        WordpieceTokenizer(list(RESERVED_TOKENS) + ["a", "a"])
    with pytest.raises(ValueError, match="Received: normalization_form='NFX'"):
        WordpieceTokenizer(list(RESERVED_TOKENS), normalization_form="NFX")
    with pytest.raises(ValueError, match="Received: lower_case='yes'"):
        WordpieceTokenizer(list(RESERVED_TOKENS), lower_case="yes")
    with pytest.raises(ValueError, match="Received: vocab_size=4"):
        learn_wordpiece_vocabulary(corpus, 4)
    with pytest.raises(ValueError, match="not one string"):
        learn_wordpiece_vocabulary("le chien", 100)
    with pytest.raises(ValueError, match="`kind` must be one of"):
        learn_translation_tokenizers([("a", "b")], 100, kind="bpe")
    with pytest.raises(ValueError, match="tokenizer.json does not exist"):
        load_tokenizer(str(tmp_path))
