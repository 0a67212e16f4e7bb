"""Tests for the image input pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from keras_tfm.data.image_pipeline import make_image_dataset


@pytest.fixture(scope="module")
def grey_images():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, (10,)).astype(np.int64)
    return images, labels


def test_training_with_augmentation_has_static_shapes(grey_images):
    ds = make_image_dataset(
        grey_images, batch_size=4, image_size=32, channels=3, num_classes=10,
        training=True, augment=("randaugment", "mixup", "cutmix"), seed=0,
    )
    images_spec, labels_spec = ds.element_spec
    assert images_spec.shape == (4, 32, 32, 3)
    assert labels_spec.shape == (4, 10)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 2  # 10 images, the partial batch dropped.
    images, labels = batches[0]
    assert images.dtype == np.float32 and np.isfinite(images).all()
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)


def test_evaluation_keeps_order_and_integer_labels(grey_images):
    images, labels = grey_images
    ds = make_image_dataset(
        grey_images, batch_size=4, mean=0.5, std=0.25,
    )
    got = list(ds.as_numpy_iterator())
    assert [len(x) for x, _ in got] == [4, 4, 2]
    x, y = got[0]
    assert x.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(y, labels[:4])
    np.testing.assert_allclose(
        x[..., 0], (images[:4] / 255.0 - 0.5) / 0.25, rtol=1e-5, atol=1e-5
    )


def test_tfds_style_dicts_and_rgb_to_grey():
    images = np.full((3, 8, 8, 3), 255, np.uint8)
    source = tf.data.Dataset.from_tensor_slices(
        {"image": images, "label": np.arange(3)}
    )
    ds = make_image_dataset(
        source, batch_size=3, channels=1, num_classes=3, one_hot=True
    )
    x, y = next(ds.as_numpy_iterator())
    assert x.shape == (3, 8, 8, 1)
    np.testing.assert_allclose(x, 1.0, atol=1e-3)
    np.testing.assert_array_equal(y, np.eye(3, dtype=np.float32))


def test_bad_arguments_raise(grey_images):
    with pytest.raises(ValueError, match="`augment` must only hold names"):
        make_image_dataset(grey_images, 2, augment=("rotate",))
    with pytest.raises(ValueError, match="Received: num_classes=None"):
        make_image_dataset(grey_images, 2, augment=("mixup",))
    with pytest.raises(ValueError, match="Received: image_size=0"):
        make_image_dataset(grey_images, 2, image_size=0)
    with pytest.raises(ValueError, match="Received: channels=2"):
        make_image_dataset(grey_images, 2, channels=2)
    with pytest.raises(ValueError, match="same length"):
        make_image_dataset((grey_images[0], grey_images[1][:3]), 2)
