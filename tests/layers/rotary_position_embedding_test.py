import numpy as np
from keras import ops

from keras_tfm.layers import RotaryPositionEmbedding
from tests.test_case import run_layer_test


def test_layer():
    run_layer_test(
        RotaryPositionEmbedding, dict(), np.ones((2, 6, 3, 8), "float32"), (2, 6, 3, 8), run_training=False
    )


def test_dot_products_depend_only_on_relative_position():
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(2, 8)).astype("float32")
    layer = RotaryPositionEmbedding()

    def at(vector, position):
        x = np.tile(vector, (1, position + 1, 1))
        return ops.convert_to_numpy(layer(x))[0, position]

    a = at(q, 5) @ at(k, 2)
    b = at(q, 13) @ at(k, 10)
    np.testing.assert_allclose(a, b, rtol=1e-4)
    # Rotation keeps the norm.
    np.testing.assert_allclose(np.linalg.norm(at(q, 7)), np.linalg.norm(q), rtol=1e-5)
