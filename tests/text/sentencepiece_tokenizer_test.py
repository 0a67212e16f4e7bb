"""Tests for SentencePiece training and `SentencepieceTokenizer`."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_tfm.data import coref
from keras_tfm.text import END_ID
from keras_tfm.text import RESERVED_TOKENS
from keras_tfm.text import START_ID
from keras_tfm.text import UNK_ID
from keras_tfm.text import SentencepieceTokenizer
from keras_tfm.text import learn_translation_tokenizers
from keras_tfm.text import load_tokenizer
from keras_tfm.text import train_sentencepiece_model



@pytest.fixture(scope="module")
def corpus():
    examples = coref.generate_coref_pairs(
        seed=0, sizes={"train": 60, "validation": 0, "test": 0,
                       "test_heldout": 0}
    )["train"]
    return [s for ex in examples for s in (ex.en, ex.fr)] + [
        "Hello, world! Don't stop: go on.",
        "L'Éternel dit: Que la lumière soit! Et la lumière fut.",
    ]


@pytest.fixture(scope="module")
def model(corpus):
    return train_sentencepiece_model(corpus, 200)


@pytest.fixture(scope="module")
def tokenizer(model):
    return SentencepieceTokenizer(model)


def _texts(strings):
    return [s.decode("utf-8", errors="replace") for s in strings.numpy()]


def test_special_pieces_have_the_package_ids(tokenizer):
    assert tuple(tokenizer.vocabulary[:4]) == RESERVED_TOKENS
    assert tokenizer.token_to_id("[UNK]") == UNK_ID
    assert 50 < tokenizer.vocab_size <= 200


def test_training_is_deterministic(corpus, model):
    assert train_sentencepiece_model(corpus, 200) == model


def test_detokenize_inverts_tokenize_over_the_corpus(corpus, tokenizer):
    ids = tokenizer.tokenize(tf.constant(corpus))
    assert all(row[0] == START_ID and row[-1] == END_ID
               for row in ids.numpy())
    assert UNK_ID not in ids.flat_values.numpy()
    round_trip = _texts(tokenizer.detokenize(ids.to_tensor()))
    assert round_trip == _texts(tokenizer.normalize(tf.constant(corpus)))
    assert round_trip == corpus


def test_whitespace_is_normalised(tokenizer):
    messy = tf.constant(["  Le   chien\t était  "])
    ids = tokenizer.tokenize_to_tensor(messy)
    assert _texts(tokenizer.detokenize(ids)) == ["Le chien était"]
    assert _texts(tokenizer.normalize(messy)) == ["Le chien était"]


def test_unseen_empty_and_non_utf8(tokenizer):
    texts = tf.constant([b"", b"Le chien \xf0\x9f\x90\x95", b"Le \xff chien"])
    ids = tokenizer.tokenize(texts)
    assert ids.nrows() == 3
    assert ids[0].numpy().tolist() == [START_ID, END_ID]
    assert UNK_ID in ids[1].numpy() and UNK_ID in ids[2].numpy()
    texts = _texts(tokenizer.detokenize(ids.to_tensor()))
    assert texts[0] == ""
    # SentencePiece writes [UNK] as " ⁇ ": visible, never dropped.
    assert "⁇" in texts[1] and "⁇" in texts[2]


def test_save_load_and_saved_model(tmp_path, corpus, tokenizer):
    tokenizer.save(str(tmp_path), prefix="source_")
    loaded = load_tokenizer(str(tmp_path), prefix="source_")
    assert isinstance(loaded, SentencepieceTokenizer)
    texts = tf.constant(corpus[:4])
    np.testing.assert_array_equal(
        loaded.tokenize_to_tensor(texts), tokenizer.tokenize_to_tensor(texts)
    )
    export = str(tmp_path / "saved_model")
    tf.saved_model.save(loaded, export)
    assets = os.listdir(os.path.join(export, "assets"))
    assert assets == ["source_sentencepiece.model"]
    restored = tf.saved_model.load(export)
    assert _texts(restored.detokenize(restored.tokenize_to_tensor(texts))) == (
        corpus[:4]
    )


def test_translation_tokenizers_of_kind_sentencepiece(corpus):
    pairs = list(zip(corpus[0:120:2], corpus[1:120:2]))
    source, target = learn_translation_tokenizers(
        pairs, 100, kind="sentencepiece"
    )
    assert isinstance(source, SentencepieceTokenizer)
    assert source.vocabulary != target.vocabulary


def test_bad_arguments_raise(corpus):
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        SentencepieceTokenizer(b"not a model")
    with pytest.raises(ValueError, match="Received: model_type='wordpiece'"):
        train_sentencepiece_model(corpus, 100, model_type="wordpiece")
    with pytest.raises(ValueError, match="Received: vocab_size=3"):
        train_sentencepiece_model(corpus, 3)
    plain = train_sentencepiece_model(
        corpus, 100, pad_id=-1, bos_id=1, eos_id=2, unk_id=0,
        unk_piece="<unk>", bos_piece="<s>", eos_piece="</s>",
    )
    with pytest.raises(ValueError, match="must have the pieces"):
        SentencepieceTokenizer(plain)
