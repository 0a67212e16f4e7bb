import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import PatchEmbedding
from tests.test_case import assert_allclose, run_layer_test

rng = np.random.default_rng(0)
IMAGES = rng.normal(size=(2, 32, 32, 3)).astype("float32")


def numpy_patches(images, p):
    """Chops `(B, Hi, Wi, C)` into row-major patches, each flattened (rows, columns, channels)."""
    b, h, w, c = images.shape
    x = images.reshape(b, h // p, p, w // p, p, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // p) * (w // p), p * p * c)  # (B, T, P * P * C)


def test_layer():
    run_layer_test(PatchEmbedding, dict(patch_size=8, hidden_dim=16), IMAGES, (2, 16, 16))


def test_224_pixels_give_196_row_major_patches_equal_to_numpy():
    images = rng.normal(size=(2, 224, 224, 3)).astype("float32")
    layer = PatchEmbedding(patch_size=16, hidden_dim=8)
    out = ops.convert_to_numpy(layer(images))
    assert out.shape == (2, 196, 8)
    kernel = ops.convert_to_numpy(layer.projection.kernel).reshape(16 * 16 * 3, 8)
    bias = ops.convert_to_numpy(layer.projection.bias)
    assert_allclose(out, numpy_patches(images, 16) @ kernel + bias, atol=1e-4, rtol=1e-4)


def test_token_k_is_patch_row_k_div_gw_column_k_mod_gw():
    layer = PatchEmbedding(patch_size=8, hidden_dim=4, bias_initializer="ones")
    image = np.zeros((1, 24, 40, 3), "float32")  # Grid 3 x 5.
    image[0, 8:16, 32:40] = 1.0  # Patch (1, 4).
    out = ops.convert_to_numpy(layer(image))[0]
    changed = np.flatnonzero(np.abs(out - 1.0).max(axis=1) > 0)
    assert changed.tolist() == [1 * 5 + 4]


def test_grayscale_and_open_image_size():
    layer = PatchEmbedding(patch_size=4, hidden_dim=8, num_channels=1)
    assert tuple(layer(np.ones((1, 12, 8, 1), "float32")).shape) == (1, 6, 8)
    assert tuple(layer(np.ones((1, 16, 16, 1), "float32")).shape) == (1, 16, 8)


def test_bad_inputs():
    layer = PatchEmbedding(patch_size=8, hidden_dim=16)
    with pytest.raises(ValueError, match=r"divisible by `patch_size`.*\(2, 30, 32, 3\), patch_size=8"):
        layer(np.ones((2, 30, 32, 3), "float32"))
    layer(IMAGES)
    with pytest.raises(ValueError, match=r"num_channels=3 channels.*images.shape=\(2, 32, 32, 1\)"):
        layer(IMAGES[..., :1])
    with pytest.raises(ValueError, match=r"num_channels=1 channels.*images.shape=\(2, 32, 32, 3\)"):
        PatchEmbedding(patch_size=8, hidden_dim=16, num_channels=1)(IMAGES)
    with pytest.raises(ValueError, match="`patch_size` must be a positive integer. Received: patch_size=0"):
        PatchEmbedding(patch_size=0, hidden_dim=16)
    with pytest.raises(ValueError, match="rank|images.shape=\\(32, 32, 3\\)"):
        layer(IMAGES[0])
