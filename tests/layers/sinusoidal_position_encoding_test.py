import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import SinusoidalPositionEncoding
from tests.test_case import run_layer_test


def encoding(length, width, start=0):
    layer = SinusoidalPositionEncoding(width)
    return ops.convert_to_numpy(layer(np.zeros((1, length, 1)), start_index=start))[0].astype("float64")


def test_layer():
    run_layer_test(
        SinusoidalPositionEncoding, dict(), np.zeros((2, 6, 8), "float32"), (2, 6, 8), run_training=False
    )


def test_matches_the_paper_formula():
    pe = encoding(50, 16)
    t = np.arange(50)[:, None]
    i = np.arange(8)[None, :]
    angle = t / 10000 ** (2 * i / 16)
    np.testing.assert_allclose(pe[:, 0::2], np.sin(angle), atol=1e-5)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(angle), atol=1e-5)


def test_highest_frequency_on_the_left():
    pe = encoding(200, 16)
    crossings = (np.diff(np.sign(pe), axis=0) != 0).sum(0)[0::2]
    assert np.all(np.diff(crossings) <= 0) and crossings[0] > crossings[-1]


def test_any_length_at_call_time():
    long = encoding(5000, 8)
    assert long.shape == (5000, 8) and np.all(np.isfinite(long))
    np.testing.assert_allclose(encoding(3, 8, start=4000), long[4000:4003], atol=1e-3)


@pytest.mark.parametrize("k", [1, 3, 17, 250])
def test_each_offset_is_a_fixed_linear_map(k):
    # PE(t + k) = PE(t) M_k for every t, where M_k rotates each (sin, cos)
    # pair by k times its frequency and does not depend on t.
    width, length = 16, 1000
    pe = encoding(length + k, width)
    frequencies = 10000.0 ** (-np.arange(0, width, 2) / width)
    m_k = np.zeros((width, width))
    for i, w in enumerate(frequencies):
        c, s = np.cos(k * w), np.sin(k * w)
        m_k[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[c, -s], [s, c]]
    np.testing.assert_allclose(pe[:length] @ m_k, pe[k:], atol=5e-4)
    # And no single matrix works for a shuffled pairing (the test can fail).
    assert not np.allclose(pe[:length] @ m_k, pe[k + 1 :][: length - 1].tolist() + [pe[-1]], atol=5e-4)


def test_odd_width_is_rejected():
    with pytest.raises(ValueError, match="output_dim=7"):
        SinusoidalPositionEncoding(7)
