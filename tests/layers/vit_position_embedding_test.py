import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import ViTPositionEmbedding
from keras_tfm.layers.vit_grids import resample_position_embeddings, sincos_2d
from tests.test_case import assert_allclose, run_layer_test

rng = np.random.default_rng(0)
X = rng.normal(size=(2, 1 + 16, 16)).astype("float32")


@pytest.mark.parametrize("embedding_type", ["learned", "sincos"])
def test_layer(embedding_type):
    run_layer_test(
        ViTPositionEmbedding, dict(grid_size=4, embedding_type=embedding_type), X, (2, 17, 16)
    )


def test_layer_resampling_at_call_time():
    x = rng.normal(size=(2, 1 + 6 * 6, 16)).astype("float32")
    run_layer_test(
        ViTPositionEmbedding, dict(grid_size=(4, 4), dynamic_image_size=True), x, (2, 37, 16),
        call_kwargs=dict(grid_shape=(6, 6)),
    )


def test_adds_the_table_and_keeps_the_class_entry_when_resampling():
    layer = ViTPositionEmbedding(grid_size=4, dynamic_image_size=True, interpolation="bilinear")
    assert_allclose(layer(X), X + ops.convert_to_numpy(layer.embeddings)[None])
    table = ops.convert_to_numpy(layer.embeddings)
    x = np.zeros((1, 1 + 5 * 7, 16), "float32")
    out = ops.convert_to_numpy(layer(x, grid_shape=(5, 7)))[0]
    expect = resample_position_embeddings(table, (5, 7), interpolation="bilinear")
    assert_allclose(out, expect, atol=1e-6)
    assert_allclose(out[0], table[0])
    # The square grid of T is inferred when no grid is given.
    assert_allclose(layer(np.zeros((1, 1 + 36, 16), "float32"))[0],
                    resample_position_embeddings(table, 6, interpolation="bilinear"), atol=1e-6)


def test_sincos_has_no_weights_and_any_grid():
    layer = ViTPositionEmbedding(grid_size=4, embedding_type="sincos", num_prefix_tokens=0)
    out = ops.convert_to_numpy(layer(np.zeros((1, 15, 16), "float32"), grid_shape=(3, 5)))[0]
    assert not layer.weights
    assert_allclose(out, sincos_2d((3, 5), 16), atol=1e-6)
    # The ops path used for grids known only when running gives the same codes.
    assert_allclose(layer._sincos((3, 5), static=False), out, atol=1e-5)
    with_class = ViTPositionEmbedding(grid_size=2, embedding_type="sincos")
    assert_allclose(with_class(np.zeros((1, 5, 16), "float32"))[0, 0], np.zeros(16))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"grid \(6, 6\) differs from `grid_size=\(4, 4\)`"):
        ViTPositionEmbedding(grid_size=4)(np.zeros((1, 37, 16), "float32"))
    with pytest.raises(ValueError, match="`embedding_type` must be one of.*embedding_type='rope'"):
        ViTPositionEmbedding(grid_size=4, embedding_type="rope")
    with pytest.raises(ValueError, match="`interpolation` must be one of.*interpolation='nearest'"):
        ViTPositionEmbedding(grid_size=4, interpolation="nearest")
    with pytest.raises(ValueError, match="`num_prefix_tokens` must be 0 or 1. Received: num_prefix_tokens=2"):
        ViTPositionEmbedding(grid_size=4, num_prefix_tokens=2)
    with pytest.raises(ValueError, match="`grid_size` must be a positive integer. Received: grid_size=0"):
        ViTPositionEmbedding(grid_size=(0, 4))
    with pytest.raises(ValueError, match="multiple of 4 and at least 8. Received: width=6"):
        ViTPositionEmbedding(grid_size=2, embedding_type="sincos")(np.zeros((1, 5, 6), "float32"))
