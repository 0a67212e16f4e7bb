"""Both tokenizers converted to TFLite and run with tensorflow-text's ops."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from keras_tfm.data import coref
from keras_tfm.text import SentencepieceTokenizer
from keras_tfm.text import WordpieceTokenizer
from keras_tfm.text import learn_wordpiece_vocabulary
from keras_tfm.text import train_sentencepiece_model

from ai_edge_litert import interpreter  # noqa: E402

TEXTS = [
    "The animal didn't cross the street because it was too wide",
    "",
    "Le chien 🐕 était trop fatigué",
]


@pytest.fixture(scope="module")
def corpus():
    examples = coref.generate_coref_pairs(
        seed=0, sizes={"train": 40, "validation": 0, "test": 0,
                       "test_heldout": 0}
    )["train"]
    return [s for ex in examples for s in (ex.en, ex.fr)]


def _convert(module, function):
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()], module
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.allow_custom_ops = True  # tensorflow-text's ops.
    flatbuffer = converter.convert()
    runner = interpreter.InterpreterWithCustomOps(
        custom_op_registerers=tf_text.tflite_registrar.SELECT_TFTEXT_OPS,
        model_content=flatbuffer,
    ).get_signature_runner()
    return lambda value: next(iter(runner(**{
        next(iter(runner.get_input_details())): value
    }).values()))


def _check(tokenizer, batch_size):
    tokenize = _convert(tokenizer, tokenizer.tokenize_to_tensor)
    detokenize = _convert(tokenizer, tokenizer.detokenize_function(batch_size))
    for batch in (TEXTS[:1], TEXTS):
        expected = tokenizer.tokenize_to_tensor(tf.constant(batch)).numpy()
        ids = tokenize(np.array(batch, dtype=object))
        np.testing.assert_array_equal(ids, expected)
    expected_texts = tokenizer.detokenize(expected).numpy()
    batch_size = batch_size or len(TEXTS)
    texts = detokenize(expected[:batch_size])
    assert list(texts) == list(expected_texts[:batch_size])
    return [t.decode() for t in texts]


def test_wordpiece_tokenize_and_detokenize_in_tflite(corpus):
    tokenizer = WordpieceTokenizer(learn_wordpiece_vocabulary(corpus, 300))
    texts = _check(tokenizer, batch_size=None)
    assert texts == [TEXTS[0], "", "Le chien [UNK] était trop fatigué"]


def test_sentencepiece_tokenize_and_detokenize_in_tflite(corpus):
    tokenizer = SentencepieceTokenizer(train_sentencepiece_model(corpus, 150))
    # tensorflow-text's TFLite SentencePiece detokenizer needs a static batch.
    texts = _check(tokenizer, batch_size=3)
    assert texts[:2] == TEXTS[:2]
