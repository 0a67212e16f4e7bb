"""Tests for the translation input pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from keras_tfm.data import coref
from keras_tfm.data.text_pipeline import default_bucket_boundaries
from keras_tfm.data.text_pipeline import make_translation_dataset
from keras_tfm.text import END_ID
from keras_tfm.text import START_ID
from keras_tfm.text import WordpieceTokenizer
from keras_tfm.text import learn_wordpiece_vocabulary


@pytest.fixture(scope="module")
def corpus():
    examples = coref.generate_coref_pairs(
        seed=0, sizes={"train": 40, "validation": 0, "test": 0,
                       "test_heldout": 0}
    )["train"]
    return [(ex.en, ex.fr) for ex in examples]


@pytest.fixture(scope="module")
def tokenizer(corpus):
    texts = [s for pair in corpus for s in pair]
    return WordpieceTokenizer(learn_wordpiece_vocabulary(texts, 400))


def _lengths(tokenizer, corpus):
    """Token counts, [START] and [END] included, per side."""
    ids_en = tokenizer.tokenize(tf.constant([en for en, _ in corpus]))
    ids_fr = tokenizer.tokenize(tf.constant([fr for _, fr in corpus]))
    return ids_en.row_lengths().numpy(), ids_fr.row_lengths().numpy()


def test_pad_gives_static_shapes_and_counts_drops(corpus, tokenizer):
    en_len, fr_len = _lengths(tokenizer, corpus)
    S, T = int(np.median(en_len)), int(np.median(fr_len)) - 1
    expected_drops = int(np.sum((en_len > S) | (fr_len - 1 > T)))
    assert 0 < expected_drops < len(corpus)
    ds, stats = make_translation_dataset(
        corpus, tokenizer, batch_size=4, max_source_length=S,
        max_target_length=T, overlong="drop", batching="pad",
    )
    assert stats.examples == len(corpus)
    assert stats.dropped == expected_drops and stats.trimmed == 0
    (source_spec, target_in_spec), target_out_spec = ds.element_spec
    assert source_spec.shape == (4, S)
    assert target_in_spec.shape == target_out_spec.shape == (4, T)
    assert source_spec.dtype == tf.int32
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == (len(corpus) - expected_drops) // 4
    (source, target_in), target_out = batches[0]
    assert (source[:, 0] == START_ID).all()
    assert (target_in[:, 0] == START_ID).all()
    # Teacher forcing: the output is the input shifted by one, then [END].
    shifted = np.where(target_out == END_ID, 0, target_out)[:, :-1]
    np.testing.assert_array_equal(target_in[:, 1:], shifted)
    assert ((target_out == END_ID).sum(axis=1) == 1).all()


def test_trim_keeps_every_pair_and_ends_with_end(corpus, tokenizer):
    S, T = 6, 5
    ds, stats = make_translation_dataset(
        corpus, tokenizer, batch_size=8, max_source_length=S,
        max_target_length=T, overlong="trim", drop_remainder=False,
    )
    assert stats.dropped == 0 and stats.trimmed == len(corpus)
    rows = 0
    for (source, _), target_out in ds.as_numpy_iterator():
        rows += len(source)
        assert source.shape[1] == S and target_out.shape[1] == T
        assert (source[:, -1] == END_ID).all()
        assert (target_out[:, -1] == END_ID).all()
    assert rows == len(corpus)


def test_bucketing_groups_by_length(corpus, tokenizer):
    ds, _ = make_translation_dataset(
        corpus, tokenizer, batch_size=4, max_source_length=40,
        max_target_length=40, batching="bucket", bucket_boundaries=[14, 18],
        count=False,
    )
    (source_spec, _), _ = ds.element_spec
    assert source_spec.shape.as_list() == [None, None]
    total = 0
    for (source, target_in), target_out in ds.as_numpy_iterator():
        total += len(source)
        assert target_in.shape == target_out.shape
    assert total == len(corpus)
    assert default_bucket_boundaries(64) == [8, 16, 32, 64]


def test_seeded_shuffle_is_repeatable(corpus, tokenizer):
    def first_sources(seed):
        ds, _ = make_translation_dataset(
            corpus, tokenizer, batch_size=40, max_source_length=40,
            max_target_length=40, shuffle_buffer=100, seed=seed, count=False,
        )
        (source, _), _ = next(ds.as_numpy_iterator())
        return source

    np.testing.assert_array_equal(first_sources(1), first_sources(1))
    assert not np.array_equal(first_sources(1), first_sources(2))


def test_dict_examples_from_tfds(corpus, tokenizer):
    dicts = tf.data.Dataset.from_tensor_slices(
        {"en": [en for en, _ in corpus], "fr": [fr for _, fr in corpus]}
    )
    ds, stats = make_translation_dataset(
        dicts, tokenizer, batch_size=5, max_source_length=40,
        max_target_length=40, cache=True,
    )
    assert stats.examples == len(corpus) and stats.dropped == 0
    assert len(list(ds)) == len(corpus) // 5


def test_bad_arguments_raise(corpus, tokenizer):
    def build(**kwargs):
        make_translation_dataset(corpus, tokenizer, **kwargs)

    with pytest.raises(ValueError, match="`overlong` must be one of"):
        build(overlong="cut")
    with pytest.raises(ValueError, match="`batching` must be one of"):
        build(batching="sort")
    with pytest.raises(ValueError, match="Received: max_source_length=1"):
        build(max_source_length=1)
    with pytest.raises(ValueError, match="Received: batch_size=0"):
        build(batch_size=0)
    with pytest.raises(ValueError, match="`examples` must not be empty"):
        make_translation_dataset([], tokenizer)
