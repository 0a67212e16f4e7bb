import keras
import numpy as np
import pytest
from keras import ops

from keras_tfm.models import VisionTransformer, fine_tuning_model
from tests.test_case import assert_allclose

TINY = dict(image_size=32, patch_size=8, num_layers=2, hidden_dim=32, num_heads=2, intermediate_dim=64,
            num_classes=4)


def quadrant_images(n, seed):
    """Noise images whose label is the bright quadrant (0 top-left, 1 top-right, 2, 3)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = rng.normal(0.0, 0.3, (n, 32, 32, 3)).astype("float32")
    for i, label in enumerate(labels):
        row, col = divmod(label, 2)
        images[i, 16 * row : 16 * row + 16, 16 * col : 16 * col + 16] += 1.0
    return images, labels


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = VisionTransformer(**TINY)
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    images, labels = quadrant_images(1024, seed=0)
    model.fit(images, labels, batch_size=64, epochs=5, verbose=0)
    return model


def test_trained_at_32_evaluates_at_48_after_resampling(trained):
    images, labels = quadrant_images(200, seed=1)
    at_32 = np.argmax(trained.predict(images, verbose=0), -1)
    assert (at_32 == labels).mean() >= 0.9
    tuned = fine_tuning_model(trained, image_size=48)
    assert tuned.grid_size == (6, 6)
    upsampled = ops.convert_to_numpy(ops.image.resize(images, (48, 48), interpolation="bilinear"))
    at_48 = np.argmax(tuned.predict(upsampled, verbose=0), -1)
    assert (at_48 == at_32).mean() >= 0.8


def test_new_head_is_zero_and_the_backbone_is_copied(trained):
    images, _ = quadrant_images(4, seed=2)
    tuned = fine_tuning_model(trained, num_classes=7)
    assert_allclose(tuned(images), np.zeros((4, 7)))
    assert_allclose(tuned.encode(images), trained.encode(images), atol=1e-6)
    assert trained.num_classes == 4 and tuned.num_classes == 7
    same = fine_tuning_model(trained)  # Nothing changed: the same function.
    assert_allclose(same(images), trained(images), atol=1e-6)


def test_freezing_the_backbone_trains_only_the_head(trained):
    images, labels = quadrant_images(32, seed=3)
    tuned = fine_tuning_model(trained, num_classes=4, image_size=48, freeze_backbone=True)
    assert [w.path.split("/", 1)[1] for w in tuned.trainable_weights] == ["head/kernel", "head/bias"]
    frozen = [ops.convert_to_numpy(w) for w in tuned.non_trainable_weights]
    tuned.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    upsampled = ops.convert_to_numpy(ops.image.resize(images, (48, 48)))
    tuned.fit(upsampled, labels, batch_size=16, epochs=1, verbose=0)
    for before, after in zip(frozen, tuned.non_trainable_weights):
        np.testing.assert_array_equal(before, ops.convert_to_numpy(after))
    assert np.abs(ops.convert_to_numpy(tuned.head.kernel)).max() > 0


def test_pre_logits_are_dropped_with_a_new_head_unless_kept():
    model = VisionTransformer(**TINY, representation_size=16)
    model(np.zeros((1, 32, 32, 3), "float32"))
    assert fine_tuning_model(model, num_classes=3).pre_logits is None
    kept = fine_tuning_model(model, num_classes=3, keep_pre_logits=True)
    assert_allclose(kept.pre_logits.kernel, model.pre_logits.kernel)


def test_bad_arguments(trained):
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer. Received: num_classes=0"):
        fine_tuning_model(trained, num_classes=0)
    with pytest.raises(ValueError, match="image_size=50, patch_size=8"):
        fine_tuning_model(trained, image_size=50)
    with pytest.raises(ValueError, match="`model` must be a VisionTransformer. Received: model=Sequential"):
        fine_tuning_model(keras.Sequential())
    with pytest.raises(ValueError, match="must be built"):
        fine_tuning_model(VisionTransformer(**TINY))
