import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import TokenAndPositionEmbedding
from tests.test_case import assert_allclose, run_layer_test

IDS = np.array([[5, 2, 7, 0], [1, 1, 0, 0]], "int32")


@pytest.mark.parametrize("position_encoding", ["sinusoidal", "learned", "binary"])
def test_add(position_encoding):
    run_layer_test(
        TokenAndPositionEmbedding,
        dict(vocabulary_size=10, embedding_dim=8, position_encoding=position_encoding, max_length=6),
        IDS,
        (2, 4, 8),
    )


@pytest.mark.parametrize("position_encoding, width", [("sinusoidal", 8 + 4), ("binary", 8 + 3)])
def test_concat(position_encoding, width):
    kwargs = dict(vocabulary_size=10, embedding_dim=8, merge="concat", position_encoding=position_encoding)
    kwargs.update(position_dim=4) if position_encoding == "sinusoidal" else kwargs.update(max_length=8)
    run_layer_test(TokenAndPositionEmbedding, kwargs, IDS, (2, 4, width))


def test_concat_keeps_token_and_position_apart():
    layer = TokenAndPositionEmbedding(10, 8, merge="concat", position_encoding="binary", max_length=4)
    out = ops.convert_to_numpy(layer(IDS))
    table = ops.convert_to_numpy(layer.token_embedding.embeddings)
    assert_allclose(out[0, :, :8], table[IDS[0]])
    np.testing.assert_array_equal(out[0, :, 8:], [[0, 0], [0, 1], [1, 0], [1, 1]])


def test_scaling_and_mask():
    layer = TokenAndPositionEmbedding(10, 16, position_encoding="none", scale_embeddings=True)
    out = layer(IDS)
    table = ops.convert_to_numpy(layer.token_embedding.embeddings)
    assert_allclose(out[0, 0], table[5] * 4.0, atol=1e-6)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.compute_mask(IDS)), IDS != 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="`merge` must be one of.*merge='stack'"):
        TokenAndPositionEmbedding(10, 8, merge="stack")
    with pytest.raises(ValueError, match="position_dim=4, embedding_dim=8"):
        TokenAndPositionEmbedding(10, 8, position_dim=4)
    with pytest.raises(ValueError, match="max_length=None"):
        TokenAndPositionEmbedding(10, 8, position_encoding="learned")
