import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import LearnedPositionEmbedding
from tests.test_case import assert_allclose, run_layer_test


def test_layer():
    run_layer_test(
        LearnedPositionEmbedding, dict(max_length=10), np.zeros((2, 6, 4), "float32"), (2, 6, 4),
    )


def test_rows_of_the_table_with_start_index():
    layer = LearnedPositionEmbedding(max_length=10, output_dim=3)
    out = layer(np.zeros((2, 4, 1)), start_index=5)
    table = ops.convert_to_numpy(layer.embeddings)
    assert_allclose(out[1], table[5:9])


def test_longer_than_max_length():
    layer = LearnedPositionEmbedding(max_length=4, output_dim=3)
    with pytest.raises(ValueError, match="longer than `max_length=4`.*length 5"):
        layer(np.zeros((1, 5, 1)))
