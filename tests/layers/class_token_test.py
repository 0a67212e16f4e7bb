import numpy as np
import pytest
from keras import ops

from keras_tfm.layers import ClassToken
from tests.test_case import assert_allclose, run_layer_test

X = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")


def test_layer():
    run_layer_test(ClassToken, dict(initializer="random_normal"), X, (2, 6, 8))


def test_prepends_the_same_learned_vector_to_every_sequence():
    layer = ClassToken(initializer="random_normal")
    out = ops.convert_to_numpy(layer(X))
    token = ops.convert_to_numpy(layer.token)
    assert_allclose(out[:, 0], np.stack([token, token]))
    assert_allclose(out[:, 1:], X)
    assert ops.convert_to_numpy(ClassToken()(X))[:, 0].tolist() == [[0.0] * 8] * 2


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"`inputs` must have rank 3. Received: inputs.shape=\(5, 8\)"):
        ClassToken()(X[0])
