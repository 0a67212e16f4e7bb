import keras
import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import vit_grids
from keras_tfm.layers.vit_grids import resample_position_embeddings
from tests.test_case import assert_allclose

rng = np.random.default_rng(0)
TABLE = rng.normal(size=(1 + 16, 8)).astype("float32")  # Class entry + a 4 x 4 grid.


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_same_grid_is_the_identity(interpolation):
    out = resample_position_embeddings(TABLE, (4, 4), interpolation=interpolation)
    np.testing.assert_array_equal(out, TABLE)
    np.testing.assert_array_equal(vit_grids.interpolation_matrix(5, 5, interpolation), np.eye(5))


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("new", [(6, 6), (7, 5)])
def test_upsampling_matches_keras_image_resize(interpolation, new):
    out = resample_position_embeddings(TABLE[None], new, interpolation=interpolation)
    assert out.shape == (1, 1 + new[0] * new[1], 8)
    np.testing.assert_array_equal(out[0, 0], TABLE[0])  # Class entry kept.
    grid = TABLE[1:].reshape(1, 4, 4, 8)
    # antialias=True makes TensorFlow use the kernel jax.image.resize uses (no effect upsampling).
    reference = keras.ops.image.resize(grid, new, interpolation=interpolation, antialias=True)
    assert_allclose(out[0, 1:], ops.reshape(reference, (-1, 8)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_constant_grids_stay_constant_and_down_up_is_close(interpolation):
    flat = np.concatenate([TABLE[:1], np.full((16, 8), 0.5, "float32")])
    out = resample_position_embeddings(flat, (3, 7), interpolation=interpolation)
    assert_allclose(out[1:], np.full((21, 8), 0.5), atol=1e-6)
    smooth = np.add.outer(np.arange(8.0), np.arange(8.0)).reshape(64, 1) / 10  # A linear ramp.
    there = resample_position_embeddings(smooth, (12, 12), num_prefix_tokens=0, interpolation=interpolation)
    back = resample_position_embeddings(there, (8, 8), num_prefix_tokens=0, interpolation=interpolation)
    assert np.abs(back - smooth)[1:-1].max() < 0.05


def test_sincos_matches_the_big_vision_formula():
    h, w, d = 3, 4, 16
    codes = vit_grids.sincos_2d((h, w), d)
    omega = 1.0 / 10000 ** (np.arange(4) / 3)
    for row in range(h):
        for col in range(w):
            expect = np.concatenate(
                [np.sin(col * omega), np.cos(col * omega), np.sin(row * omega), np.cos(row * omega)]
            )
            np.testing.assert_allclose(codes[row * w + col], expect, atol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match="`interpolation` must be one of.*interpolation='area'"):
        resample_position_embeddings(TABLE, 5, interpolation="area")
    with pytest.raises(ValueError, match="must be a square number.*num_patches=15"):
        resample_position_embeddings(TABLE, 5, num_prefix_tokens=2)
    with pytest.raises(ValueError, match=r"`old_grid` must hold the 16.*old_grid=\(2, 4\)"):
        resample_position_embeddings(TABLE, 5, old_grid=(2, 4))
    with pytest.raises(ValueError, match="multiple of 4 and at least 8. Received: width=10"):
        vit_grids.sincos_2d((2, 2), 10)
