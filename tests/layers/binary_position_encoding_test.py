import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import BinaryPositionEncoding
from tests.test_case import run_layer_test


def test_layer():
    run_layer_test(
        BinaryPositionEncoding, dict(num_bits=4), np.zeros((2, 6, 3), "float32"), (2, 6, 4),
        run_training=False,
    )


def test_reproduces_the_seed_table():
    code = ops.convert_to_numpy(BinaryPositionEncoding(3)(np.zeros((1, 8, 1))))[0]
    rows = ["".join(str(int(b)) for b in row) for row in code]
    assert rows == ["000", "001", "010", "011", "100", "101", "110", "111"]
    # The right-most bit toggles fastest, the left-most slowest.
    toggles = np.abs(np.diff(code, axis=0)).sum(0)
    assert list(toggles) == [1, 3, 7]


def test_start_index_continues_the_count():
    layer = BinaryPositionEncoding(4)
    full = ops.convert_to_numpy(layer(np.zeros((1, 10, 1))))
    tail = ops.convert_to_numpy(layer(np.zeros((1, 3, 1)), start_index=7))
    np.testing.assert_array_equal(tail, full[:, 7:10])


def test_too_long_for_the_code():
    with pytest.raises(ValueError, match="3-bit code holds 8 positions.*length 9"):
        BinaryPositionEncoding(3)(np.zeros((1, 9, 1)))
    with pytest.raises(ValueError, match="num_bits=0"):
        BinaryPositionEncoding(0)
