"""Tests for loading tfds datasets by name (mock data, never a download)."""

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_tfm.data import catalog

tfds.disable_progress_bar()


def test_unknown_translation_name_lists_the_available_ones():
    with pytest.raises(ValueError) as error:
        catalog.load_translation_dataset("wmt99_translate/xx-yy", "train")
    message = str(error.value)
    assert "Received: name='wmt99_translate/xx-yy'" in message
    for name in ("coref_translation", "bible_en_fr",
                 "ted_hrlr_translate/pt_to_en", "wmt14_translate/de-en"):
        assert name in message


def test_unknown_image_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="cifar10, cifar100, fashion_mnist"):
        catalog.load_image_dataset("cifar11", "train")
    with pytest.raises(ValueError, match="`kind` must be"):
        catalog.available_datasets(kind="audio")
    assert "imagenet2012" in catalog.available_datasets("image")
    assert "coref_translation" in catalog.available_datasets()


def test_translation_dataset_from_mock_data():
    with tfds.testing.mock_data(num_examples=4):
        ds = catalog.load_translation_dataset(
            "ted_hrlr_translate/pt_to_en", "train"
        )
        pairs = list(ds.as_numpy_iterator())
        reverse = catalog.load_translation_dataset(
            "ted_hrlr_translate/pt_to_en", "train", reverse=True
        )
        reversed_pairs = list(reverse.as_numpy_iterator())
    assert len(pairs) == 4
    assert all(isinstance(s, bytes) and isinstance(t, bytes) for s, t in pairs)
    assert reversed_pairs == [(t, s) for s, t in pairs]


def test_image_dataset_from_mock_data():
    with tfds.testing.mock_data(num_examples=3):
        ds = catalog.load_image_dataset("cifar10", "test")
        examples = list(ds)
    assert len(examples) == 3
    image, label = examples[0]
    assert image.shape == (32, 32, 3) and image.dtype == tf.uint8
    assert label.dtype == tf.int64


def test_offline_builder_by_name(tmp_path):
    ds = catalog.load_translation_dataset(
        "coref_translation/tiny", "test_heldout", data_dir=str(tmp_path)
    )
    pairs = list(ds.as_numpy_iterator())
    assert len(pairs) == 20
    assert all(en.startswith(b"The ") for en, _ in pairs)
